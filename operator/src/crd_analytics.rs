//! `spec.analytics`: the windowed statistics workload (`quakestream analytics`). Its bounds and
//! defaults are the contract's (`quakestream_contract::analytics`).

use kube::KubeSchema;
use quakestream_contract::{analytics as contract, duration};
use serde::{Deserialize, Serialize};

use super::{MAX_TOPIC_NAME_LEN, TOPIC_NAME_PATTERN, WorkloadSpec};

/// Longest app id: it prefixes the internal topics (`{appId}-stats-repartition`, 18 more
/// characters), which must stay within Kafka's 249.
pub const MAX_APP_ID_LEN: usize = 200;

/// The analytics: reads the topic of wire records as a consumer group and writes windowed
/// statistics (1 h, 1 d, and 24 h hopping every hour; world, Flinn-Engdahl regions, magnitude
/// bands) to a compacted topic, exactly once, with its state in compacted changelog topics.
/// The operator declares those topics (as many partitions as the topic of wire records, the
/// same replication factor) and runs one Deployment whose pods split the partitions.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(oldSelf.appId) || (has(self.appId) && self.appId == oldSelf.appId)").message("appId cannot change or be unset once set: it names the consumer group and the internal topics, which Strimzi does not rename"),
    validation = Rule::new("!has(oldSelf.statsTopic) || (has(self.statsTopic) && self.statsTopic == oldSelf.statsTopic)").message("statsTopic cannot change or be unset once set: Strimzi does not rename topics"),
)]
pub struct AnalyticsSpec {
    /// Run the analytics (the default). When turned off, its Deployment, ConfigMap,
    /// ServiceAccount and NetworkPolicy are removed; its topics and their records are kept.
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// Image, resources, log level, ServiceAccount.
    #[serde(flatten)]
    pub workload: WorkloadSpec,
    /// Analytics pods (members of one consumer group, splitting the partitions); more than the
    /// topic's partitions leaves the extra ones idle.
    #[serde(default = "default_replicas")]
    #[schemars(range(min = contract::REPLICAS.min, max = contract::REPLICAS.max))]
    pub replicas: i32,
    /// Windows close when stream time passes their end plus this (`QS_GRACE`, 0s to 14d); a
    /// revision after that becomes a correction.
    #[serde(default = "default_grace")]
    #[schemars(regex(pattern = duration::PATTERN), length(max = duration::MAX_LEN))]
    pub grace: String,
    /// How long events and windows are kept behind stream time (`QS_RETENTION`, 2d to 365d, and
    /// more than grace + 1d + 1h); also the retention of the statistics topic.
    #[serde(default = "default_retention")]
    #[schemars(regex(pattern = duration::PATTERN), length(max = duration::MAX_LEN))]
    pub retention: String,
    /// One transaction, and at most one update per changed window, per interval
    /// (`QS_COMMIT_INTERVAL`, 10ms to 30s).
    #[serde(default = "default_commit_interval")]
    #[schemars(regex(pattern = duration::PATTERN), length(max = duration::MAX_LEN))]
    pub commit_interval: String,
    /// Consumer group, transactional-id prefix and prefix of the internal topics;
    /// `quakestream-analytics` for a QuakeStream called `quakestream`, `<name>-analytics` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = MAX_APP_ID_LEN), regex(pattern = TOPIC_NAME_PATTERN))]
    pub app_id: Option<String>,
    /// The statistics topic; `quake-stats` for a QuakeStream called `quakestream`,
    /// `<name>-quake-stats` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = MAX_TOPIC_NAME_LEN), regex(pattern = TOPIC_NAME_PATTERN))]
    pub stats_topic: Option<String>,
}

impl Default for AnalyticsSpec {
    fn default() -> Self {
        Self {
            enabled: default_enabled(),
            workload: WorkloadSpec::default(),
            replicas: default_replicas(),
            grace: default_grace(),
            retention: default_retention(),
            commit_interval: default_commit_interval(),
            app_id: None,
            stats_topic: None,
        }
    }
}

fn default_enabled() -> bool {
    true
}
fn default_replicas() -> i32 {
    contract::DEFAULT_REPLICAS
}
fn default_grace() -> String {
    contract::DEFAULT_GRACE.to_owned()
}
fn default_retention() -> String {
    contract::DEFAULT_RETENTION.to_owned()
}
fn default_commit_interval() -> String {
    contract::DEFAULT_COMMIT_INTERVAL.to_owned()
}
