//! Settings of the analytics and the names of its topics.

use std::time::Duration;

use quakestream_contract::analytics as contract;
use quakestream_contract::duration;

/// Default consumer group, transactional-id prefix and prefix of the internal topics.
pub const DEFAULT_APP_ID: &str = contract::DEFAULT_APP_ID;
/// Default grace period: 48 h ([`contract::DEFAULT_GRACE`]). In the bundled real samples, the
/// last revision of an event came within 48 h of its origin time for 93% of EMSC events (median
/// 6.4 h, p90 21 h, p95 33 h) and 88% of USGS events (median 1.5 h, p90 52 h); the tail is long
/// (p99 105–140 h), and a revision there becomes a correction instead of holding every window
/// open for a week.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(48 * 3600);
/// Default retention of state: 35 days ([`contract::DEFAULT_RETENTION`]). EMSC re-sends updates
/// of events weeks old (the recorded websocket log has updates of 29-day-old events); a revision
/// older than this is dead-lettered.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(35 * 86_400);
/// Default commit interval: one transaction (and one coalesced update per changed window) a
/// second ([`contract::DEFAULT_COMMIT_INTERVAL`]).
pub const DEFAULT_COMMIT_INTERVAL: Duration = Duration::from_secs(1);
/// Most input records in one transaction (bounds its size and the memory of a commit).
pub const MAX_RECORDS_PER_TRANSACTION: usize = contract::DEFAULT_MAX_RECORDS_PER_TRANSACTION as usize;
/// How long one changelog's restore (the partitions assigned at once) may take before the
/// workload gives up.
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
    /// `quake-sequences`.
    pub sequences_topic: String,
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
    #[error("{0}")]
    RetentionTooShort(#[from] contract::RetentionTooShort),
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
            sequences_topic: crate::sequences::DEFAULT_SEQUENCES_TOPIC.to_owned(),
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
        contract::check_retention(self.grace, self.retention)?;
        Ok(())
    }

    /// The app id and the output topic, as the contract names them.
    pub fn names(&self) -> contract::Names {
        contract::Names {
            app_id: self.app_id.clone(),
            stats_topic: self.stats_topic.clone(),
            sequences_topic: self.sequences_topic.clone(),
        }
    }
    /// The event table's changelog: compacted, as many partitions as the input.
    pub fn events_changelog_topic(&self) -> String {
        self.names().events_changelog_topic()
    }
    /// A processor's repartition topic.
    pub fn repartition_topic(&self, processor: &str) -> String {
        self.names().repartition_topic(processor)
    }
    /// A processor's changelog: compacted, as many partitions as its repartition topic.
    pub fn changelog_topic(&self, processor: &str) -> String {
        self.names().changelog_topic(processor)
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
    /// `input_partitions` partitions: the contract's [`contract::topics`], which the operator
    /// declares as KafkaTopics too.
    pub fn topics(&self, input_partitions: i32) -> Vec<TopicSpec> {
        contract::topics(&self.names(), input_partitions, self.grace, self.retention)
            .into_iter()
            .map(|t| TopicSpec {
                name: t.name,
                partitions: t.partitions,
                cleanup_policy: t.cleanup_policy,
                retention_ms: t
                    .retention
                    .map(|r| u64::try_from(r.as_millis()).unwrap_or(u64::MAX).max(1)),
            })
            .collect()
    }
}

/// A duration in the contract's canonical syntax (`2d`, `1h30m`), for logs and messages.
pub fn show(d: Duration) -> String {
    duration::format(d)
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
        assert_eq!(c.topics(3).len(), 7);
        for (ours, theirs) in [
            (DEFAULT_GRACE, contract::DEFAULT_GRACE),
            (DEFAULT_RETENTION, contract::DEFAULT_RETENTION),
            (DEFAULT_COMMIT_INTERVAL, contract::DEFAULT_COMMIT_INTERVAL),
        ] {
            assert_eq!(Ok(ours), duration::parse(theirs), "the contract's defaults");
        }
        assert_eq!(c.topics(3)[0].name, "quake-stats");
        assert_eq!(
            c.topics(3)[2].retention_ms,
            Some(3 * 86_400_000),
            "a day plus the grace"
        );
        c.retention = Duration::from_secs(48 * 3600);
        assert!(matches!(c.validate(), Err(ConfigError::RetentionTooShort(_))));
        c.retention = DEFAULT_RETENTION;
        c.instance_id = " ".into();
        assert!(matches!(c.validate(), Err(ConfigError::Empty("instance id"))));
    }

    #[test]
    fn the_sequences_topics_are_listed_with_one_partition() {
        let c = AnalyticsConfig::new("127.0.0.1:9092", "quakes");
        let topics = c.topics(6);
        for (name, policy) in [
            ("quakestream-analytics-sequences-repartition", "delete"),
            ("quakestream-analytics-sequences-changelog", "compact"),
            ("quake-sequences", "compact"),
        ] {
            let t = topics
                .iter()
                .find(|t| t.name == name)
                .unwrap_or_else(|| panic!("{name} listed"));
            assert_eq!((t.partitions, t.cleanup_policy), (1, policy), "{name}");
        }
        assert_eq!(topics.len(), 7);
    }
}
