//! Default names of the topics, the consumer group and the table, and how they derive from the
//! name of the `QuakeStream` resource so that two pipelines in one namespace never share them.
//!
//! The resource called [`DEFAULT_INSTANCE`] keeps the historical names (`quakes`, `quakes.dlq`,
//! `quakestream-consumer`, `quakes`); any other resource `NAME` gets `NAME-quakes`,
//! `NAME-quakes.dlq`, `NAME-consumer` and the table `NAME-quakes`. The workloads' flags default
//! to the historical names.

/// The resource name whose pipeline uses the historical names.
pub const DEFAULT_INSTANCE: &str = "quakestream";
/// Topic of wire records.
pub const DEFAULT_TOPIC: &str = "quakes";
/// Compacted topic of aftershock sequences (written by the analytics, read by the frontend).
pub const DEFAULT_SEQUENCES_TOPIC: &str = "quake-sequences";
/// Dead-letter topic.
pub const DEFAULT_DLQ_TOPIC: &str = "quakes.dlq";
/// Topic of the analytics' windowed statistics (compacted; the frontend tails it).
pub const DEFAULT_STATS_TOPIC: &str = "quake-stats";
/// Consumer group of the consumer (`<instance>-consumer`).
pub const DEFAULT_GROUP_ID: &str = "quakestream-consumer";
/// DynamoDB table.
pub const DEFAULT_TABLE: &str = "quakes";
/// Suffix of the consumer group name.
const GROUP_SUFFIX: &str = "-consumer";

/// The names one pipeline uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    /// Topic of wire records.
    pub topic: String,
    /// Dead-letter topic.
    pub dlq_topic: String,
    /// Consumer group of the consumer.
    pub group_id: String,
    /// DynamoDB table.
    pub table: String,
}

impl Names {
    /// The historical names (those of [`DEFAULT_INSTANCE`]).
    pub fn historical() -> Self {
        Self {
            topic: DEFAULT_TOPIC.to_owned(),
            dlq_topic: DEFAULT_DLQ_TOPIC.to_owned(),
            group_id: DEFAULT_GROUP_ID.to_owned(),
            table: DEFAULT_TABLE.to_owned(),
        }
    }

    /// The default names of the pipeline of the resource `instance`.
    pub fn for_instance(instance: &str) -> Self {
        if instance == DEFAULT_INSTANCE {
            return Self::historical();
        }
        Self {
            topic: format!("{instance}-{DEFAULT_TOPIC}"),
            dlq_topic: format!("{instance}-{DEFAULT_DLQ_TOPIC}"),
            group_id: format!("{instance}{GROUP_SUFFIX}"),
            table: format!("{instance}-{DEFAULT_TABLE}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_instance_keeps_the_historical_names() {
        let n = Names::for_instance("quakestream");
        assert_eq!(n.topic, "quakes");
        assert_eq!(n.dlq_topic, "quakes.dlq");
        assert_eq!(n.group_id, "quakestream-consumer");
        assert_eq!(n.table, "quakes");
        assert_eq!(n, Names::historical());
        assert_eq!(format!("{DEFAULT_INSTANCE}{GROUP_SUFFIX}"), DEFAULT_GROUP_ID);
    }

    #[test]
    fn other_instances_get_their_own_names() {
        let a = Names::for_instance("demo");
        assert_eq!(a.topic, "demo-quakes");
        assert_eq!(a.dlq_topic, "demo-quakes.dlq");
        assert_eq!(a.group_id, "demo-consumer");
        assert_eq!(a.table, "demo-quakes");
        let b = Names::for_instance("staging");
        for (x, y) in [
            (&a.topic, &b.topic),
            (&a.dlq_topic, &b.dlq_topic),
            (&a.group_id, &b.group_id),
            (&a.table, &b.table),
        ] {
            assert_ne!(x, y);
        }
        let d = Names::historical();
        assert_ne!(a.topic, d.topic);
        assert_ne!(a.group_id, d.group_id);
    }
}
