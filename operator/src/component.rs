//! The parts of a pipeline: its workloads and its topics.

use quakestream_contract as contract;

/// The workloads (Deployments) of a pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Component {
    /// EMSC → Kafka.
    Producer,
    /// Kafka → DynamoDB.
    Consumer,
    /// Map, API and SSE.
    Frontend,
    /// Windowed statistics into `quake-stats` (optional: `spec.analytics.enabled`).
    Analytics,
}

impl Component {
    /// All components in apply order.
    pub const ALL: [Component; 4] = [
        Component::Producer,
        Component::Consumer,
        Component::Frontend,
        Component::Analytics,
    ];

    /// Lowercase name: the `quakestream` subcommand, the label value and the object-name suffix.
    pub fn as_str(self) -> &'static str {
        match self {
            Component::Producer => contract::producer::SUBCOMMAND,
            Component::Consumer => contract::consumer::SUBCOMMAND,
            Component::Frontend => contract::frontend::SUBCOMMAND,
            Component::Analytics => contract::analytics::SUBCOMMAND,
        }
    }

    /// HTTP port of `/metrics`, `/healthz` and `/readyz` (and, for the frontend, everything else).
    pub fn port(self) -> u16 {
        match self {
            Component::Producer => contract::producer::PORT,
            Component::Consumer => contract::consumer::PORT,
            Component::Frontend => contract::frontend::PORT,
            Component::Analytics => contract::analytics::PORT,
        }
    }

    /// Every variable the workload's command line reads (what its ConfigMap may contain).
    pub fn env_names(self) -> &'static [&'static str] {
        match self {
            Component::Producer => contract::producer::ENV,
            Component::Consumer => contract::consumer::ENV,
            Component::Frontend => contract::frontend::ENV,
            Component::Analytics => contract::analytics::ENV,
        }
    }

    /// The variables the operator always writes for the workload.
    pub fn required_env(self) -> &'static [&'static str] {
        match self {
            Component::Producer => contract::producer::REQUIRED,
            Component::Consumer => contract::consumer::REQUIRED,
            Component::Frontend => contract::frontend::REQUIRED,
            Component::Analytics => contract::analytics::REQUIRED,
        }
    }
}

/// Which topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TopicRole {
    /// The wire records (`quakes`).
    Events,
    /// Records that failed to decode (`quakes.dlq`).
    DeadLetters,
    /// One of the analytics' topics (`quake-stats`, `quake-sequences` and the internal ones).
    Analytics(contract::analytics::TopicRole),
}

impl TopicRole {
    /// The two topics `spec.kafka` configures, in apply order (the analytics' follow them).
    pub const ALL: [TopicRole; 2] = [TopicRole::Events, TopicRole::DeadLetters];

    /// Suffix of the KafkaTopic object's name (`<name>-events`, `<name>-dlq`,
    /// `<name>-analytics-stats`, `<name>-analytics-events-changelog`, ...).
    pub fn suffix(self) -> &'static str {
        use contract::analytics::TopicRole as A;
        match self {
            TopicRole::Events => "events",
            TopicRole::DeadLetters => "dlq",
            TopicRole::Analytics(A::Stats) => "analytics-stats",
            TopicRole::Analytics(A::EventsChangelog) => "analytics-events-changelog",
            TopicRole::Analytics(A::StatsRepartition) => "analytics-stats-repartition",
            TopicRole::Analytics(A::StatsChangelog) => "analytics-stats-changelog",
            TopicRole::Analytics(A::Sequences) => "analytics-sequences",
            TopicRole::Analytics(A::SequencesRepartition) => "analytics-sequences-repartition",
            TopicRole::Analytics(A::SequencesChangelog) => "analytics-sequences-changelog",
        }
    }

    /// The spec field that configures it.
    pub fn field(self) -> &'static str {
        match self {
            TopicRole::Events => "kafka.topic",
            TopicRole::DeadLetters => "kafka.dlqTopic",
            TopicRole::Analytics(_) => "analytics",
        }
    }
}
