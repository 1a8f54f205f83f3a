//! `quakestream analytics` flags (every flag also reads the environment variable in brackets)
//! and the process around [`crate::run`]: logs, `/metrics`, `/healthz`, `/readyz`, signals.

use crate::{AnalyticsConfig, AnalyticsMetrics};
use anyhow::Context;
use clap::Args;
use clap::builder::TypedValueParser;
use quakestream_contract::analytics as defaults;
use quakestream_contract::env;
use quakestream_core::alloc::{self, Allocator};
use quakestream_core::args::KafkaArgs;
use quakestream_core::ops::{self, Health, OpsState};
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Args, Debug, Clone)]
pub struct AnalyticsArgs {
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// Output topic of the windowed statistics (compacted; key = window key).
    #[arg(long, env = env::STATS_TOPIC, default_value = defaults::DEFAULT_STATS_TOPIC)]
    pub stats_topic: String,
    /// Output topic of the aftershock sequences (compacted; key = sequence id).
    #[arg(long, env = env::SEQUENCES_TOPIC, default_value = crate::sequences::DEFAULT_SEQUENCES_TOPIC)]
    pub sequences_topic: String,
    /// Consumer group, transactional-id prefix and prefix of the internal topics
    /// (`{id}-events-changelog`, `{id}-stats-repartition`, `{id}-stats-changelog`).
    #[arg(long, env = env::ANALYTICS_APP_ID, default_value = defaults::DEFAULT_APP_ID)]
    pub app_id: String,
    /// This instance's name (its transactional id is `{app-id}-{instance-id}`); default: $HOSTNAME.
    #[arg(long, env = env::INSTANCE_ID)]
    pub instance_id: Option<String>,
    /// Windows close when stream time passes their end plus this; later revisions become corrections.
    #[arg(long, env = env::GRACE, default_value = defaults::DEFAULT_GRACE, value_parser = defaults::GRACE.parser())]
    pub grace: Duration,
    /// How long windows and events are kept behind stream time (older revisions are dead-lettered).
    #[arg(long, env = env::RETENTION, default_value = defaults::DEFAULT_RETENTION, value_parser = defaults::RETENTION.parser())]
    pub retention: Duration,
    /// One transaction, and at most one update per changed window, per interval.
    #[arg(long, env = env::COMMIT_INTERVAL, default_value = defaults::DEFAULT_COMMIT_INTERVAL,
        value_parser = defaults::COMMIT_INTERVAL.parser())]
    pub commit_interval: Duration,
    /// Most input records in one transaction.
    #[arg(long, env = env::MAX_RECORDS_PER_TRANSACTION, default_value_t = crate::config::MAX_RECORDS_PER_TRANSACTION,
        value_parser = clap::value_parser!(u32).range(defaults::MAX_RECORDS_PER_TRANSACTION.bounds()).map(|v| v as usize))]
    pub max_records_per_transaction: usize,
    /// Extra librdkafka settings for every client, KEY=VALUE (repeatable; comma-separated in the
    /// environment), e.g. `session.timeout.ms=10000`.
    #[arg(long = "kafka-option", env = env::KAFKA_OPTIONS, value_delimiter = ',', value_parser = parse_kv)]
    pub kafka_options: Vec<(String, String)>,
    /// The allocator this process must run on (system or mimalloc). The process chooses it from
    /// the environment variable when it starts, before it reads its flags, so set that; the flag
    /// only refuses to start on another one.
    #[arg(long, env = env::ALLOCATOR, default_value = defaults::DEFAULT_ALLOCATOR,
        value_parser = clap::builder::PossibleValuesParser::new(quakestream_contract::allocator::ALL))]
    pub allocator: String,
    /// Address for /metrics, /healthz and /readyz.
    #[arg(long, env = env::LISTEN, default_value = defaults::DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// Log filter (tracing EnvFilter syntax); logs are JSON lines on stdout.
    #[arg(long = "log", env = env::LOG, default_value = quakestream_contract::DEFAULT_LOG)]
    pub log: String,
}

impl AnalyticsArgs {
    pub fn config(&self) -> anyhow::Result<AnalyticsConfig> {
        let mut c = AnalyticsConfig::new(&self.kafka.bootstrap_servers, &self.kafka.topic);
        c.dlq_topic = self.kafka.dlq_topic.clone();
        c.stats_topic = self.stats_topic.clone();
        c.sequences_topic = self.sequences_topic.clone();
        c.app_id = self.app_id.clone();
        if let Some(id) = &self.instance_id {
            c.instance_id = id.clone();
        }
        c.grace = self.grace;
        c.retention = self.retention;
        c.commit_interval = self.commit_interval;
        c.kafka_overrides = self.kafka_options.clone();
        c.max_records_per_transaction = self.max_records_per_transaction;
        c.kafka_security = self.kafka.security().context("Kafka security")?;
        Ok(c)
    }
}

/// The process's allocator when it is the one `--allocator` names, else why not.
fn check_allocator(wanted: &str, active: Allocator) -> anyhow::Result<&'static str> {
    if wanted == active.as_str() {
        return Ok(active.as_str());
    }
    anyhow::bail!(
        "--allocator {wanted}, but this process runs on {}: the allocator is chosen when the process \
         starts, from {} in its environment (set {}={wanted})",
        active.as_str(),
        env::ALLOCATOR,
        env::ALLOCATOR
    )
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.trim().to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

/// `quakestream analytics`: runs until SIGINT/SIGTERM (then commits and exits).
pub async fn run(args: AnalyticsArgs) -> anyhow::Result<()> {
    ops::init_logging(&args.log);
    let allocator = check_allocator(&args.allocator, alloc::active())?;
    let cfg = args.config()?;
    cfg.validate()?;
    let registry = prometheus::Registry::new();
    let metrics = AnalyticsMetrics::new(&registry).context("registering metrics")?;
    let health = Health::new();
    let (stop_tx, stop_rx) = ops::shutdown_channel();
    ops::trigger_on_signal(stop_tx.clone());
    let state = OpsState {
        registry,
        health: health.clone(),
        on_scrape: vec![],
    };
    let (addr, server) = ops::serve(args.listen, ops::ops_router(state), stop_rx.clone())
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    tracing::info!(listen = %addr, bootstrap = %cfg.bootstrap_servers, topic = %cfg.input_topic,
        stats_topic = %cfg.stats_topic, grace = %crate::config::show(cfg.grace),
        instance = %cfg.instance_id, allocator, "analytics starting");
    let result = crate::run(cfg, metrics, health, stop_rx).await;
    let _ = stop_tx.send(true);
    let _ = server.await;
    let report = result.map_err(|e| anyhow::anyhow!("{e} ({})", e.code()))?;
    tracing::info!(
        input = report.input_records,
        restored = report.restored_records,
        transactions = report.transactions,
        dead_lettered = report.dead_lettered,
        "analytics finished"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_allocator_flag_accepts_the_one_the_process_runs_on_and_says_how_to_get_another() {
        assert_eq!(check_allocator("mimalloc", Allocator::Mimalloc).unwrap(), "mimalloc");
        assert_eq!(check_allocator("system", Allocator::System).unwrap(), "system");
        let e = check_allocator("mimalloc", Allocator::System).unwrap_err().to_string();
        assert!(
            e.contains("runs on system") && e.contains("set QS_ALLOCATOR=mimalloc"),
            "{e}"
        );
    }
}
