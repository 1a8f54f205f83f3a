//! The `QuakeStream` custom resource (`quakestream.io/v1alpha1`).
//!
//! The CRD YAML in `crds/quakestream.yaml` is generated from these types by the `crdgen` binary.
//! What the API server can check is declared here (ranges and patterns from the shared contract,
//! CEL rules, transition rules with `oldSelf`), so most mistakes are refused at `kubectl apply`.
//! [`crate::resolve`] checks all of it again, and what a schema cannot (cross-object rules, the
//! names already in use), because an object stored under an older CRD, or given to `render`,
//! never met this schema.
//!
//! Optional fields stay `Option` here and get their defaults in [`crate::resolve`], so a partial
//! object (`topic: {partitions: 12}`) keeps every other default, and defaults that depend on the
//! resource's name (topic, group, table) can be derived.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use quakestream_contract::{self as contract, duration};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[path = "crd_analytics.rs"]
mod analytics;
pub use analytics::{AnalyticsSpec, MAX_APP_ID_LEN};

/// Default container image repository of the data plane.
pub const DEFAULT_IMAGE_REPOSITORY: &str = "ghcr.io/quakestream/quakestream";
/// Longest `metadata.name` we accept: the longest child name suffix is `-frontend` (9), Service
/// names are DNS-1035 labels of at most 63 characters, and a derived topic name adds `-quakes.dlq`.
pub const MAX_NAME_LEN: usize = 50;
/// Most annotations one map may hold (bounds the CEL rule's cost on the API server).
pub const MAX_ANNOTATIONS: usize = 64;
/// Most resource names in `requests` or `limits`.
pub const MAX_RESOURCE_NAMES: usize = 16;
/// Most extra topic configuration entries.
pub const MAX_TOPIC_CONFIG: usize = 64;
/// Longest Kafka topic name (Kafka's own limit).
pub const MAX_TOPIC_NAME_LEN: usize = 249;
/// Longest DNS subdomain (IngressClass, Secret and host names).
pub const MAX_DNS_SUBDOMAIN_LEN: usize = 253;
/// Bounds of a topic's partitions.
pub const PARTITIONS: contract::range::IntRange = contract::range::IntRange::new(1, 10_000);
/// Bounds of a topic's replication factor.
pub const TOPIC_REPLICAS: contract::range::IntRange = contract::range::IntRange::new(1, 32_767);
/// Bounds of a utilisation target, percent.
pub const UTILIZATION: contract::range::IntRange = contract::range::IntRange::new(1, 100);
/// Bounds of the ALB's deregistration delay (the target group attribute's own limits).
pub const DEREGISTRATION_DELAY: contract::range::IntRange = contract::range::IntRange::new(0, 3600);

/// A Kubernetes quantity (`500m`, `1Gi`, `2`), the pattern the API server uses for resource.Quantity.
pub const QUANTITY_PATTERN: &str = r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$";
/// A DNS subdomain (RFC 1123): IngressClass and Secret names.
pub const DNS_SUBDOMAIN_PATTERN: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
/// A host name, optionally with a leading `*.` wildcard.
pub const HOST_PATTERN: &str = r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
/// A DNS-1123 label: the Strimzi cluster name.
pub const DNS_LABEL_PATTERN: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
/// A legal Kafka topic name.
pub const TOPIC_NAME_PATTERN: &str = r"^[a-zA-Z0-9._-]+$";
/// An annotation key: an optional DNS-subdomain prefix and `/`, then a name of at most 63
/// characters. Written without backslashes, so it can sit inside a CEL string as is.
pub const ANNOTATION_KEY_PATTERN: &str = "^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$";
/// Longest annotation key: a 253-character prefix, `/`, a 63-character name.
pub const MAX_ANNOTATION_KEY_LEN: usize = 317;
/// Most peers or CIDRs in one NetworkPolicy list.
pub const MAX_NETWORK_PEERS: usize = 32;
/// An IAM role ARN.
pub const ROLE_ARN_PATTERN: &str = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$";

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
    printcolumn(name = "Reason", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].reason", description = "Why it is, or is not, ready"),
    printcolumn(name = "Producer", type_ = "string", json_path = ".status.producer.readiness", description = "Ready/desired producer replicas"),
    printcolumn(name = "Consumer", type_ = "string", json_path = ".status.consumer.readiness", description = "Ready/desired consumer replicas"),
    printcolumn(name = "Frontend", type_ = "string", json_path = ".status.frontend.readiness", description = "Ready/desired frontend replicas (desired: the HPA minimum)"),
    printcolumn(name = "Analytics", type_ = "string", json_path = ".status.analytics.readiness", description = "Ready/desired analytics replicas"),
    printcolumn(name = "Topics", type_ = "string", json_path = ".status.topicReadiness", description = "Ready/declared KafkaTopics"),
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
    /// The analytics (windowed statistics into `quake-stats`, exactly once); on by default.
    #[serde(default)]
    pub analytics: AnalyticsSpec,
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
    #[schemars(length(min = 1, max = 512))]
    pub repository: String,
    /// Image tag; defaults to the operator's own version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
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
    #[schemars(regex(pattern = r"^wss?://.+"), length(max = 2048))]
    pub websocket_url: String,
    /// EMSC FDSN event service used to backfill gaps after reconnects (`http://` or `https://`).
    #[serde(default = "default_fdsn_url")]
    #[schemars(regex(pattern = r"^https?://.+"), length(max = 2048))]
    pub fdsn_url: String,
    /// Page size of FDSN backfill queries.
    #[serde(default = "default_backfill_limit")]
    #[schemars(range(min = contract::producer::BACKFILL_LIMIT.min, max = contract::producer::BACKFILL_LIMIT.max))]
    pub backfill_limit: i32,
    /// How far back the first backfill goes on a fresh start (1m to 30d), e.g. `24h`, `90m`, `7d`.
    #[serde(default = "default_backfill_max_age")]
    #[schemars(regex(pattern = duration::PATTERN), length(max = duration::MAX_LEN))]
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
    #[schemars(length(min = 1, max = 63), regex(pattern = DNS_LABEL_PATTERN))]
    pub cluster_name: String,
    /// Bootstrap servers; defaults to the Strimzi listener of `authentication`:
    /// `<clusterName>-kafka-bootstrap:9093` (tls), `:9094` (scram-sha-512) or `:9092` (none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub bootstrap_servers: Option<String>,
    /// How the workloads authenticate to the brokers. `tls` (the default): mutual TLS on
    /// Strimzi's internal TLS listener (port 9093, `authentication: tls`). `scram-sha-512`: TLS
    /// and SCRAM-SHA-512 (port 9094, `authentication: scram-sha-512`). Either way the operator
    /// declares one Strimzi `KafkaUser` per workload, with ACLs for exactly the topics and
    /// groups it uses (the cluster needs `authorization: simple` and the User Operator), and
    /// mounts the user's secret and the cluster CA. `none`: plaintext, unauthenticated (port
    /// 9092), for a cluster without authentication; no KafkaUsers.
    #[serde(default)]
    pub authentication: KafkaAuthentication,
    /// The topic of wire records. Unset fields keep their defaults: the name `quakes` for a
    /// QuakeStream called `quakestream` and `<name>-quakes` for any other, 6 partitions,
    /// replication factor 3, 7 days of retention.
    #[serde(default)]
    pub topic: TopicSpec,
    /// The dead-letter topic. Unset fields keep their defaults: `quakes.dlq` (or
    /// `<name>-quakes.dlq`), 1 partition, replication factor 3, 30 days of retention.
    #[serde(default)]
    pub dlq_topic: TopicSpec,
    /// What happens to the topics, and the records in them, when the QuakeStream is deleted:
    /// `Retain` (the default) leaves the KafkaTopics and their data in place; `Delete` lets
    /// Kubernetes garbage-collect the KafkaTopics with the QuakeStream, and Strimzi then deletes
    /// the topics in Kafka.
    #[serde(default)]
    pub topic_retention_policy: TopicRetentionPolicy,
}

/// One Kafka topic, declared as a Strimzi `KafkaTopic`. Strimzi renames no topic and Kafka
/// shrinks no partition count, so both are refused here once set; a replication-factor change
/// is passed on (Strimzi does it with Cruise Control, or refuses it, and the status says which).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(oldSelf.name) || (has(self.name) && self.name == oldSelf.name)").message("a topic's name cannot change or be unset once set: Strimzi does not rename topics (declare a new QuakeStream instead)"),
    validation = Rule::new("!has(oldSelf.partitions) || (has(self.partitions) && self.partitions >= oldSelf.partitions)").message("a topic's partitions can grow but never shrink (Kafka cannot remove partitions), and cannot be unset once set"),
)]
pub struct TopicSpec {
    /// Kafka topic name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = MAX_TOPIC_NAME_LEN), regex(pattern = TOPIC_NAME_PATTERN))]
    pub name: Option<String>,
    /// Number of partitions (can grow, never shrink).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = PARTITIONS.min, max = PARTITIONS.max))]
    pub partitions: Option<i32>,
    /// Replication factor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = TOPIC_REPLICAS.min, max = TOPIC_REPLICAS.max))]
    pub replicas: Option<i32>,
    /// Retention in milliseconds (`retention.ms`); -1 keeps records forever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = -1))]
    pub retention_ms: Option<i64>,
    /// Extra topic configuration (e.g. `min.insync.replicas`), passed to Strimzi as is.
    /// `retentionMs` wins over a `retention.ms` key here.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = MAX_TOPIC_CONFIG))]
    pub config: BTreeMap<String, String>,
}

/// How the workloads authenticate to Kafka (Strimzi's listener and `KafkaUser` spelling).
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum KafkaAuthentication {
    /// Mutual TLS with a certificate from Strimzi's clients CA.
    #[default]
    #[serde(rename = "tls")]
    Tls,
    /// TLS and SCRAM-SHA-512 with a password Strimzi generates.
    #[serde(rename = "scram-sha-512")]
    ScramSha512,
    /// Plaintext and unauthenticated.
    #[serde(rename = "none")]
    None,
}

impl KafkaAuthentication {
    /// Strimzi's spelling (the listener's and the KafkaUser's `authentication.type`).
    pub fn as_str(self) -> &'static str {
        match self {
            KafkaAuthentication::Tls => "tls",
            KafkaAuthentication::ScramSha512 => "scram-sha-512",
            KafkaAuthentication::None => "none",
        }
    }
}

/// What happens to the topics when the QuakeStream is deleted.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TopicRetentionPolicy {
    /// Keep the KafkaTopics (no owner reference) and the records in them.
    #[default]
    Retain,
    /// Delete the KafkaTopics with the QuakeStream (owner reference): Strimzi deletes the topics.
    Delete,
}

/// DynamoDB table.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StorageSpec {
    /// Table name; `quakes` for a QuakeStream called `quakestream`, `<name>-quakes` otherwise.
    /// The operator does not create the table (Terraform does on AWS, `quakestream table create`
    /// on kind).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 3, max = 255), regex(pattern = r"^[a-zA-Z0-9._-]+$"))]
    pub table: Option<String>,
    /// AWS region, e.g. `eu-west-1`.
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[a-z0-9-]+$"))]
    pub region: String,
    /// DynamoDB endpoint override (e.g. an in-cluster dynoxide `http://dynoxide:8000`); unset on AWS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^https?://.+"), length(max = 2048))]
    pub endpoint: Option<String>,
    /// Items expire this long after their origin time (DynamoDB TTL, 1h to 36500d); never when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = duration::PATTERN), length(max = duration::MAX_LEN))]
    pub retention: Option<String>,
}

/// Container resources. Quantities are checked with the API server's own quantity pattern.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ResourcesSpec {
    /// Requests by resource name (`cpu`, `memory`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "quantity_map_schema")]
    pub requests: Option<BTreeMap<String, Quantity>>,
    /// Limits by resource name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "quantity_map_schema")]
    pub limits: Option<BTreeMap<String, Quantity>>,
}

/// Settings every workload has.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadSpec {
    /// Full image reference overriding `spec.image` for this workload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub image: Option<String>,
    /// Container resources; sensible requests and limits are used when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourcesSpec>,
    /// Log filter (`QS_LOG`), e.g. `info` or `info,quakestream=debug`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub log_level: Option<String>,
    /// The workload's ServiceAccount.
    #[serde(default)]
    pub service_account: ServiceAccountSpec,
}

/// ServiceAccount settings (IRSA).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAccountSpec {
    /// IAM role for service accounts (EKS IRSA): set as `eks.amazonaws.com/role-arn`. Changing it
    /// rolls the workload's pods (the role is injected when a pod starts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = ROLE_ARN_PATTERN), length(max = 2048))]
    pub role_arn: Option<String>,
    /// Extra annotations on the ServiceAccount (a change rolls the workload's pods too).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = MAX_ANNOTATIONS))]
    #[x_kube(validation = annotation_keys_rule())]
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
    #[schemars(range(min = contract::consumer::REPLICAS.min, max = contract::consumer::REPLICAS.max))]
    pub replicas: i32,
    /// Kafka consumer group id; `quakestream-consumer` for a QuakeStream called `quakestream`,
    /// `<name>-consumer` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub group_id: Option<String>,
}

impl Default for ConsumerSpec {
    fn default() -> Self {
        Self {
            workload: WorkloadSpec::default(),
            replicas: default_consumer_replicas(),
            group_id: None,
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
    /// How far back the map looks (`QS_WINDOW`, 1h to 31d), e.g. `7d`.
    #[serde(default = "default_window")]
    #[schemars(regex(pattern = duration::PATTERN), length(max = duration::MAX_LEN))]
    pub window: String,
    /// Requests per 5 minutes per client IP (`QS_RATE_LIMIT`; 0 turns it off); matches the WAF rule.
    #[serde(default = "default_rate_limit")]
    #[schemars(range(min = contract::frontend::RATE_LIMIT.min, max = contract::frontend::RATE_LIMIT.max))]
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
    #[schemars(range(min = contract::frontend::REPLICAS.min, max = contract::frontend::REPLICAS.max))]
    pub min_replicas: i32,
    /// Upper bound of frontend replicas.
    #[serde(default = "default_max_replicas")]
    #[schemars(range(min = contract::frontend::REPLICAS.min, max = contract::frontend::REPLICAS.max))]
    pub max_replicas: i32,
    /// Target average CPU utilisation, percent of the CPU request.
    #[serde(default = "default_cpu_target")]
    #[schemars(range(min = UTILIZATION.min, max = UTILIZATION.max))]
    pub target_cpu_utilization_percentage: i32,
    /// Target average memory utilisation, percent of the memory request; not used when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = UTILIZATION.min, max = UTILIZATION.max))]
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
    /// IngressClass, e.g. `alb` on EKS or `cloud-provider-kind` on kind; the cluster default
    /// when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = MAX_DNS_SUBDOMAIN_LEN), regex(pattern = DNS_SUBDOMAIN_PATTERN))]
    pub class_name: Option<String>,
    /// Host name; the Ingress matches every host when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = MAX_DNS_SUBDOMAIN_LEN), regex(pattern = HOST_PATTERN))]
    pub host: Option<String>,
    /// Annotations for the ingress controller (ALB scheme, certificate, WAF ACL, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = MAX_ANNOTATIONS))]
    #[x_kube(validation = annotation_keys_rule())]
    pub annotations: BTreeMap<String, String>,
    /// TLS; the URL is `https://` when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<IngressTlsSpec>,
    /// AWS Load Balancer Controller only (class `alb` or `alb.ingress.kubernetes.io/`
    /// annotations): seconds the ALB drains a deregistered pod (target group attribute
    /// `deregistration_delay.timeout_seconds`, default 30). The frontend's pre-stop delay is set
    /// longer than this, so a pod leaving the ALB never answers with a 502.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = DEREGISTRATION_DELAY.min, max = DEREGISTRATION_DELAY.max))]
    pub deregistration_delay_seconds: Option<i32>,
}

/// Ingress TLS.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct IngressTlsSpec {
    /// Secret holding the certificate. Leave unset when the load balancer terminates TLS itself
    /// (e.g. an ACM certificate named in an ALB annotation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = MAX_DNS_SUBDOMAIN_LEN), regex(pattern = DNS_SUBDOMAIN_PATTERN))]
    pub secret_name: Option<String>,
}

/// NetworkPolicies: a default-deny for the pipeline's pods, then one policy per workload that
/// names who may connect to it and what it may reach (docs/security.md, "Network").
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicySpec {
    /// Create the NetworkPolicies.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Who may reach the frontend besides the monitoring namespace: the ingress controller.
    /// Default: the pods of ingress-nginx (namespace `ingress-nginx`, label
    /// `app.kubernetes.io/name: ingress-nginx`). An ALB in IP mode connects from its own
    /// network interfaces in the VPC's subnets, which no selector can name: give the VPC CIDR
    /// (`cidr: 10.0.0.0/16`). On kind, cloud-provider-kind's proxy runs outside the cluster on
    /// the docker network `kind`: give that network's subnet.
    #[serde(default = "default_frontend_from")]
    #[schemars(length(max = MAX_NETWORK_PEERS))]
    pub frontend_from: Vec<NetworkPeerSpec>,
    /// The namespace Prometheus scrapes from: the only source of the producer's and the
    /// consumer's port (`/metrics`), and a source of the frontend's.
    #[serde(default = "default_monitoring_namespace")]
    #[schemars(length(min = 1, max = 63), regex(pattern = DNS_LABEL_PATTERN))]
    pub monitoring_namespace: String,
    /// Where the consumer and the frontend may connect on 443: DynamoDB and STS (IRSA). The
    /// default, `0.0.0.0/0`, is the HTTPS egress a NAT gateway or DynamoDB's gateway endpoint
    /// serves; give DynamoDB's regional prefix-list CIDRs to narrow it.
    #[serde(default = "default_https_egress")]
    #[schemars(length(min = 1, max = MAX_NETWORK_PEERS))]
    pub https_egress_cidrs: Vec<String>,
    /// The namespace of the cluster DNS (pods labelled `k8s-app: kube-dns`, port 53).
    #[serde(default = "default_dns_namespace")]
    #[schemars(length(min = 1, max = 63), regex(pattern = DNS_LABEL_PATTERN))]
    pub dns_namespace: String,
}

impl Default for NetworkPolicySpec {
    fn default() -> Self {
        Self {
            enabled: true,
            frontend_from: default_frontend_from(),
            monitoring_namespace: default_monitoring_namespace(),
            https_egress_cidrs: default_https_egress(),
            dns_namespace: default_dns_namespace(),
        }
    }
}

/// One source of traffic: pods of a namespace, or an address range. Exactly one of `namespace`
/// and `cidr` (checked when the spec is resolved; a refusal is the `Ready` condition's message).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPeerSpec {
    /// A namespace, by name (its `kubernetes.io/metadata.name` label).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), regex(pattern = DNS_LABEL_PATTERN))]
    pub namespace: Option<String>,
    /// Labels of the pods in that namespace; every pod of it when unset.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = MAX_ANNOTATIONS))]
    pub pod_labels: BTreeMap<String, String>,
    /// An IPv4 or IPv6 range, e.g. the VPC CIDR an ALB connects from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 43))]
    pub cidr: Option<String>,
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
    /// Analytics readiness (absent while `spec.analytics.enabled` is false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analytics: Option<ComponentStatus>,
    /// Readiness of the KafkaTopics, copied from their Strimzi status.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topics: Vec<TopicStatus>,
    /// `ready/declared` KafkaTopics, e.g. `2/2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_readiness: Option<String>,
    /// The frontend Ingress, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<IngressStatus>,
    /// The topic, group and table names the pipeline uses (defaults derive from the resource's
    /// name; once used, a name is kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub names: Option<NamesStatus>,
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
    /// Whether `readyReplicas >= desiredReplicas` for the current pod template.
    pub ready: bool,
    /// `ready/desired`, e.g. `2/2` (what `kubectl get qs` shows).
    #[serde(default)]
    pub readiness: String,
}

/// Readiness of one KafkaTopic.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct TopicStatus {
    /// KafkaTopic object name.
    pub name: String,
    /// Kafka topic name.
    pub topic_name: String,
    /// Partitions as last applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitions: Option<i32>,
    /// Replication factor as last applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Status of the KafkaTopic's `Ready` condition (True, False, Unknown).
    pub ready: String,
    /// Reason of the KafkaTopic's `Ready` condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Message of the KafkaTopic's `Ready` condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The frontend Ingress as the cluster reports it.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct IngressStatus {
    /// The load balancer's host name or address, once the ingress controller has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Whether the Ingress has an address (the frontend is not Ready before).
    pub ready: bool,
}

/// The names a pipeline uses.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct NamesStatus {
    /// Topic of wire records.
    pub topic: String,
    /// Dead-letter topic.
    pub dlq_topic: String,
    /// Consumer group.
    pub consumer_group: String,
    /// DynamoDB table.
    pub table: String,
    /// The analytics' app id (consumer group and prefix of its internal topics).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analytics_app_id: Option<String>,
    /// The analytics' statistics topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats_topic: Option<String>,
}

/// The CEL rule for annotation keys (a map's keys cannot have a schema of their own).
fn annotation_keys_rule() -> kube::core::Rule {
    kube::core::Rule::new(format!(
        "self.all(k, size(k) <= {MAX_ANNOTATION_KEY_LEN} && k.matches('{ANNOTATION_KEY_PATTERN}'))"
    ))
    .message("annotation keys must be an optional DNS-subdomain prefix and '/', then a name of at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit")
}

/// A map of resource name → quantity: int-or-string values with the quantity pattern, as the
/// API server's own schemas have them.
fn quantity_map_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "maxProperties": MAX_RESOURCE_NAMES,
        "additionalProperties": {
            "pattern": QUANTITY_PATTERN,
            "x-kubernetes-int-or-string": true
        }
    })
}

fn default_repository() -> String {
    DEFAULT_IMAGE_REPOSITORY.to_owned()
}
fn default_emsc_url() -> String {
    contract::producer::DEFAULT_EMSC_URL.to_owned()
}
fn default_fdsn_url() -> String {
    contract::producer::DEFAULT_FDSN_URL.to_owned()
}
fn default_backfill_limit() -> i32 {
    contract::producer::DEFAULT_BACKFILL_LIMIT
        .try_into()
        .expect("the default page size fits an i32")
}
fn default_backfill_max_age() -> String {
    contract::producer::DEFAULT_BACKFILL_MAX_AGE.to_owned()
}
fn default_consumer_replicas() -> i32 {
    contract::consumer::DEFAULT_REPLICAS
}
fn default_window() -> String {
    contract::frontend::DEFAULT_WINDOW.to_owned()
}
fn default_rate_limit() -> i32 {
    contract::frontend::DEFAULT_RATE_LIMIT
        .try_into()
        .expect("the default rate limit fits an i32")
}
fn default_min_replicas() -> i32 {
    contract::frontend::DEFAULT_MIN_REPLICAS
}
fn default_max_replicas() -> i32 {
    contract::frontend::DEFAULT_MAX_REPLICAS
}
fn default_cpu_target() -> i32 {
    70
}
fn default_true() -> bool {
    true
}
fn default_frontend_from() -> Vec<NetworkPeerSpec> {
    vec![NetworkPeerSpec {
        namespace: Some("ingress-nginx".to_owned()),
        pod_labels: BTreeMap::from([("app.kubernetes.io/name".to_owned(), "ingress-nginx".to_owned())]),
        cidr: None,
    }]
}
fn default_monitoring_namespace() -> String {
    "monitoring".to_owned()
}
fn default_https_egress() -> Vec<String> {
    vec!["0.0.0.0/0".to_owned()]
}
fn default_dns_namespace() -> String {
    "kube-system".to_owned()
}

#[cfg(test)]
#[path = "crd_tests.rs"]
mod tests;
