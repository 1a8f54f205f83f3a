//! `quakestream producer`: the EMSC websocket (backfilled from FDSN after gaps) into Kafka.

use std::time::Duration;

use crate::duration::{self, DurationRange};
use crate::range::IntRange;
use crate::{Env, Kafka, Ops, env};

/// The subcommand.
pub const SUBCOMMAND: &str = "producer";
crate::listen_port!(9090);

/// EMSC's real-time websocket.
pub const DEFAULT_EMSC_URL: &str = "wss://www.seismicportal.eu/standing_order/websocket";
/// EMSC's FDSN event service, used to backfill gaps.
pub const DEFAULT_FDSN_URL: &str = "https://www.seismicportal.eu/fdsnws/event/1/query";

/// FDSN page size.
pub const DEFAULT_BACKFILL_LIMIT: u32 = 500;
/// Bounds of the FDSN page size (EMSC answers at most 20,000 events a query).
pub const BACKFILL_LIMIT: IntRange = IntRange::new(1, 20_000);
/// How far back the first backfill reaches on a fresh start.
pub const DEFAULT_BACKFILL_MAX_AGE: &str = "24h";
/// Bounds of the first backfill's reach.
pub const BACKFILL_MAX_AGE: DurationRange = DurationRange::secs(60, 30 * 86_400);
/// Websocket ping interval.
pub const DEFAULT_PING_INTERVAL: &str = "15s";
/// Bounds of the ping interval.
pub const PING_INTERVAL: DurationRange = DurationRange::secs(1, 600);
/// Silence (no frame, ping or pong) after which the connection is presumed dead.
pub const DEFAULT_SILENCE_TIMEOUT: &str = "60s";
/// Bounds of the silence timeout.
pub const SILENCE_TIMEOUT: DurationRange = DurationRange::secs(1, 3_600);
/// Time without a data frame (the peer may still answer pings) after which the feed is presumed
/// stuck and the connection replaced, with a backfill of the gap. EMSC pushes every new event and
/// every revision worldwide, several an hour even on quiet days; a false alarm costs one
/// reconnect and one FDSN query.
pub const DEFAULT_FEED_SILENCE_TIMEOUT: &str = "10m";
/// Bounds of the feed-silence timeout.
pub const FEED_SILENCE_TIMEOUT: DurationRange = DurationRange::secs(1, 86_400);
/// First reconnect delay.
pub const DEFAULT_RECONNECT_MIN: &str = "1s";
/// Bounds of the first reconnect delay.
pub const RECONNECT_MIN: DurationRange = DurationRange::millis(10, 600_000);
/// Longest reconnect delay.
pub const DEFAULT_RECONNECT_MAX: &str = "60s";
/// Bounds of the longest reconnect delay.
pub const RECONNECT_MAX: DurationRange = DurationRange::millis(100, 3_600_000);
/// Replay speed when replaying a file.
pub const DEFAULT_REPLAY_SPEED: &str = "max";

/// Every variable `quakestream producer` reads.
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
    env::EMSC_URL,
    env::FDSN_URL,
    env::BACKFILL_LIMIT,
    env::BACKFILL_MAX_AGE,
    env::PING_INTERVAL,
    env::SILENCE_TIMEOUT,
    env::FEED_SILENCE_TIMEOUT,
    env::RECONNECT_MIN,
    env::RECONNECT_MAX,
    env::REPLAY,
    env::REPLAY_SPEED,
    env::LISTEN,
    env::LOG,
];

/// What the operator always writes: a pod would otherwise talk to the wrong broker or topic,
/// listen on loopback only, or follow a source the resource did not ask for.
pub const REQUIRED: &[&str] = &[
    env::KAFKA_BOOTSTRAP_SERVERS,
    env::TOPIC,
    env::DLQ_TOPIC,
    env::EMSC_URL,
    env::FDSN_URL,
    env::BACKFILL_LIMIT,
    env::BACKFILL_MAX_AGE,
    env::LISTEN,
    env::LOG,
];

/// The producer's configuration as the operator sets it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Broker and topic.
    pub kafka: Kafka,
    /// Dead-letter topic.
    pub dlq_topic: String,
    /// EMSC websocket.
    pub emsc_url: String,
    /// FDSN event service.
    pub fdsn_url: String,
    /// FDSN page size ([`BACKFILL_LIMIT`]).
    pub backfill_limit: u32,
    /// First backfill's reach ([`BACKFILL_MAX_AGE`]).
    pub backfill_max_age: Duration,
    /// Port and log filter.
    pub ops: Ops,
}

impl Config {
    /// The environment of the producer's container.
    pub fn to_env(&self) -> Env {
        let mut e = crate::render::shared(&self.kafka, &self.ops, None);
        e.set(env::DLQ_TOPIC, &self.dlq_topic)
            .set(env::EMSC_URL, &self.emsc_url)
            .set(env::FDSN_URL, &self.fdsn_url)
            .set(env::BACKFILL_LIMIT, self.backfill_limit.to_string())
            .set(env::BACKFILL_MAX_AGE, duration::format(self.backfill_max_age));
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> Config {
        Config {
            kafka: Kafka {
                bootstrap_servers: "events-kafka-bootstrap:9092".into(),
                topic: "quakes".into(),
                auth: crate::KafkaAuth::None,
            },
            dlq_topic: "quakes.dlq".into(),
            emsc_url: DEFAULT_EMSC_URL.into(),
            fdsn_url: DEFAULT_FDSN_URL.into(),
            backfill_limit: DEFAULT_BACKFILL_LIMIT,
            backfill_max_age: duration::parse(DEFAULT_BACKFILL_MAX_AGE).unwrap(),
            ops: Ops {
                port: PORT,
                log: crate::DEFAULT_LOG.into(),
            },
        }
    }

    #[test]
    fn renders_exactly_the_required_variables() {
        let e = sample().to_env();
        let names: Vec<_> = e.names().collect();
        let mut required = REQUIRED.to_vec();
        required.sort_unstable();
        assert_eq!(names, required);
        assert!(REQUIRED.iter().all(|r| ENV.contains(r)));
        assert_eq!(e.get(env::BACKFILL_MAX_AGE), Some("1d"));
        assert_eq!(e.get(env::LISTEN), Some("0.0.0.0:9090"));
        assert_eq!(e.get(env::BACKFILL_LIMIT), Some("500"));
    }

    #[test]
    fn defaults_are_within_their_bounds() {
        assert!(BACKFILL_LIMIT.contains(DEFAULT_BACKFILL_LIMIT));
        for (text, range) in [
            (DEFAULT_BACKFILL_MAX_AGE, BACKFILL_MAX_AGE),
            (DEFAULT_PING_INTERVAL, PING_INTERVAL),
            (DEFAULT_SILENCE_TIMEOUT, SILENCE_TIMEOUT),
            (DEFAULT_FEED_SILENCE_TIMEOUT, FEED_SILENCE_TIMEOUT),
            (DEFAULT_RECONNECT_MIN, RECONNECT_MIN),
            (DEFAULT_RECONNECT_MAX, RECONNECT_MAX),
        ] {
            assert!(range.parse(text).is_ok(), "{text} {range}");
        }
        assert_eq!(DEFAULT_LISTEN, format!("127.0.0.1:{PORT}"));
    }
}
