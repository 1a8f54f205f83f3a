//! The name of every environment variable a workload reads. Each is the `env` of one clap flag;
//! `quakestream SUBCOMMAND --help` shows which.

/// Kafka bootstrap servers (`host:port,...`); librdkafka's own name for it.
pub const KAFKA_BOOTSTRAP_SERVERS: &str = "KAFKA_BOOTSTRAP_SERVERS";
/// Kafka `security.protocol`: `plaintext` (the default), `ssl` or `sasl_ssl`.
pub const KAFKA_SECURITY_PROTOCOL: &str = "QS_KAFKA_SECURITY_PROTOCOL";
/// Kafka: PEM file of the CA that signed the brokers' certificates (Strimzi's cluster CA).
pub const KAFKA_CA_FILE: &str = "QS_KAFKA_CA_FILE";
/// Kafka: PEM client certificate for mutual TLS (Strimzi user secret `user.crt`).
pub const KAFKA_CERT_FILE: &str = "QS_KAFKA_CERT_FILE";
/// Kafka: PEM private key of the client certificate (Strimzi user secret `user.key`).
pub const KAFKA_KEY_FILE: &str = "QS_KAFKA_KEY_FILE";
/// Kafka: SCRAM-SHA-512 user name (with `sasl_ssl`).
pub const KAFKA_SASL_USERNAME: &str = "QS_KAFKA_SASL_USERNAME";
/// Kafka: file holding the SCRAM-SHA-512 password (Strimzi user secret `password`).
pub const KAFKA_SASL_PASSWORD_FILE: &str = "QS_KAFKA_SASL_PASSWORD_FILE";
/// The topic of wire records.
pub const TOPIC: &str = "QS_TOPIC";
/// The dead-letter topic.
pub const DLQ_TOPIC: &str = "QS_DLQ_TOPIC";
/// Address of `/metrics`, `/healthz` and `/readyz` (and, for the frontend, the page and the API).
pub const LISTEN: &str = "QS_LISTEN";
/// Log filter (tracing `EnvFilter` syntax).
pub const LOG: &str = "QS_LOG";

/// Producer: EMSC websocket URL.
pub const EMSC_URL: &str = "QS_EMSC_URL";
/// Producer: EMSC FDSN event service URL (backfill).
pub const FDSN_URL: &str = "QS_FDSN_URL";
/// Producer: FDSN page size.
pub const BACKFILL_LIMIT: &str = "QS_BACKFILL_LIMIT";
/// Producer: how far back the first backfill reaches.
pub const BACKFILL_MAX_AGE: &str = "QS_BACKFILL_MAX_AGE";
/// Producer: websocket ping interval.
pub const PING_INTERVAL: &str = "QS_PING_INTERVAL";
/// Producer: silence after which the connection is replaced.
pub const SILENCE_TIMEOUT: &str = "QS_SILENCE_TIMEOUT";
/// Producer: no data frame for this long (pings answered or not) and the feed is presumed
/// stuck: reconnect and backfill.
pub const FEED_SILENCE_TIMEOUT: &str = "QS_FEED_SILENCE_TIMEOUT";
/// Producer: first reconnect delay.
pub const RECONNECT_MIN: &str = "QS_RECONNECT_MIN";
/// Producer: longest reconnect delay.
pub const RECONNECT_MAX: &str = "QS_RECONNECT_MAX";
/// Producer: replay this file instead of the live feed.
pub const REPLAY: &str = "QS_REPLAY";
/// Producer: replay speed (a factor or `max`).
pub const REPLAY_SPEED: &str = "QS_REPLAY_SPEED";

/// Consumer: Kafka consumer group.
pub const GROUP_ID: &str = "QS_GROUP_ID";
/// Consumer, frontend, `table create`: DynamoDB table.
pub const TABLE: &str = "QS_TABLE";
/// Consumer, frontend, `table create`: AWS region (the AWS SDK's own name for it).
pub const AWS_REGION: &str = "AWS_REGION";
/// Consumer, frontend, `table create`: a DynamoDB-API endpoint instead of AWS.
pub const DYNAMODB_ENDPOINT: &str = "QS_DYNAMODB_ENDPOINT";
/// Consumer, `table create`: items expire this long after their origin time. Analytics: how
/// long events and windows are kept behind stream time.
pub const RETENTION: &str = "QS_RETENTION";
/// Consumer: create the table first if it does not exist.
pub const CREATE_TABLE: &str = "QS_CREATE_TABLE";
/// Consumer: parallel conditional writes.
pub const CONCURRENCY: &str = "QS_CONCURRENCY";
/// Consumer: records read ahead of the writes.
pub const MAX_IN_FLIGHT: &str = "QS_MAX_IN_FLIGHT";
/// Consumer: longest backoff between store retries, in seconds.
pub const RETRY_MAX_SECS: &str = "QS_RETRY_MAX_SECS";

/// Frontend: how much recent history each replica keeps in memory.
pub const WINDOW: &str = "QS_WINDOW";
/// Frontend: requests per 5 minutes per client IP.
pub const RATE_LIMIT: &str = "QS_RATE_LIMIT";
/// Frontend: take the client IP from the last entry of this header.
pub const CLIENT_IP_HEADER: &str = "QS_CLIENT_IP_HEADER";
/// Frontend: interval of SSE heartbeats.
pub const SSE_HEARTBEAT: &str = "QS_SSE_HEARTBEAT";
/// Frontend: close a connection whose client accepts nothing for this long.
pub const WRITE_STALL_TIMEOUT: &str = "QS_WRITE_STALL_TIMEOUT";

/// Frontend: how many proxies in front of it append to the client-IP header.
pub const TRUSTED_PROXY_HOPS: &str = "QS_TRUSTED_PROXY_HOPS";
/// Frontend: the CIDRs proxies connect from (forwarded headers from other peers are ignored).
pub const TRUSTED_PROXIES: &str = "QS_TRUSTED_PROXIES";
/// Frontend: a request head must be complete this long after its first byte.
pub const HEADER_READ_TIMEOUT: &str = "QS_HEADER_READ_TIMEOUT";
/// Frontend: an idle keep-alive connection is closed after this long.
pub const KEEP_ALIVE_TIMEOUT: &str = "QS_KEEP_ALIVE_TIMEOUT";
/// Frontend: open connections at most (streams included).
pub const MAX_CONNECTIONS: &str = "QS_MAX_CONNECTIONS";
/// Frontend: byte budget of the /api/quakes response cache.
pub const CACHE_BYTES: &str = "QS_CACHE_BYTES";
/// Frontend (tails it), analytics (writes it): the topic of windowed statistics.
pub const STATS_TOPIC: &str = "QS_STATS_TOPIC";

/// Analytics: consumer group, transactional-id prefix and prefix of the internal topics.
pub const ANALYTICS_APP_ID: &str = "QS_ANALYTICS_APP_ID";
/// Analytics: this instance's name (the pod name on Kubernetes, from the downward API).
pub const INSTANCE_ID: &str = "QS_INSTANCE_ID";
/// Analytics: windows close when stream time passes their end plus this.
pub const GRACE: &str = "QS_GRACE";
/// Analytics: one transaction per interval.
pub const COMMIT_INTERVAL: &str = "QS_COMMIT_INTERVAL";
/// Analytics: most input records in one transaction.
pub const MAX_RECORDS_PER_TRANSACTION: &str = "QS_MAX_RECORDS_PER_TRANSACTION";
/// Analytics: extra librdkafka settings, `KEY=VALUE,...`.
pub const KAFKA_OPTIONS: &str = "QS_KAFKA_OPTIONS";
/// The process's allocator ([`crate::allocator`]). Read by every subcommand when the process
/// starts, before its flags (the allocator serves the first allocation); `quakestream
/// analytics --allocator` checks that the process runs on the one it names.
pub const ALLOCATOR: &str = "QS_ALLOCATOR";

/// `dev`: where the embedded store keeps its data.
pub const DATA_DIR: &str = "QS_DATA_DIR";
/// `dev`: time between two steps of the offline demo feed.
pub const DEMO_PACE: &str = "QS_DEMO_PACE";
/// `dev`: on Ctrl-C, how long storing may make no progress before `dev` gives up.
pub const DRAIN_STALL: &str = "QS_DRAIN_STALL";

/// `cost estimate`: the Terraform folder of the EKS deployment.
pub const COST_TERRAFORM: &str = "QS_COST_TERRAFORM";
/// `cost estimate`: a `terraform.tfvars` file (default: the one in the Terraform folder, if any).
pub const COST_TFVARS: &str = "QS_COST_TFVARS";
/// `cost`: the folder of price tables (one file per region).
pub const COST_PRICES: &str = "QS_COST_PRICES";
/// `cost`: the usage profile and modelling assumptions.
pub const COST_USAGE: &str = "QS_COST_USAGE";
/// `cost estimate`: events ingested per day.
pub const COST_EVENTS_PER_DAY: &str = "QS_COST_EVENTS_PER_DAY";
/// `cost estimate`: page views per day.
pub const COST_PAGE_VIEWS_PER_DAY: &str = "QS_COST_PAGE_VIEWS_PER_DAY";
/// `cost estimate`: browsers with the live map open, on average.
pub const COST_OPEN_BROWSERS: &str = "QS_COST_OPEN_BROWSERS";
/// `cost estimate`: GB of logs per month.
pub const COST_LOG_GB: &str = "QS_COST_LOG_GB";
/// `cost measured`: the `/metrics` URLs of a running instance.
pub const COST_METRICS: &str = "QS_COST_METRICS";
/// `cost measured`: the time between the two scrapes.
pub const COST_OVER: &str = "QS_COST_OVER";

/// Analytics and frontend: the compacted topic of aftershock sequences (`quake-sequences`).
pub const SEQUENCES_TOPIC: &str = "QS_SEQUENCES_TOPIC";

/// Every variable above. A workload flag whose variable is not listed here fails
/// `workloads/cli/tests/contract.rs`.
pub const ALL: &[&str] = &[
    SEQUENCES_TOPIC,
    KAFKA_BOOTSTRAP_SERVERS,
    KAFKA_SECURITY_PROTOCOL,
    KAFKA_CA_FILE,
    KAFKA_CERT_FILE,
    KAFKA_KEY_FILE,
    KAFKA_SASL_USERNAME,
    KAFKA_SASL_PASSWORD_FILE,
    TOPIC,
    DLQ_TOPIC,
    LISTEN,
    LOG,
    EMSC_URL,
    FDSN_URL,
    BACKFILL_LIMIT,
    BACKFILL_MAX_AGE,
    PING_INTERVAL,
    SILENCE_TIMEOUT,
    FEED_SILENCE_TIMEOUT,
    RECONNECT_MIN,
    RECONNECT_MAX,
    REPLAY,
    REPLAY_SPEED,
    GROUP_ID,
    TABLE,
    AWS_REGION,
    DYNAMODB_ENDPOINT,
    RETENTION,
    CREATE_TABLE,
    CONCURRENCY,
    MAX_IN_FLIGHT,
    RETRY_MAX_SECS,
    WINDOW,
    RATE_LIMIT,
    CLIENT_IP_HEADER,
    SSE_HEARTBEAT,
    WRITE_STALL_TIMEOUT,
    TRUSTED_PROXY_HOPS,
    TRUSTED_PROXIES,
    HEADER_READ_TIMEOUT,
    KEEP_ALIVE_TIMEOUT,
    MAX_CONNECTIONS,
    CACHE_BYTES,
    STATS_TOPIC,
    ANALYTICS_APP_ID,
    INSTANCE_ID,
    GRACE,
    COMMIT_INTERVAL,
    MAX_RECORDS_PER_TRANSACTION,
    KAFKA_OPTIONS,
    ALLOCATOR,
    DATA_DIR,
    DEMO_PACE,
    DRAIN_STALL,
    COST_TERRAFORM,
    COST_TFVARS,
    COST_PRICES,
    COST_USAGE,
    COST_EVENTS_PER_DAY,
    COST_PAGE_VIEWS_PER_DAY,
    COST_OPEN_BROWSERS,
    COST_LOG_GB,
    COST_METRICS,
    COST_OVER,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_shaped() {
        let mut seen = std::collections::BTreeSet::new();
        for name in ALL {
            assert!(seen.insert(*name), "{name} listed twice");
            assert!(
                name.starts_with("QS_") || ["KAFKA_BOOTSTRAP_SERVERS", "AWS_REGION"].contains(name),
                "{name}: our own variables start with QS_"
            );
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            );
        }
    }
}
