//! `quakestream consumer`: Kafka into DynamoDB.

use std::time::Duration;

use crate::duration::DurationRange;
use crate::range::IntRange;
use crate::{Env, Kafka, Ops, Store, env};

/// The subcommand.
pub const SUBCOMMAND: &str = "consumer";
crate::listen_port!(9091);

/// Parallel conditional writes.
pub const DEFAULT_CONCURRENCY: u32 = 64;
/// Bounds of the write concurrency.
pub const CONCURRENCY: IntRange = IntRange::new(1, 1024);
/// Records read ahead of the writes.
pub const DEFAULT_MAX_IN_FLIGHT: u32 = 4096;
/// Bounds of the read-ahead.
pub const MAX_IN_FLIGHT: IntRange = IntRange::new(1, 1_000_000);
/// Longest backoff between store retries, in seconds.
pub const DEFAULT_RETRY_MAX_SECS: u64 = 10;
/// Bounds of the longest store backoff, in seconds.
pub const RETRY_MAX_SECS: IntRange = IntRange::new(1, 3_600);
/// Bounds of the items' time to live (`--retention`; unset: items never expire).
pub const RETENTION: DurationRange = DurationRange::secs(3_600, 36_500 * 86_400);
/// Bounds of the number of consumer pods (members of one consumer group); 0 stops consuming.
pub const REPLICAS: IntRange = IntRange::new(0, 1000);
/// Consumer pods of a pipeline unless its resource says otherwise.
pub const DEFAULT_REPLICAS: i32 = 2;

/// Every variable `quakestream consumer` reads.
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
    env::GROUP_ID,
    env::TABLE,
    env::AWS_REGION,
    env::DYNAMODB_ENDPOINT,
    env::RETENTION,
    env::CREATE_TABLE,
    env::CONCURRENCY,
    env::MAX_IN_FLIGHT,
    env::RETRY_MAX_SECS,
    env::LISTEN,
    env::LOG,
];

/// What the operator always writes.
pub const REQUIRED: &[&str] = &[
    env::KAFKA_BOOTSTRAP_SERVERS,
    env::TOPIC,
    env::DLQ_TOPIC,
    env::GROUP_ID,
    env::TABLE,
    env::AWS_REGION,
    env::LISTEN,
    env::LOG,
];

/// The consumer's configuration as the operator sets it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Broker and topic.
    pub kafka: Kafka,
    /// Dead-letter topic.
    pub dlq_topic: String,
    /// Consumer group.
    pub group_id: String,
    /// The table.
    pub store: Store,
    /// Items' time to live, if any ([`RETENTION`]).
    pub retention: Option<Duration>,
    /// Port and log filter.
    pub ops: Ops,
}

impl Config {
    /// The environment of the consumer's container.
    pub fn to_env(&self) -> Env {
        let mut e = crate::render::shared(&self.kafka, &self.ops, Some(&self.store));
        e.set(env::DLQ_TOPIC, &self.dlq_topic)
            .set(env::GROUP_ID, &self.group_id)
            .set_some(env::RETENTION, self.retention.map(crate::duration::format));
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_required_variables_and_options() {
        let mut c = Config {
            kafka: Kafka {
                bootstrap_servers: "k:9092".into(),
                topic: "quakes".into(),
                auth: crate::KafkaAuth::None,
            },
            dlq_topic: "quakes.dlq".into(),
            group_id: crate::names::DEFAULT_GROUP_ID.into(),
            store: Store {
                table: "quakes".into(),
                region: "eu-west-1".into(),
                endpoint: None,
            },
            retention: None,
            ops: Ops {
                port: PORT,
                log: "info".into(),
            },
        };
        let mut required = REQUIRED.to_vec();
        required.sort_unstable();
        assert_eq!(c.to_env().names().collect::<Vec<_>>(), required);
        c.retention = Some(Duration::from_secs(365 * 86_400));
        c.store.endpoint = Some("http://dynoxide:8000".into());
        let e = c.to_env();
        assert_eq!(e.get(env::RETENTION), Some("365d"));
        assert_eq!(e.get(env::DYNAMODB_ENDPOINT), Some("http://dynoxide:8000"));
        assert!(e.names().all(|n| ENV.contains(&n)));
    }

    #[test]
    fn defaults_are_within_their_bounds() {
        assert!(CONCURRENCY.contains(DEFAULT_CONCURRENCY));
        assert!(MAX_IN_FLIGHT.contains(DEFAULT_MAX_IN_FLIGHT));
        assert!(RETRY_MAX_SECS.contains(i64::try_from(DEFAULT_RETRY_MAX_SECS).unwrap()));
        assert!(REPLICAS.contains(DEFAULT_REPLICAS));
        assert_eq!(DEFAULT_LISTEN, format!("127.0.0.1:{PORT}"));
    }
}
