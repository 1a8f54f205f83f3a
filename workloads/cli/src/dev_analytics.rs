//! The analytics in `quakestream dev`: its topics on the embedded broker, and the engine in
//! process (same registry as the rest of `dev`, so `/metrics` shows `quakestream_analytics_*`).
//! Stop it (through the shutdown channel) and await [`DevAnalytics::stop`] before the broker goes.

use anyhow::Context;
use quakestream_analytics::{AnalyticsConfig, AnalyticsMetrics, AnalyticsReport};
use quakestream_core::kafka::EmbeddedBroker;
use quakestream_core::ops::Health;
use tokio::sync::watch;
use tracing::{info, warn};

/// The instance id of the one analytics member in `dev` (its transactional id is
/// `quakestream-analytics-dev`).
const INSTANCE_ID: &str = "dev";

/// A running analytics engine.
pub struct DevAnalytics {
    task: tokio::task::JoinHandle<Result<AnalyticsReport, quakestream_analytics::AnalyticsError>>,
}

/// Creates the analytics' topics for an input of `partitions` partitions (changelogs
/// co-partitioned with it) and starts the engine; it stops when `stop` turns `true`.
pub fn start_analytics(
    broker: &EmbeddedBroker,
    input_topic: &str,
    dlq_topic: &str,
    partitions: i32,
    registry: &prometheus::Registry,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<DevAnalytics> {
    let mut cfg = AnalyticsConfig::new(broker.bootstrap_servers(), input_topic);
    cfg.dlq_topic = dlq_topic.to_owned();
    cfg.instance_id = INSTANCE_ID.to_owned();
    for t in cfg.topics(partitions) {
        broker
            .create_topic(&t.name, t.partitions)
            .with_context(|| format!("creating the analytics topic {}", t.name))?;
    }
    let metrics = AnalyticsMetrics::new(registry).context("analytics metrics")?;
    // Its readiness is its own: the map is ready without it, and fills in as it catches up.
    let task = tokio::spawn(quakestream_analytics::run(cfg, metrics, Health::new(), stop));
    Ok(DevAnalytics { task })
}

impl DevAnalytics {
    /// Waits for the engine to finish (after the shutdown channel turned `true`): it commits its
    /// open transaction and leaves the group, which needs the broker.
    pub async fn stop(self) {
        match self.task.await {
            Ok(Ok(r)) => info!(
                input = r.input_records,
                transactions = r.transactions,
                dlq = r.dead_lettered,
                "analytics stopped"
            ),
            Ok(Err(e)) => warn!(error = %e, "analytics stopped with an error"),
            Err(e) => warn!(error = %e, "analytics task failed"),
        }
    }
}
