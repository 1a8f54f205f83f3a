//! `quakestream analytics`: windowed statistics over the topic of wire records into
//! `quake-stats`, and aftershock sequences into `quake-sequences`, exactly once, with
//! changelog-backed state.
//!
//! Besides the usual port, defaults, ranges and [`Config`], this module is the one home of the
//! analytics' topic names and topic settings ([`topics`]): the workload checks its topics
//! against them at start-up, `quakestream dev` creates them, and the operator declares them as
//! KafkaTopics.

use std::time::Duration;

use crate::duration::{self, DurationRange};
use crate::range::IntRange;
use crate::{Env, Kafka, Ops, env, names};

/// The subcommand.
pub const SUBCOMMAND: &str = "analytics";
crate::listen_port!(9093);

/// Consumer group, transactional-id prefix and prefix of the internal topics, for the resource
/// called [`names::DEFAULT_INSTANCE`] (and the flag's default).
pub const DEFAULT_APP_ID: &str = "quakestream-analytics";
/// The output topic, for the resource called [`names::DEFAULT_INSTANCE`] (and the flag's default).
pub const DEFAULT_STATS_TOPIC: &str = "quake-stats";
/// Suffix of the app id of any other resource (`<name>-analytics`).
const APP_ID_SUFFIX: &str = "-analytics";
/// The statistics processor: its topics are `{app}-stats-repartition` and `{app}-stats-changelog`.
pub const STATS_PROCESSOR: &str = "stats";
/// The sequences processor: its topics are `{app}-sequences-repartition` and
/// `{app}-sequences-changelog`.
pub const SEQUENCES_PROCESSOR: &str = "sequences";
/// Partitions of the sequences' topics: one, because grouping needs the whole catalogue in one
/// place (an aftershock may be in any partition of the input; see docs/sequences.md).
pub const SEQUENCES_PARTITIONS: i32 = 1;
/// The sequences' output topic, for the resource called [`names::DEFAULT_INSTANCE`].
pub use crate::names::DEFAULT_SEQUENCES_TOPIC;

/// The panes every window is made of.
pub const PANE: Duration = Duration::from_secs(3_600);
/// The longest window (the tumbling day and the hopping 24 h).
pub const LONGEST_WINDOW: Duration = Duration::from_secs(86_400);

/// Windows close when stream time passes their end plus this (48 h: the last revision of an
/// event came within 48 h of its origin time for 93% of EMSC's and 88% of USGS's events in the
/// bundled samples; see docs/analytics.md).
pub const DEFAULT_GRACE: &str = "48h";
/// Bounds of the grace period.
pub const GRACE: DurationRange = DurationRange::secs(0, 14 * 86_400);
/// How long events and windows are kept behind stream time (EMSC re-sends updates of events
/// weeks old).
pub const DEFAULT_RETENTION: &str = "35d";
/// Bounds of the retention; it must also exceed [`min_retention`] of the grace period.
pub const RETENTION: DurationRange = DurationRange::secs(2 * 86_400, 365 * 86_400);
/// One transaction, and at most one update per changed window, per interval.
pub const DEFAULT_COMMIT_INTERVAL: &str = "1s";
/// Bounds of the commit interval (well inside the 60 s transaction timeout).
pub const COMMIT_INTERVAL: DurationRange = DurationRange::millis(10, 30_000);
/// Most input records in one transaction.
pub const DEFAULT_MAX_RECORDS_PER_TRANSACTION: u32 = 100_000;
/// Bounds of the records per transaction.
pub const MAX_RECORDS_PER_TRANSACTION: IntRange = IntRange::new(1, 1_000_000);
/// Bounds of the number of analytics pods (members of one consumer group); 0 stops it.
pub const REPLICAS: IntRange = IntRange::new(0, 1000);
/// Analytics pods of a pipeline unless its resource says otherwise: two, so a pod that stops
/// hands its partitions (restored from the changelogs) to the other.
pub const DEFAULT_REPLICAS: i32 = 2;

/// What `quakestream analytics --allocator` expects unless told otherwise: the allocator a
/// process runs on when `QS_ALLOCATOR` is unset.
pub const DEFAULT_ALLOCATOR: &str = crate::allocator::SYSTEM;
/// What the operator runs the analytics on: mimalloc, faster through the whole loop than
/// glibc's malloc (docs/benchmarks.md, Analytics).
pub const DEPLOYED_ALLOCATOR: &str = crate::allocator::MIMALLOC;

/// Every variable `quakestream analytics` reads.
pub const ENV: &[&str] = &[
    env::KAFKA_BOOTSTRAP_SERVERS,
    env::KAFKA_SECURITY_PROTOCOL,
    env::KAFKA_CA_FILE,
    env::KAFKA_CERT_FILE,
    env::KAFKA_KEY_FILE,
    env::KAFKA_SASL_USERNAME,
    env::KAFKA_SASL_PASSWORD_FILE,
    env::TOPIC,
    env::DLQ_TOPIC,
    env::STATS_TOPIC,
    env::SEQUENCES_TOPIC,
    env::ANALYTICS_APP_ID,
    env::INSTANCE_ID,
    env::GRACE,
    env::RETENTION,
    env::COMMIT_INTERVAL,
    env::MAX_RECORDS_PER_TRANSACTION,
    env::KAFKA_OPTIONS,
    env::ALLOCATOR,
    env::LISTEN,
    env::LOG,
];

/// What the operator always writes (in the ConfigMap).
pub const REQUIRED: &[&str] = &[
    env::KAFKA_BOOTSTRAP_SERVERS,
    env::TOPIC,
    env::DLQ_TOPIC,
    env::STATS_TOPIC,
    env::SEQUENCES_TOPIC,
    env::ANALYTICS_APP_ID,
    env::GRACE,
    env::RETENTION,
    env::COMMIT_INTERVAL,
    env::ALLOCATOR,
    env::LISTEN,
    env::LOG,
];

/// What the operator sets from the pod's own name (the downward API), not in the ConfigMap:
/// each pod's transactional id is `{app}-{pod name}`, so a restarted pod fences its previous
/// incarnation and two pods never share one.
pub const FROM_POD_NAME: &[&str] = &[env::INSTANCE_ID];

/// The smallest retention a grace period allows: a window's state must outlive its close
/// (end + grace), and the longest window spans a day of panes, plus one pane of slack.
pub fn min_retention(grace: Duration) -> Duration {
    grace + LONGEST_WINDOW + PANE
}

/// Why a grace/retention pair is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetentionTooShort {
    /// The retention given.
    pub retention: Duration,
    /// The grace period given.
    pub grace: Duration,
}

impl std::fmt::Display for RetentionTooShort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "retention ({}) must exceed the grace period plus the longest window and a pane ({} + 1d + 1h = {})",
            duration::format(self.retention),
            duration::format(self.grace),
            duration::format(min_retention(self.grace))
        )
    }
}

impl std::error::Error for RetentionTooShort {}

/// Checks that `retention` exceeds [`min_retention`] of `grace`.
pub fn check_retention(grace: Duration, retention: Duration) -> Result<(), RetentionTooShort> {
    if retention <= min_retention(grace) {
        return Err(RetentionTooShort { retention, grace });
    }
    Ok(())
}

/// The names one pipeline's analytics uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    /// Consumer group, transactional-id prefix and prefix of the internal topics.
    pub app_id: String,
    /// The statistics' output topic.
    pub stats_topic: String,
    /// The sequences' output topic (derived from the resource's name).
    pub sequences_topic: String,
}

impl Names {
    /// The historical names (those of [`names::DEFAULT_INSTANCE`]).
    pub fn historical() -> Self {
        Self {
            app_id: DEFAULT_APP_ID.to_owned(),
            stats_topic: DEFAULT_STATS_TOPIC.to_owned(),
            sequences_topic: DEFAULT_SEQUENCES_TOPIC.to_owned(),
        }
    }

    /// The default names of the pipeline of the resource `instance`: `<name>-analytics`,
    /// `<name>-quake-stats` and `<name>-quake-sequences`, so two pipelines in one namespace never
    /// share them.
    pub fn for_instance(instance: &str) -> Self {
        if instance == names::DEFAULT_INSTANCE {
            return Self::historical();
        }
        Self {
            app_id: format!("{instance}{APP_ID_SUFFIX}"),
            stats_topic: format!("{instance}-{DEFAULT_STATS_TOPIC}"),
            sequences_topic: format!("{instance}-{DEFAULT_SEQUENCES_TOPIC}"),
        }
    }

    /// The event table's changelog (co-partitioned with the input).
    pub fn events_changelog_topic(&self) -> String {
        format!("{}-events-changelog", self.app_id)
    }

    /// A processor's repartition topic.
    pub fn repartition_topic(&self, processor: &str) -> String {
        format!("{}-{processor}-repartition", self.app_id)
    }

    /// A processor's changelog (co-partitioned with its repartition topic).
    pub fn changelog_topic(&self, processor: &str) -> String {
        format!("{}-{processor}-changelog", self.app_id)
    }
}

/// Which of the analytics' topics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TopicRole {
    /// `quake-stats`: the output.
    Stats,
    /// `{app}-events-changelog`: the event table's state.
    EventsChangelog,
    /// `{app}-stats-repartition`: partials by dimension.
    StatsRepartition,
    /// `{app}-stats-changelog`: the aggregators' state.
    StatsChangelog,
    /// `quake-sequences`: the sequences' output.
    Sequences,
    /// `{app}-sequences-repartition`: every event change, to the one grouping task.
    SequencesRepartition,
    /// `{app}-sequences-changelog`: the grouping's input, the last change per event.
    SequencesChangelog,
}

impl TopicRole {
    /// Every role, in the order [`topics`] lists them.
    pub const ALL: [TopicRole; 7] = [
        TopicRole::Stats,
        TopicRole::EventsChangelog,
        TopicRole::StatsRepartition,
        TopicRole::StatsChangelog,
        TopicRole::Sequences,
        TopicRole::SequencesRepartition,
        TopicRole::SequencesChangelog,
    ];

    /// A short lowercase name (the operator's KafkaTopic object suffix).
    pub fn as_str(self) -> &'static str {
        match self {
            TopicRole::Stats => "stats",
            TopicRole::EventsChangelog => "events-changelog",
            TopicRole::StatsRepartition => "stats-repartition",
            TopicRole::StatsChangelog => "stats-changelog",
            TopicRole::Sequences => "sequences",
            TopicRole::SequencesRepartition => "sequences-repartition",
            TopicRole::SequencesChangelog => "sequences-changelog",
        }
    }
}

/// `cleanup.policy` of a changelog: the latest value per key (a tombstone removes it).
pub const COMPACT: &str = "compact";
/// `cleanup.policy` of the output: the latest value per window, and windows beyond retention go.
pub const COMPACT_DELETE: &str = "compact,delete";
/// `cleanup.policy` of a repartition topic: a log read within seconds.
pub const DELETE: &str = "delete";

/// One topic the analytics reads or writes besides the input and the dead-letter topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topic {
    /// Which topic.
    pub role: TopicRole,
    /// Its name.
    pub name: String,
    /// Partitions: as many as the input (the changelogs must be co-partitioned; the others
    /// follow so that one instance's share stays even), except the sequences' topics
    /// ([`SEQUENCES_PARTITIONS`]).
    pub partitions: i32,
    /// `cleanup.policy`.
    pub cleanup_policy: &'static str,
    /// `retention.ms`, for the topics whose policy deletes.
    pub retention: Option<Duration>,
}

/// Every topic of the analytics for an input of `input_partitions` partitions. Retention:
///
/// - the changelogs are compacted with no time limit: they hold exactly the state, and the
///   workload writes tombstones for what leaves it (events and panes beyond `retention`);
/// - `quake-stats` is compacted and deletes after `retention` (at least grace + a day + an
///   hour, [`check_retention`]): a window's final result comes at its end plus grace, and a
///   window beyond retention has no state left that could ever change it;
/// - the repartition topics delete after the longest window plus grace: a partial matters until
///   the windows of its pane have closed, and a restored partition re-sends all of its partials
///   anyway;
/// - `quake-sequences` is compacted only: a sequence stays until the grouping deletes it.
pub fn topics(names: &Names, input_partitions: i32, grace: Duration, retention: Duration) -> Vec<Topic> {
    TopicRole::ALL
        .iter()
        .map(|&role| {
            let (name, cleanup_policy, retention) = match role {
                TopicRole::Stats => (names.stats_topic.clone(), COMPACT_DELETE, Some(retention)),
                TopicRole::EventsChangelog => (names.events_changelog_topic(), COMPACT, None),
                TopicRole::StatsRepartition => (
                    names.repartition_topic(STATS_PROCESSOR),
                    DELETE,
                    Some(LONGEST_WINDOW + grace),
                ),
                TopicRole::StatsChangelog => (names.changelog_topic(STATS_PROCESSOR), COMPACT, None),
                // A sequence stays until it is deleted (a tombstone), however old.
                TopicRole::Sequences => (names.sequences_topic.clone(), COMPACT, None),
                TopicRole::SequencesRepartition => (
                    names.repartition_topic(SEQUENCES_PROCESSOR),
                    DELETE,
                    Some(LONGEST_WINDOW + grace),
                ),
                TopicRole::SequencesChangelog => (names.changelog_topic(SEQUENCES_PROCESSOR), COMPACT, None),
            };
            let partitions = match role {
                TopicRole::Sequences | TopicRole::SequencesRepartition | TopicRole::SequencesChangelog => {
                    SEQUENCES_PARTITIONS
                }
                _ => input_partitions,
            };
            Topic {
                role,
                name,
                partitions,
                cleanup_policy,
                retention,
            }
        })
        .collect()
}

/// The analytics' configuration as the operator sets it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Broker and input topic.
    pub kafka: Kafka,
    /// Dead-letter topic.
    pub dlq_topic: String,
    /// App id and output topic.
    pub names: Names,
    /// Grace period ([`GRACE`]).
    pub grace: Duration,
    /// Retention of state ([`RETENTION`]).
    pub retention: Duration,
    /// Commit interval ([`COMMIT_INTERVAL`]).
    pub commit_interval: Duration,
    /// Port and log filter.
    pub ops: Ops,
}

impl Config {
    /// The environment of the analytics' container (its ConfigMap; the instance id comes from
    /// the pod name, [`FROM_POD_NAME`]).
    pub fn to_env(&self) -> Env {
        let mut e = crate::render::shared(&self.kafka, &self.ops, None);
        e.set(env::DLQ_TOPIC, &self.dlq_topic)
            .set(env::STATS_TOPIC, &self.names.stats_topic)
            .set(env::SEQUENCES_TOPIC, &self.names.sequences_topic)
            .set(env::ANALYTICS_APP_ID, &self.names.app_id)
            .set(env::GRACE, duration::format(self.grace))
            .set(env::RETENTION, duration::format(self.retention))
            .set(env::COMMIT_INTERVAL, duration::format(self.commit_interval))
            .set(env::ALLOCATOR, DEPLOYED_ALLOCATOR);
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Duration {
        duration::parse(text).unwrap()
    }

    #[test]
    fn renders_exactly_the_required_variables() {
        let c = Config {
            kafka: Kafka {
                bootstrap_servers: "k:9092".into(),
                topic: "quakes".into(),
                auth: crate::KafkaAuth::None,
            },
            dlq_topic: "quakes.dlq".into(),
            names: Names::historical(),
            grace: d(DEFAULT_GRACE),
            retention: d(DEFAULT_RETENTION),
            commit_interval: d(DEFAULT_COMMIT_INTERVAL),
            ops: Ops {
                port: PORT,
                log: "info".into(),
            },
        };
        let e = c.to_env();
        let mut required = REQUIRED.to_vec();
        required.sort_unstable();
        assert_eq!(e.names().collect::<Vec<_>>(), required);
        assert!(REQUIRED.iter().chain(FROM_POD_NAME).all(|r| ENV.contains(r)));
        assert!(FROM_POD_NAME.iter().all(|r| !REQUIRED.contains(r)));
        assert_eq!(e.get(env::GRACE), Some("2d"));
        assert_eq!(e.get(env::RETENTION), Some("35d"));
        assert_eq!(e.get(env::STATS_TOPIC), Some("quake-stats"));
        assert_eq!(e.get(env::LISTEN), Some("0.0.0.0:9093"));
    }

    #[test]
    fn defaults_are_within_their_bounds() {
        assert!(GRACE.parse(DEFAULT_GRACE).is_ok());
        assert!(RETENTION.parse(DEFAULT_RETENTION).is_ok());
        assert!(COMMIT_INTERVAL.parse(DEFAULT_COMMIT_INTERVAL).is_ok());
        assert!(MAX_RECORDS_PER_TRANSACTION.contains(DEFAULT_MAX_RECORDS_PER_TRANSACTION));
        assert!(REPLICAS.contains(DEFAULT_REPLICAS));
        assert_eq!(DEFAULT_LISTEN, format!("127.0.0.1:{PORT}"));
        check_retention(d(DEFAULT_GRACE), d(DEFAULT_RETENTION)).unwrap();
        // The shortest retention the bounds allow works with a grace of less than 23 h.
        check_retention(d("22h"), RETENTION.min).unwrap();
        assert!(check_retention(d("23h"), RETENTION.min).is_err());
    }

    #[test]
    fn retention_must_outlive_the_longest_window_after_grace() {
        assert_eq!(min_retention(d("48h")), d("3d1h"));
        let e = check_retention(d("48h"), d("3d1h")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "retention (3d1h) must exceed the grace period plus the longest window and a pane (2d + 1d + 1h = 3d1h)"
        );
        assert!(check_retention(d("48h"), d("3d2h")).is_ok());
    }

    #[test]
    fn names_derive_from_the_instance() {
        assert_eq!(Names::for_instance(names::DEFAULT_INSTANCE), Names::historical());
        let n = Names::for_instance("demo");
        assert_eq!(n.app_id, "demo-analytics");
        assert_eq!(n.stats_topic, "demo-quake-stats");
        assert_eq!(n.events_changelog_topic(), "demo-analytics-events-changelog");
        assert_ne!(Names::for_instance("other"), n);
    }

    #[test]
    fn topics_follow_the_input_and_derive_their_retention() {
        let t = topics(&Names::historical(), 6, d("48h"), d("35d"));
        let names: Vec<&str> = t.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "quake-stats",
                "quakestream-analytics-events-changelog",
                "quakestream-analytics-stats-repartition",
                "quakestream-analytics-stats-changelog",
                "quake-sequences",
                "quakestream-analytics-sequences-repartition",
                "quakestream-analytics-sequences-changelog"
            ]
        );
        assert!(
            t.iter()
                .all(|t| t.partitions == if t.name.contains("sequences") { 1 } else { 6 })
        );
        assert_eq!(t[0].cleanup_policy, COMPACT_DELETE);
        assert_eq!(t[0].retention, Some(d("35d")));
        assert_eq!((t[1].cleanup_policy, t[1].retention), (COMPACT, None));
        assert_eq!((t[2].cleanup_policy, t[2].retention), (DELETE, Some(d("3d"))));
        assert_eq!((t[3].cleanup_policy, t[3].retention), (COMPACT, None));
        assert_eq!(t.iter().map(|t| t.role).collect::<Vec<_>>(), TopicRole::ALL.to_vec());
    }
}
