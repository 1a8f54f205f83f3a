use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::crd::KafkaAuthentication;
use crate::fixtures::{minimal, resolved, with_uid};
use contract::env;

/// What each workload does with the topics and groups its environment names: the variable, and
/// the operations that use of it needs. Written from the workloads' code, not from `acls`.
fn uses(c: Component) -> Vec<(&'static str, &'static [&'static str])> {
    match c {
        Component::Producer => vec![(env::TOPIC, WRITE), (env::DLQ_TOPIC, WRITE)],
        Component::Consumer => vec![(env::TOPIC, READ), (env::DLQ_TOPIC, WRITE), (env::GROUP_ID, JOIN)],
        Component::Frontend => vec![
            (env::TOPIC, READ),
            (env::STATS_TOPIC, READ),
            (env::SEQUENCES_TOPIC, READ),
        ],
        Component::Analytics => vec![
            (env::TOPIC, READ),
            (env::DLQ_TOPIC, WRITE),
            (env::STATS_TOPIC, WRITE),
            (env::SEQUENCES_TOPIC, WRITE),
            (env::ANALYTICS_APP_ID, JOIN),
        ],
    }
}

/// The analytics' internal topics (changelogs and repartition topics, named from its app id,
/// not in its environment): it reads and writes each.
fn internal_topics(r: &crate::resolve::Resolved) -> Vec<String> {
    use contract::analytics::TopicRole as A;
    r.topics
        .iter()
        .filter(|t| matches!(t.role, TopicRole::Analytics(a) if !matches!(a, A::Stats | A::Sequences)))
        .map(|t| t.topic_name.clone())
        .collect()
}

/// Group ids a workload uses that are not in its environment.
fn fixed_groups(c: Component) -> Vec<(&'static str, &'static [&'static str])> {
    match c {
        Component::Frontend => vec![(contract::frontend::TAIL_GROUP_ID, DESCRIBE)],
        Component::Analytics => vec![("demo-analytics-restore", DESCRIBE)],
        _ => vec![],
    }
}

type Grants = BTreeMap<(String, String), BTreeSet<String>>;

/// The rules by (resource type, name). The one prefix allowed is the analytics' transactional
/// ids (`<app id>-<pod name>`), kept as type `transactionalId-prefix`.
fn grants(rules: &[AclRule]) -> Grants {
    let mut m = Grants::new();
    for a in rules {
        assert_eq!(a.type_, "allow");
        let mut kind = a.resource.type_.clone();
        if a.resource.pattern_type.as_deref() == Some("prefix") {
            assert_eq!(kind, "transactionalId", "no prefixes but transactional ids: {a:?}");
            kind.push_str("-prefix");
        } else {
            assert_eq!(a.resource.pattern_type.as_deref(), Some("literal"), "{a:?}");
        }
        let name = a.resource.name.clone().expect("every rule names its resource");
        assert!(!name.contains('*'), "no wildcards: {a:?}");
        let ops = m.entry((kind, name)).or_default();
        ops.extend(a.operations.iter().cloned());
    }
    m
}

#[test]
fn every_topic_and_group_a_workload_uses_is_covered_and_nothing_more() {
    let r = resolved(&minimal());
    for w in &r.workloads {
        let mut want = Grants::new();
        for (var, ops) in uses(w.component) {
            let value = w
                .env
                .get(var)
                .unwrap_or_else(|| panic!("{}: {var} is rendered", w.name));
            let kind = if var.ends_with("TOPIC") { "topic" } else { "group" };
            want.entry((kind.to_owned(), value.clone()))
                .or_default()
                .extend(ops.iter().map(|o| (*o).to_owned()));
        }
        for (g, ops) in fixed_groups(w.component) {
            want.insert(
                ("group".into(), g.into()),
                ops.iter().map(|o| (*o).to_owned()).collect(),
            );
        }
        if w.component == Component::Analytics {
            let app = &w.env[env::ANALYTICS_APP_ID];
            for t in internal_topics(&r) {
                want.insert(
                    ("topic".into(), t),
                    READ_WRITE.iter().map(|o| (*o).to_owned()).collect(),
                );
            }
            want.insert(
                ("transactionalId-prefix".into(), format!("{app}-")),
                TRANSACT.iter().map(|o| (*o).to_owned()).collect(),
            );
        }
        // Every variable naming a topic is in the table above, so a new topic cannot go unnoticed.
        for (k, _) in w
            .env
            .iter()
            .filter(|(k, _)| k.ends_with("_TOPIC") || k.as_str() == env::TOPIC)
        {
            assert!(
                uses(w.component).iter().any(|(v, _)| v == k),
                "{}: {k} names a topic missing from `uses`",
                w.name
            );
        }
        assert_eq!(grants(&acls(&r, w.component)), want, "{}", w.name);
    }
}

#[test]
fn no_operation_beyond_reading_writing_and_describing() {
    let r = resolved(&minimal());
    for w in &r.workloads {
        for a in acls(&r, w.component) {
            assert!(
                matches!(a.resource.type_.as_str(), "topic" | "group" | "transactionalId"),
                "{a:?}"
            );
            for op in &a.operations {
                assert!(["Read", "Write", "Describe"].contains(&op.as_str()), "{}: {op}", w.name);
            }
        }
    }
    let producer = grants(&acls(&r, Component::Producer));
    assert!(
        producer.values().all(|ops| !ops.contains("Read")),
        "the producer reads nothing"
    );
    let frontend = grants(&acls(&r, Component::Frontend));
    assert!(
        frontend.values().all(|ops| !ops.contains("Write")),
        "the frontend writes nothing"
    );
}

#[test]
fn a_user_per_workload_named_like_it_with_its_authentication() {
    let r = resolved(&with_uid(minimal()));
    for w in &r.workloads {
        let u = build(&r, w).expect("tls by default");
        assert_eq!(u.metadata.name.as_deref(), Some(w.name.as_str()));
        assert_eq!(u.metadata.labels.as_ref().unwrap()[CLUSTER_LABEL], "events");
        assert_eq!(u.metadata.owner_references.as_ref().unwrap().len(), 1);
        assert_eq!(u.spec.authentication.type_, "tls");
        assert_eq!(u.spec.authorization.type_, "simple");
        let v = crate::build::typed(&u).unwrap();
        assert_eq!(v["apiVersion"], "kafka.strimzi.io/v1");
        assert_eq!(v["kind"], "KafkaUser");
        assert!(
            v["spec"]["authorization"]["acls"][0].get("operation").is_none(),
            "v1 has operations only"
        );
    }
    let mut qs = minimal();
    qs.spec.kafka.authentication = KafkaAuthentication::ScramSha512;
    let r = resolved(&qs);
    assert_eq!(
        build(&r, &r.workloads[0]).unwrap().spec.authentication.type_,
        "scram-sha-512"
    );
    qs.spec.kafka.authentication = KafkaAuthentication::None;
    let r = resolved(&qs);
    assert!(r.workloads.iter().all(|w| build(&r, w).is_none()));
}

#[test]
fn renamed_topics_and_groups_follow_the_spec() {
    let mut qs = minimal();
    qs.spec.kafka.topic.name = Some("custom".into());
    qs.spec.consumer.group_id = Some("g1".into());
    let r = resolved(&qs);
    let consumer = grants(&acls(&r, Component::Consumer));
    assert!(consumer.contains_key(&("topic".into(), "custom".into())));
    assert!(consumer.contains_key(&("group".into(), "g1".into())));
}
