//! `quakestream dev`: the whole pipeline in one process, wired as on Kubernetes (through a
//! Kafka-protocol broker and a DynamoDB-API store), with both embedded.
//!
//! - [`args`]: the flags;
//! - [`source`]: what feeds the run (live feed, a replay, or offline the bundled history and the
//!   demo feed), and how a restart keeps the stored history true;
//! - [`dead_letters`]: the dead-letter topic kept as a file in the data dir;
//! - [`analytics`]: the analytics engine and its topics;
//! - [`shutdown`]: the ordered, bounded stop.
//!
//! [`run`] is the one place that starts components; each goes into one ordered shutdown list.

mod analytics;
mod args;
mod dead_letters;
mod shutdown;
mod source;

pub use args::DevArgs;

use anyhow::Context;
use quakestream_consumer::{ConsumerConfig, metrics::ConsumerMetrics};
use quakestream_contract::dev::DEAD_LETTERS_FILE;
use quakestream_core::kafka::EmbeddedBroker;
use quakestream_core::ops::{self, Health};
use quakestream_producer::{PipelineConfig, ProducerMetrics};
use quakestream_store::embedded::EmbeddedDynamo;
use quakestream_store::{Store, StoreConfig};
use shutdown::{Component, Drain, Progress, Step};
use std::time::{Duration, Instant};
use tracing::info;

const TOPIC: &str = "quakes";
const DLQ_TOPIC: &str = "quakes.dlq";
const TABLE: &str = "quakes";
const GROUP: &str = "quakestream-dev";
/// Partitions of `quakes` (the analytics' changelogs are co-partitioned with it).
const PARTITIONS: i32 = 3;

/// How long each component may take to stop once told (the producer flushes; the consumer
/// drains its in-flight writes, bounded by its own drain timeout; the frontend closes streams).
const PRODUCER_STOP_BOUND: Duration = Duration::from_secs(40);
const CONSUMER_STOP_BOUND: Duration = Duration::from_secs(30);
const DEAD_LETTERS_STOP_BOUND: Duration = Duration::from_secs(15);
const FRONTEND_STOP_BOUND: Duration = Duration::from_secs(15);

/// librdkafka settings of `dev`'s own clients (never a cluster's): one broker in this process,
/// on loopback, so records are sent at once and the frontend's tail asks often. A frame then
/// reaches an open page in milliseconds; idle, the tail's fetches cost little CPU (both measured
/// in docs/benchmarks.md, "dev: feed to browser").
const PRODUCER_KAFKA: &[(&str, &str)] = &[("linger.ms", "0"), ("socket.nagle.disable", "true")];
const TAIL_KAFKA: &[(&str, &str)] = &[("fetch.wait.max.ms", "5"), ("socket.nagle.disable", "true")];

fn owned(settings: &[(&str, &str)]) -> Vec<(String, String)> {
    settings.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Prints a line for the person at the terminal (stderr; stdout carries the JSON logs).
macro_rules! say {
    ($($t:tt)*) => { eprintln!("quakestream dev: {}", format_args!($($t)*)) };
}
pub(crate) use say;

/// The embedded broker and store, stopped last.
struct Infra {
    broker: EmbeddedBroker,
    dynamo: EmbeddedDynamo,
    store: Store,
    registry: prometheus::Registry,
}

impl Infra {
    async fn start(args: &DevArgs, data_dir: &std::path::Path) -> anyhow::Result<Infra> {
        let broker = EmbeddedBroker::start(1).context("starting the embedded Kafka broker")?;
        broker
            .create_topic(TOPIC, PARTITIONS)
            .context("creating the quakes topic")?;
        broker
            .create_topic(DLQ_TOPIC, 1)
            .context("creating the dead-letter topic")?;
        let db_path = data_dir.join("quakes.sqlite");
        let dynamo = EmbeddedDynamo::start(args.store_listen, Some(&db_path))
            .with_context(|| format!("starting the embedded store at {}", db_path.display()))?;
        let store = Store::connect(&StoreConfig::local(TABLE, dynamo.endpoint()))
            .await
            .context("connecting to the embedded store")?;
        store.create_table().await.context("creating the table")?;
        let registry = prometheus::Registry::new();
        // The consumer and the frontend share this store, so one meter counts what both consume.
        let store = store.with_meter(quakestream_store::DynamoMeter::new(&registry).context("DynamoDB meter")?);
        Ok(Infra {
            broker,
            dynamo,
            store,
            registry,
        })
    }
}

pub async fn run(args: DevArgs) -> anyhow::Result<()> {
    ops::init_logging(&args.log);
    let started = Instant::now();
    let mut signals = shutdown::Signals::install().context("installing the signal handlers")?;
    let data_dir = args.data_dir.clone().unwrap_or_else(args::default_data_dir);
    std::fs::create_dir_all(&data_dir).with_context(|| format!("creating the data dir {}", data_dir.display()))?;
    let infra = Infra::start(&args, &data_dir).await?;
    let bootstrap = infra.broker.bootstrap_servers().to_owned();
    let source = source::choose(&args, &data_dir, &infra.store).await?;
    let dead_letters_path = data_dir.join(DEAD_LETTERS_FILE);
    let steps = start_components(&args, &infra, source, &dead_letters_path).await?;
    say!("kafka      {bootstrap}   (e.g. kcat -b {bootstrap} -C -t {TOPIC} -o -5 -e)");
    let endpoint = infra.dynamo.endpoint();
    say!(
        "dynamodb   {endpoint}   (e.g. aws dynamodb scan --endpoint-url {endpoint} --table-name {TABLE} --max-items 3; any credentials)"
    );
    say!("data dir   {}", data_dir.display());
    say!("dead letters {}", dead_letters_path.display());
    say!("ready in {:.1} s; Ctrl-C stops", started.elapsed().as_secs_f64());

    signals.next().await;
    let progress = steps.iter().find_map(|s| match s {
        Step::Drain(_, p) => Some(p.clone()),
        Step::Stop(_) => None,
    });
    signals.exit_on_next(progress.unwrap_or_default());
    say!("stopping: flushing the producer, letting the consumer store what the broker acknowledged");
    let mut failures = shutdown::run(steps).await;
    let Infra {
        broker, dynamo, store, ..
    } = infra;
    drop(store);
    if let Err(e) = shutdown::drop_bounded("broker and store", (broker, dynamo), shutdown::INFRA_STOP_BOUND) {
        failures.push(e);
    }
    if failures.is_empty() {
        say!("stopped");
        return Ok(());
    }
    for f in &failures {
        say!("{f}");
    }
    anyhow::bail!("stopped with {} problem(s): {}", failures.len(), failures[0]);
}

/// Starts every component, and returns the order in which they stop (see [`shutdown`]).
async fn start_components(
    args: &DevArgs,
    infra: &Infra,
    source: source::Source,
    dead_letters_path: &std::path::Path,
) -> anyhow::Result<Vec<Step>> {
    let bootstrap = infra.broker.bootstrap_servers().to_owned();
    let registry = &infra.registry;
    let consumer = {
        let cfg = ConsumerConfig::new(&bootstrap, TOPIC, DLQ_TOPIC, GROUP);
        let (store, metrics) = (
            infra.store.clone(),
            ConsumerMetrics::new(registry).context("consumer metrics")?,
        );
        Component::spawn("the consumer", CONSUMER_STOP_BOUND, move |stop| async move {
            let report = quakestream_consumer::run(cfg, store, metrics, Health::new(), stop).await?;
            info!(
                written = report.written,
                stale = report.stale,
                dlq = report.dead_lettered,
                abandoned = report.abandoned,
                "consumer stopped"
            );
            anyhow::ensure!(
                report.abandoned == 0,
                "{} records in flight were not written",
                report.abandoned
            );
            Ok(())
        })
    };
    let analytics = analytics::start(&infra.broker, TOPIC, DLQ_TOPIC, PARTITIONS, registry)?;
    let dead_letters = {
        let file = dead_letters::DeadLetterFile::open(dead_letters_path, dead_letters::MAX_BYTES)
            .with_context(|| format!("opening {}", dead_letters_path.display()))?;
        let b = bootstrap.clone();
        Component::spawn("the dead-letter file", DEAD_LETTERS_STOP_BOUND, move |stop| {
            dead_letters::run(b, DLQ_TOPIC.to_owned(), file, stop)
        })
    };
    let (frontend_stop, frontend_rx) = ops::shutdown_channel();
    let frontend_cfg = quakestream_frontend::FrontendConfig {
        listen: args.listen,
        archive: Some(quakestream_frontend::archive::from_store(infra.store.clone())),
        source_note: Some(source.note.clone()),
        kafka_overrides: owned(TAIL_KAFKA),
        ..quakestream_frontend::FrontendConfig::new(bootstrap.clone(), TOPIC)
    };
    let frontend = quakestream_frontend::start(frontend_cfg, registry.clone(), frontend_rx)
        .await
        .with_context(|| format!("starting the web server on {}", args.listen))?;
    say!("map        http://{}/", frontend.addr);
    say!("source     {}", source.note);
    info!(url = %format!("http://{}/", frontend.addr), kafka = %bootstrap, source = %source.note, "dev ready");
    let frontend = Component::running("the frontend", FRONTEND_STOP_BOUND, frontend_stop, frontend.task);
    let producer = start_producer(&bootstrap, registry, source)?;

    let drain = Drain {
        bootstrap,
        topic: TOPIC.into(),
        group: GROUP.into(),
        stall: args.drain_stall,
    };
    let mut steps = Vec::new();
    steps.extend(producer.map(Step::Stop));
    steps.push(Step::Drain(drain, Progress::default()));
    // Every other broker client stops here, before the frontend and long before the broker.
    steps.push(Step::Stop(consumer));
    steps.push(Step::Stop(analytics));
    steps.push(Step::Stop(dead_letters));
    steps.push(Step::Stop(frontend));
    Ok(steps)
}

fn start_producer(
    bootstrap: &str,
    registry: &prometheus::Registry,
    source: source::Source,
) -> anyhow::Result<Option<Component>> {
    let Some(cfg) = source.run else { return Ok(None) };
    if let Some(mut done) = source.history_done {
        tokio::spawn(async move {
            if let Some(r) = done.recv().await {
                say!(
                    "history    {} events sent ({} rejected); the demo feed follows",
                    r.events,
                    r.rejected
                );
            }
        });
    }
    let metrics = ProducerMetrics::new(registry).context("producer metrics")?;
    let bootstrap = bootstrap.to_owned();
    let done = match cfg {
        quakestream_producer::SourceConfig::Replay(_) => "replay done",
        _ => "producer stopped",
    };
    Ok(Some(Component::spawn(
        "the producer",
        PRODUCER_STOP_BOUND,
        move |stop| async move {
            let pipeline = PipelineConfig {
                kafka_overrides: owned(PRODUCER_KAFKA),
                ..PipelineConfig::default()
            };
            let r = quakestream_producer::run(&bootstrap, pipeline, cfg, metrics, Health::new(), stop).await?;
            say!(
                "{done}: {} events published, {} already sent, {} rejected",
                r.published,
                r.duplicates,
                r.dead_lettered
            );
            anyhow::ensure!(
                r.undelivered == 0,
                "{} records were not acknowledged by the broker",
                r.undelivered
            );
            Ok(())
        },
    )))
}
