//! Command-line flags shared by the workloads (each also reads the environment variable named
//! in its attribute, so a ConfigMap can configure a pod).

use clap::Args;
use quakestream_contract as contract;

use crate::kafka_security::{KafkaSecurity, KafkaSecurityArgs, KafkaSecurityError};

#[derive(Args, Debug, Clone)]
pub struct KafkaArgs {
    /// Kafka bootstrap servers (host:port,...).
    #[arg(long, env = contract::env::KAFKA_BOOTSTRAP_SERVERS, default_value = contract::DEFAULT_KAFKA_BOOTSTRAP_SERVERS)]
    pub bootstrap_servers: String,
    /// The topic of wire records.
    #[arg(long, env = contract::env::TOPIC, default_value = contract::names::DEFAULT_TOPIC)]
    pub topic: String,
    /// The dead-letter topic.
    #[arg(long, env = contract::env::DLQ_TOPIC, default_value = contract::names::DEFAULT_DLQ_TOPIC)]
    pub dlq_topic: String,
    /// Encryption and authentication.
    #[command(flatten)]
    pub security: KafkaSecurityArgs,
}

impl KafkaArgs {
    /// The checked security settings (files read now, so a bad mount fails at start-up).
    pub fn security(&self) -> Result<KafkaSecurity, KafkaSecurityError> {
        KafkaSecurity::from_args(&self.security)
    }
}
