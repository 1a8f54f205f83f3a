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
}

impl Component {
    /// All components in apply order.
    pub const ALL: [Component; 3] = [Component::Producer, Component::Consumer, Component::Frontend];

    /// Lowercase name: the `quakestream` subcommand, the label value and the object-name suffix.
    pub fn as_str(self) -> &'static str {
        match self {
            Component::Producer => contract::producer::SUBCOMMAND,
            Component::Consumer => contract::consumer::SUBCOMMAND,
            Component::Frontend => contract::frontend::SUBCOMMAND,
        }
    }

    /// HTTP port of `/metrics`, `/healthz` and `/readyz` (and, for the frontend, everything else).
    pub fn port(self) -> u16 {
        match self {
            Component::Producer => contract::producer::PORT,
            Component::Consumer => contract::consumer::PORT,
            Component::Frontend => contract::frontend::PORT,
        }
    }

    /// Every variable the workload's command line reads (what its ConfigMap may contain).
    pub fn env_names(self) -> &'static [&'static str] {
        match self {
            Component::Producer => contract::producer::ENV,
            Component::Consumer => contract::consumer::ENV,
            Component::Frontend => contract::frontend::ENV,
        }
    }

    /// The variables the operator always writes for the workload.
    pub fn required_env(self) -> &'static [&'static str] {
        match self {
            Component::Producer => contract::producer::REQUIRED,
            Component::Consumer => contract::consumer::REQUIRED,
            Component::Frontend => contract::frontend::REQUIRED,
        }
    }
}

/// Which of the two topics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TopicRole {
    /// The wire records (`quakes`).
    Events,
    /// Records that failed to decode (`quakes.dlq`).
    DeadLetters,
}

impl TopicRole {
    /// Both roles, in apply order.
    pub const ALL: [TopicRole; 2] = [TopicRole::Events, TopicRole::DeadLetters];

    /// Suffix of the KafkaTopic object's name (`<name>-events`, `<name>-dlq`).
    pub fn suffix(self) -> &'static str {
        match self {
            TopicRole::Events => "events",
            TopicRole::DeadLetters => "dlq",
        }
    }

    /// The spec field that configures it.
    pub fn field(self) -> &'static str {
        match self {
            TopicRole::Events => "topic",
            TopicRole::DeadLetters => "dlqTopic",
        }
    }
}
