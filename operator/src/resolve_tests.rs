use super::*;
use crate::crd::{IngressSpec, IngressTlsSpec, NamesStatus, QuakeStreamStatus, ResourcesSpec, TopicStatus};
use crate::fixtures::{minimal, resolved, with_uid};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use serde_json::json;

fn errors(qs: &QuakeStream) -> String {
    resolve(qs).unwrap_err().to_string()
}

fn named(name: &str) -> QuakeStream {
    let mut qs = minimal();
    qs.metadata.name = Some(name.into());
    qs
}

fn env(qs: &QuakeStream, c: Component) -> BTreeMap<String, String> {
    resolved(qs).workload(c).env.clone()
}

#[test]
fn a_resource_called_quakestream_keeps_the_historical_names() {
    let r = resolved(&named("quakestream"));
    assert_eq!(r.names, Names::historical());
    assert_eq!(r.topics[0].topic_name, "quakes");
    assert_eq!(r.topics[1].topic_name, "quakes.dlq");
    assert_eq!(
        env(&named("quakestream"), Component::Consumer)["QS_GROUP_ID"],
        "quakestream-consumer"
    );
    assert_eq!(env(&named("quakestream"), Component::Frontend)["QS_TABLE"], "quakes");
}

#[test]
fn two_pipelines_in_one_namespace_share_no_name() {
    let a = resolved(&named("alpha"));
    let b = resolved(&named("beta"));
    assert_eq!(a.names.topic, "alpha-quakes");
    assert_eq!(b.names.group_id, "beta-consumer");
    for (x, y) in [
        (&a.names.topic, &b.names.topic),
        (&a.names.dlq_topic, &b.names.dlq_topic),
        (&a.names.group_id, &b.names.group_id),
        (&a.names.table, &b.names.table),
        (&a.topics[0].object_name, &b.topics[0].object_name),
        (&a.workloads[0].name, &b.workloads[0].name),
    ] {
        assert_ne!(x, y);
    }
    assert_ne!(a.workloads[2].selector, b.workloads[2].selector);
}

#[test]
fn explicit_names_win() {
    let mut qs = minimal();
    qs.spec.kafka.topic.name = Some("events-v1".into());
    qs.spec.consumer.group_id = Some("g2".into());
    qs.spec.storage.table = Some("quakes-test".into());
    let r = resolved(&qs);
    assert_eq!(r.names.topic, "events-v1");
    assert_eq!(r.names.dlq_topic, "demo-quakes.dlq");
    assert_eq!(r.names.group_id, "g2");
    assert_eq!(r.names.table, "quakes-test");
}

fn status_with_names(topic: &str) -> QuakeStreamStatus {
    QuakeStreamStatus {
        observed_generation: Some(1),
        names: Some(NamesStatus {
            topic: topic.into(),
            dlq_topic: "old.dlq".into(),
            consumer_group: "old-group".into(),
            table: "old-table".into(),
            analytics_app_id: None,
            stats_topic: None,
        }),
        ..QuakeStreamStatus::default()
    }
}

#[test]
fn names_in_use_are_kept_and_a_topic_is_never_renamed() {
    let mut qs = minimal();
    qs.status = Some(status_with_names("old"));
    let r = resolved(&qs);
    assert_eq!(
        (
            r.names.topic.as_str(),
            r.names.dlq_topic.as_str(),
            r.names.group_id.as_str(),
            r.names.table.as_str()
        ),
        ("old", "old.dlq", "old-group", "old-table")
    );
    qs.spec.kafka.topic.name = Some("old".into());
    assert!(resolve(&qs).is_ok(), "naming the topic in use is fine");
    qs.spec.kafka.topic.name = Some("new".into());
    let e = errors(&qs);
    assert!(
        e.contains(r#"the pipeline uses topic "old", which Strimzi cannot rename to "new""#),
        "{e}"
    );
    // Group and table may change on purpose.
    qs.spec.kafka.topic.name = None;
    qs.spec.consumer.group_id = Some("new-group".into());
    assert_eq!(resolved(&qs).names.group_id, "new-group");
}

/// A pipeline reconciled by an operator that predates derived names keeps what it used then.
#[test]
fn an_upgraded_pipeline_keeps_its_historical_names() {
    let mut qs = minimal();
    qs.status = Some(QuakeStreamStatus {
        observed_generation: Some(4),
        topics: vec![TopicStatus {
            name: "demo-events".into(),
            topic_name: "quakes".into(),
            ready: "True".into(),
            ..TopicStatus::default()
        }],
        ..QuakeStreamStatus::default()
    });
    let r = resolved(&qs);
    assert_eq!(r.names, Names::historical());
}

#[test]
fn partitions_never_shrink_below_what_was_applied() {
    let mut qs = minimal();
    qs.status = Some(QuakeStreamStatus {
        observed_generation: Some(1),
        topics: vec![TopicStatus {
            name: "demo-events".into(),
            topic_name: "demo-quakes".into(),
            partitions: Some(12),
            ready: "True".into(),
            ..TopicStatus::default()
        }],
        ..QuakeStreamStatus::default()
    });
    // Unset partitions would mean the default, 6: that is a shrink.
    let e = errors(&qs);
    assert!(
        e.contains("the topic has 12 partitions and Kafka cannot remove partitions (asked for 6)"),
        "{e}"
    );
    qs.spec.kafka.topic.partitions = Some(12);
    assert!(resolve(&qs).is_ok());
    qs.spec.kafka.topic.partitions = Some(24);
    assert_eq!(resolved(&qs).topics[0].partitions, 24);
}

#[test]
fn every_problem_is_reported_at_once() {
    let mut qs = minimal();
    qs.metadata.name = Some("x".repeat(51));
    qs.spec.kafka.topic.name = Some("bad topic".into());
    qs.spec.kafka.dlq_topic.replicas = Some(0);
    qs.spec.storage.endpoint = Some("dynoxide:8000".into());
    qs.spec.producer.workload.service_account.role_arn = Some("arn:aws:iam::12:role/x".into());
    qs.spec.source.backfill_max_age = "0h".into();
    qs.spec.frontend.window = "week".into();
    qs.spec.frontend.ingress = Some(IngressSpec {
        tls: Some(IngressTlsSpec {
            secret_name: Some("s".into()),
        }),
        ..Default::default()
    });
    let err = resolve(&qs).unwrap_err();
    assert_eq!(err.0.len(), 8, "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("spec.source.backfillMaxAge: duration 0h is out of range: between 1m and 30d"),
        "{text}"
    );
    assert!(
        text.contains("spec.frontend.window: invalid duration \"week\""),
        "{text}"
    );
    assert!(
        text.contains("spec.kafka.dlqTopic.replicas must be between 1 and 32767, got 0"),
        "{text}"
    );
}

#[test]
fn names_namespace_and_topics_are_checked() {
    let mut qs = minimal();
    qs.spec.kafka.dlq_topic.name = Some("demo-quakes".into());
    assert!(errors(&qs).contains("different names"));
    let mut qs = minimal();
    qs.metadata.namespace = None;
    assert!(errors(&qs).contains("metadata.namespace is required"));
    assert!(errors(&named("1demo")).contains("DNS-1035 label"));
}

#[test]
fn frontend_resources_need_the_requests_the_hpa_uses() {
    let mut qs = minimal();
    let mut r = ResourcesSpec {
        limits: Some(BTreeMap::from([("memory".to_owned(), Quantity("1Gi".into()))])),
        requests: None,
    };
    qs.spec.frontend.workload.resources = Some(r.clone());
    assert!(errors(&qs).contains("requests.cpu is required"));
    r.requests = Some(BTreeMap::from([("cpu".to_owned(), Quantity("200m".into()))]));
    qs.spec.frontend.workload.resources = Some(r);
    assert!(resolve(&qs).is_ok());
    qs.spec.frontend.autoscaling.target_memory_utilization_percentage = Some(80);
    assert!(errors(&qs).contains("requests.memory is required"));
}

/// What the schema refuses at `kubectl apply` is refused here too, for objects that never met it.
#[test]
fn quantities_annotation_keys_and_dns_names() {
    let mut qs = minimal();
    qs.spec.consumer.workload.resources = Some(ResourcesSpec {
        requests: Some(BTreeMap::from([
            ("cpu".to_owned(), Quantity("1 core".into())),
            ("bad name!".to_owned(), Quantity("1".into())),
        ])),
        limits: None,
    });
    qs.spec
        .consumer
        .workload
        .service_account
        .annotations
        .insert("bad key".into(), "v".into());
    qs.spec.frontend.ingress = Some(IngressSpec {
        class_name: Some("Not_A_Class".into()),
        host: Some("quakes.example.org".into()),
        tls: Some(IngressTlsSpec {
            secret_name: Some("tls secret".into()),
        }),
        ..IngressSpec::default()
    });
    let e = errors(&qs);
    for expected in [
        r#"spec.consumer.resources.requests.cpu: "1 core" is not a quantity"#,
        r#"spec.consumer.resources.requests: "bad name!" is not a resource name"#,
        r#"spec.consumer.serviceAccount.annotations: "bad key" is not a valid annotation key"#,
        r#"spec.frontend.ingress.className "Not_A_Class" must be a DNS subdomain"#,
        r#"spec.frontend.ingress.tls.secretName "tls secret" must be a DNS subdomain"#,
    ] {
        assert!(e.contains(expected), "{expected} in {e}");
    }
}

#[test]
fn producer_environment() {
    let mut qs = minimal();
    qs.spec.source.backfill_limit = 250;
    qs.spec.source.backfill_max_age = "6h".into();
    qs.spec.source.websocket_url = "ws://replay:9000/ws".into();
    qs.spec.source.fdsn_url = "http://replay:9000/fdsn".into();
    qs.spec.kafka.topic.name = Some("quakes-v1".into());
    qs.spec.producer.workload.log_level = Some("debug".into());
    qs.spec.kafka.authentication = crate::crd::KafkaAuthentication::None;
    let expected: BTreeMap<String, String> = [
        ("KAFKA_BOOTSTRAP_SERVERS", "events-kafka-bootstrap:9092"),
        ("QS_TOPIC", "quakes-v1"),
        ("QS_DLQ_TOPIC", "demo-quakes.dlq"),
        ("QS_LISTEN", "0.0.0.0:9090"),
        ("QS_LOG", "debug"),
        ("QS_EMSC_URL", "ws://replay:9000/ws"),
        ("QS_FDSN_URL", "http://replay:9000/fdsn"),
        ("QS_BACKFILL_LIMIT", "250"),
        ("QS_BACKFILL_MAX_AGE", "6h"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(env(&qs, Component::Producer), expected);
}

#[test]
fn kafka_authentication_renders_the_mounted_credentials() {
    let mut qs = minimal();
    let p = env(&qs, Component::Producer);
    assert_eq!(
        p["KAFKA_BOOTSTRAP_SERVERS"], "events-kafka-bootstrap:9093",
        "tls by default"
    );
    assert_eq!(p["QS_KAFKA_SECURITY_PROTOCOL"], "ssl");
    assert_eq!(p["QS_KAFKA_CERT_FILE"], "/etc/quakestream/kafka-user/user.crt");
    let r = resolve(&qs).unwrap();
    let creds = r.workload(Component::Consumer).kafka_credentials.clone().unwrap();
    assert_eq!(creds.user_secret, "demo-consumer");
    assert_eq!(creds.ca_secret, "events-cluster-ca-cert");
    assert_eq!(creds.user_keys, ["user.crt", "user.key"]);
    qs.spec.kafka.authentication = crate::crd::KafkaAuthentication::ScramSha512;
    let c = env(&qs, Component::Consumer);
    assert_eq!(c["KAFKA_BOOTSTRAP_SERVERS"], "events-kafka-bootstrap:9094");
    assert_eq!(c["QS_KAFKA_SECURITY_PROTOCOL"], "sasl_ssl");
    assert_eq!(c["QS_KAFKA_SASL_USERNAME"], "demo-consumer");
    assert_eq!(c["QS_KAFKA_SASL_PASSWORD_FILE"], "/etc/quakestream/kafka-user/password");
    assert!(!c.contains_key("QS_KAFKA_CERT_FILE"));
}

#[test]
fn consumer_and_frontend_environment() {
    let mut qs = minimal();
    qs.spec.kafka.bootstrap_servers = Some("kafka:9093".into());
    qs.spec.frontend.window = "2d".into();
    qs.spec.frontend.rate_limit = 100;
    qs.spec.storage.retention = Some("365d".into());
    let c = env(&qs, Component::Consumer);
    assert_eq!(c["KAFKA_BOOTSTRAP_SERVERS"], "kafka:9093");
    assert_eq!(c["QS_GROUP_ID"], "demo-consumer");
    assert_eq!(c["QS_TABLE"], "demo-quakes");
    assert_eq!(c["AWS_REGION"], "eu-west-1");
    assert_eq!(c["QS_LISTEN"], "0.0.0.0:9091");
    assert_eq!(c["QS_LOG"], "info");
    assert_eq!(c["QS_RETENTION"], "365d");
    assert!(!c.contains_key("QS_DYNAMODB_ENDPOINT"));
    let f = env(&qs, Component::Frontend);
    assert_eq!(f["QS_WINDOW"], "2d");
    assert_eq!(f["QS_RATE_LIMIT"], "100");
    assert!(
        !f.contains_key("QS_CLIENT_IP_HEADER"),
        "no proxy in front without an Ingress"
    );
    assert_eq!(f["QS_LISTEN"], "0.0.0.0:8080");
    assert!(!f.contains_key("QS_DLQ_TOPIC") && !f.contains_key("QS_GROUP_ID") && !f.contains_key("QS_RETENTION"));
    qs.spec.frontend.ingress = Some(IngressSpec::default());
    assert_eq!(env(&qs, Component::Frontend)["QS_CLIENT_IP_HEADER"], "X-Forwarded-For");
}

#[test]
fn a_local_endpoint_needs_no_credentials_in_the_config_map() {
    let mut qs = minimal();
    qs.spec.storage.endpoint = Some("http://dynoxide:8000".into());
    for c in [Component::Consumer, Component::Frontend] {
        let e = env(&qs, c);
        assert_eq!(e["QS_DYNAMODB_ENDPOINT"], "http://dynoxide:8000");
        assert!(
            !e.contains_key("AWS_ACCESS_KEY_ID"),
            "the workloads fall back to placeholders themselves"
        );
    }
    assert!(!env(&qs, Component::Producer).contains_key("QS_DYNAMODB_ENDPOINT"));
}

#[test]
fn every_environment_is_what_the_contract_allows() {
    let mut qs = minimal();
    qs.spec.storage.endpoint = Some("http://dynoxide:8000".into());
    qs.spec.storage.retention = Some("30d".into());
    qs.spec.frontend.ingress = Some(IngressSpec::default());
    for w in &resolved(&qs).workloads {
        for k in w.env.keys() {
            assert!(
                w.component.env_names().contains(&k.as_str()),
                "{k} for {:?}",
                w.component
            );
        }
        for k in w.component.required_env() {
            assert!(w.env.contains_key(*k), "{k} for {:?}", w.component);
        }
    }
}

#[test]
fn alb_rules() {
    let mut qs = minimal();
    qs.spec.frontend.ingress = Some(IngressSpec {
        class_name: Some("alb".into()),
        annotations: BTreeMap::from([(alb::TARGET_TYPE.into(), "instance".into())]),
        ..IngressSpec::default()
    });
    assert!(errors(&qs).contains("the ALB must target pods (ip)"));
    let i = qs.spec.frontend.ingress.as_mut().unwrap();
    i.annotations = BTreeMap::from([(
        alb::TARGET_GROUP_ATTRIBUTES.into(),
        "deregistration_delay.timeout_seconds=300".into(),
    )]);
    assert!(errors(&qs).contains("use spec.frontend.ingress.deregistrationDelaySeconds"));
    let i = qs.spec.frontend.ingress.as_mut().unwrap();
    i.annotations.clear();
    i.class_name = Some("cloud-provider-kind".into());
    i.deregistration_delay_seconds = Some(10);
    assert!(errors(&qs).contains("is for the AWS Load Balancer Controller"));
    // An ALB recognised by its annotations, with the class left to the cluster default.
    let i = qs.spec.frontend.ingress.as_mut().unwrap();
    i.class_name = None;
    i.annotations
        .insert("alb.ingress.kubernetes.io/scheme".into(), "internal".into());
    let r = resolved(&qs);
    let ing = r.frontend.ingress.as_ref().unwrap();
    assert!(ing.alb);
    assert_eq!(
        ing.annotations[alb::TARGET_GROUP_ATTRIBUTES],
        "deregistration_delay.timeout_seconds=10"
    );
    assert_eq!(r.workload(Component::Frontend).pre_stop_delay_secs, Some(20));
}

#[test]
fn owner_reference_only_with_uid_and_retention_policy() {
    let r = resolved(&minimal());
    assert!(r.owner.is_none());
    let r = resolved(&with_uid(minimal()));
    let o = r.owner.as_ref().unwrap();
    assert_eq!(
        (o.kind.as_str(), o.name.as_str(), o.controller),
        ("QuakeStream", "demo", Some(true))
    );
    assert!(r.topics.iter().all(|t| !t.owned), "topics are retained by default");
}

#[test]
fn version_label_follows_image_tag() {
    let mut qs = minimal();
    qs.spec.image.tag = Some("1.2.3".into());
    assert_eq!(
        resolved(&qs).workload(Component::Producer).labels["app.kubernetes.io/version"],
        "1.2.3"
    );
    qs.spec.consumer.workload.image = Some("registry:5000/qs/quakestream@sha256:abc".into());
    assert!(
        !resolved(&qs)
            .workload(Component::Consumer)
            .labels
            .contains_key("app.kubernetes.io/version")
    );
    qs.spec.consumer.workload.image = Some("registry:5000/qs/quakestream:dev".into());
    assert_eq!(
        resolved(&qs).workload(Component::Consumer).labels["app.kubernetes.io/version"],
        "dev"
    );
    assert!(!resolved(&qs).labels.contains_key(COMPONENT_LABEL));
}

#[test]
fn the_analytics_is_on_by_default_with_the_contracts_settings() {
    let r = resolved(&named("quakestream"));
    assert!(r.analytics.enabled);
    assert_eq!(r.analytics.names, contract::analytics::Names::historical());
    let w = r.workload(Component::Analytics);
    assert_eq!(w.name, "quakestream-analytics");
    assert_eq!((w.replicas, w.desired_ready), (Some(2), 2));
    assert_eq!(w.port, 9093);
    assert_eq!(w.pod_name_env, ["QS_INSTANCE_ID"]);
    assert_eq!(w.env["QS_STATS_TOPIC"], "quake-stats");
    // The frontend tails the topic the analytics writes.
    assert_eq!(r.workload(Component::Frontend).env["QS_STATS_TOPIC"], "quake-stats");
    assert_eq!(w.env["QS_ANALYTICS_APP_ID"], "quakestream-analytics");
    assert_eq!(w.env["QS_GRACE"], "2d");
    assert_eq!(w.env["QS_RETENTION"], "35d");
    assert_eq!(w.env["QS_COMMIT_INTERVAL"], "1s");
    assert_eq!(w.env["QS_TOPIC"], "quakes");
    assert!(
        !w.env.contains_key("QS_INSTANCE_ID"),
        "from the pod name, not the ConfigMap"
    );
    let names: Vec<&str> = r.topics.iter().map(|t| t.topic_name.as_str()).collect();
    assert_eq!(
        names,
        [
            "quakes",
            "quakes.dlq",
            "quake-stats",
            "quakestream-analytics-events-changelog",
            "quakestream-analytics-stats-repartition",
            "quakestream-analytics-stats-changelog",
            "quake-sequences",
            "quakestream-analytics-sequences-repartition",
            "quakestream-analytics-sequences-changelog"
        ]
    );
    assert!(
        r.workloads
            .iter()
            .all(|w| w.component == Component::Analytics || w.pod_name_env.is_empty())
    );
}

#[test]
fn the_analytics_topics_follow_the_events_topic_and_derive_their_retention() {
    let mut qs = minimal();
    qs.spec.kafka.topic.partitions = Some(12);
    qs.spec.kafka.topic.replicas = Some(1);
    qs.spec
        .kafka
        .topic
        .config
        .insert("min.insync.replicas".into(), "1".into());
    qs.spec.kafka.topic.config.insert("segment.bytes".into(), "1000".into());
    qs.spec.analytics.grace = "6h".into();
    let r = resolved(&qs);
    let t = &r.topics[2..];
    assert_eq!(t.len(), 7);
    for topic in t {
        // The sequences' topics have one partition: the grouping is global.
        let partitions = if topic.topic_name.contains("sequences") { 1 } else { 12 };
        assert_eq!(
            (topic.partitions, topic.replicas),
            (partitions, 1),
            "{}",
            topic.topic_name
        );
        assert_eq!(topic.config["min.insync.replicas"], json!("1"));
        assert!(
            !topic.config.contains_key("segment.bytes"),
            "only durability is inherited"
        );
        assert!(!topic.owned, "retained like the events topic");
    }
    assert_eq!(t[0].object_name, "demo-analytics-stats");
    assert_eq!(t[0].topic_name, "demo-quake-stats");
    assert_eq!(t[0].config["cleanup.policy"], json!("compact,delete"));
    assert_eq!(t[0].config["retention.ms"], json!(35 * 86_400_000_i64));
    assert_eq!(t[1].config["cleanup.policy"], json!("compact"));
    assert!(!t[1].config.contains_key("retention.ms"));
    assert_eq!(t[2].config["cleanup.policy"], json!("delete"));
    assert_eq!(
        t[2].config["retention.ms"],
        json!(30 * 3_600_000_i64),
        "the repartition topic keeps the longest window plus grace"
    );
    qs.spec.kafka.topic_retention_policy = TopicRetentionPolicy::Delete;
    assert!(resolved(&qs).topics[2..].iter().all(|t| t.owned));
}

#[test]
fn the_analytics_can_be_turned_off() {
    let mut qs = minimal();
    qs.spec.analytics.enabled = false;
    let r = resolved(&qs);
    assert!(r.find_workload(Component::Analytics).is_none());
    assert_eq!(r.workloads.len(), 3);
    assert_eq!(r.topics.len(), 2);
    assert_eq!(r.analytics.names.app_id, "demo-analytics", "names are still reserved");
    assert_eq!(
        r.workload(Component::Frontend).env["QS_STATS_TOPIC"],
        "demo-quake-stats",
        "the frontend never tails another pipeline's statistics"
    );
    assert_eq!(
        r.workload(Component::Frontend).env["QS_SEQUENCES_TOPIC"],
        "demo-quake-sequences"
    );
}

#[test]
fn analytics_rules() {
    let mut qs = minimal();
    qs.spec.analytics.grace = "15d".into();
    qs.spec.analytics.commit_interval = "1 s".into();
    qs.spec.analytics.replicas = -1;
    let e = errors(&qs);
    assert!(
        e.contains("spec.analytics.grace: duration 15d is out of range: between 0s and 14d"),
        "{e}"
    );
    assert!(e.contains("spec.analytics.commitInterval: invalid duration"), "{e}");
    assert!(
        e.contains("spec.analytics.replicas must be between 0 and 1000, got -1"),
        "{e}"
    );
    let mut qs = minimal();
    qs.spec.analytics.grace = "3d".into();
    qs.spec.analytics.retention = "4d".into();
    let e = errors(&qs);
    assert!(
        e.contains("spec.analytics.retention: retention (4d) must exceed the grace period plus the longest window and a pane (3d + 1d + 1h = 4d1h)"),
        "{e}"
    );
    let mut qs = minimal();
    qs.spec.analytics.stats_topic = Some("demo-quakes".into());
    qs.spec.analytics.app_id = Some("demo-consumer".into());
    let e = errors(&qs);
    assert!(e.contains("statsTopic must differ from spec.kafka.topic"), "{e}");
    assert!(e.contains("appId must differ from spec.consumer.groupId"), "{e}");
    qs.spec.analytics.stats_topic = Some("bad topic".into());
    qs.spec.analytics.app_id = Some("a".repeat(201));
    let e = errors(&qs);
    assert!(e.contains("is not a legal Kafka topic name"), "{e}");
    assert!(e.contains("must be at most 200 letters"), "{e}");
}

#[test]
fn analytics_names_in_use_are_kept_and_their_topics_never_renamed_or_shrunk() {
    let mut qs = minimal();
    let mut st = status_with_names("demo-quakes");
    let n = st.names.as_mut().unwrap();
    n.analytics_app_id = Some("old-app".into());
    n.stats_topic = Some("old-stats".into());
    st.topics = vec![TopicStatus {
        name: "demo-analytics-events-changelog".into(),
        topic_name: "old-app-events-changelog".into(),
        partitions: Some(12),
        ready: "True".into(),
        ..TopicStatus::default()
    }];
    qs.status = Some(st);
    qs.spec.kafka.topic.partitions = Some(12);
    qs.spec.kafka.topic.name = Some("demo-quakes".into());
    qs.spec.kafka.dlq_topic.name = Some("old.dlq".into());
    let r = resolved(&qs);
    assert_eq!(r.analytics.names.app_id, "old-app");
    assert_eq!(r.analytics.names.stats_topic, "old-stats");
    assert_eq!(r.topics[3].topic_name, "old-app-events-changelog");
    qs.spec.analytics.app_id = Some("new-app".into());
    let e = errors(&qs);
    assert!(
        e.contains(r#"spec.analytics.appId: the pipeline uses "old-app""#),
        "{e}"
    );
    assert!(
        e.contains(r#"KafkaTopic demo-analytics-events-changelog holds topic "old-app-events-changelog", which Strimzi cannot rename"#),
        "{e}"
    );
    qs.spec.analytics.app_id = None;
    qs.spec.kafka.topic.partitions = Some(6);
    let e = errors(&qs);
    assert!(
        e.contains("the analytics topic old-app-events-changelog has 12 partitions and Kafka cannot remove partitions"),
        "{e}"
    );
}
