//! Defaults the operator fills in for what a QuakeStream leaves unset, and the timings of pod
//! shutdown. Settings the workloads share with the operator (names, ports, ranges) are in the
//! contract crate; these concern only the cluster objects.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::component::{Component, TopicRole};

/// A topic's defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TopicDefaults {
    /// Partitions.
    pub partitions: i32,
    /// Replication factor.
    pub replicas: i32,
    /// `retention.ms`.
    pub retention_ms: i64,
}

/// Seven days, in milliseconds.
const WEEK_MS: i64 = 7 * 24 * 3600 * 1000;

/// Defaults of a topic role: the events topic keeps a week in 6 partitions (the consumer's
/// default of 2 replicas can grow to 6); the dead letters a month in one. The analytics'
/// topics take their partitions and replicas from the events topic and their retention from
/// the contract (`quakestream_contract::analytics::topics`); these are only their fallbacks.
pub fn topic(role: TopicRole) -> TopicDefaults {
    match role {
        TopicRole::Analytics(_) => topic(TopicRole::Events),
        TopicRole::Events => TopicDefaults {
            partitions: 6,
            replicas: 3,
            retention_ms: WEEK_MS,
        },
        TopicRole::DeadLetters => TopicDefaults {
            partitions: 1,
            replicas: 3,
            retention_ms: 30 * 24 * 3600 * 1000,
        },
    }
}

/// Target average CPU utilisation of the frontend's HPA.
pub const CPU_TARGET_PERCENT: i32 = 70;

/// Requests and limits used when the spec sets none. No CPU limit: throttling a websocket or an
/// SSE server hurts more than it protects; memory is limited.
pub fn resources(component: Component) -> ResourceRequirements {
    let (cpu, mem, mem_limit) = match component {
        Component::Producer => ("50m", "64Mi", "256Mi"),
        Component::Consumer => ("100m", "128Mi", "512Mi"),
        Component::Frontend => ("100m", "128Mi", "512Mi"),
        // State in memory: every event of the retention period and its windows.
        Component::Analytics => ("100m", "256Mi", "1Gi"),
    };
    let q = |s: &str| Quantity(s.to_owned());
    ResourceRequirements {
        requests: Some(BTreeMap::from([
            ("cpu".to_owned(), q(cpu)),
            ("memory".to_owned(), q(mem)),
        ])),
        limits: Some(BTreeMap::from([("memory".to_owned(), q(mem_limit))])),
        ..ResourceRequirements::default()
    }
}

/// Grace period of every pod unless the frontend needs longer (SIGTERM to SIGKILL).
pub const TERMINATION_GRACE_SECS: i64 = 30;
/// Pre-stop delay of the frontend without an ALB: time for kube-proxy and the ingress
/// controller to drop the pod from their endpoints before it stops accepting connections.
pub const ENDPOINT_PROPAGATION_SECS: i64 = 5;
/// The ALB's deregistration delay (`deregistration_delay.timeout_seconds`) unless the spec
/// sets one. The ALB's own default, 300 s, would hold every rollout for five minutes.
pub const ALB_DEREGISTRATION_DELAY_SECS: i32 = 30;
/// How much longer than the deregistration delay the frontend's pre-stop delay is: the AWS Load
/// Balancer Controller needs a few seconds to notice the pod is terminating and deregister it.
pub const ALB_DEREGISTRATION_MARGIN_SECS: i64 = 10;
/// Slack after the frontend's own drain before the kubelet kills it.
pub const SHUTDOWN_SLACK_SECS: i64 = 5;

/// Annotations the AWS Load Balancer Controller reads.
pub mod alb {
    /// Prefix of every annotation the AWS Load Balancer Controller reads.
    pub const PREFIX: &str = "alb.ingress.kubernetes.io/";
    /// The IngressClass the controller installs.
    pub const CLASS: &str = "alb";
    /// Target group attributes (`key=value,key=value`).
    pub const TARGET_GROUP_ATTRIBUTES: &str = "alb.ingress.kubernetes.io/target-group-attributes";
    /// The attribute of the deregistration delay.
    pub const DEREGISTRATION_DELAY_ATTRIBUTE: &str = "deregistration_delay.timeout_seconds";
    /// `ip` (pods) or `instance` (node ports).
    pub const TARGET_TYPE: &str = "alb.ingress.kubernetes.io/target-type";
    /// Health check path of the target group.
    pub const HEALTHCHECK_PATH: &str = "alb.ingress.kubernetes.io/healthcheck-path";
}
