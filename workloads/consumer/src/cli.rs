//! `quakestream consumer` flags (every flag also reads the environment variable in brackets)
//! and the process around [`crate::run`]: logs, `/metrics`, `/healthz`, `/readyz`, signals.

use crate::{ConsumerConfig, ConsumerMetrics};
use anyhow::Context;
use clap::Args;
use quakestream_contract::{self as contract, consumer as defaults, env};
use quakestream_core::args::KafkaArgs;
use quakestream_core::ops::{self, Health, OpsState};
use quakestream_store::cli::DynamoArgs;
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Args, Debug, Clone)]
pub struct ConsumerArgs {
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// Kafka consumer group.
    #[arg(long, env = env::GROUP_ID, default_value = contract::names::DEFAULT_GROUP_ID)]
    pub group_id: String,
    #[command(flatten)]
    pub dynamo: DynamoArgs,
    /// Create the table first if it does not exist (for local runs; on AWS Terraform owns it).
    #[arg(long, env = env::CREATE_TABLE)]
    pub create_table: bool,
    /// Parallel conditional writes (records of one event are always written in order).
    #[arg(long, env = env::CONCURRENCY, default_value_t = defaults::DEFAULT_CONCURRENCY,
        value_parser = clap::value_parser!(u32).range(defaults::CONCURRENCY.bounds()))]
    pub concurrency: u32,
    /// Records read ahead of the writes, at most.
    #[arg(long, env = env::MAX_IN_FLIGHT, default_value_t = defaults::DEFAULT_MAX_IN_FLIGHT,
        value_parser = clap::value_parser!(u32).range(defaults::MAX_IN_FLIGHT.bounds()))]
    pub max_in_flight: u32,
    /// Longest backoff between store retries, in seconds.
    #[arg(long, env = env::RETRY_MAX_SECS, default_value_t = defaults::DEFAULT_RETRY_MAX_SECS,
        value_parser = clap::value_parser!(u64).range(defaults::RETRY_MAX_SECS.bounds_u64()))]
    pub retry_max_secs: u64,
    /// Address for /metrics, /healthz and /readyz.
    #[arg(long, env = env::LISTEN, default_value = defaults::DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// Log filter (tracing EnvFilter syntax); logs are JSON lines on stdout.
    #[arg(long = "log", env = env::LOG, default_value = contract::DEFAULT_LOG)]
    pub log: String,
}

impl ConsumerArgs {
    pub fn consumer_config(&self) -> anyhow::Result<ConsumerConfig> {
        let mut c = ConsumerConfig::new(
            &self.kafka.bootstrap_servers,
            &self.kafka.topic,
            &self.kafka.dlq_topic,
            &self.group_id,
        );
        c.concurrency = self.concurrency as usize;
        c.max_in_flight = self.max_in_flight as usize;
        c.retry_max = Duration::from_secs(self.retry_max_secs.max(1));
        c.kafka_security = self.kafka.security().context("Kafka security")?;
        Ok(c)
    }
}

/// `quakestream consumer`: runs until SIGINT/SIGTERM.
pub async fn run(args: ConsumerArgs) -> anyhow::Result<()> {
    ops::init_logging(&args.log);
    let cfg = args.consumer_config()?;
    let registry = prometheus::Registry::new();
    let metrics = ConsumerMetrics::new(&registry).context("registering metrics")?;
    let dynamo_meter = quakestream_store::DynamoMeter::new(&registry).context("registering the DynamoDB meter")?;
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
    let store = args.dynamo.connect().await?.with_meter(dynamo_meter);
    if args.create_table {
        store
            .create_table()
            .await
            .with_context(|| format!("creating table {}", store.table()))?;
    }
    // Readiness follows the broker and the table (checked every few seconds).
    let kafka =
        ops::kafka_check(&cfg.bootstrap_servers, &cfg.topic, &cfg.kafka_security).context("Kafka readiness client")?;
    ops::watch_dependency(
        health.dependency("kafka"),
        ops::DEPENDENCY_CHECK_INTERVAL,
        kafka,
        stop_rx.clone(),
    );
    let probed = store.clone();
    let dynamodb = move || {
        let s = probed.clone();
        async move { s.probe().await.map_err(|e| e.to_string()) }
    };
    ops::watch_dependency(
        health.dependency("dynamodb"),
        ops::DEPENDENCY_CHECK_INTERVAL,
        dynamodb,
        stop_rx.clone(),
    );
    tracing::info!(listen = %addr, bootstrap = %args.kafka.bootstrap_servers, topic = %args.kafka.topic, table = %store.table(),
        endpoint = ?args.dynamo.dynamodb_endpoint, "consumer starting");
    let report = crate::run(cfg, store, metrics, health, stop_rx).await?;
    tracing::info!(
        consumed = report.consumed,
        written = report.written,
        stale = report.stale,
        dead_lettered = report.dead_lettered,
        abandoned = report.abandoned,
        "consumer finished"
    );
    let _ = stop_tx.send(true);
    let _ = server.await;
    Ok(())
}
