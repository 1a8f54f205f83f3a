//! `quakestream dev`: the whole pipeline in one process, wired as on Kubernetes (through a
//! Kafka-protocol broker and a DynamoDB-API store), with both embedded.

use anyhow::Context;
use clap::Args;
use quakestream_consumer::{ConsumerConfig, metrics::ConsumerMetrics};
use quakestream_core::kafka::EmbeddedBroker;
use quakestream_core::ops::{self, Health};
use quakestream_producer::{PipelineConfig, ProducerMetrics, SourceConfig, live, replay};
use quakestream_store::embedded::EmbeddedDynamo;
use quakestream_store::{Store, StoreConfig};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tracing::{info, warn};

const TOPIC: &str = "quakes";
const DLQ_TOPIC: &str = "quakes.dlq";
const TABLE: &str = "quakes";
const GROUP: &str = "quakestream-dev";
const PARTITIONS: i32 = 3;

/// Real recordings shipped in the binary, replayed when the live feed is unreachable.
const BUNDLED: [(&str, &[u8]); 2] = [
    (
        "emsc-fdsn-2025-04-turkey-aegean-m2.5.json",
        include_bytes!("../../../testdata/emsc-fdsn-2025-04-turkey-aegean-m2.5.json"),
    ),
    (
        "usgs-all-week-2024-05-04.geojson",
        include_bytes!("../../../testdata/usgs-all-week-2024-05-04.geojson"),
    ),
];

#[derive(Args, Debug, Clone)]
pub struct DevArgs {
    /// Address of the map and the API.
    #[arg(long, env = "QS_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Where the embedded store keeps its data (kept across restarts).
    /// Default: the user's data directory, e.g. ~/.local/share/quakestream.
    #[arg(long, env = "QS_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Replay this file instead of the live feed (any format `inspect` reads).
    #[arg(long, conflicts_with = "no_ingest")]
    pub replay: Option<PathBuf>,
    /// Replay speed: a factor (60 = an hour a minute) or `max`.
    #[arg(long, default_value = "max")]
    pub speed: replay::Speed,
    /// Shift replayed times so the recording ends now (always on for the bundled recording).
    #[arg(long)]
    pub retime: bool,
    /// Serve only what is stored: no feed, no replay.
    #[arg(long)]
    pub no_ingest: bool,
    /// EMSC websocket URL (the live feed).
    #[arg(long, env = "QS_EMSC_URL", default_value = live::DEFAULT_EMSC_URL)]
    pub emsc_url: String,
    /// EMSC FDSN event service (backfill after gaps).
    #[arg(long, env = "QS_FDSN_URL", default_value = live::DEFAULT_FDSN_URL)]
    pub fdsn_url: String,
    /// Address of the embedded DynamoDB-API store (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub store_listen: SocketAddr,
    /// Log filter; `dev` logs as JSON lines on stdout like every workload.
    #[arg(long = "log", env = "QS_LOG", default_value = "info")]
    pub log: String,
}

fn default_data_dir() -> PathBuf {
    dirs::data_dir().unwrap_or_else(std::env::temp_dir).join("quakestream")
}

/// Prints a line for the person at the terminal (stderr; stdout carries the JSON logs).
macro_rules! say {
    ($($t:tt)*) => { eprintln!("quakestream dev: {}", format_args!($($t)*)) };
}

pub async fn run(args: DevArgs) -> anyhow::Result<()> {
    ops::init_logging(&args.log);
    let started = Instant::now();
    let data_dir = args.data_dir.clone().unwrap_or_else(default_data_dir);
    std::fs::create_dir_all(&data_dir).with_context(|| format!("creating the data dir {}", data_dir.display()))?;

    let broker = EmbeddedBroker::start(1).context("starting the embedded Kafka broker")?;
    broker
        .create_topic(TOPIC, PARTITIONS)
        .context("creating the quakes topic")?;
    broker
        .create_topic(DLQ_TOPIC, 1)
        .context("creating the dead-letter topic")?;
    let bootstrap = broker.bootstrap_servers().to_owned();

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
    let (stop_all_tx, stop_all) = ops::shutdown_channel();
    let (stop_ingest_tx, stop_ingest) = ops::shutdown_channel();
    let analytics =
        crate::dev_analytics::start_analytics(&broker, TOPIC, DLQ_TOPIC, PARTITIONS, &registry, stop_all.clone())?;

    let consumer = tokio::spawn(quakestream_consumer::run(
        ConsumerConfig::new(&bootstrap, TOPIC, DLQ_TOPIC, GROUP),
        store.clone(),
        ConsumerMetrics::new(&registry).context("consumer metrics")?,
        Health::new(),
        stop_all.clone(),
    ));
    let source = choose_source(&args, &data_dir).await?;
    let frontend_cfg = quakestream_frontend::FrontendConfig {
        listen: args.listen,
        archive: Some(quakestream_frontend::archive::from_store(store.clone())),
        source_note: Some(source.note.clone()),
        ..quakestream_frontend::FrontendConfig::new(bootstrap.clone(), TOPIC)
    };
    let frontend = quakestream_frontend::start(frontend_cfg, registry.clone(), stop_all.clone())
        .await
        .with_context(|| format!("starting the web server on {}", args.listen))?;

    say!("map        http://{}/", frontend.addr);
    say!("kafka      {bootstrap}   (e.g. kcat -b {bootstrap} -C -t {TOPIC} -o -5 -e)");
    say!(
        "dynamodb   {}   (e.g. aws dynamodb scan --endpoint-url {} --table-name {TABLE} --max-items 3; any credentials)",
        dynamo.endpoint(),
        dynamo.endpoint()
    );
    say!("data dir   {}", data_dir.display());
    info!(url = %format!("http://{}/", frontend.addr), kafka = %bootstrap, dynamodb = %dynamo.endpoint(),
        data_dir = %data_dir.display(), source = %source.note, "dev ready");
    say!("source     {}", source.note);
    say!("ready in {:.1} s; Ctrl-C stops", started.elapsed().as_secs_f64());

    let producer = match source.run {
        None => None,
        Some(cfg) => {
            let metrics = ProducerMetrics::new(&registry).context("producer metrics")?;
            let bootstrap = bootstrap.clone();
            let stop = stop_ingest.clone();
            Some(tokio::spawn(async move {
                let report =
                    quakestream_producer::run(&bootstrap, PipelineConfig::default(), cfg, metrics, Health::new(), stop)
                        .await;
                if let Ok(r) = &report {
                    say!(
                        "replay done: {} events published, {} already sent, {} rejected",
                        r.published,
                        r.duplicates,
                        r.dead_lettered
                    );
                }
                report
            }))
        }
    };

    ops::wait_for_signal().await;
    say!("stopping: flushing the producer, letting the consumer catch up");
    let _ = stop_ingest_tx.send(true);
    if let Some(p) = producer {
        match p.await {
            Ok(Ok(r)) if r.undelivered > 0 => {
                warn!(undelivered = r.undelivered, "records not acknowledged by the broker")
            }
            Ok(Err(e)) => warn!(error = %e, "producer stopped with an error"),
            _ => {}
        }
    }
    // The embedded broker lives in memory: everything it acknowledged must reach the store
    // before it stops, so wait for the consumer's committed offsets to reach the end.
    let b = bootstrap.clone();
    let caught_up =
        tokio::task::spawn_blocking(move || wait_caught_up(&b, TOPIC, GROUP, Duration::from_secs(30))).await?;
    if !caught_up {
        warn!("the consumer did not catch up within 30 s; records still in the broker are lost with it");
    }
    let _ = stop_all_tx.send(true);
    if let Ok(Ok(report)) = consumer.await {
        info!(
            written = report.written,
            stale = report.stale,
            dlq = report.dead_lettered,
            "consumer stopped"
        );
    }
    let _ = frontend.task.await;
    analytics.stop().await;
    drop(broker);
    drop(dynamo);
    say!("stopped");
    Ok(())
}

/// What feeds this `dev` run, and how the terminal, the log and the page describe it.
struct Source {
    run: Option<SourceConfig>,
    note: String,
}

async fn choose_source(args: &DevArgs, data_dir: &Path) -> anyhow::Result<Source> {
    if args.no_ingest {
        return Ok(Source {
            run: None,
            note: "Stored events only (no feed: --no-ingest)".into(),
        });
    }
    let replay_of = |path: PathBuf, retime: bool| {
        Some(SourceConfig::Replay(replay::ReplayConfig {
            path,
            speed: args.speed,
            retime,
            max_pause: Duration::from_secs(60),
        }))
    };
    let speed = match args.speed {
        replay::Speed::Max => "as fast as possible".to_owned(),
        replay::Speed::Factor(f) => format!("{f}× real time"),
    };
    if let Some(path) = &args.replay {
        anyhow::ensure!(path.is_file(), "--replay {}: no such file", path.display());
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let retimed = if args.retime { ", retimed to end now" } else { "" };
        return Ok(Source {
            run: replay_of(path.clone(), args.retime),
            note: format!("Replay of {name} ({speed}{retimed})"),
        });
    }
    match live::probe(&args.emsc_url, Duration::from_secs(5)).await {
        Ok(()) => Ok(Source {
            run: Some(SourceConfig::Live(live::LiveConfig {
                emsc_url: args.emsc_url.clone(),
                fdsn_url: args.fdsn_url.clone(),
                ..Default::default()
            })),
            note: "Live EMSC feed".into(),
        }),
        Err(e) => {
            say!("the live EMSC feed is unreachable ({e})");
            Ok(Source {
                run: replay_of(write_bundled(data_dir)?, false),
                note: format!(
                    "Replay of bundled EMSC + USGS recordings, retimed to end now ({speed}): the live feed is unreachable"
                ),
            })
        }
    }
}

/// Writes the bundled recordings as one JSON-lines file of features, each recording shifted so
/// that its newest revision is now (so the default 24-hour view is alive), oldest revision first.
fn write_bundled(data_dir: &Path) -> anyhow::Result<PathBuf> {
    let now = chrono::Utc::now();
    let mut lines: Vec<(chrono::DateTime<chrono::Utc>, String)> = Vec::new();
    for (name, bytes) in BUNDLED {
        let doc: serde_json::Value = serde_json::from_slice(bytes).with_context(|| format!("bundled {name}"))?;
        let mut features = doc["features"].as_array().cloned().unwrap_or_default();
        let quakes: Vec<_> = features
            .iter()
            .map(|f| quakestream_core::parse::parse_feature(f).ok())
            .collect();
        let Some(newest) = quakes.iter().flatten().map(|q| q.lastupdate).max() else {
            continue;
        };
        let shift = now - newest;
        for (f, q) in features.iter_mut().zip(quakes) {
            let Some(q) = q else { continue };
            let (time, lastupdate) = (q.time + shift, q.lastupdate + shift);
            let props = &mut f["properties"];
            match q.source {
                quakestream_core::model::Source::Usgs => {
                    props["time"] = time.timestamp_millis().into();
                    props["updated"] = lastupdate.timestamp_millis().into();
                }
                quakestream_core::model::Source::Emsc => {
                    props["time"] = quakestream_core::model::fmt_time(&time).into();
                    props["lastupdate"] = quakestream_core::model::fmt_time(&lastupdate).into();
                }
            }
            lines.push((lastupdate, f.to_string()));
        }
    }
    lines.sort_by_key(|(t, _)| *t);
    let path = data_dir.join("bundled-replay.jsonl");
    let body: String = lines.into_iter().map(|(_, l)| l + "\n").collect();
    std::fs::write(&path, body).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// True once the group's committed offsets reach the end of every partition of `topic`.
fn wait_caught_up(bootstrap: &str, topic: &str, group: &str, limit: Duration) -> bool {
    let Ok(client) = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .create::<BaseConsumer>()
    else {
        return false;
    };
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(md) = client.fetch_metadata(Some(topic), Duration::from_secs(5)) {
            let mut tpl = rdkafka::TopicPartitionList::new();
            for p in md.topics()[0].partitions() {
                tpl.add_partition(topic, p.id());
            }
            if let Ok(committed) = client.committed_offsets(tpl, Duration::from_secs(5)) {
                let done = committed.elements().iter().all(|e| {
                    let high = client
                        .fetch_watermarks(topic, e.partition(), Duration::from_secs(5))
                        .map(|(_, h)| h)
                        .unwrap_or(i64::MAX);
                    match e.offset() {
                        Offset::Offset(o) => o >= high,
                        _ => high == 0,
                    }
                });
                if done {
                    return true;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}
