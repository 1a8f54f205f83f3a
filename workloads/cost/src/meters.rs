//! The metered part of the cost, defined once: which estimate components the workloads' meters
//! replace, and the usage each one is priced on. [`crate::rules`] writes it as PromQL and
//! [`crate::measured`] computes it from two scrapes of `/metrics`, so both price the same thing
//! the same way.

use crate::estimate::BYTES_PER_GB;
use crate::terraform::Deployment;
pub use quakestream_core::meter::{
    EDGE_REQUESTS_METRIC, EDGE_RESPONSE_BYTES_METRIC, KAFKA_BYTES_METRIC, KAFKA_RECORDS_METRIC,
};
pub use quakestream_store::meter::{CAPACITY_UNITS_METRIC, REQUESTS_METRIC};
use serde::Serialize;

/// Metrics of other parts the cost uses.
pub const SSE_CLIENTS_METRIC: &str = "quakestream_frontend_sse_clients";
pub const CONSUMED_METRIC: &str = "quakestream_consumer_consumed_total";
/// The frontend's page: its requests are page views.
pub const PAGE_ROUTE: &str = "/";
/// The live stream: its requests are stream starts, its bytes are streaming.
pub const STREAM_ROUTE: &str = "/api/stream";
/// A write request unit covers up to 1 KB of item: replicated bytes are at most this per unit.
pub const BYTES_PER_WRITE_UNIT: f64 = 1024.0;

/// Usage rates (per hour, or now for gauges) that the metered components are priced on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct UsageRates {
    pub dynamodb_write_units_per_hour: f64,
    pub dynamodb_failed_conditional_writes_per_hour: f64,
    pub dynamodb_read_units_per_hour: f64,
    pub edge_requests_per_hour: f64,
    pub page_views_per_hour: f64,
    pub stream_starts_per_hour: f64,
    pub egress_stream_gb_per_hour: f64,
    pub egress_pages_gb_per_hour: f64,
    pub sse_streams: f64,
    pub events_ingested_per_hour: f64,
    pub kafka_produced_gb_per_hour: f64,
    pub kafka_fetched_gb_per_hour: f64,
}

/// The ALB capacity units these rates use, by dimension (the bill takes the largest).
pub fn lcu_dimensions(r: &UsageRates, header_bytes_per_request: f64) -> [(&'static str, f64); 3] {
    use crate::estimate::{LCU_ACTIVE_CONNECTIONS, LCU_NEW_CONNECTIONS_PER_SECOND, LCU_PROCESSED_GB_PER_HOUR};
    let processed = r.egress_stream_gb_per_hour
        + r.egress_pages_gb_per_hour
        + r.edge_requests_per_hour * header_bytes_per_request / BYTES_PER_GB;
    [
        (
            "new_connections",
            (r.page_views_per_hour + r.stream_starts_per_hour) / 3600.0 / LCU_NEW_CONNECTIONS_PER_SECOND,
        ),
        ("active_connections", r.sse_streams / LCU_ACTIVE_CONNECTIONS),
        ("processed_bytes", processed / LCU_PROCESSED_GB_PER_HOUR),
    ]
}

/// Share of the Kafka bytes that crosses AZs: every produced byte is replicated to the other
/// (RF - 1) brokers; a fetch comes from a leader in another AZ (azs - 1) / azs of the time.
pub fn kafka_crossings(d: &Deployment) -> (f64, f64) {
    let azs = f64::from(d.availability_zones.max(1));
    (
        f64::from(d.kafka_replication_factor.saturating_sub(1)),
        (azs - 1.0) / azs,
    )
}

/// A component of the estimate that the meters measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meter {
    /// Consumed write units, plus failed conditional writes at the one-unit minimum.
    DynamoWrites,
    DynamoReads,
    /// The primary's consumed write units, written again in a replica region.
    ReplicatedWrites,
    /// At most 1 KB per replicated write unit, sent to the replica region.
    ReplicationTraffic,
    /// Response bytes to the internet; `stream` selects the live stream's bytes or the rest.
    Egress {
        stream: bool,
    },
    WafRequests,
    AlbLcu,
    KafkaInterAz,
}

impl Meter {
    /// The meters that replace the estimate component with this `item` key.
    pub fn of_item(item: &str) -> Vec<Meter> {
        match item_kind(item) {
            "dynamodb_writes" => vec![Meter::DynamoWrites],
            "dynamodb_reads" => vec![Meter::DynamoReads],
            "replicated_writes" => vec![Meter::ReplicatedWrites],
            "replication_traffic" => vec![Meter::ReplicationTraffic],
            "internet_egress" => vec![Meter::Egress { stream: false }, Meter::Egress { stream: true }],
            "waf_requests" => vec![Meter::WafRequests],
            "alb_lcu" => vec![Meter::AlbLcu],
            "kafka_inter_az" => vec![Meter::KafkaInterAz],
            _ => vec![],
        }
    }

    /// Extra labels of the cost series this meter makes.
    pub fn labels(self) -> Option<(&'static str, &'static str)> {
        match self {
            Meter::Egress { stream: true } => Some(("traffic", "stream")),
            Meter::Egress { stream: false } => Some(("traffic", "pages")),
            _ => None,
        }
    }

    /// Units of the component's price consumed per hour (LCU: capacity units now).
    pub fn per_hour(self, r: &UsageRates, d: &Deployment, header_bytes_per_request: f64) -> f64 {
        match self {
            Meter::DynamoWrites => r.dynamodb_write_units_per_hour + r.dynamodb_failed_conditional_writes_per_hour,
            Meter::DynamoReads => r.dynamodb_read_units_per_hour,
            Meter::ReplicatedWrites => r.dynamodb_write_units_per_hour,
            Meter::ReplicationTraffic => r.dynamodb_write_units_per_hour * BYTES_PER_WRITE_UNIT / BYTES_PER_GB,
            Meter::Egress { stream: true } => r.egress_stream_gb_per_hour,
            Meter::Egress { stream: false } => r.egress_pages_gb_per_hour,
            Meter::WafRequests => r.edge_requests_per_hour,
            Meter::AlbLcu => lcu_dimensions(r, header_bytes_per_request)
                .iter()
                .map(|(_, x)| *x)
                .fold(0.0, f64::max),
            Meter::KafkaInterAz => {
                let (produced, fetched) = kafka_crossings(d);
                r.kafka_produced_gb_per_hour * produced + r.kafka_fetched_gb_per_hour * fetched
            }
        }
    }

    /// The same in PromQL, over the usage series the rules record (see [`crate::rules`]).
    pub fn promql(self, d: &Deployment) -> String {
        match self {
            Meter::DynamoWrites => {
                "(quakestream:dynamodb_write_units_per_hour + quakestream:dynamodb_failed_conditional_writes_per_hour)"
                    .into()
            }
            Meter::DynamoReads => "quakestream:dynamodb_read_units_per_hour".into(),
            Meter::ReplicatedWrites => "quakestream:dynamodb_write_units_per_hour".into(),
            Meter::ReplicationTraffic => {
                format!("(quakestream:dynamodb_write_units_per_hour * {BYTES_PER_WRITE_UNIT} / {BYTES_PER_GB})")
            }
            Meter::Egress { stream: true } => "quakestream:edge_egress_gb_per_hour{traffic=\"stream\"}".into(),
            Meter::Egress { stream: false } => "quakestream:edge_egress_gb_per_hour{traffic=\"pages\"}".into(),
            Meter::WafRequests => "quakestream:edge_requests_per_hour".into(),
            Meter::AlbLcu => "quakestream:alb_lcu".into(),
            Meter::KafkaInterAz => {
                let (produced, fetched) = kafka_crossings(d);
                format!(
                    "(\n  sum(quakestream:kafka_gb_per_hour{{direction=\"produced\"}}) * {produced}\n  + sum(quakestream:kafka_gb_per_hour{{direction=\"fetched\"}}) * {fetched}\n)"
                )
            }
        }
    }
}

/// Item kinds whose cost scales with page views (marginal cost per page view), besides the
/// egress of pages.
pub const PAGE_VIEW_KINDS: [&str; 2] = ["waf_requests", "dynamodb_reads"];
/// Item kinds whose cost scales with ingested events (marginal cost per event).
pub const INGEST_KINDS: [&str; 4] = [
    "dynamodb_writes",
    "replicated_writes",
    "replication_traffic",
    "kafka_inter_az",
];

/// The kind of an item key: `replicated_writes:eu-central-1` -> `replicated_writes`.
pub fn item_kind(item: &str) -> &str {
    item.split_once(':').map_or(item, |(k, _)| k)
}

/// A PromQL regex matching the items of these kinds.
pub fn item_regex(kinds: &[&str]) -> String {
    format!("({})(:.+)?", kinds.join("|"))
}
