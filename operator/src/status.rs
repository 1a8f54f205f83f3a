//! Step 4 of a reconcile: the status, computed from what the API server returned for the
//! applied children (never from what the operator merely intended).
//!
//! The same inputs always give the same status: the only time in it is each condition's
//! `lastTransitionTime`, carried over from the previous status unless that condition's status
//! flips. So writing the status never causes a status change on the next pass, and an unchanged
//! status is not written at all.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

use crate::component::Component;
use crate::crd::{ComponentStatus, IngressStatus, NamesStatus, QuakeStreamStatus, TopicStatus};
use crate::resolve::Resolved;
use crate::strimzi::KafkaTopic;

/// Condition types, in the order they appear in the status.
pub const READY: &str = "Ready";
/// Set while the operator waits for workloads, topics or the Ingress to become ready.
pub const PROGRESSING: &str = "Progressing";
/// Set when the operator cannot make progress without a change from the user or the cluster.
pub const DEGRADED: &str = "Degraded";

/// Condition reasons (CamelCase, stable: alerts and scripts may match on them).
pub mod reason {
    /// Ready: everything is ready.
    pub const ALL_READY: &str = "AllComponentsReady";
    /// Progressing=False when done.
    pub const RECONCILED: &str = "Reconciled";
    /// Degraded=False.
    pub const AS_EXPECTED: &str = "AsExpected";
    /// Waiting for Deployments.
    pub const WAITING_FOR_WORKLOADS: &str = "WaitingForWorkloads";
    /// Waiting for KafkaTopics.
    pub const WAITING_FOR_TOPICS: &str = "WaitingForTopics";
    /// Waiting for the ingress controller to give the Ingress an address.
    pub const WAITING_FOR_INGRESS: &str = "WaitingForIngressAddress";
    /// The spec breaks a rule.
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// The API server refused a child (400, 403, 409, 422).
    pub const APPLY_FAILED: &str = "ApplyFailed";
    /// The Strimzi KafkaTopic CRD is not installed.
    pub const STRIMZI_MISSING: &str = "KafkaTopicCrdMissing";
    /// Strimzi refused a topic (a change it does not support, or a conflict).
    pub const TOPIC_REFUSED: &str = "TopicRefused";
    /// The stored object cannot be read by this operator version.
    pub const UNREADABLE: &str = "UnreadableObject";
}

/// Strimzi's `Ready=False` reasons that only a change of the spec clears (a rename, fewer
/// partitions, an unsupported replication-factor change, two KafkaTopics for one topic).
pub const STRIMZI_REFUSALS: [&str; 3] = ["NotSupported", "ResourceConflict", "InvalidResource"];

/// Longest condition message written (the server's messages can be long).
pub const MAX_MESSAGE_LEN: usize = 4096;

/// What the API server returned for the children applied so far. A stage that failed leaves
/// its part empty, and the status keeps the previous values for it.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    /// Deployments, in [`Component::ALL`] order, when the workloads stage ran.
    pub deployments: Vec<Deployment>,
    /// KafkaTopics, when the topics stage ran.
    pub topics: Vec<KafkaTopic>,
    /// The frontend Ingress, when there is one and its stage ran.
    pub ingress: Option<Ingress>,
}

/// Why the operator cannot proceed (Degraded=True).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// One of [`reason`].
    pub reason: &'static str,
    /// What the user sees.
    pub message: String,
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
        readiness: format!("{ready_replicas}/{desired}"),
    }
}

/// Readiness of one KafkaTopic, from its Strimzi `Ready` condition.
pub fn topic_status(t: &KafkaTopic) -> TopicStatus {
    let cond = t.ready_condition();
    TopicStatus {
        name: t.metadata.name.clone().unwrap_or_default(),
        topic_name: t.spec.topic_name.clone().unwrap_or_default(),
        partitions: t.spec.partitions,
        replicas: t.spec.replicas,
        ready: cond.map_or_else(|| "Unknown".to_owned(), |c| c.status.clone()),
        reason: cond.and_then(|c| c.reason.clone()),
        message: cond.and_then(|c| c.message.clone()),
    }
}

/// Whether Strimzi refused the topic (only a spec change clears it).
pub fn is_refused(t: &TopicStatus) -> bool {
    t.ready == "False" && t.reason.as_deref().is_some_and(|r| STRIMZI_REFUSALS.contains(&r))
}

/// The address an ingress controller gave the Ingress.
pub fn ingress_address(i: &Ingress) -> Option<String> {
    let lb = i.status.as_ref()?.load_balancer.as_ref()?.ingress.as_ref()?.first()?;
    lb.hostname.clone().or_else(|| lb.ip.clone()).filter(|a| !a.is_empty())
}

/// The URL users browse: the Ingress host (or, without one, the address the Ingress reports),
/// else the in-cluster Service address.
pub fn frontend_url(r: &Resolved, ingress: Option<&IngressStatus>) -> Option<String> {
    let Some(spec) = r.frontend.ingress.as_ref() else {
        let w = r.workload(Component::Frontend);
        return Some(format!("http://{}.{}.svc:{}/", w.name, r.namespace, w.port));
    };
    let scheme = if spec.https { "https" } else { "http" };
    let host = spec.host.clone().or_else(|| ingress?.address.clone())?;
    Some(format!("{scheme}://{host}/"))
}

/// The status after a pass that resolved the spec. `problem` is set when applying stopped
/// (Degraded); the parts of `observed` that were not applied keep their previous values.
pub fn compute(
    r: &Resolved,
    old: &QuakeStreamStatus,
    observed: &Observed,
    problem: Option<&Problem>,
    now: Timestamp,
) -> QuakeStreamStatus {
    let mut comps = Vec::new();
    for (i, w) in r.workloads.iter().enumerate() {
        let s = match observed.deployments.get(i) {
            Some(d) => Some(component_status(d, w.desired_ready)),
            None => previous_component(old, w.component),
        };
        comps.push((w.component, s));
    }
    let topics: Vec<TopicStatus> = if observed.topics.is_empty() {
        old.topics.clone()
    } else {
        observed.topics.iter().map(topic_status).collect()
    };
    let ingress = r.frontend.ingress.as_ref().map(|_| match &observed.ingress {
        Some(i) => {
            let address = ingress_address(i);
            IngressStatus {
                ready: address.is_some(),
                address,
            }
        }
        None => old.ingress.clone().unwrap_or_default(),
    });
    let topic_ready = topics.iter().filter(|t| t.ready == "True").count();
    let get = |c: Component| comps.iter().find(|(k, _)| *k == c).and_then(|(_, s)| s.clone());
    QuakeStreamStatus {
        conditions: conditions(old, r.generation, &comps, &topics, ingress.as_ref(), problem, now),
        observed_generation: r.generation,
        producer: get(Component::Producer),
        consumer: get(Component::Consumer),
        frontend: get(Component::Frontend),
        analytics: get(Component::Analytics),
        topic_readiness: Some(format!("{topic_ready}/{}", r.topics.len())),
        topics,
        url: frontend_url(r, ingress.as_ref()),
        ingress,
        names: Some(NamesStatus {
            topic: r.names.topic.clone(),
            dlq_topic: r.names.dlq_topic.clone(),
            consumer_group: r.names.group_id.clone(),
            table: r.names.table.clone(),
            analytics_app_id: Some(r.analytics.names.app_id.clone()),
            stats_topic: Some(r.analytics.names.stats_topic.clone()),
        }),
    }
}

fn previous_component(old: &QuakeStreamStatus, c: Component) -> Option<ComponentStatus> {
    match c {
        Component::Producer => old.producer.clone(),
        Component::Consumer => old.consumer.clone(),
        Component::Frontend => old.frontend.clone(),
        Component::Analytics => old.analytics.clone(),
    }
}

fn conditions(
    old: &QuakeStreamStatus,
    generation: Option<i64>,
    comps: &[(Component, Option<ComponentStatus>)],
    topics: &[TopicStatus],
    ingress: Option<&IngressStatus>,
    problem: Option<&Problem>,
    now: Timestamp,
) -> Vec<Condition> {
    let refused: Vec<String> = topics
        .iter()
        .filter(|t| is_refused(t))
        .map(|t| {
            format!(
                "topic {}: {}",
                t.topic_name,
                t.message.as_deref().unwrap_or("refused by Strimzi")
            )
        })
        .collect();
    let problem = problem.cloned().or_else(|| {
        (!refused.is_empty()).then(|| Problem {
            reason: reason::TOPIC_REFUSED,
            message: refused.join("; "),
        })
    });
    if let Some(p) = problem {
        return degraded_conditions(old, generation, p.reason, &p.message, now);
    }
    let mut waiting = Vec::new();
    let mut why = None;
    for (c, s) in comps {
        match s {
            Some(s) if s.ready => {}
            Some(s) => waiting.push(format!("{} ({} ready)", c.as_str(), s.readiness)),
            None => waiting.push(format!("{} (not applied)", c.as_str())),
        }
    }
    if !waiting.is_empty() {
        why = Some(reason::WAITING_FOR_WORKLOADS);
    }
    for t in topics.iter().filter(|t| t.ready != "True") {
        let detail = t.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default();
        waiting.push(format!(
            "topic {} ({}{detail})",
            t.topic_name,
            t.reason.as_deref().unwrap_or("not ready")
        ));
        why.get_or_insert(reason::WAITING_FOR_TOPICS);
    }
    if ingress.is_some_and(|i| !i.ready) {
        waiting.push("an address for the Ingress".to_owned());
        why.get_or_insert(reason::WAITING_FOR_INGRESS);
    }
    match why {
        None => vec![
            cond(
                old,
                READY,
                true,
                reason::ALL_READY,
                "every workload and topic is ready",
                generation,
                now,
            ),
            cond(
                old,
                PROGRESSING,
                false,
                reason::RECONCILED,
                "all objects are applied and ready",
                generation,
                now,
            ),
            cond(old, DEGRADED, false, reason::AS_EXPECTED, "", generation, now),
        ],
        Some(why) => {
            let msg = format!("waiting for {}", waiting.join(", "));
            vec![
                cond(old, READY, false, why, &msg, generation, now),
                cond(old, PROGRESSING, true, why, &msg, generation, now),
                cond(old, DEGRADED, false, reason::AS_EXPECTED, "", generation, now),
            ]
        }
    }
}

fn degraded_conditions(
    old: &QuakeStreamStatus,
    generation: Option<i64>,
    why: &str,
    message: &str,
    now: Timestamp,
) -> Vec<Condition> {
    let message = truncate(message, MAX_MESSAGE_LEN);
    vec![
        cond(old, READY, false, why, &message, generation, now),
        cond(old, PROGRESSING, false, why, "waiting for a change", generation, now),
        cond(old, DEGRADED, true, why, &message, generation, now),
    ]
}

/// The status when the spec cannot even be resolved (an invalid or unreadable object): the
/// children that already exist keep running, so their readiness, the topics, the names and the
/// URL of the previous status are kept.
pub fn unresolved(
    generation: Option<i64>,
    old: &QuakeStreamStatus,
    why: &str,
    message: &str,
    now: Timestamp,
) -> QuakeStreamStatus {
    QuakeStreamStatus {
        conditions: degraded_conditions(old, generation, why, message, now),
        observed_generation: generation,
        ..old.clone()
    }
}

/// `s` cut to at most `max` bytes on a character boundary, with an ellipsis when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
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
#[path = "status_tests.rs"]
pub(crate) mod tests;
