//! Settings of the analytics and the names of its topics.

use std::time::Duration;

/// Default consumer group, transactional-id prefix and prefix of the internal topics.
pub const DEFAULT_APP_ID: &str = "quakestream-analytics";
/// Default grace period: 48 h. In the bundled real samples, the last revision of an event came
/// within 48 h of its origin time for 93% of EMSC events (median 6.4 h, p90 21 h, p95 33 h) and
/// 88% of USGS events (median 1.5 h, p90 52 h); the tail is long (p99 105–140 h), and a revision
/// there becomes a correction instead of holding every window open for a week.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(48 * 3600);
/// Default retention of state: 35 days. EMSC re-sends updates of events weeks old (the recorded
/// websocket log has updates of 29-day-old events); a revision older than this is dead-lettered.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(35 * 86_400);
/// Default commit interval: one transaction (and one coalesced update per changed window) a second.
pub const DEFAULT_COMMIT_INTERVAL: Duration = Duration::from_secs(1);
/// Most input records in one transaction (bounds its size and the memory of a commit).
pub const MAX_RECORDS_PER_TRANSACTION: usize = 100_000;
/// How long restoring one partition's state may take before the workload gives up.
pub const RESTORE_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a transaction commit (or abort) may take.
pub const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(60);
/// How long to wait at start-up for the topics to exist.
pub const TOPIC_WAIT: Duration = Duration::from_secs(120);

#[derive(Debug, Clone)]
pub struct AnalyticsConfig {
    pub bootstrap_servers: String,
    /// The input (`quakes`).
    pub input_topic: String,
    pub dlq_topic: String,
    /// `quake-stats`.
    pub stats_topic: String,
    /// Consumer group, transactional-id prefix and internal-topic prefix.
    pub app_id: String,
    /// Distinguishes the instances of a group (the pod name on Kubernetes): the transactional id
    /// is `{app_id}-{instance_id}`, so a restarted instance fences its previous incarnation.
    pub instance_id: String,
    pub commit_interval: Duration,
    pub grace: Duration,
    pub retention: Duration,
    pub max_records_per_transaction: usize,
    pub restore_timeout: Duration,
    pub topic_wait: Duration,
    /// Extra librdkafka settings for every client (e.g. `session.timeout.ms`).
    pub kafka_overrides: Vec<(String, String)>,
    /// Encryption and authentication of every client.
    pub kafka_security: quakestream_core::kafka_security::KafkaSecurity,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("retention ({retention:?}) must exceed the grace period plus a day ({grace:?} + 24h + 1h)")]
    RetentionTooShort { retention: Duration, grace: Duration },
    #[error("{0} must not be empty")]
    Empty(&'static str),
}

impl AnalyticsConfig {
    pub fn new(bootstrap_servers: &str, input_topic: &str) -> Self {
        AnalyticsConfig {
            bootstrap_servers: bootstrap_servers.to_owned(),
            input_topic: input_topic.to_owned(),
            dlq_topic: quakestream_core::wire::DEFAULT_DLQ_TOPIC.to_owned(),
            stats_topic: crate::stats::DEFAULT_STATS_TOPIC.to_owned(),
            app_id: DEFAULT_APP_ID.to_owned(),
            instance_id: default_instance_id(),
            commit_interval: DEFAULT_COMMIT_INTERVAL,
            grace: DEFAULT_GRACE,
            retention: DEFAULT_RETENTION,
            max_records_per_transaction: MAX_RECORDS_PER_TRANSACTION,
            restore_timeout: RESTORE_TIMEOUT,
            topic_wait: TOPIC_WAIT,
            kafka_overrides: Vec::new(),
            kafka_security: quakestream_core::kafka_security::KafkaSecurity::plaintext(),
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        for (what, v) in [
            ("bootstrap servers", &self.bootstrap_servers),
            ("input topic", &self.input_topic),
            ("app id", &self.app_id),
            ("instance id", &self.instance_id),
        ] {
            if v.trim().is_empty() {
                return Err(ConfigError::Empty(what));
            }
        }
        if self.retention <= self.grace + Duration::from_secs(25 * 3600) {
            return Err(ConfigError::RetentionTooShort {
                retention: self.retention,
                grace: self.grace,
            });
        }
        Ok(())
    }

    /// The event table's changelog: compacted, as many partitions as the input.
    pub fn events_changelog_topic(&self) -> String {
        format!("{}-events-changelog", self.app_id)
    }
    /// A processor's repartition topic.
    pub fn repartition_topic(&self, processor: &str) -> String {
        format!("{}-{processor}-repartition", self.app_id)
    }
    /// A processor's changelog: compacted, as many partitions as its repartition topic.
    pub fn changelog_topic(&self, processor: &str) -> String {
        format!("{}-{processor}-changelog", self.app_id)
    }
    pub fn transactional_id(&self) -> String {
        format!("{}-{}", self.app_id, self.instance_id)
    }
}

/// `$HOSTNAME` (the pod name on Kubernetes), else a name made of the process id.
pub fn default_instance_id() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .unwrap_or_else(|| format!("pid{}", std::process::id()))
}

/// A topic the analytics needs, and how it must be configured (for the operator and `dev`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: i32,
    /// `cleanup.policy`.
    pub cleanup_policy: &'static str,
    /// `retention.ms` (for `delete`), if any.
    pub retention_ms: Option<u64>,
}

impl AnalyticsConfig {
    /// Every topic the analytics reads or writes besides `quakes` and the DLQ, for an input of
    /// `input_partitions` partitions.
    pub fn topics(&self, input_partitions: i32) -> Vec<TopicSpec> {
        let window_retention_ms = (self.retention.as_millis() as u64).max(1);
        let p = crate::stats::NAME;
        vec![
            TopicSpec {
                name: self.events_changelog_topic(),
                partitions: input_partitions,
                cleanup_policy: "compact",
                retention_ms: None,
            },
            TopicSpec {
                name: self.repartition_topic(p),
                partitions: input_partitions,
                cleanup_policy: "delete",
                // Read within seconds; a day covers any outage the consumer lag alert allows.
                retention_ms: Some(86_400_000),
            },
            TopicSpec {
                name: self.changelog_topic(p),
                partitions: input_partitions,
                cleanup_policy: "compact",
                retention_ms: None,
            },
            TopicSpec {
                name: self.stats_topic.clone(),
                partitions: input_partitions,
                cleanup_policy: "compact,delete",
                retention_ms: Some(window_retention_ms),
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_a_too_short_retention_does_not() {
        let mut c = AnalyticsConfig::new("127.0.0.1:9092", "quakes");
        c.validate().unwrap();
        assert_eq!(c.events_changelog_topic(), "quakestream-analytics-events-changelog");
        assert_eq!(c.repartition_topic("stats"), "quakestream-analytics-stats-repartition");
        c.retention = Duration::from_secs(48 * 3600);
        assert!(matches!(c.validate(), Err(ConfigError::RetentionTooShort { .. })));
        c.retention = DEFAULT_RETENTION;
        c.instance_id = " ".into();
        assert!(matches!(c.validate(), Err(ConfigError::Empty("instance id"))));
    }
}
