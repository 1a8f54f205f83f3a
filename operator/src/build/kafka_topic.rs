//! A Strimzi KafkaTopic (`kafka.strimzi.io/v1`).

use crate::resolve::{Resolved, ResolvedTopic};
use crate::strimzi::{CLUSTER_LABEL, KafkaTopic, KafkaTopicSpec};

use super::meta;

/// The KafkaTopic of `t`. It carries the owner reference only with `topicRetentionPolicy:
/// Delete`; a retained topic is found again by its labels.
pub fn build(r: &Resolved, t: &ResolvedTopic) -> KafkaTopic {
    let mut labels = r.labels.clone();
    labels.insert(CLUSTER_LABEL.to_owned(), r.kafka_cluster.clone());
    KafkaTopic {
        metadata: meta::object(r, &t.object_name, &labels, t.owned),
        spec: KafkaTopicSpec {
            topic_name: Some(t.topic_name.clone()),
            partitions: Some(t.partitions),
            replicas: Some(t.replicas),
            config: t.config.clone(),
        },
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::TopicRetentionPolicy;
    use crate::fixtures::{minimal, resolved, with_uid};
    use serde_json::json;

    #[test]
    fn topics_follow_the_spec_and_keep_defaults_of_partial_specs() {
        let mut qs = minimal();
        qs.spec.kafka.topic.partitions = Some(12);
        qs.spec
            .kafka
            .topic
            .config
            .insert("min.insync.replicas".into(), "1".into());
        qs.spec.kafka.topic.config.insert("retention.ms".into(), "5".into());
        qs.spec.kafka.dlq_topic.replicas = Some(1);
        let r = resolved(&qs);
        let t = build(&r, &r.topics[0]);
        assert_eq!(t.metadata.name.as_deref(), Some("demo-events"));
        assert_eq!(t.metadata.labels.as_ref().unwrap()[CLUSTER_LABEL], "events");
        assert_eq!(t.spec.topic_name.as_deref(), Some("demo-quakes"));
        assert_eq!(t.spec.partitions, Some(12));
        assert_eq!(t.spec.replicas, Some(3), "unset replicas keep the default");
        assert_eq!(t.spec.config["min.insync.replicas"], json!("1"));
        assert_eq!(
            t.spec.config["retention.ms"],
            json!(604_800_000_i64),
            "the default retention wins"
        );
        let dlq = build(&r, &r.topics[1]);
        assert_eq!(dlq.spec.topic_name.as_deref(), Some("demo-quakes.dlq"));
        assert_eq!(
            dlq.spec.partitions,
            Some(1),
            "a partial DLQ spec keeps the DLQ's own default"
        );
        assert_eq!(dlq.spec.replicas, Some(1));
        assert_eq!(dlq.spec.config["retention.ms"], json!(2_592_000_000_i64));
        for topic in [&t, &dlq] {
            assert_eq!(
                topic.spec.config["max.message.bytes"],
                json!(quakestream_contract::limits::MAX_MESSAGE_BYTES),
                "the topics allow the records the workloads write (producer message.max.bytes)"
            );
        }
        let v = crate::build::typed(&t).unwrap();
        assert_eq!(v["apiVersion"], "kafka.strimzi.io/v1");
        assert!(v.get("status").is_none());
    }

    #[test]
    fn retention_policy_decides_the_owner_reference() {
        let mut qs = with_uid(minimal());
        let r = resolved(&qs);
        assert!(build(&r, &r.topics[0]).metadata.owner_references.is_none());
        qs.spec.kafka.topic_retention_policy = TopicRetentionPolicy::Delete;
        let r = resolved(&qs);
        let refs = build(&r, &r.topics[1]).metadata.owner_references.unwrap();
        assert_eq!(refs[0].kind, "QuakeStream");
        assert_eq!(refs[0].controller, Some(true));
    }
}
