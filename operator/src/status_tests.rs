use super::*;
use crate::build::build_all;
use crate::crd::{IngressSpec, QuakeStream};
use crate::fixtures::{minimal, resolved, with_uid};
use crate::strimzi::{KafkaTopicStatus, StrimziCondition};
use k8s_openapi::api::apps::v1::DeploymentStatus;
use k8s_openapi::api::networking::v1::{
    IngressLoadBalancerIngress, IngressLoadBalancerStatus, IngressStatus as K8sIngressStatus,
};

fn t(secs: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + secs).unwrap()
}

/// What the API server returns for the children of `qs` when they are (not) ready.
pub(crate) fn observed(qs: &QuakeStream, ready: bool) -> Observed {
    let r = resolved(qs);
    let children = build_all(&r);
    let deployments = children
        .deployments
        .into_iter()
        .zip(&r.workloads)
        .map(|(mut d, w)| {
            let n = if ready { w.desired_ready } else { 0 };
            d.metadata.generation = Some(1);
            d.status = Some(DeploymentStatus {
                observed_generation: Some(1),
                replicas: Some(n),
                ready_replicas: Some(n),
                updated_replicas: Some(n),
                ..DeploymentStatus::default()
            });
            d
        })
        .collect();
    let topics = children
        .topics
        .into_iter()
        .map(|mut k| {
            if ready {
                k.status = Some(strimzi_status("True", None, None));
            }
            k
        })
        .collect();
    Observed {
        deployments,
        topics,
        ingress: children.ingress,
    }
}

fn strimzi_status(ready: &str, reason: Option<&str>, message: Option<&str>) -> KafkaTopicStatus {
    KafkaTopicStatus {
        conditions: vec![StrimziCondition {
            type_: "Ready".into(),
            status: ready.into(),
            reason: reason.map(Into::into),
            message: message.map(Into::into),
            last_transition_time: None,
        }],
        ..KafkaTopicStatus::default()
    }
}

fn with_address(mut i: Ingress, ip: &str) -> Ingress {
    i.status = Some(K8sIngressStatus {
        load_balancer: Some(IngressLoadBalancerStatus {
            ingress: Some(vec![IngressLoadBalancerIngress {
                ip: Some(ip.into()),
                ..IngressLoadBalancerIngress::default()
            }]),
        }),
    });
    i
}

/// A fully ready status of the minimal fixture.
pub(crate) fn ready_status() -> QuakeStreamStatus {
    let qs = with_uid(minimal());
    compute(
        &resolved(&qs),
        &QuakeStreamStatus::default(),
        &observed(&qs, true),
        None,
        t(0),
    )
}

#[test]
fn not_ready_lists_what_it_waits_for() {
    let qs = with_uid(minimal());
    let s = compute(
        &resolved(&qs),
        &QuakeStreamStatus::default(),
        &observed(&qs, false),
        None,
        t(0),
    );
    assert!(!is_true(&s, READY));
    assert!(is_true(&s, PROGRESSING));
    assert!(!is_true(&s, DEGRADED));
    let ready = find(&s, READY).unwrap();
    assert_eq!(ready.reason, reason::WAITING_FOR_WORKLOADS);
    assert_eq!(
        ready.message,
        "waiting for producer (0/1 ready), consumer (0/2 ready), frontend (0/2 ready), analytics (0/2 ready), \
         topic demo-quakes (not ready), topic demo-quakes.dlq (not ready), topic demo-quake-stats (not ready), \
         topic demo-analytics-events-changelog (not ready), topic demo-analytics-stats-repartition (not ready), \
         topic demo-analytics-stats-changelog (not ready), topic demo-quake-sequences (not ready), \
         topic demo-analytics-sequences-repartition (not ready), topic demo-analytics-sequences-changelog (not ready)"
    );
    assert_eq!(s.observed_generation, Some(1));
    assert_eq!(s.topics[0].ready, "Unknown");
    assert_eq!(s.topic_readiness.as_deref(), Some("0/9"));
    assert_eq!(s.analytics.as_ref().unwrap().readiness, "0/2");
    assert_eq!(s.consumer.as_ref().unwrap().readiness, "0/2");
    assert_eq!(s.url.as_deref(), Some("http://demo-frontend.quakes.svc:8080/"));
    let types: Vec<_> = s.conditions.iter().map(|c| c.type_.as_str()).collect();
    assert_eq!(types, [READY, PROGRESSING, DEGRADED]);
}

#[test]
fn ready_deterministic_and_names_what_it_uses() {
    let qs = with_uid(minimal());
    let obs = observed(&qs, true);
    let first = compute(&resolved(&qs), &QuakeStreamStatus::default(), &obs, None, t(0));
    assert!(is_true(&first, READY));
    assert!(!is_true(&first, PROGRESSING));
    assert_eq!(find(&first, READY).unwrap().reason, reason::ALL_READY);
    assert_eq!(
        first.frontend,
        Some(ComponentStatus {
            desired_replicas: 2,
            ready_replicas: 2,
            ready: true,
            readiness: "2/2".into()
        })
    );
    assert_eq!(first.topics[1].ready, "True");
    assert_eq!(
        first.topics[0].partitions,
        Some(6),
        "the status records what was applied"
    );
    assert_eq!(first.topic_readiness.as_deref(), Some("9/9"));
    let names = first.names.clone().unwrap();
    assert_eq!(
        (
            names.topic.as_str(),
            names.dlq_topic.as_str(),
            names.consumer_group.as_str(),
            names.table.as_str()
        ),
        ("demo-quakes", "demo-quakes.dlq", "demo-consumer", "demo-quakes")
    );
    // Later passes with the same observations give the identical status.
    assert_eq!(first, compute(&resolved(&qs), &first, &obs, None, t(600)));
}

#[test]
fn transition_time_moves_only_on_flip() {
    let qs = with_uid(minimal());
    let r = resolved(&qs);
    let waiting = compute(&r, &QuakeStreamStatus::default(), &observed(&qs, false), None, t(0));
    let ready = compute(&r, &waiting, &observed(&qs, true), None, t(60));
    assert_eq!(find(&ready, READY).unwrap().last_transition_time, Time(t(60)));
    assert_eq!(
        find(&ready, DEGRADED).unwrap().last_transition_time,
        Time(t(0)),
        "Degraded stayed False"
    );
}

#[test]
fn stale_deployment_generation_is_not_ready() {
    let qs = with_uid(minimal());
    let mut obs = observed(&qs, true);
    obs.deployments[1].metadata.generation = Some(2);
    let s = compute(&resolved(&qs), &QuakeStreamStatus::default(), &obs, None, t(0));
    assert!(!s.consumer.as_ref().unwrap().ready);
    assert!(!is_true(&s, READY));
}

#[test]
fn zero_consumers_is_ready() {
    let mut qs = with_uid(minimal());
    qs.spec.consumer.replicas = 0;
    let s = compute(
        &resolved(&qs),
        &QuakeStreamStatus::default(),
        &observed(&qs, true),
        None,
        t(0),
    );
    assert!(s.consumer.unwrap().ready);
}

#[test]
fn waiting_topic_messages_are_copied() {
    let qs = with_uid(minimal());
    let mut obs = observed(&qs, true);
    obs.topics[0].status = Some(strimzi_status(
        "False",
        Some("KafkaError"),
        Some("replication factor 3 > 1 brokers"),
    ));
    let s = compute(&resolved(&qs), &QuakeStreamStatus::default(), &obs, None, t(0));
    assert_eq!(s.topics[0].ready, "False");
    assert_eq!(s.topics[0].reason.as_deref(), Some("KafkaError"));
    let ready = find(&s, READY).unwrap();
    assert_eq!(ready.reason, reason::WAITING_FOR_TOPICS);
    assert!(
        ready
            .message
            .contains("topic demo-quakes (KafkaError: replication factor 3 > 1 brokers)")
    );
    assert!(!is_true(&s, DEGRADED), "a Kafka error may clear by itself");
}

#[test]
fn strimzis_refusal_degrades_with_its_words() {
    let qs = with_uid(minimal());
    let mut obs = observed(&qs, true);
    obs.topics[0].status = Some(strimzi_status(
        "False",
        Some("NotSupported"),
        Some("Decreasing partitions not supported"),
    ));
    let s = compute(&resolved(&qs), &QuakeStreamStatus::default(), &obs, None, t(0));
    let d = find(&s, DEGRADED).unwrap();
    assert_eq!(d.status, "True");
    assert_eq!(d.reason, reason::TOPIC_REFUSED);
    assert_eq!(d.message, "topic demo-quakes: Decreasing partitions not supported");
    assert!(!is_true(&s, READY));
    assert!(!is_true(&s, PROGRESSING), "nothing to wait for without a change");
}

#[test]
fn ready_waits_for_the_ingress_address_so_the_url_is_never_empty() {
    let mut qs = with_uid(minimal());
    qs.spec.frontend.ingress = Some(IngressSpec {
        class_name: Some("cloud-provider-kind".into()),
        ..IngressSpec::default()
    });
    let r = resolved(&qs);
    let mut obs = observed(&qs, true);
    let s = compute(&r, &QuakeStreamStatus::default(), &obs, None, t(0));
    assert!(!is_true(&s, READY));
    assert_eq!(find(&s, READY).unwrap().reason, reason::WAITING_FOR_INGRESS);
    assert_eq!(s.url, None);
    assert_eq!(
        s.ingress,
        Some(IngressStatus {
            address: None,
            ready: false
        })
    );
    obs.ingress = obs.ingress.map(|i| with_address(i, "172.18.0.5"));
    let s = compute(&r, &s, &obs, None, t(10));
    assert!(is_true(&s, READY));
    assert_eq!(s.url.as_deref(), Some("http://172.18.0.5/"));
    assert_eq!(s.ingress.unwrap().address.as_deref(), Some("172.18.0.5"));
    // With a host the URL is known at once, but Ready still waits for the load balancer.
    qs.spec.frontend.ingress.as_mut().unwrap().host = Some("quakes.example.org".into());
    qs.spec.frontend.ingress.as_mut().unwrap().tls = Some(crate::crd::IngressTlsSpec::default());
    let s = compute(
        &resolved(&qs),
        &QuakeStreamStatus::default(),
        &observed(&qs, true),
        None,
        t(0),
    );
    assert_eq!(s.url.as_deref(), Some("https://quakes.example.org/"));
    assert!(!is_true(&s, READY));
}

#[test]
fn a_problem_keeps_what_was_not_applied() {
    let qs = with_uid(minimal());
    let r = resolved(&qs);
    let ready = compute(&r, &QuakeStreamStatus::default(), &observed(&qs, true), None, t(0));
    let p = Problem {
        reason: reason::APPLY_FAILED,
        message: "Ingress demo-frontend refused (422 Invalid): bad".into(),
    };
    // The workloads stage ran, the exposure stage was refused.
    let mut partial = observed(&qs, true);
    partial.ingress = None;
    let d = compute(&r, &ready, &partial, Some(&p), t(10));
    assert!(is_true(&d, DEGRADED));
    assert_eq!(find(&d, DEGRADED).unwrap().message, p.message);
    assert_eq!(find(&d, READY).unwrap().reason, reason::APPLY_FAILED);
    assert_eq!(d.frontend, ready.frontend);
    // Nothing applied at all (a refused ConfigMap): everything comes from the previous status.
    let d = compute(&r, &ready, &Observed::default(), Some(&p), t(10));
    assert_eq!(d.producer, ready.producer);
    assert_eq!(d.topics, ready.topics);
    assert_eq!(compute(&r, &d, &Observed::default(), Some(&p), t(20)), d, "stable");
}

#[test]
fn unresolved_keeps_components_and_is_stable() {
    let ready = ready_status();
    let d = unresolved(Some(2), &ready, reason::INVALID_SPEC, "bad", t(10));
    assert!(is_true(&d, DEGRADED));
    assert!(!is_true(&d, READY));
    assert_eq!(d.frontend, ready.frontend);
    assert_eq!(d.url, ready.url);
    assert_eq!(d.names, ready.names);
    assert_eq!(d.observed_generation, Some(2));
    assert_eq!(find(&d, READY).unwrap().reason, reason::INVALID_SPEC);
    assert_eq!(unresolved(Some(2), &d, reason::INVALID_SPEC, "bad", t(20)), d);
}

#[test]
fn long_messages_are_cut_on_a_character_boundary() {
    let long = "é".repeat(MAX_MESSAGE_LEN);
    let cut = truncate(&long, MAX_MESSAGE_LEN);
    assert!(cut.len() <= MAX_MESSAGE_LEN);
    assert!(cut.ends_with('…'));
    assert_eq!(truncate("short", 10), "short");
    let d = unresolved(None, &QuakeStreamStatus::default(), reason::APPLY_FAILED, &long, t(0));
    assert!(find(&d, DEGRADED).unwrap().message.len() <= MAX_MESSAGE_LEN);
}
