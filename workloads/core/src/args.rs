//! Command-line flags shared by the workloads (each also reads the environment variable named
//! in its attribute, so a ConfigMap can configure a pod).

use clap::Args;

#[derive(Args, Debug, Clone)]
pub struct KafkaArgs {
    /// Kafka bootstrap servers (host:port,...).
    #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS", default_value = "127.0.0.1:9092")]
    pub bootstrap_servers: String,
    /// The topic of wire records.
    #[arg(long, env = "QS_TOPIC", default_value = crate::wire::DEFAULT_TOPIC)]
    pub topic: String,
    /// The dead-letter topic.
    #[arg(long, env = "QS_DLQ_TOPIC", default_value = crate::wire::DEFAULT_DLQ_TOPIC)]
    pub dlq_topic: String,
}
