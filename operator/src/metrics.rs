//! Operator metrics (Prometheus text format on `/metrics`).

use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry, TextEncoder};

/// Reconcile counters and timings.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Reconciles started.
    pub reconciles: IntCounter,
    /// Failed reconciles by error label ([`crate::controller::Error::metric_label`]).
    pub failures: IntCounterVec,
    /// Reconcile duration by outcome (`ok` or `error`).
    pub duration: HistogramVec,
    /// Start-ups that could not apply the CRD.
    pub crd_failures: IntCounter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Fresh metrics in their own registry.
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("quakestream_operator".to_owned()), None)
            .expect("the prefix is a valid metric name");
        let reconciles = IntCounter::new("reconciles_total", "Reconciles started").expect("valid metric");
        let failures = IntCounterVec::new(
            Opts::new("reconcile_failures_total", "Failed reconciles by error"),
            &["error"],
        )
        .expect("valid metric");
        let duration = HistogramVec::new(
            HistogramOpts::new("reconcile_duration_seconds", "Duration of reconciles")
                .buckets(vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            &["outcome"],
        )
        .expect("valid metric");
        let crd_failures = IntCounter::new(
            "crd_apply_failures_total",
            "Start-ups that could not apply the QuakeStream CRD",
        )
        .expect("valid metric");
        for c in [
            Box::new(reconciles.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(failures.clone()),
            Box::new(duration.clone()),
            Box::new(crd_failures.clone()),
        ] {
            registry.register(c).expect("metric registered once");
        }
        Self {
            registry,
            reconciles,
            failures,
            duration,
            crd_failures,
        }
    }

    /// The registry in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding into memory");
        String::from_utf8(buf).expect("the text format is UTF-8")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposes_counters_with_prefix() {
        let m = Metrics::new();
        m.reconciles.inc();
        m.failures.with_label_values(&["invalid_spec"]).inc();
        m.duration.with_label_values(&["ok"]).observe(0.02);
        m.crd_failures.inc();
        let text = m.render();
        assert!(text.contains("quakestream_operator_reconciles_total 1"), "{text}");
        assert!(
            text.contains("quakestream_operator_reconcile_failures_total{error=\"invalid_spec\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("quakestream_operator_reconcile_duration_seconds_count{outcome=\"ok\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("quakestream_operator_crd_apply_failures_total 1"),
            "{text}"
        );
    }
}
