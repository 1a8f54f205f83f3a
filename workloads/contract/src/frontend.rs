//! `quakestream frontend`: the map, the HTTP API and Server-Sent Events.

use std::time::Duration;

use crate::duration::DurationRange;
use crate::range::IntRange;
use crate::{Env, Kafka, Ops, Store, env};

/// The subcommand.
pub const SUBCOMMAND: &str = "frontend";
/// The `group.id` of the tail's consumer. librdkafka wants one even with partitions assigned by
/// hand; the tail never joins the group and commits nothing, so its Kafka user may only
/// `Describe` it.
pub const TAIL_GROUP_ID: &str = "quakestream-frontend-tail";
crate::listen_port!(8080);

/// How much recent history each replica keeps in memory.
pub const DEFAULT_WINDOW: &str = "7d";
/// Bounds of the in-memory window.
pub const WINDOW: DurationRange = DurationRange::secs(3_600, 31 * 86_400);
/// Requests per 5 minutes per client IP (the WAF rule's policy); 0 turns the limit off.
pub const DEFAULT_RATE_LIMIT: u32 = 500;
/// Bounds of the rate limit (the upper one is WAFv2's).
pub const RATE_LIMIT: IntRange = IntRange::new(0, 2_000_000_000);
/// Interval of SSE heartbeat comments (keep it below the load balancer's idle timeout).
pub const DEFAULT_SSE_HEARTBEAT: &str = "15s";
/// Bounds of the heartbeat interval.
pub const SSE_HEARTBEAT: DurationRange = DurationRange::secs(1, 300);
/// A connection whose client accepts nothing for this long is closed.
pub const DEFAULT_WRITE_STALL_TIMEOUT: &str = "30s";
/// Bounds of the write-stall timeout.
pub const WRITE_STALL_TIMEOUT: DurationRange = DurationRange::secs(1, 600);
/// A request head must be complete this long after its first byte (slow-header clients).
pub const DEFAULT_HEADER_READ_TIMEOUT: &str = "10s";
/// Bounds of the header-read timeout.
pub const HEADER_READ_TIMEOUT: DurationRange = DurationRange::secs(1, 300);
/// An idle keep-alive connection closes after this long (longer than AWS load balancers' 60 s
/// idle timeout, so the balancer closes first).
pub const DEFAULT_KEEP_ALIVE_TIMEOUT: &str = "75s";
/// Bounds of the keep-alive timeout.
pub const KEEP_ALIVE_TIMEOUT: DurationRange = DurationRange::secs(1, 3_600);
/// Open connections at most, SSE streams included; the next ones get a 503.
pub const DEFAULT_MAX_CONNECTIONS: usize = 12_000;
/// Byte budget of the /api/quakes response cache (bodies and gzip copies).
pub const DEFAULT_CACHE_BYTES: usize = 64 * 1024 * 1024;
/// The addresses proxies connect from by default: loopback and private ranges (RFC 1918, ULA).
pub const DEFAULT_TRUSTED_PROXIES: &str = "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7";
/// The header a proxy appends the client address to; behind an Ingress the operator sets it.
pub const FORWARDED_FOR: &str = "X-Forwarded-For";
/// After SIGTERM the frontend ends open streams and gives other requests at most this long
/// (workloads/frontend); the operator's grace period adds it to the pre-stop delay.
pub const SHUTDOWN_DRAIN_SECS: u32 = 10;
/// Bounds of the frontend's replicas (the HPA's minimum and maximum).
pub const REPLICAS: IntRange = IntRange::new(1, 1000);
/// HPA minimum unless the resource says otherwise.
pub const DEFAULT_MIN_REPLICAS: i32 = 2;
/// HPA maximum unless the resource says otherwise.
pub const DEFAULT_MAX_REPLICAS: i32 = 10;

/// Every variable `quakestream frontend` reads.
pub const ENV: &[&str] = &[
    env::KAFKA_BOOTSTRAP_SERVERS,
    env::KAFKA_SECURITY_PROTOCOL,
    env::KAFKA_CA_FILE,
    env::KAFKA_CERT_FILE,
    env::KAFKA_KEY_FILE,
    env::KAFKA_SASL_USERNAME,
    env::KAFKA_SASL_PASSWORD_FILE,
    env::TOPIC,
    env::TABLE,
    env::AWS_REGION,
    env::DYNAMODB_ENDPOINT,
    env::LISTEN,
    env::WINDOW,
    env::RATE_LIMIT,
    env::CLIENT_IP_HEADER,
    env::TRUSTED_PROXY_HOPS,
    env::TRUSTED_PROXIES,
    env::SSE_HEARTBEAT,
    env::WRITE_STALL_TIMEOUT,
    env::HEADER_READ_TIMEOUT,
    env::KEEP_ALIVE_TIMEOUT,
    env::MAX_CONNECTIONS,
    env::CACHE_BYTES,
    env::STATS_TOPIC,
    env::SEQUENCES_TOPIC,
    env::LOG,
];

/// What the operator always writes.
pub const REQUIRED: &[&str] = &[
    env::KAFKA_BOOTSTRAP_SERVERS,
    env::TOPIC,
    env::TABLE,
    env::AWS_REGION,
    env::LISTEN,
    env::WINDOW,
    env::RATE_LIMIT,
    env::LOG,
];

/// The frontend's configuration as the operator sets it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Broker and topic (tailed without a consumer group).
    pub kafka: Kafka,
    /// The table (warm-up and older windows).
    pub store: Store,
    /// In-memory window ([`WINDOW`]).
    pub window: Duration,
    /// Requests per 5 minutes per client IP ([`RATE_LIMIT`]).
    pub rate_limit: u32,
    /// Take the client address from this header (behind a proxy).
    pub client_ip_header: Option<String>,
    /// The pipeline's statistics topic (what its analytics writes; `None`: the frontend's default).
    pub stats_topic: Option<String>,
    /// The pipeline's sequences topic (`None`: the frontend's default).
    pub sequences_topic: Option<String>,
    /// Port and log filter.
    pub ops: Ops,
}

impl Config {
    /// The environment of the frontend's container.
    pub fn to_env(&self) -> Env {
        let mut e = crate::render::shared(&self.kafka, &self.ops, Some(&self.store));
        e.set(env::WINDOW, crate::duration::format(self.window))
            .set(env::RATE_LIMIT, self.rate_limit.to_string())
            .set_some(env::CLIENT_IP_HEADER, self.client_ip_header.as_deref())
            .set_some(env::STATS_TOPIC, self.stats_topic.as_deref())
            .set_some(env::SEQUENCES_TOPIC, self.sequences_topic.as_deref());
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_required_variables_and_the_proxy_header() {
        let mut c = Config {
            kafka: Kafka {
                bootstrap_servers: "k:9092".into(),
                topic: "quakes".into(),
                auth: crate::KafkaAuth::None,
            },
            store: Store {
                table: "quakes".into(),
                region: "eu-west-1".into(),
                endpoint: None,
            },
            window: crate::duration::parse(DEFAULT_WINDOW).unwrap(),
            rate_limit: DEFAULT_RATE_LIMIT,
            client_ip_header: None,
            stats_topic: None,
            sequences_topic: None,
            ops: Ops {
                port: PORT,
                log: "info".into(),
            },
        };
        let mut required = REQUIRED.to_vec();
        required.sort_unstable();
        assert_eq!(c.to_env().names().collect::<Vec<_>>(), required);
        assert_eq!(c.to_env().get(env::WINDOW), Some("7d"));
        c.client_ip_header = Some(FORWARDED_FOR.into());
        c.stats_topic = Some("demo-quake-stats".into());
        c.sequences_topic = Some("demo-quake-sequences".into());
        let e = c.to_env();
        assert_eq!(e.get(env::CLIENT_IP_HEADER), Some("X-Forwarded-For"));
        assert_eq!(e.get(env::STATS_TOPIC), Some("demo-quake-stats"));
        assert_eq!(e.get(env::SEQUENCES_TOPIC), Some("demo-quake-sequences"));
        assert!(e.names().all(|n| ENV.contains(&n)));
    }

    #[test]
    fn defaults_are_within_their_bounds() {
        assert!(WINDOW.parse(DEFAULT_WINDOW).is_ok());
        assert!(SSE_HEARTBEAT.parse(DEFAULT_SSE_HEARTBEAT).is_ok());
        assert!(WRITE_STALL_TIMEOUT.parse(DEFAULT_WRITE_STALL_TIMEOUT).is_ok());
        assert!(RATE_LIMIT.contains(DEFAULT_RATE_LIMIT));
        assert!(REPLICAS.contains(DEFAULT_MIN_REPLICAS) && REPLICAS.contains(DEFAULT_MAX_REPLICAS));
        assert_eq!(DEFAULT_LISTEN, format!("127.0.0.1:{PORT}"));
    }
}
