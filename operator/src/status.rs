//! The deterministic status of a QuakeStream, computed from what its children report.
//!
//! The same inputs always give the same status: the only time in it is each condition's
//! `lastTransitionTime`, carried over from the previous status unless that condition's status
//! flips. So writing the status never causes a status change on the next pass, and an unchanged
//! status is not written at all.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

use crate::builders::{Component, frontend_url};
use crate::crd::{ComponentStatus, QuakeStream, QuakeStreamStatus, TopicStatus};
use crate::strimzi::KafkaTopic;

/// Condition types, in the order they appear in the status.
pub const READY: &str = "Ready";
/// Set while the operator waits for workloads or topics to become ready.
pub const PROGRESSING: &str = "Progressing";
/// Set when the operator cannot make progress without a change from the user or the cluster.
pub const DEGRADED: &str = "Degraded";

/// Reason of `Degraded` for an invalid spec.
pub const REASON_INVALID_SPEC: &str = "InvalidSpec";
/// Reason of `Degraded` when the Strimzi KafkaTopic CRD is missing.
pub const REASON_STRIMZI_MISSING: &str = "KafkaTopicCrdMissing";

/// What the API server returned for the applied children.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    /// Producer, consumer and frontend Deployments, in [`Component::ALL`] order.
    pub deployments: Vec<Deployment>,
    /// The KafkaTopics.
    pub topics: Vec<KafkaTopic>,
    /// The frontend Ingress, when there is one.
    pub ingress: Option<Ingress>,
}

/// Replicas the operator waits for before calling a component ready.
pub fn desired_replicas(qs: &QuakeStream, component: Component) -> i32 {
    match component {
        Component::Producer => 1,
        Component::Consumer => qs.spec.consumer.replicas,
        Component::Frontend => qs.spec.frontend.autoscaling.min_replicas,
    }
}

/// Readiness of one Deployment: its controller has seen the current template, and at least
/// `desired` pods run that template and are ready.
pub fn component_status(d: &Deployment, desired: i32) -> ComponentStatus {
    let status = d.status.clone().unwrap_or_default();
    let seen = match (status.observed_generation, d.metadata.generation) {
        (Some(seen), Some(generation)) => seen >= generation,
        (_, None) => true,
        (None, Some(_)) => false,
    };
    let ready_replicas = status.ready_replicas.unwrap_or(0);
    let updated = status.updated_replicas.unwrap_or(0);
    ComponentStatus {
        desired_replicas: desired,
        ready_replicas,
        ready: desired == 0 || (seen && updated >= desired && ready_replicas >= desired),
    }
}

/// Readiness of one KafkaTopic, from its Strimzi `Ready` condition.
pub fn topic_status(t: &KafkaTopic) -> TopicStatus {
    let cond = t.ready_condition();
    TopicStatus {
        name: t.metadata.name.clone().unwrap_or_default(),
        topic_name: t.spec.topic_name.clone().unwrap_or_default(),
        ready: cond.map_or_else(|| "Unknown".to_owned(), |c| c.status.clone()),
        reason: cond.and_then(|c| c.reason.clone()),
        message: cond.and_then(|c| c.message.clone()),
    }
}

/// Status after a successful apply.
pub fn compute(qs: &QuakeStream, old: &QuakeStreamStatus, observed: &Observed, now: Timestamp) -> QuakeStreamStatus {
    let comps: Vec<(Component, ComponentStatus)> = Component::ALL
        .iter()
        .zip(&observed.deployments)
        .map(|(c, d)| (*c, component_status(d, desired_replicas(qs, *c))))
        .collect();
    let topics: Vec<TopicStatus> = observed.topics.iter().map(topic_status).collect();

    let mut waiting = Vec::new();
    for (c, s) in &comps {
        if !s.ready {
            waiting.push(format!(
                "{} ({}/{} ready)",
                c.as_str(),
                s.ready_replicas,
                s.desired_replicas
            ));
        }
    }
    for t in &topics {
        if t.ready != "True" {
            let why = t.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default();
            waiting.push(format!(
                "topic {} ({}{why})",
                t.topic_name,
                t.reason.as_deref().unwrap_or("not ready")
            ));
        }
    }
    let ready = waiting.is_empty() && comps.len() == Component::ALL.len();
    let generation = qs.metadata.generation;
    let conditions = if ready {
        vec![
            cond(
                old,
                READY,
                true,
                "AllComponentsReady",
                "producer, consumer, frontend and topics are ready",
                generation,
                now,
            ),
            cond(
                old,
                PROGRESSING,
                false,
                "Reconciled",
                "all objects are applied and ready",
                generation,
                now,
            ),
            cond(old, DEGRADED, false, "AsExpected", "", generation, now),
        ]
    } else {
        let msg = format!("waiting for {}", waiting.join(", "));
        vec![
            cond(old, READY, false, "NotReady", &msg, generation, now),
            cond(old, PROGRESSING, true, "WaitingForComponents", &msg, generation, now),
            cond(old, DEGRADED, false, "AsExpected", "", generation, now),
        ]
    };
    let get = |c: Component| comps.iter().find(|(k, _)| *k == c).map(|(_, s)| s.clone());
    QuakeStreamStatus {
        conditions,
        observed_generation: generation,
        producer: get(Component::Producer),
        consumer: get(Component::Consumer),
        frontend: get(Component::Frontend),
        topics,
        url: frontend_url(qs, observed.ingress.as_ref()),
    }
}

/// Status when the operator cannot proceed (`reason` is [`REASON_INVALID_SPEC`] or
/// [`REASON_STRIMZI_MISSING`]). Component readiness and URL from the previous status are kept:
/// the children that already exist keep running.
pub fn degraded(
    qs: &QuakeStream,
    old: &QuakeStreamStatus,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> QuakeStreamStatus {
    let generation = qs.metadata.generation;
    QuakeStreamStatus {
        conditions: vec![
            cond(old, READY, false, reason, message, generation, now),
            cond(old, PROGRESSING, false, reason, "waiting for a change", generation, now),
            cond(old, DEGRADED, true, reason, message, generation, now),
        ],
        observed_generation: generation,
        ..old.clone()
    }
}

/// A condition, keeping the previous `lastTransitionTime` when its status did not change.
fn cond(
    old: &QuakeStreamStatus,
    type_: &str,
    status: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: Timestamp,
) -> Condition {
    let status = if status { "True" } else { "False" };
    let last_transition_time = find(old, type_)
        .filter(|c| c.status == status)
        .map_or(Time(now), |c| c.last_transition_time.clone());
    Condition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        reason: reason.to_owned(),
        message: message.to_owned(),
        observed_generation: generation,
        last_transition_time,
    }
}

/// A condition of a status by type.
pub fn find<'a>(status: &'a QuakeStreamStatus, type_: &str) -> Option<&'a Condition> {
    status.conditions.iter().find(|c| c.type_ == type_)
}

/// Whether a condition is `True`.
pub fn is_true(status: &QuakeStreamStatus, type_: &str) -> bool {
    find(status, type_).is_some_and(|c| c.status == "True")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builders::build_all;
    use crate::fixtures::{minimal, with_uid};
    use crate::strimzi::{KafkaTopicStatus, StrimziCondition};
    use k8s_openapi::api::apps::v1::DeploymentStatus;

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    pub(crate) fn observed(qs: &QuakeStream, ready: bool) -> Observed {
        let children = build_all(qs);
        let deployments = children
            .deployments
            .into_iter()
            .zip(Component::ALL)
            .map(|(mut d, c)| {
                let n = if ready { desired_replicas(qs, c) } else { 0 };
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
                    k.status = Some(KafkaTopicStatus {
                        conditions: vec![StrimziCondition {
                            type_: "Ready".into(),
                            status: "True".into(),
                            ..StrimziCondition::default()
                        }],
                        ..KafkaTopicStatus::default()
                    });
                }
                k
            })
            .collect();
        Observed {
            deployments,
            topics,
            ingress: None,
        }
    }

    #[test]
    fn not_ready_lists_what_it_waits_for() {
        let qs = with_uid(minimal());
        let s = compute(&qs, &QuakeStreamStatus::default(), &observed(&qs, false), t(0));
        assert!(!is_true(&s, READY));
        assert!(is_true(&s, PROGRESSING));
        assert!(!is_true(&s, DEGRADED));
        let msg = &find(&s, READY).unwrap().message;
        assert_eq!(
            msg,
            "waiting for producer (0/1 ready), consumer (0/2 ready), frontend (0/2 ready), \
             topic quakes (not ready), topic quakes.dlq (not ready)"
        );
        assert_eq!(s.observed_generation, Some(1));
        assert_eq!(s.topics[0].ready, "Unknown");
        assert_eq!(s.url.as_deref(), Some("http://demo-frontend.quakes.svc:8080/"));
        let types: Vec<_> = s.conditions.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, [READY, PROGRESSING, DEGRADED]);
    }

    #[test]
    fn ready_and_deterministic() {
        let qs = with_uid(minimal());
        let obs = observed(&qs, true);
        let first = compute(&qs, &QuakeStreamStatus::default(), &obs, t(0));
        assert!(is_true(&first, READY));
        assert!(!is_true(&first, PROGRESSING));
        assert_eq!(
            first.frontend,
            Some(ComponentStatus {
                desired_replicas: 2,
                ready_replicas: 2,
                ready: true
            })
        );
        assert_eq!(first.topics[1].ready, "True");
        // Later passes with the same observations give the identical status.
        let again = compute(&qs, &first, &obs, t(600));
        assert_eq!(first, again);
    }

    #[test]
    fn transition_time_moves_only_on_flip() {
        let qs = with_uid(minimal());
        let waiting = compute(&qs, &QuakeStreamStatus::default(), &observed(&qs, false), t(0));
        let ready = compute(&qs, &waiting, &observed(&qs, true), t(60));
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
        let s = compute(&qs, &QuakeStreamStatus::default(), &obs, t(0));
        assert!(!s.consumer.as_ref().unwrap().ready);
        assert!(!is_true(&s, READY));
    }

    #[test]
    fn zero_consumers_is_ready() {
        let mut qs = with_uid(minimal());
        qs.spec.consumer.replicas = 0;
        let s = compute(&qs, &QuakeStreamStatus::default(), &observed(&qs, true), t(0));
        assert!(s.consumer.unwrap().ready);
    }

    #[test]
    fn topic_messages_are_copied() {
        let qs = with_uid(minimal());
        let mut obs = observed(&qs, true);
        obs.topics[0].status = Some(KafkaTopicStatus {
            conditions: vec![StrimziCondition {
                type_: "Ready".into(),
                status: "False".into(),
                reason: Some("KafkaError".into()),
                message: Some("replication factor 3 > 1 brokers".into()),
                last_transition_time: None,
            }],
            ..KafkaTopicStatus::default()
        });
        let s = compute(&qs, &QuakeStreamStatus::default(), &obs, t(0));
        assert_eq!(s.topics[0].ready, "False");
        assert_eq!(s.topics[0].reason.as_deref(), Some("KafkaError"));
        assert!(
            find(&s, READY)
                .unwrap()
                .message
                .contains("topic quakes (KafkaError: replication factor 3 > 1 brokers)")
        );
    }

    #[test]
    fn degraded_keeps_components_and_is_stable() {
        let qs = with_uid(minimal());
        let ready = compute(&qs, &QuakeStreamStatus::default(), &observed(&qs, true), t(0));
        let d = degraded(&qs, &ready, REASON_INVALID_SPEC, "bad", t(10));
        assert!(is_true(&d, DEGRADED));
        assert!(!is_true(&d, READY));
        assert_eq!(d.frontend, ready.frontend);
        assert_eq!(d.url, ready.url);
        assert_eq!(find(&d, READY).unwrap().reason, REASON_INVALID_SPEC);
        assert_eq!(degraded(&qs, &d, REASON_INVALID_SPEC, "bad", t(20)), d);
    }
}
