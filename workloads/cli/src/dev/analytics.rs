//! The analytics in `quakestream dev`: its topics on the embedded broker, and the engine in
//! process (same registry as the rest of `dev`, so `/metrics` shows `quakestream_analytics_*`).
//! It is one more step of the ordered shutdown: it commits its open transaction and leaves the
//! group, which needs the broker, so it stops with the other broker clients.

use super::shutdown::Component;
use anyhow::Context;
use quakestream_analytics::{AnalyticsConfig, AnalyticsMetrics};
use quakestream_core::kafka::EmbeddedBroker;
use quakestream_core::ops::Health;
use std::time::Duration;
use tracing::info;

/// The instance id of the one analytics member in `dev` (its transactional id is
/// `quakestream-analytics-dev`).
const INSTANCE_ID: &str = "dev";
/// How long the analytics may take to commit its open transaction and leave the group.
const STOP_BOUND: Duration = Duration::from_secs(30);

/// Creates the analytics' topics for an input of `partitions` partitions (changelogs
/// co-partitioned with it) and starts the engine. Its readiness is its own: the map is ready
/// without it, and the statistics fill in as it catches up.
pub(super) fn start(
    broker: &EmbeddedBroker,
    input_topic: &str,
    dlq_topic: &str,
    partitions: i32,
    registry: &prometheus::Registry,
) -> anyhow::Result<Component> {
    let mut cfg = AnalyticsConfig::new(broker.bootstrap_servers(), input_topic);
    cfg.dlq_topic = dlq_topic.to_owned();
    cfg.instance_id = INSTANCE_ID.to_owned();
    for t in cfg.topics(partitions) {
        broker
            .create_topic(&t.name, t.partitions)
            .with_context(|| format!("creating the analytics topic {}", t.name))?;
    }
    let metrics = AnalyticsMetrics::new(registry).context("analytics metrics")?;
    Ok(Component::spawn("the analytics", STOP_BOUND, move |stop| async move {
        let r = quakestream_analytics::run(cfg, metrics, Health::new(), stop).await?;
        info!(
            input = r.input_records,
            transactions = r.transactions,
            dlq = r.dead_lettered,
            "analytics stopped"
        );
        Ok(())
    }))
}
