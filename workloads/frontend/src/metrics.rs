//! `quakestream_frontend_*` metrics.

use crate::cache::CacheMetrics;
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry, exponential_buckets,
};

#[derive(Clone)]
pub struct FrontendMetrics {
    pub requests: IntCounterVec,
    pub latency: HistogramVec,
    pub sse_clients: IntGauge,
    pub sse_dropped: IntCounterVec,
    pub write_stalls: IntCounter,
    pub index_events: IntGauge,
    pub records: IntCounterVec,
    pub rate_limited: prometheus::IntCounter,
    pub push_delay: Histogram,
    pub store_queries: IntCounterVec,
    /// Bytes and records fetched by the Kafka tail (`quakestream_kafka_*{component="frontend"}`, for the cost rules).
    pub kafka: quakestream_core::meter::KafkaMeter,
    pub cache: CacheMetrics,
    pub connections: IntGauge,
    /// `reason`: header_timeout, idle_timeout, over_capacity, bad_request.
    pub connections_closed: IntCounterVec,
}

impl FrontendMetrics {
    pub fn new(registry: &Registry) -> prometheus::Result<Self> {
        let requests = IntCounterVec::new(
            Opts::new(
                "quakestream_frontend_http_requests_total",
                "HTTP requests by route and status code",
            ),
            &["route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "quakestream_frontend_http_request_duration_seconds",
                "Time to the response head, by route (for /api/stream: to the start of the stream)",
            )
            .buckets(exponential_buckets(0.0001, 2.5, 14)?),
            &["route"],
        )?;
        let sse_clients = IntGauge::new("quakestream_frontend_sse_clients", "Open Server-Sent Events streams")?;
        let sse_dropped = IntCounterVec::new(
            Opts::new(
                "quakestream_frontend_sse_dropped_total",
                "SSE streams ended by the server, by reason",
            ),
            &["reason"],
        )?;
        let index_events = IntGauge::new(
            "quakestream_frontend_index_events",
            "Events held in the in-memory window",
        )?;
        let records = IntCounterVec::new(
            Opts::new(
                "quakestream_frontend_records_total",
                "Records merged into the index, by origin (kafka, store) and outcome",
            ),
            &["origin", "outcome"],
        )?;
        let rate_limited =
            prometheus::IntCounter::new("quakestream_frontend_rate_limited_total", "Requests refused with 429")?;
        let push_delay = Histogram::with_opts(
            HistogramOpts::new(
                "quakestream_frontend_push_delay_seconds",
                "From the producer receiving an event to this replica publishing it to SSE clients",
            )
            .buckets(exponential_buckets(0.001, 3.0, 12)?),
        )?;
        let write_stalls = IntCounter::new(
            "quakestream_frontend_write_stalls_total",
            "Connections closed because the client stopped reading (no write progress for the stall timeout)",
        )?;
        let store_queries = IntCounterVec::new(
            Opts::new(
                "quakestream_frontend_store_queries_total",
                "DynamoDB requests (every Query page, GetItem and DescribeTable), by kind (warmup, window, get, probe) and outcome",
            ),
            &["kind", "outcome"],
        )?;
        let cache = CacheMetrics {
            bytes: IntGauge::new(
                "quakestream_frontend_response_cache_bytes",
                "Bytes held by the /api/quakes response cache (bodies, gzip copies, keys, overhead)",
            )?,
            entries: IntGauge::new(
                "quakestream_frontend_response_cache_entries",
                "Entries in the /api/quakes response cache",
            )?,
            events: IntCounterVec::new(
                Opts::new(
                    "quakestream_frontend_response_cache_total",
                    "Response cache lookups and removals, by outcome (hit, miss, evicted, too_large)",
                ),
                &["outcome"],
            )?,
        };
        let connections = IntGauge::new("quakestream_frontend_connections", "Open HTTP connections")?;
        let connections_closed = IntCounterVec::new(
            Opts::new(
                "quakestream_frontend_connections_closed_total",
                "Connections the server closed or refused, by reason (header_timeout, idle_timeout, over_capacity, bad_request)",
            ),
            &["reason"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(sse_clients.clone()))?;
        registry.register(Box::new(sse_dropped.clone()))?;
        registry.register(Box::new(write_stalls.clone()))?;
        registry.register(Box::new(index_events.clone()))?;
        registry.register(Box::new(records.clone()))?;
        registry.register(Box::new(rate_limited.clone()))?;
        registry.register(Box::new(push_delay.clone()))?;
        registry.register(Box::new(store_queries.clone()))?;
        registry.register(Box::new(cache.bytes.clone()))?;
        registry.register(Box::new(cache.entries.clone()))?;
        registry.register(Box::new(cache.events.clone()))?;
        registry.register(Box::new(connections.clone()))?;
        registry.register(Box::new(connections_closed.clone()))?;
        // Start known label values at zero, so dashboards show zeros rather than gaps.
        sse_dropped.with_label_values(&["lagged"]);
        for o in ["hit", "miss", "evicted", "too_large"] {
            cache.events.with_label_values(&[o]);
        }
        for r in ["header_timeout", "idle_timeout", "over_capacity", "bad_request"] {
            connections_closed.with_label_values(&[r]);
        }
        Ok(FrontendMetrics {
            requests,
            latency,
            sse_clients,
            sse_dropped,
            write_stalls,
            index_events,
            records,
            rate_limited,
            push_delay,
            store_queries,
            kafka: quakestream_core::meter::KafkaMeter::new(registry, "frontend")?,
            cache,
            connections,
            connections_closed,
        })
    }
}
