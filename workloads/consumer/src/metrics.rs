//! The consumer's Prometheus metrics (`quakestream_consumer_*`).

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

#[derive(Clone)]
pub struct ConsumerMetrics {
    /// Records received from Kafka.
    pub consumed: IntCounter,
    /// Records that became an event's current revision.
    pub written: IntCounter,
    /// Records the store already had (duplicates, replays) or that were older than the stored
    /// revision (kept in the history only).
    pub stale: IntCounter,
    /// Records sent to the dead-letter topic, by reason.
    pub dlq: IntCounterVec,
    /// Failed store or DLQ attempts that will be retried, by error kind.
    pub retries: IntCounterVec,
    /// Latency of one successful conditional upsert.
    pub write_latency: Histogram,
    /// Records in each partition not yet committed: high watermark - committable offset.
    pub lag: IntGaugeVec,
    /// Records accepted from Kafka and not yet written.
    pub in_flight: IntGauge,
    /// 1 while consumption is paused because the store is failing.
    pub paused: IntGauge,
    /// Bytes and records fetched from Kafka (`quakestream_kafka_*{component="consumer"}`, for the cost rules).
    pub kafka: quakestream_core::meter::KafkaMeter,
}

impl ConsumerMetrics {
    pub fn new(registry: &Registry) -> prometheus::Result<ConsumerMetrics> {
        let m = ConsumerMetrics {
            consumed: IntCounter::new("quakestream_consumer_consumed_total", "Records received from Kafka.")?,
            written: IntCounter::new(
                "quakestream_consumer_written_total",
                "Records written to the store as the event's current revision.",
            )?,
            stale: IntCounter::new(
                "quakestream_consumer_stale_total",
                "Records not applied because the store had this or a newer revision (duplicates, replays, late revisions).",
            )?,
            dlq: IntCounterVec::new(
                Opts::new(
                    "quakestream_consumer_dlq_total",
                    "Records sent to the dead-letter topic, by reason.",
                ),
                &["reason"],
            )?,
            retries: IntCounterVec::new(
                Opts::new(
                    "quakestream_consumer_retries_total",
                    "Failed store or dead-letter attempts that are retried, by error.",
                ),
                &["error"],
            )?,
            write_latency: Histogram::with_opts(
                HistogramOpts::new(
                    "quakestream_consumer_write_duration_seconds",
                    "Latency of one successful conditional upsert to the store.",
                )
                .buckets(vec![
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ]),
            )?,
            lag: IntGaugeVec::new(
                Opts::new(
                    "quakestream_consumer_lag_messages",
                    "Records in the partition not yet committed (high watermark minus committable offset).",
                ),
                &["topic", "partition"],
            )?,
            in_flight: IntGauge::new(
                "quakestream_consumer_in_flight",
                "Records accepted from Kafka and not yet done.",
            )?,
            paused: IntGauge::new(
                "quakestream_consumer_paused",
                "1 while consumption is paused because the store is failing, else 0.",
            )?,
            kafka: quakestream_core::meter::KafkaMeter::new(registry, "consumer")?,
        };
        registry.register(Box::new(m.consumed.clone()))?;
        registry.register(Box::new(m.written.clone()))?;
        registry.register(Box::new(m.stale.clone()))?;
        registry.register(Box::new(m.dlq.clone()))?;
        registry.register(Box::new(m.retries.clone()))?;
        registry.register(Box::new(m.write_latency.clone()))?;
        registry.register(Box::new(m.lag.clone()))?;
        registry.register(Box::new(m.in_flight.clone()))?;
        registry.register(Box::new(m.paused.clone()))?;
        // Known label values start at zero, so dashboards show zeros rather than gaps.
        for reason in [
            "bad_json",
            "unsupported_version",
            "empty",
            "key_mismatch",
            "missing_field",
            "bad_unid",
            "out_of_range",
            "bad_time",
            "bad_type",
            "rejected",
            "malformed",
        ] {
            m.dlq.with_label_values(&[reason]);
        }
        for error in [
            "throttled",
            "unavailable",
            "timeout",
            "connection",
            "table_not_found",
            "access_denied",
            "other",
            "dlq",
        ] {
            m.retries.with_label_values(&[error]);
        }
        Ok(m)
    }

    /// Total lag over every partition.
    pub fn total_lag(&self) -> i64 {
        use prometheus::core::Collector;
        self.lag
            .collect()
            .iter()
            .flat_map(|mf| mf.get_metric().iter().map(|m| m.get_gauge().get_value() as i64))
            .sum()
    }
}
