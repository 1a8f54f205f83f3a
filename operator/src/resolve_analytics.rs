//! The analytics part of [`super::resolve`]: its names, settings and KafkaTopics. Names and
//! topic settings come from `quakestream_contract::analytics`, which the workload reads too.

use std::collections::BTreeMap;
use std::time::Duration;

use quakestream_contract::analytics::{self as contract, Names as AnalyticsNames};
use quakestream_contract::names::Names;
use serde_json::json;

use super::{Errors, ResolvedTopic, topic_object_name};
use crate::component::TopicRole;
use crate::crd::{self, QuakeStream};
use crate::validate as is;

/// The analytics, resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct ResolvedAnalytics {
    /// Whether it runs (`spec.analytics.enabled`).
    pub enabled: bool,
    /// App id and statistics topic (kept in the status once used).
    pub names: AnalyticsNames,
    /// Grace period.
    pub grace: Duration,
    /// Retention of state (and of the statistics topic).
    pub retention: Duration,
    /// Commit interval.
    pub commit_interval: Duration,
}

/// Topic settings copied from the events topic to the analytics' topics: their durability must
/// be the input's.
const INHERITED_TOPIC_CONFIG: [&str; 1] = ["min.insync.replicas"];

/// Names, then settings. Names are checked even when the analytics is off, so turning it on
/// again keeps them.
pub(super) fn resolve(qs: &QuakeStream, name: &str, names: &Names, errs: &mut Errors) -> ResolvedAnalytics {
    let s = &qs.spec.analytics;
    let field = "spec.analytics";
    let parse = |errs: &mut Errors, what: &str, text: &str, range: quakestream_contract::duration::DurationRange| {
        range
            .parse(text)
            .map_err(|e| errs.push(format!("{field}.{what}: {e}")))
            .ok()
    };
    let grace = parse(errs, "grace", &s.grace, contract::GRACE);
    let retention = parse(errs, "retention", &s.retention, contract::RETENTION);
    let commit_interval = parse(errs, "commitInterval", &s.commit_interval, contract::COMMIT_INTERVAL);
    if let (Some(g), Some(r)) = (grace, retention)
        && let Err(e) = contract::check_retention(g, r)
    {
        errs.push(format!("{field}.retention: {e}"));
    }
    errs.int(&format!("{field}.replicas"), s.replicas, contract::REPLICAS);
    ResolvedAnalytics {
        enabled: s.enabled,
        names: resolve_names(qs, name, names, errs),
        grace: grace.unwrap_or(contract::GRACE.min),
        retention: retention.unwrap_or(contract::RETENTION.max),
        commit_interval: commit_interval.unwrap_or(contract::COMMIT_INTERVAL.min),
    }
}

/// Explicit names win; an unset one keeps what the pipeline used (its status), else derives
/// from the resource's name. A change is refused: the internal topics and the statistics topic
/// carry these names, and Strimzi renames no topic.
fn resolve_names(qs: &QuakeStream, name: &str, names: &Names, errs: &mut Errors) -> AnalyticsNames {
    let s = &qs.spec.analytics;
    let previous = qs.status.as_ref().and_then(|st| st.names.as_ref());
    let base = AnalyticsNames::for_instance(name);
    let prev_app = previous.and_then(|n| n.analytics_app_id.clone());
    let prev_stats = previous.and_then(|n| n.stats_topic.clone());
    let an = AnalyticsNames {
        app_id: s.app_id.clone().or_else(|| prev_app.clone()).unwrap_or(base.app_id),
        stats_topic: s
            .stats_topic
            .clone()
            .or_else(|| prev_stats.clone())
            .unwrap_or(base.stats_topic),
        sequences_topic: base.sequences_topic,
    };
    for (field, before, now) in [
        ("appId", prev_app, &an.app_id),
        ("statsTopic", prev_stats, &an.stats_topic),
    ] {
        if let Some(before) = before.filter(|b| b != now) {
            errs.push(format!(
                "spec.analytics.{field}: the pipeline uses {before:?}, which names topics Strimzi cannot rename to {now:?}; keep it"
            ));
        }
    }
    if an.app_id.len() > crd::MAX_APP_ID_LEN || !is::topic_name(&an.app_id) {
        errs.push(format!(
            "spec.analytics.appId {:?} must be at most {} letters, digits, '.', '_' or '-' (it prefixes topic names)",
            an.app_id,
            crd::MAX_APP_ID_LEN
        ));
    }
    if !is::topic_name(&an.stats_topic) {
        errs.push(format!(
            "spec.analytics.statsTopic {:?} is not a legal Kafka topic name",
            an.stats_topic
        ));
    }
    if an.stats_topic == names.topic || an.stats_topic == names.dlq_topic {
        errs.push("spec.analytics.statsTopic must differ from spec.kafka.topic and spec.kafka.dlqTopic");
    }
    if an.app_id == names.group_id {
        errs.push("spec.analytics.appId must differ from spec.consumer.groupId (it is the analytics' consumer group)");
    }
    an
}

/// The analytics' KafkaTopics: the contract's topics, with the events topic's partitions (the
/// changelog must be co-partitioned with it), replication factor and durability settings, and
/// its retention policy. Strimzi's rules hold for them as for the others: a topic in use is
/// never renamed and never loses partitions.
pub(super) fn topics(
    qs: &QuakeStream,
    a: &ResolvedAnalytics,
    events: &ResolvedTopic,
    errs: &mut Errors,
) -> Vec<ResolvedTopic> {
    let name = qs.metadata.name.clone().unwrap_or_default();
    let applied = qs.status.iter().flat_map(|s| &s.topics);
    let applied: Vec<_> = applied.collect();
    contract::topics(&a.names, events.partitions, a.grace, a.retention)
        .into_iter()
        .map(|t| {
            let role = TopicRole::Analytics(t.role);
            let object_name = topic_object_name(&name, role);
            if let Some(before) = applied.iter().find(|s| s.name == object_name) {
                if before.topic_name != t.name {
                    errs.push(format!(
                        "spec.analytics: KafkaTopic {object_name} holds topic {:?}, which Strimzi cannot rename to {:?}",
                        before.topic_name, t.name
                    ));
                }
                if let Some(p) = before.partitions.filter(|p| t.partitions < *p) {
                    errs.push(format!(
                        "spec.kafka.topic.partitions: the analytics topic {} has {p} partitions and Kafka cannot remove partitions (the topic of wire records asks for {})",
                        t.name, t.partitions
                    ));
                }
            }
            let mut config: BTreeMap<String, serde_json::Value> = INHERITED_TOPIC_CONFIG
                .iter()
                .filter_map(|k| events.config.get(*k).map(|v| ((*k).to_owned(), v.clone())))
                .collect();
            config.insert("cleanup.policy".to_owned(), json!(t.cleanup_policy));
            if let Some(r) = t.retention {
                config.insert(
                    "retention.ms".to_owned(),
                    json!(i64::try_from(r.as_millis()).unwrap_or(i64::MAX)),
                );
            }
            ResolvedTopic {
                role,
                object_name,
                topic_name: t.name,
                partitions: t.partitions,
                replicas: events.replicas,
                config,
                owned: events.owned,
            }
        })
        .collect()
}

/// The analytics' environment (its ConfigMap), rendered by the contract.
pub(super) fn config(
    a: &ResolvedAnalytics,
    kafka: quakestream_contract::Kafka,
    names: &Names,
    ops: quakestream_contract::Ops,
) -> contract::Config {
    contract::Config {
        kafka,
        dlq_topic: names.dlq_topic.clone(),
        names: a.names.clone(),
        grace: a.grace,
        retention: a.retention,
        commit_interval: a.commit_interval,
        ops,
    }
}
