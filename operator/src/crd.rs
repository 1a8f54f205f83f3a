//! The `QuakeStream` custom resource (`quakestream.io/v1alpha1`).
//!
//! The CRD YAML in `crds/quakestream.yaml` is generated from these types by the `crdgen` binary.
//! Schema-level validation (ranges, patterns, CEL rules) lives here as attributes; the same rules
//! are re-checked in [`QuakeStreamSpec::validate`] so that an object that slipped past an older CRD
//! (or `render` with no API server at all) still gets a clear message instead of broken children.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Default container image repository of the data plane.
pub const DEFAULT_IMAGE_REPOSITORY: &str = "ghcr.io/quakestream/quakestream";
/// Default EMSC websocket.
pub const DEFAULT_EMSC_URL: &str = "wss://www.seismicportal.eu/standing_order/websocket";
/// Default EMSC FDSN event service used to backfill gaps.
pub const DEFAULT_FDSN_URL: &str = "https://www.seismicportal.eu/fdsnws/event/1/query";
/// Default Kafka topic of the wire records.
pub const DEFAULT_TOPIC: &str = "quakes";
/// Default dead-letter topic.
pub const DEFAULT_DLQ_TOPIC: &str = "quakes.dlq";
/// Longest `metadata.name` we accept: the longest child name suffix is `-frontend` (9) and
/// Service names are DNS-1035 labels of at most 63 characters.
pub const MAX_NAME_LEN: usize = 50;

/// Spec of a QuakeStream: one EMSC → Kafka → DynamoDB → live-map pipeline.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "quakestream.io",
    version = "v1alpha1",
    kind = "QuakeStream",
    plural = "quakestreams",
    singular = "quakestream",
    shortname = "qs",
    namespaced,
    status = "QuakeStreamStatus",
    derive = "PartialEq",
    doc = "A QuakeStream pipeline: EMSC feed → Kafka (Strimzi) → DynamoDB → live map.",
    validation = Rule::new("size(self.metadata.name) <= 50").message("metadata.name must be at most 50 characters (child objects append suffixes such as -frontend)"),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status", description = "Whether every component is ready"),
    printcolumn(name = "URL", type_ = "string", json_path = ".status.url", description = "URL of the live map"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct QuakeStreamSpec {
    /// Default image of every workload; a workload's own `image` overrides it.
    #[serde(default)]
    pub image: ImageSpec,
    /// Where the producer reads earthquakes from.
    #[serde(default)]
    pub source: SourceSpec,
    /// The Strimzi-managed Kafka cluster and the topics the operator declares on it.
    pub kafka: KafkaSpec,
    /// The DynamoDB table the consumer writes and the frontend reads.
    pub storage: StorageSpec,
    /// The producer (EMSC websocket + FDSN backfill → Kafka). Always exactly one replica.
    #[serde(default)]
    pub producer: ProducerSpec,
    /// The consumer (Kafka → DynamoDB).
    #[serde(default)]
    pub consumer: ConsumerSpec,
    /// The frontend (map, REST API, SSE), scaled by a HorizontalPodAutoscaler.
    #[serde(default)]
    pub frontend: FrontendSpec,
    /// NetworkPolicies restricting ingress to each workload's own port.
    #[serde(default)]
    pub network_policy: NetworkPolicySpec,
}

/// Container image defaults.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ImageSpec {
    /// Image repository of the `quakestream` binary.
    #[serde(default = "default_repository")]
    #[schemars(length(min = 1))]
    pub repository: String,
    /// Image tag; defaults to the operator's own version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub tag: Option<String>,
    /// Image pull policy.
    #[serde(default)]
    pub pull_policy: PullPolicy,
}

impl Default for ImageSpec {
    fn default() -> Self {
        Self {
            repository: default_repository(),
            tag: None,
            pull_policy: PullPolicy::default(),
        }
    }
}

/// Kubernetes image pull policy.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PullPolicy {
    /// Pull only when the image is not on the node.
    #[default]
    IfNotPresent,
    /// Pull on every start.
    Always,
    /// Never pull.
    Never,
}

impl PullPolicy {
    /// The Kubernetes spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PullPolicy::IfNotPresent => "IfNotPresent",
            PullPolicy::Always => "Always",
            PullPolicy::Never => "Never",
        }
    }
}

/// The earthquake source.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SourceSpec {
    /// EMSC real-time websocket (`ws://` or `wss://`).
    #[serde(default = "default_emsc_url")]
    #[schemars(regex(pattern = r"^wss?://.+"))]
    pub websocket_url: String,
    /// EMSC FDSN event service used to backfill gaps after reconnects (`http://` or `https://`).
    #[serde(default = "default_fdsn_url")]
    #[schemars(regex(pattern = r"^https?://.+"))]
    pub fdsn_url: String,
    /// Page size of FDSN backfill queries.
    #[serde(default = "default_backfill_limit")]
    #[schemars(range(min = 1, max = 20000))]
    pub backfill_limit: i32,
    /// How far back the first backfill goes on a fresh start, e.g. `24h`, `90m`, `7d`.
    #[serde(default = "default_backfill_max_age")]
    #[schemars(regex(pattern = r"^[1-9][0-9]*(s|m|h|d)$"))]
    pub backfill_max_age: String,
}

impl Default for SourceSpec {
    fn default() -> Self {
        Self {
            websocket_url: default_emsc_url(),
            fdsn_url: default_fdsn_url(),
            backfill_limit: default_backfill_limit(),
            backfill_max_age: default_backfill_max_age(),
        }
    }
}

/// Kafka cluster and topics.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KafkaSpec {
    /// Name of the Strimzi `Kafka` cluster; set as the `strimzi.io/cluster` label on the KafkaTopics.
    /// The KafkaTopics are created in the QuakeStream's namespace, which the Strimzi Topic Operator
    /// must watch.
    #[schemars(length(min = 1, max = 63), regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"))]
    pub cluster_name: String,
    /// Bootstrap servers; defaults to Strimzi's plain listener `<clusterName>-kafka-bootstrap:9092`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub bootstrap_servers: Option<String>,
    /// The topic of wire records (default name `quakes`, 6 partitions).
    #[serde(default = "default_events_topic")]
    pub topic: TopicSpec,
    /// The dead-letter topic (default name `quakes.dlq`, 1 partition).
    #[serde(default = "default_dlq_topic")]
    pub dlq_topic: TopicSpec,
}

/// One Kafka topic, declared as a Strimzi `KafkaTopic`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TopicSpec {
    /// Kafka topic name; defaults to `quakes` (events) or `quakes.dlq` (dead letters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 249), regex(pattern = r"^[a-zA-Z0-9._-]+$"))]
    pub name: Option<String>,
    /// Number of partitions (can grow, never shrink).
    #[serde(default = "default_partitions")]
    #[schemars(range(min = 1, max = 10000))]
    pub partitions: i32,
    /// Replication factor.
    #[serde(default = "default_topic_replicas")]
    #[schemars(range(min = 1, max = 32767))]
    pub replicas: i32,
    /// Retention in milliseconds (`retention.ms`); -1 keeps records forever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = -1))]
    pub retention_ms: Option<i64>,
    /// Extra topic configuration (e.g. `min.insync.replicas`), passed to Strimzi as is.
    /// `retentionMs` wins over a `retention.ms` key here.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, String>,
}

/// DynamoDB table.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StorageSpec {
    /// Table name.
    #[serde(default = "default_table")]
    #[schemars(length(min = 3, max = 255), regex(pattern = r"^[a-zA-Z0-9._-]+$"))]
    pub table: String,
    /// AWS region, e.g. `eu-west-1`.
    #[schemars(length(min = 1), regex(pattern = r"^[a-z0-9-]+$"))]
    pub region: String,
    /// DynamoDB endpoint override (e.g. an in-cluster dynoxide `http://dynoxide:8000`); unset on AWS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^https?://.+"))]
    pub endpoint: Option<String>,
}

/// Settings every workload has.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadSpec {
    /// Full image reference overriding `spec.image` for this workload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub image: Option<String>,
    /// Container resources; sensible requests and limits are used when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Log filter (`QS_LOG`), e.g. `info` or `info,quakestream=debug`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub log_level: Option<String>,
    /// The workload's ServiceAccount.
    #[serde(default)]
    pub service_account: ServiceAccountSpec,
}

/// ServiceAccount settings (IRSA).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAccountSpec {
    /// IAM role for service accounts (EKS IRSA): set as `eks.amazonaws.com/role-arn`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$"))]
    pub role_arn: Option<String>,
    /// Extra annotations on the ServiceAccount.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// The producer: one replica (one websocket), `Recreate` strategy.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ProducerSpec {
    /// Image, resources, log level, ServiceAccount.
    #[serde(flatten)]
    pub workload: WorkloadSpec,
}

/// The consumer.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerSpec {
    /// Image, resources, log level, ServiceAccount.
    #[serde(flatten)]
    pub workload: WorkloadSpec,
    /// Number of consumer replicas (members of one consumer group); more than the
    /// topic's partitions leaves the extra ones idle.
    #[serde(default = "default_consumer_replicas")]
    #[schemars(range(min = 0, max = 1000))]
    pub replicas: i32,
    /// Kafka consumer group id.
    #[serde(default = "default_group_id")]
    #[schemars(length(min = 1))]
    pub group_id: String,
}

impl Default for ConsumerSpec {
    fn default() -> Self {
        Self {
            workload: WorkloadSpec::default(),
            replicas: default_consumer_replicas(),
            group_id: default_group_id(),
        }
    }
}

/// The frontend.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FrontendSpec {
    /// Image, resources, log level, ServiceAccount.
    #[serde(flatten)]
    pub workload: WorkloadSpec,
    /// HorizontalPodAutoscaler settings; the operator never sets the Deployment's replicas.
    #[serde(default)]
    pub autoscaling: AutoscalingSpec,
    /// How far back the map looks (`QS_WINDOW`), e.g. `7d`.
    #[serde(default = "default_window")]
    #[schemars(regex(pattern = r"^[1-9][0-9]*(s|m|h|d)$"))]
    pub window: String,
    /// Requests per 5 minutes per client IP (`QS_RATE_LIMIT`); matches the WAF rule.
    #[serde(default = "default_rate_limit")]
    #[schemars(range(min = 1, max = 2000000000))]
    pub rate_limit: i32,
    /// Ingress exposing the frontend; no Ingress when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<IngressSpec>,
}

impl Default for FrontendSpec {
    fn default() -> Self {
        Self {
            workload: WorkloadSpec::default(),
            autoscaling: AutoscalingSpec::default(),
            window: default_window(),
            rate_limit: default_rate_limit(),
            ingress: None,
        }
    }
}

/// Frontend autoscaling (`autoscaling/v2` HPA).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.minReplicas <= self.maxReplicas").message("minReplicas must be less than or equal to maxReplicas"))]
pub struct AutoscalingSpec {
    /// Lower bound of frontend replicas.
    #[serde(default = "default_min_replicas")]
    #[schemars(range(min = 1, max = 1000))]
    pub min_replicas: i32,
    /// Upper bound of frontend replicas.
    #[serde(default = "default_max_replicas")]
    #[schemars(range(min = 1, max = 1000))]
    pub max_replicas: i32,
    /// Target average CPU utilisation, percent of the CPU request.
    #[serde(default = "default_cpu_target")]
    #[schemars(range(min = 1, max = 100))]
    pub target_cpu_utilization_percentage: i32,
    /// Target average memory utilisation, percent of the memory request; not used when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub target_memory_utilization_percentage: Option<i32>,
}

impl Default for AutoscalingSpec {
    fn default() -> Self {
        Self {
            min_replicas: default_min_replicas(),
            max_replicas: default_max_replicas(),
            target_cpu_utilization_percentage: default_cpu_target(),
            target_memory_utilization_percentage: None,
        }
    }
}

/// Frontend Ingress.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.tls) || !has(self.tls.secretName) || has(self.host)").message("tls.secretName needs a host"))]
pub struct IngressSpec {
    /// IngressClass, e.g. `alb` on EKS or `traefik` on kind; the cluster default when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub class_name: Option<String>,
    /// Host name; the Ingress matches every host when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"))]
    pub host: Option<String>,
    /// Annotations for the ingress controller (ALB scheme, certificate, WAF ACL, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// TLS; the URL is `https://` when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<IngressTlsSpec>,
}

/// Ingress TLS.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct IngressTlsSpec {
    /// Secret holding the certificate. Leave unset when the load balancer terminates TLS itself
    /// (e.g. an ACM certificate named in an ALB annotation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub secret_name: Option<String>,
}

/// NetworkPolicies.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicySpec {
    /// Create one ingress NetworkPolicy per workload allowing only its HTTP port.
    #[serde(default = "default_true")]
    pub enabled: bool,
}

impl Default for NetworkPolicySpec {
    fn default() -> Self {
        Self { enabled: true }
    }
}

/// Observed state, written only by the operator. Contains no timestamps other than the
/// conditions' `lastTransitionTime`, which changes only when a condition's status changes.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct QuakeStreamStatus {
    /// Ready, Progressing and Degraded, in that order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Producer readiness.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub producer: Option<ComponentStatus>,
    /// Consumer readiness.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer: Option<ComponentStatus>,
    /// Frontend readiness.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frontend: Option<ComponentStatus>,
    /// Readiness of the KafkaTopics, copied from their Strimzi status.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topics: Vec<TopicStatus>,
    /// URL of the live map.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// Readiness of one Deployment.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ComponentStatus {
    /// Replicas the operator waits for (for the frontend: the HPA minimum).
    pub desired_replicas: i32,
    /// Replicas that are ready and run the current pod template.
    pub ready_replicas: i32,
    /// Whether `readyReplicas >= desiredReplicas`.
    pub ready: bool,
}

/// Readiness of one KafkaTopic.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct TopicStatus {
    /// KafkaTopic object name.
    pub name: String,
    /// Kafka topic name.
    pub topic_name: String,
    /// Status of the KafkaTopic's `Ready` condition (True, False, Unknown).
    pub ready: String,
    /// Reason of the KafkaTopic's `Ready` condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Message of the KafkaTopic's `Ready` condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A spec the operator refuses: a permanent error until the spec changes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.join("; "))]
pub struct SpecErrors(pub Vec<String>);

impl QuakeStream {
    /// Check everything the schema checks, and what it cannot (cross-field rules, name length).
    pub fn validate(&self) -> Result<(), SpecErrors> {
        let mut errs = Vec::new();
        let name = self.metadata.name.as_deref().unwrap_or_default();
        if name.is_empty() {
            errs.push("metadata.name is required".to_owned());
        } else if name.len() > MAX_NAME_LEN {
            errs.push(format!(
                "metadata.name must be at most {MAX_NAME_LEN} characters, got {}",
                name.len()
            ));
        } else if !is_dns_label(name) {
            errs.push(format!(
                "metadata.name {name:?} must be a DNS-1035 label (lowercase letters, digits, '-')"
            ));
        }
        self.spec.collect_errors(&mut errs);
        if errs.is_empty() { Ok(()) } else { Err(SpecErrors(errs)) }
    }
}

impl QuakeStreamSpec {
    fn collect_errors(&self, errs: &mut Vec<String>) {
        let s = self;
        if s.image.repository.is_empty() {
            errs.push("spec.image.repository must not be empty".into());
        }
        if !(s.source.websocket_url.starts_with("ws://") || s.source.websocket_url.starts_with("wss://")) {
            errs.push("spec.source.websocketUrl must start with ws:// or wss://".into());
        }
        if !is_http_url(&s.source.fdsn_url) {
            errs.push("spec.source.fdsnUrl must start with http:// or https://".into());
        }
        if !(1..=20000).contains(&s.source.backfill_limit) {
            errs.push("spec.source.backfillLimit must be between 1 and 20000".into());
        }
        if !is_duration(&s.source.backfill_max_age) {
            errs.push("spec.source.backfillMaxAge must look like 90m, 24h or 7d".into());
        }
        if !is_dns_label(&s.kafka.cluster_name) {
            errs.push("spec.kafka.clusterName must be a DNS label".into());
        }
        for (field, topic) in [("topic", &s.kafka.topic), ("dlqTopic", &s.kafka.dlq_topic)] {
            if let Some(n) = &topic.name
                && (n.is_empty()
                    || n.len() > 249
                    || n == "."
                    || n == ".."
                    || !n
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
            {
                errs.push(format!("spec.kafka.{field}.name {n:?} is not a legal Kafka topic name"));
            }
            if !(1..=10000).contains(&topic.partitions) {
                errs.push(format!("spec.kafka.{field}.partitions must be between 1 and 10000"));
            }
            if !(1..=32767).contains(&topic.replicas) {
                errs.push(format!("spec.kafka.{field}.replicas must be between 1 and 32767"));
            }
            if topic.retention_ms.is_some_and(|r| r < -1) {
                errs.push(format!("spec.kafka.{field}.retentionMs must be -1 or more"));
            }
        }
        if s.kafka.topic_name() == s.kafka.dlq_topic_name() {
            errs.push("spec.kafka.topic and spec.kafka.dlqTopic must have different names".into());
        }
        if s.storage.region.is_empty() {
            errs.push("spec.storage.region must not be empty".into());
        }
        if s.storage.endpoint.as_deref().is_some_and(|e| !is_http_url(e)) {
            errs.push("spec.storage.endpoint must start with http:// or https://".into());
        }
        for (field, w) in [
            ("producer", &s.producer.workload),
            ("consumer", &s.consumer.workload),
            ("frontend", &s.frontend.workload),
        ] {
            if let Some(arn) = &w.service_account.role_arn
                && !is_role_arn(arn)
            {
                errs.push(format!(
                    "spec.{field}.serviceAccount.roleArn {arn:?} is not an IAM role ARN"
                ));
            }
            if w.image.as_deref() == Some("") {
                errs.push(format!("spec.{field}.image must not be empty"));
            }
        }
        if !(0..=1000).contains(&s.consumer.replicas) {
            errs.push("spec.consumer.replicas must be between 0 and 1000".into());
        }
        let a = &s.frontend.autoscaling;
        if a.min_replicas < 1 || a.max_replicas < 1 {
            errs.push("spec.frontend.autoscaling replicas must be at least 1".into());
        }
        if a.min_replicas > a.max_replicas {
            errs.push(format!(
                "spec.frontend.autoscaling.minReplicas ({}) must be less than or equal to maxReplicas ({})",
                a.min_replicas, a.max_replicas
            ));
        }
        if !(1..=100).contains(&a.target_cpu_utilization_percentage)
            || a.target_memory_utilization_percentage
                .is_some_and(|m| !(1..=100).contains(&m))
        {
            errs.push("spec.frontend.autoscaling utilisation targets must be between 1 and 100".into());
        }
        if let Some(r) = &s.frontend.workload.resources {
            let requests = r.requests.as_ref();
            if !requests.is_some_and(|q| q.contains_key("cpu")) {
                errs.push("spec.frontend.resources.requests.cpu is required: the HPA scales on CPU utilisation".into());
            }
            if a.target_memory_utilization_percentage.is_some() && !requests.is_some_and(|q| q.contains_key("memory")) {
                errs.push("spec.frontend.resources.requests.memory is required for a memory utilisation target".into());
            }
        }
        if !is_duration(&s.frontend.window) {
            errs.push("spec.frontend.window must look like 24h or 7d".into());
        }
        if s.frontend.rate_limit < 1 {
            errs.push("spec.frontend.rateLimit must be at least 1".into());
        }
        if let Some(ing) = &s.frontend.ingress
            && ing.tls.as_ref().is_some_and(|t| t.secret_name.is_some())
            && ing.host.is_none()
        {
            errs.push("spec.frontend.ingress.tls.secretName needs spec.frontend.ingress.host".into());
        }
    }
}

impl KafkaSpec {
    /// Kafka bootstrap servers, defaulting to Strimzi's plain listener service.
    pub fn bootstrap(&self) -> String {
        self.bootstrap_servers
            .clone()
            .unwrap_or_else(|| format!("{}-kafka-bootstrap:9092", self.cluster_name))
    }

    /// Name of the events topic.
    pub fn topic_name(&self) -> &str {
        self.topic.name.as_deref().unwrap_or(DEFAULT_TOPIC)
    }

    /// Name of the dead-letter topic.
    pub fn dlq_topic_name(&self) -> &str {
        self.dlq_topic.name.as_deref().unwrap_or(DEFAULT_DLQ_TOPIC)
    }
}

fn is_http_url(s: &str) -> bool {
    (s.starts_with("http://") && s.len() > 7) || (s.starts_with("https://") && s.len() > 8)
}

fn is_duration(s: &str) -> bool {
    let Some(unit) = s.chars().last() else {
        return false;
    };
    let digits = &s[..s.len() - unit.len_utf8()];
    matches!(unit, 's' | 'm' | 'h' | 'd')
        && !digits.is_empty()
        && !digits.starts_with('0')
        && digits.chars().all(|c| c.is_ascii_digit())
}

/// DNS-1035 label: lowercase alphanumerics and '-', starting with a letter, at most 63 chars.
pub(crate) fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && !s.ends_with('-')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn is_role_arn(s: &str) -> bool {
    let mut parts = s.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("iam"), Some(""), Some(account), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return false;
    };
    partition.starts_with("aws")
        && account.len() == 12
        && account.chars().all(|c| c.is_ascii_digit())
        && resource.strip_prefix("role/").is_some_and(|r| !r.is_empty())
}

fn default_repository() -> String {
    DEFAULT_IMAGE_REPOSITORY.to_owned()
}
fn default_emsc_url() -> String {
    DEFAULT_EMSC_URL.to_owned()
}
fn default_fdsn_url() -> String {
    DEFAULT_FDSN_URL.to_owned()
}
fn default_backfill_limit() -> i32 {
    500
}
fn default_backfill_max_age() -> String {
    "24h".to_owned()
}
fn default_partitions() -> i32 {
    3
}
fn default_topic_replicas() -> i32 {
    3
}
fn default_events_topic() -> TopicSpec {
    TopicSpec {
        name: None,
        partitions: 6,
        replicas: default_topic_replicas(),
        retention_ms: Some(7 * 24 * 3600 * 1000),
        config: BTreeMap::new(),
    }
}
fn default_dlq_topic() -> TopicSpec {
    TopicSpec {
        name: None,
        partitions: 1,
        replicas: default_topic_replicas(),
        retention_ms: Some(30 * 24 * 3600 * 1000),
        config: BTreeMap::new(),
    }
}
fn default_table() -> String {
    "quakes".to_owned()
}
fn default_consumer_replicas() -> i32 {
    2
}
fn default_group_id() -> String {
    "quakestream-consumer".to_owned()
}
fn default_window() -> String {
    "7d".to_owned()
}
fn default_rate_limit() -> i32 {
    500
}
fn default_min_replicas() -> i32 {
    2
}
fn default_max_replicas() -> i32 {
    10
}
fn default_cpu_target() -> i32 {
    70
}
fn default_true() -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::minimal;
    use kube::CustomResourceExt;

    #[test]
    fn defaults_fill_a_minimal_spec() {
        let qs = minimal();
        assert_eq!(qs.spec.kafka.topic_name(), "quakes");
        assert_eq!(qs.spec.kafka.dlq_topic_name(), "quakes.dlq");
        assert_eq!(qs.spec.kafka.topic.partitions, 6);
        assert_eq!(qs.spec.kafka.dlq_topic.partitions, 1);
        assert_eq!(qs.spec.kafka.bootstrap(), "events-kafka-bootstrap:9092");
        assert_eq!(qs.spec.storage.table, "quakes");
        assert_eq!(qs.spec.consumer.replicas, 2);
        assert_eq!(qs.spec.frontend.autoscaling.min_replicas, 2);
        assert_eq!(qs.spec.frontend.autoscaling.max_replicas, 10);
        assert_eq!(qs.spec.source.backfill_limit, 500);
        assert!(qs.spec.network_policy.enabled);
        assert_eq!(qs.validate(), Ok(()));
    }

    #[test]
    fn partial_topic_keeps_field_defaults() {
        let mut v = serde_json::to_value(minimal()).unwrap();
        v["spec"]["kafka"]["topic"] = serde_json::json!({"partitions": 12});
        let qs: QuakeStream = serde_json::from_value(v).unwrap();
        assert_eq!(qs.spec.kafka.topic.partitions, 12);
        assert_eq!(qs.spec.kafka.topic.replicas, 3);
        assert_eq!(qs.spec.kafka.topic_name(), "quakes");
    }

    #[test]
    fn validate_rejects_min_above_max() {
        let mut qs = minimal();
        qs.spec.frontend.autoscaling.min_replicas = 5;
        qs.spec.frontend.autoscaling.max_replicas = 3;
        let err = qs.validate().unwrap_err();
        assert!(
            err.to_string()
                .contains("minReplicas (5) must be less than or equal to maxReplicas (3)"),
            "{err}"
        );
    }

    #[test]
    fn validate_collects_every_problem() {
        let mut qs = minimal();
        qs.metadata.name = Some("x".repeat(51));
        qs.spec.kafka.topic.name = Some("bad topic".into());
        qs.spec.kafka.dlq_topic.replicas = 0;
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
        let err = qs.validate().unwrap_err();
        assert_eq!(err.0.len(), 8, "{err:?}");
    }

    #[test]
    fn validate_rejects_same_topic_names() {
        let mut qs = minimal();
        qs.spec.kafka.dlq_topic.name = Some("quakes".into());
        assert!(qs.validate().unwrap_err().to_string().contains("different names"));
    }

    #[test]
    fn frontend_resources_need_the_requests_the_hpa_uses() {
        use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
        let mut qs = minimal();
        let mut r = ResourceRequirements {
            limits: Some(BTreeMap::from([("memory".to_owned(), Quantity("1Gi".into()))])),
            ..ResourceRequirements::default()
        };
        qs.spec.frontend.workload.resources = Some(r.clone());
        assert!(
            qs.validate()
                .unwrap_err()
                .to_string()
                .contains("requests.cpu is required")
        );
        r.requests = Some(BTreeMap::from([("cpu".to_owned(), Quantity("200m".into()))]));
        qs.spec.frontend.workload.resources = Some(r);
        assert_eq!(qs.validate(), Ok(()));
        qs.spec.frontend.autoscaling.target_memory_utilization_percentage = Some(80);
        assert!(
            qs.validate()
                .unwrap_err()
                .to_string()
                .contains("requests.memory is required")
        );
    }

    #[test]
    fn role_arns() {
        assert!(is_role_arn("arn:aws:iam::123456789012:role/quakestream-consumer"));
        assert!(is_role_arn("arn:aws-cn:iam::123456789012:role/path/r"));
        assert!(!is_role_arn("arn:aws:iam::123456789012:user/u"));
        assert!(!is_role_arn("arn:aws:s3:::bucket"));
    }

    #[test]
    fn durations() {
        for ok in ["1s", "90m", "24h", "7d"] {
            assert!(is_duration(ok), "{ok}");
        }
        for bad in ["", "h", "0h", "24", "1w", "-1h", "1.5h"] {
            assert!(!is_duration(bad), "{bad}");
        }
    }

    #[test]
    fn crd_has_names_columns_and_cel_rules() {
        let crd = serde_json::to_value(QuakeStream::crd()).unwrap();
        assert_eq!(crd["metadata"]["name"], "quakestreams.quakestream.io");
        assert_eq!(crd["spec"]["names"]["shortNames"], serde_json::json!(["qs"]));
        assert_eq!(crd["spec"]["scope"], "Namespaced");
        let v = &crd["spec"]["versions"][0];
        assert_eq!(v["name"], "v1alpha1");
        assert_eq!(v["subresources"]["status"], serde_json::json!({}));
        let cols: Vec<_> = v["additionalPrinterColumns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(cols, ["Ready", "URL", "Age"]);
        let text = crd.to_string();
        assert!(text.contains("self.minReplicas <= self.maxReplicas"));
        assert!(text.contains("size(self.metadata.name) <= 50"));
        let spec = &v["schema"]["openAPIV3Schema"]["properties"]["spec"];
        let required: Vec<_> = spec["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        assert_eq!(required, ["kafka", "storage"]);
    }
}
