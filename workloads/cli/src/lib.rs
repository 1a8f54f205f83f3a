//! The `quakestream` command line. Every flag can also be set by the environment variable named
//! in its help, so a Kubernetes ConfigMap can configure a workload.

mod dev;

use quakestream_core::args::KafkaArgs;
use quakestream_core::ops::{self, Health, OpsState};
use quakestream_producer::{self as producer, PipelineConfig, ProducerMetrics, SourceConfig, live::LiveConfig, replay};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use quakestream_contract::{self as contract, env, producer as defaults};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "quakestream",
    version,
    about = "Real-time earthquakes: EMSC feed → Kafka → DynamoDB → live map"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the whole pipeline on this machine: embedded broker and store, feed, map.
    Dev(dev::DevArgs),
    /// Stream the EMSC feed (or replay a file) into Kafka.
    Producer(ProducerArgs),
    /// Parse a file (EMSC frames, FDSN JSON, USGS GeoJSON, JSON lines) and print its wire records.
    Inspect(InspectArgs),
    /// Consume the topic into DynamoDB (conditional upserts, revision history, DLQ).
    Consumer(quakestream_consumer::cli::ConsumerArgs),
    /// Windowed statistics over the topic into `quake-stats`, exactly once (Kafka transactions).
    Analytics(quakestream_analytics::cli::AnalyticsArgs),
    /// Serve the live map, the HTTP API and the SSE stream (tails Kafka, warms up from DynamoDB).
    Frontend(quakestream_frontend::FrontendArgs),
    /// Manage the DynamoDB table (`table create`: idempotent).
    #[command(subcommand)]
    Table(quakestream_store::cli::TableCommand),
    /// What QuakeStream costs on AWS: `cost estimate` (from the EKS Terraform), `cost measured`
    /// (from a running instance's /metrics), `cost rules`/`cost generate` (the Prometheus rules).
    #[command(subcommand)]
    Cost(quakestream_cost::cli::CostCommand),
}

#[derive(Args, Debug, Clone)]
pub struct LogArgs {
    /// Log filter (tracing EnvFilter syntax); logs are JSON lines on stdout.
    #[arg(long = "log", env = env::LOG, default_value = contract::DEFAULT_LOG)]
    pub log: String,
}

#[derive(Args, Debug, Clone)]
pub struct ProducerArgs {
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// EMSC websocket URL.
    #[arg(long, env = env::EMSC_URL, default_value = defaults::DEFAULT_EMSC_URL)]
    pub emsc_url: String,
    /// EMSC FDSN event service, used to backfill gaps after (re)connecting.
    #[arg(long, env = env::FDSN_URL, default_value = defaults::DEFAULT_FDSN_URL)]
    pub fdsn_url: String,
    /// FDSN page size.
    #[arg(long, env = env::BACKFILL_LIMIT, default_value_t = defaults::DEFAULT_BACKFILL_LIMIT,
        value_parser = clap::value_parser!(u32).range(defaults::BACKFILL_LIMIT.bounds()))]
    pub backfill_limit: u32,
    /// How far back the first backfill reaches on a fresh start (e.g. 24h, 30m).
    #[arg(long, env = env::BACKFILL_MAX_AGE, default_value = defaults::DEFAULT_BACKFILL_MAX_AGE,
        value_parser = defaults::BACKFILL_MAX_AGE.parser())]
    pub backfill_max_age: Duration,
    /// Websocket ping interval.
    #[arg(long, env = env::PING_INTERVAL, default_value = defaults::DEFAULT_PING_INTERVAL,
        value_parser = defaults::PING_INTERVAL.parser())]
    pub ping_interval: Duration,
    /// Silence after which the connection is presumed dead and replaced.
    #[arg(long, env = env::SILENCE_TIMEOUT, default_value = defaults::DEFAULT_SILENCE_TIMEOUT,
        value_parser = defaults::SILENCE_TIMEOUT.parser())]
    pub silence_timeout: Duration,
    /// No data frame for this long (even if pings are answered): the feed is presumed stuck,
    /// the connection is replaced and the gap backfilled.
    #[arg(long, env = env::FEED_SILENCE_TIMEOUT, default_value = defaults::DEFAULT_FEED_SILENCE_TIMEOUT,
        value_parser = defaults::FEED_SILENCE_TIMEOUT.parser())]
    pub feed_silence_timeout: Duration,
    /// First reconnect delay (doubles with jitter up to --reconnect-max).
    #[arg(long, env = env::RECONNECT_MIN, default_value = defaults::DEFAULT_RECONNECT_MIN,
        value_parser = defaults::RECONNECT_MIN.parser())]
    pub reconnect_min: Duration,
    #[arg(long, env = env::RECONNECT_MAX, default_value = defaults::DEFAULT_RECONNECT_MAX,
        value_parser = defaults::RECONNECT_MAX.parser())]
    pub reconnect_max: Duration,
    /// Replay this file instead of connecting to EMSC (any format `inspect` reads); exits when done.
    #[arg(long, env = env::REPLAY)]
    pub replay: Option<PathBuf>,
    /// Replay speed: a factor (60 = an hour a minute) or `max`.
    #[arg(long, env = env::REPLAY_SPEED, default_value = defaults::DEFAULT_REPLAY_SPEED, requires = "replay")]
    pub speed: replay::Speed,
    /// Shift the replayed times so the recording ends now.
    #[arg(long, requires = "replay")]
    pub retime: bool,
    /// Address for /metrics, /healthz and /readyz.
    #[arg(long, env = env::LISTEN, default_value = defaults::DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub log: LogArgs,
}

impl ProducerArgs {
    pub fn pipeline_config(&self) -> anyhow::Result<PipelineConfig> {
        Ok(PipelineConfig {
            topic: self.kafka.topic.clone(),
            dlq_topic: self.kafka.dlq_topic.clone(),
            kafka_security: self.kafka.security().context("Kafka security")?,
            ..Default::default()
        })
    }

    pub fn source_config(&self) -> SourceConfig {
        match &self.replay {
            Some(path) => SourceConfig::Replay(replay::ReplayConfig {
                path: path.clone(),
                speed: self.speed,
                retime: self.retime,
                max_pause: Duration::from_secs(60),
            }),
            None => SourceConfig::Live(LiveConfig {
                emsc_url: self.emsc_url.clone(),
                fdsn_url: self.fdsn_url.clone(),
                backfill_limit: self.backfill_limit,
                backfill_max_age: self.backfill_max_age,
                ping_interval: self.ping_interval,
                silence_timeout: self.silence_timeout,
                feed_silence_timeout: self.feed_silence_timeout,
                reconnect_min: self.reconnect_min,
                reconnect_max: self.reconnect_max,
                ..Default::default()
            }),
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct InspectArgs {
    /// The file to read.
    pub file: PathBuf,
    /// Print only the summary (no wire records on stdout).
    #[arg(long, short)]
    pub quiet: bool,
}

/// Installs the process-wide TLS provider (rustls needs one chosen when several are linked).
pub fn init_tls() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

pub fn main() -> ExitCode {
    // The allocator was chosen at the first allocation; a setting it could not honour stops the
    // process before it starts any work.
    if let Err(e) = quakestream_core::alloc::check() {
        eprintln!("quakestream: {e}");
        return ExitCode::from(2);
    }
    let cli = Cli::parse();
    init_tls();
    match cli.command {
        Command::Dev(args) => run_async(dev::run(args)),
        Command::Inspect(args) => run_inspect(&args),
        Command::Producer(args) => run_async(run_producer(args)),
        Command::Consumer(args) => run_async(quakestream_consumer::cli::run(args)),
        Command::Analytics(args) => run_async(quakestream_analytics::cli::run(args)),
        Command::Table(cmd) => run_async(quakestream_store::cli::run(cmd)),
        Command::Frontend(args) => run_async(quakestream_frontend::run(args)),
        Command::Cost(cmd) => run_async(quakestream_cost::cli::run(cmd)),
    }
}

/// Once a command's work is done, blocking tasks still running (a Kafka call finishing its
/// timeout) get this long before the process exits anyway.
const RUNTIME_SHUTDOWN_BOUND: Duration = Duration::from_secs(5);

fn run_async(fut: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = rt.block_on(fut);
    rt.shutdown_timeout(RUNTIME_SHUTDOWN_BOUND);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "fatal");
            eprintln!("quakestream: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Exit status: 0 if every input was valid, 1 if some were rejected, 2 if the file can't be read.
fn run_inspect(args: &InspectArgs) -> ExitCode {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut sink = std::io::sink();
    let out: &mut dyn std::io::Write = if args.quiet { &mut sink } else { &mut out };
    let mut err = std::io::stderr().lock();
    match quakestream_producer::inspect::inspect(&args.file, out, &mut err) {
        Ok(r) if r.rejected_total() == 0 => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("quakestream inspect: {}: {e}", args.file.display());
            ExitCode::from(2)
        }
    }
}

async fn run_producer(args: ProducerArgs) -> anyhow::Result<()> {
    ops::init_logging(&args.log.log);
    let pipeline = args.pipeline_config()?;
    let registry = prometheus::Registry::new();
    let metrics = ProducerMetrics::new(&registry).context("registering metrics")?;
    let health = Health::new();
    let (stop_tx, stop_rx) = ops::shutdown_channel();
    ops::trigger_on_signal(stop_tx.clone());
    let refresh = metrics.clone();
    let state = OpsState {
        registry,
        health: health.clone(),
        on_scrape: vec![Arc::new(move || refresh.refresh())],
    };
    let (addr, server) = ops::serve(args.listen, ops::ops_router(state), stop_rx.clone())
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    // Readiness follows the broker (checked every few seconds).
    let kafka = ops::kafka_check(
        &args.kafka.bootstrap_servers,
        &args.kafka.topic,
        &pipeline.kafka_security,
    )
    .context("Kafka readiness client")?;
    ops::watch_dependency(
        health.dependency("kafka"),
        ops::DEPENDENCY_CHECK_INTERVAL,
        kafka,
        stop_rx.clone(),
    );
    tracing::info!(listen = %addr, bootstrap = %args.kafka.bootstrap_servers, topic = %args.kafka.topic, "producer starting");
    let report = producer::run(
        &args.kafka.bootstrap_servers,
        pipeline,
        args.source_config(),
        metrics,
        health,
        stop_rx,
    )
    .await?;
    tracing::info!(
        published = report.published,
        duplicates = report.duplicates,
        dead_lettered = report.dead_lettered,
        unknown_actions = report.unknown_actions,
        undelivered = report.undelivered,
        "producer stopped"
    );
    let _ = stop_tx.send(true);
    let _ = server.await;
    if report.undelivered > 0 {
        anyhow::bail!("{} records were not acknowledged by Kafka", report.undelivered);
    }
    Ok(())
}
