//! The analytics' Prometheus metrics (`quakestream_analytics_*`).

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

#[derive(Clone)]
pub struct AnalyticsMetrics {
    /// Records consumed, by topic role (`input`, `repartition`) and outcome.
    pub records: IntCounterVec,
    /// Records restored from changelogs, by store (`events`, `stats`).
    pub restored: IntCounterVec,
    /// Seconds the last restore of a partition took, and the total so far.
    pub restore_seconds: Histogram,
    /// Transactions, by outcome (`commit`, `abort`).
    pub transactions: IntCounterVec,
    /// Latency of one transaction: from building it to the broker's commit (it is sent while the
    /// engine handles the next interval).
    pub commit_seconds: Histogram,
    /// Stats records emitted, by kind (`update`, `final`, `correction`).
    pub emitted: IntCounterVec,
    /// Corrections: a window changed after its final result (a revision after close).
    pub late_corrections: IntCounter,
    /// Input records whose windows are beyond retention (dead-lettered), and partials for
    /// dropped panes.
    pub expired: IntCounter,
    /// Records sent to the dead-letter topic, by reason.
    pub dlq: IntCounterVec,
    /// Windows with data not yet closed.
    pub windows_open: IntGauge,
    /// Entries held in memory, by store (`events`, `stats_panes`, `stats_windows`).
    pub state_entries: IntGaugeVec,
    /// Partitions assigned, by topic role.
    pub assigned: IntGaugeVec,
    /// Largest stream time (origin time, s since the epoch) of the assigned input partitions.
    pub stream_time: IntGauge,
}

impl AnalyticsMetrics {
    pub fn new(registry: &Registry) -> prometheus::Result<AnalyticsMetrics> {
        let m = AnalyticsMetrics {
            records: IntCounterVec::new(
                Opts::new(
                    "quakestream_analytics_records_total",
                    "Records consumed, by topic role and outcome.",
                ),
                &["topic", "outcome"],
            )?,
            restored: IntCounterVec::new(
                Opts::new(
                    "quakestream_analytics_restored_records_total",
                    "Changelog records read while restoring state, by store.",
                ),
                &["store"],
            )?,
            restore_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    "quakestream_analytics_restore_duration_seconds",
                    "Time to restore the state of the partitions assigned at once from one changelog.",
                )
                .buckets(vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0]),
            )?,
            transactions: IntCounterVec::new(
                Opts::new(
                    "quakestream_analytics_transactions_total",
                    "Kafka transactions, by outcome.",
                ),
                &["outcome"],
            )?,
            commit_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    "quakestream_analytics_commit_duration_seconds",
                    "Latency of one transaction, from building it (outputs, changelogs, offsets) to the broker's commit; sent while the engine handles the next interval.",
                )
                .buckets(vec![
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ]),
            )?,
            emitted: IntCounterVec::new(
                Opts::new("quakestream_analytics_emitted_total", "Stats records written, by kind."),
                &["kind"],
            )?,
            late_corrections: IntCounter::new(
                "quakestream_analytics_late_corrections_total",
                "Corrections written because a window changed after its final result.",
            )?,
            expired: IntCounter::new(
                "quakestream_analytics_expired_total",
                "Records for windows beyond retention (input records are also dead-lettered).",
            )?,
            dlq: IntCounterVec::new(
                Opts::new(
                    "quakestream_analytics_dlq_total",
                    "Records sent to the dead-letter topic, by reason.",
                ),
                &["reason"],
            )?,
            windows_open: IntGauge::new(
                "quakestream_analytics_windows_open",
                "Windows with data not yet closed.",
            )?,
            state_entries: IntGaugeVec::new(
                Opts::new(
                    "quakestream_analytics_state_entries",
                    "Entries held in memory, by store.",
                ),
                &["store"],
            )?,
            assigned: IntGaugeVec::new(
                Opts::new(
                    "quakestream_analytics_assigned_partitions",
                    "Partitions assigned, by topic role.",
                ),
                &["topic"],
            )?,
            stream_time: IntGauge::new(
                "quakestream_analytics_stream_time_seconds",
                "Largest stream time (origin time, Unix seconds) of the assigned input partitions.",
            )?,
        };
        registry.register(Box::new(m.records.clone()))?;
        registry.register(Box::new(m.restored.clone()))?;
        registry.register(Box::new(m.restore_seconds.clone()))?;
        registry.register(Box::new(m.transactions.clone()))?;
        registry.register(Box::new(m.commit_seconds.clone()))?;
        registry.register(Box::new(m.emitted.clone()))?;
        registry.register(Box::new(m.late_corrections.clone()))?;
        registry.register(Box::new(m.expired.clone()))?;
        registry.register(Box::new(m.dlq.clone()))?;
        registry.register(Box::new(m.windows_open.clone()))?;
        registry.register(Box::new(m.state_entries.clone()))?;
        registry.register(Box::new(m.assigned.clone()))?;
        registry.register(Box::new(m.stream_time.clone()))?;
        for (t, o) in [
            ("input", "applied"),
            ("input", "stale"),
            ("input", "expired"),
            ("input", "dlq"),
            ("repartition", "applied"),
            ("repartition", "dlq"),
        ] {
            m.records.with_label_values(&[t, o]);
        }
        for s in ["events", "stats"] {
            m.restored.with_label_values(&[s]);
        }
        for o in ["commit", "abort"] {
            m.transactions.with_label_values(&[o]);
        }
        for k in ["update", "final", "correction"] {
            m.emitted.with_label_values(&[k]);
        }
        for s in ["events", "stats_panes", "stats_windows"] {
            m.state_entries.with_label_values(&[s]);
        }
        for t in ["input", "repartition"] {
            m.assigned.with_label_values(&[t]);
        }
        // Exported from the start (dashboards and alerts see 0, not an absent series).
        for r in ["beyond_retention", crate::processor::TaskError::BAD_INTERNAL_RECORD] {
            m.dlq.with_label_values(&[r]);
        }
        Ok(m)
    }

    /// Records consumed from the input topic (every outcome).
    pub fn input_records(&self) -> u64 {
        ["applied", "stale", "expired", "dlq"]
            .iter()
            .map(|o| self.records.with_label_values(&["input", o]).get())
            .sum()
    }
}
