use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry, exponential_buckets};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// The producer's Prometheus metrics (names are a contract with the Grafana dashboards).
#[derive(Clone)]
pub struct ProducerMetrics {
    /// Websocket frames received, by action (`create`, `update`, `unknown`, `invalid`).
    pub frames: IntCounterVec,
    /// Records acknowledged by Kafka, by action and source.
    pub published: IntCounterVec,
    /// Inputs rejected, by reason code.
    pub rejected: IntCounterVec,
    pub dead_lettered: IntCounter,
    /// Rejected inputs over the item limit, dead-lettered as a prefix with length and SHA-256.
    pub dlq_truncated: IntCounter,
    pub unknown_actions: IntCounter,
    pub duplicates: IntCounter,
    pub reconnects: IntCounter,
    /// Connections given up because no data frame came for the feed-silence timeout.
    pub feed_silences: IntCounter,
    pub backfilled: IntCounter,
    pub backfill_requests: IntCounterVec,
    pub publish_errors: IntCounter,
    pub undelivered: IntCounter,
    pub publish_latency: Histogram,
    pub connected: IntGauge,
    pub last_frame_age: IntGauge,
    /// Bytes and records handed to Kafka (`quakestream_kafka_*{component="producer"}`, for the cost rules).
    pub kafka: quakestream_core::meter::KafkaMeter,
    /// When the last frame arrived (ms since epoch; 0 = never), for `last_frame_age`.
    last_frame_ms: Arc<AtomicI64>,
}

impl ProducerMetrics {
    pub fn new(registry: &Registry) -> prometheus::Result<Self> {
        let ns = |name: &str, help: &str| Opts::new(name, help).namespace("quakestream").subsystem("producer");
        let m = ProducerMetrics {
            frames: IntCounterVec::new(ns("frames_total", "Websocket frames received, by action."), &["action"])?,
            published: IntCounterVec::new(
                ns("published_total", "Records acknowledged by Kafka on the quakes topic."),
                &["action", "source"],
            )?,
            rejected: IntCounterVec::new(ns("rejected_total", "Inputs rejected, by reason."), &["reason"])?,
            dead_lettered: IntCounter::with_opts(ns("dlq_total", "Rejected inputs written to the dead-letter topic."))?,
            dlq_truncated: IntCounter::with_opts(ns(
                "dlq_truncated_total",
                "Rejected inputs over the item limit, dead-lettered as a prefix with their length and SHA-256.",
            ))?,
            feed_silences: IntCounter::with_opts(ns(
                "feed_silences_total",
                "Connections replaced because no data frame came for the feed-silence timeout.",
            ))?,
            unknown_actions: IntCounter::with_opts(ns(
                "unknown_actions_total",
                "Frames with an unknown action, skipped.",
            ))?,
            duplicates: IntCounter::with_opts(ns(
                "duplicates_total",
                "Events skipped because that (unid, lastupdate) was already sent.",
            ))?,
            reconnects: IntCounter::with_opts(ns("reconnects_total", "Websocket reconnections."))?,
            backfilled: IntCounter::with_opts(ns("backfilled_total", "Events received from the FDSN backfill."))?,
            backfill_requests: IntCounterVec::new(
                ns("backfill_requests_total", "FDSN backfill page requests, by outcome."),
                &["outcome"],
            )?,
            publish_errors: IntCounter::with_opts(ns("publish_errors_total", "Failed deliveries (retried)."))?,
            undelivered: IntCounter::with_opts(ns(
                "undelivered_total",
                "Records still unacknowledged when shutdown gave up.",
            ))?,
            publish_latency: Histogram::with_opts(
                HistogramOpts::from(ns(
                    "publish_latency_seconds",
                    "Time from handing a record to librdkafka to its acknowledgement.",
                ))
                .buckets(exponential_buckets(0.0005, 2.0, 16)?),
            )?,
            connected: IntGauge::with_opts(ns("connected", "1 while the EMSC websocket is connected."))?,
            last_frame_age: IntGauge::with_opts(ns(
                "last_frame_age_seconds",
                "Seconds since the last websocket frame (-1: none yet).",
            ))?,
            last_frame_ms: Arc::new(AtomicI64::new(0)),
            kafka: quakestream_core::meter::KafkaMeter::new(registry, "producer")?,
        };
        registry.register(Box::new(m.frames.clone()))?;
        registry.register(Box::new(m.published.clone()))?;
        registry.register(Box::new(m.rejected.clone()))?;
        registry.register(Box::new(m.dead_lettered.clone()))?;
        registry.register(Box::new(m.dlq_truncated.clone()))?;
        registry.register(Box::new(m.feed_silences.clone()))?;
        registry.register(Box::new(m.unknown_actions.clone()))?;
        registry.register(Box::new(m.duplicates.clone()))?;
        registry.register(Box::new(m.reconnects.clone()))?;
        registry.register(Box::new(m.backfilled.clone()))?;
        registry.register(Box::new(m.backfill_requests.clone()))?;
        registry.register(Box::new(m.publish_errors.clone()))?;
        registry.register(Box::new(m.undelivered.clone()))?;
        registry.register(Box::new(m.publish_latency.clone()))?;
        registry.register(Box::new(m.connected.clone()))?;
        registry.register(Box::new(m.last_frame_age.clone()))?;
        // Pre-create the common label values so dashboards show zeros, not gaps.
        for a in ["create", "update", "unknown", "invalid"] {
            m.frames.with_label_values(&[a]);
        }
        for r in [
            "bad_json",
            "bad_utf8",
            "too_large",
            "bad_shape",
            "missing_field",
            "bad_unid",
            "out_of_range",
            "bad_time",
            "impossible_time",
            "bad_type",
        ] {
            m.rejected.with_label_values(&[r]);
        }
        for o in ["ok", "error", "too_large"] {
            m.backfill_requests.with_label_values(&[o]);
        }
        m.last_frame_age.set(-1);
        Ok(m)
    }

    pub fn frame_received(&self) {
        self.last_frame_ms
            .store(chrono::Utc::now().timestamp_millis(), Ordering::Relaxed);
    }

    /// Refreshes `last_frame_age_seconds`; called just before each scrape.
    pub fn refresh(&self) {
        let last = self.last_frame_ms.load(Ordering::Relaxed);
        if last > 0 {
            self.last_frame_age
                .set((chrono::Utc::now().timestamp_millis() - last).max(0) / 1000);
        }
    }
}
