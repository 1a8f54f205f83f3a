//! A frontend on real parts for the browser tests and the benchmarks: librdkafka's mock cluster
//! (or the broker in KAFKA_BOOTSTRAP_SERVERS), a topic loaded with a real recording retimed so it
//! ends now, the analytics over it (its `quake-stats` tailed by the frontend), and the frontend
//! on top. Prints one JSON line once the frontend is ready and its statistics of the world equal
//! the batch computation over the recording:
//! `{"url": "http://…", "control": "http://…", "events": N}`; `POST {control}/produce` with a
//! Quake as JSON (or `{"action": …, "quake": …}`) sends a wire record to the topic.
//! Stops when stdin closes or on SIGINT/SIGTERM. The analytics also writes aftershock sequences,
//! which the frontend tails; with `--analytics` the fixture also waits until at least one
//! sequence is served, and the JSON line says `"sequences": N`.
//!
//!   cargo run -p quakestream-frontend --example fixture -- [--data FILE] [--listen ADDR] [--rate-limit N] [--analytics]

use axum::Json;
use axum::extract::State;
use axum::routing::post;
use chrono::Utc;
use futures::{StreamExt, TryStreamExt};
use quakestream_core::kafka::create_producer;
use quakestream_core::model::Quake;
use quakestream_core::parse::Item;
use quakestream_core::testkit;
use quakestream_core::wire::{Action, WireRecord};
use quakestream_frontend::{FrontendConfig, start};
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::io::BufRead;
use std::time::Duration;

#[derive(Clone)]
struct Ctl {
    producer: FutureProducer,
    topic: String,
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum ProduceBody {
    Record { action: Action, quake: Quake },
    Bare(Quake),
}

async fn send(p: &FutureProducer, topic: &str, rec: &WireRecord) -> anyhow::Result<()> {
    let value = rec.to_json();
    p.send(
        FutureRecord::to(topic).key(rec.key()).payload(&value),
        Duration::from_secs(30),
    )
    .await
    .map_err(|(e, _)| anyhow::anyhow!("produce: {e}"))?;
    Ok(())
}

async fn produce(State(ctl): State<Ctl>, Json(body): Json<ProduceBody>) -> Result<&'static str, String> {
    let (action, quake) = match body {
        ProduceBody::Record { action, quake } => (action, quake),
        ProduceBody::Bare(q) => (Action::Create, q),
    };
    quake.validate().map_err(|e| e.to_string())?;
    send(&ctl.producer, &ctl.topic, &WireRecord::new(action, quake, Utc::now()))
        .await
        .map_err(|e| e.to_string())?;
    Ok("ok\n")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut data = testkit::testdata("usgs-all-week-2024-05-04.geojson");
    let mut note = "Replay of the USGS week (test fixture)".to_owned();
    let mut listen = "127.0.0.1:0".parse()?;
    let mut rate_limit = 500;
    let mut with_store = true;
    let mut with_analytics = false;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--data" => {
                data = args.next().expect("--data FILE").into();
                let name = data
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                note = format!("Replay of {name} (test fixture)");
            }
            "--listen" => listen = args.next().expect("--listen ADDR").parse()?,
            "--rate-limit" => rate_limit = args.next().expect("--rate-limit N").parse()?,
            "--no-store" => with_store = false,
            "--analytics" => with_analytics = true,
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    if std::env::var("QS_LOG").is_ok() {
        quakestream_core::ops::init_logging(&std::env::var("QS_LOG").unwrap());
    }
    let kafka = testkit::kafka();
    let topic = kafka.topic("quakes-fixture", 3);
    let producer = create_producer(&kafka.bootstrap)?;

    let (_, mut items) = quakestream_producer::replay::load(&data).map_err(|e| anyhow::anyhow!("{e}"))?;
    quakestream_producer::replay::retime(&mut items, Utc::now());
    let mut sent = 0usize;
    let mut futs = Vec::new();
    let mut records = Vec::new();
    for it in &items {
        if let Ok(Item::Event { quake, .. }) = &it.result {
            let rec = WireRecord::new(Action::Snapshot, quake.clone(), Utc::now());
            let value = rec.to_json();
            let key = rec.key().to_owned();
            records.push(rec);
            futs.push(
                producer
                    .send_result(FutureRecord::to(&topic).key(&key).payload(&value))
                    .map_err(|(e, _)| e)?,
            );
            sent += 1;
        }
    }
    for f in futs {
        f.await?.map_err(|(e, _)| e)?;
    }

    let (stop_tx, stop_rx) = quakestream_core::ops::shutdown_channel();
    quakestream_core::ops::trigger_on_signal(stop_tx.clone());
    let registry = prometheus::Registry::new();
    let sequences_topic = kafka.unique_name("quake-sequences-fixture");
    let stats_topic = start_analytics(kafka, &topic, &sequences_topic, &registry, stop_rx.clone())?;
    // The archive holds what the consumer would have written (dynoxide, in-process).
    let archive: Option<std::sync::Arc<dyn quakestream_frontend::archive::Archive>> = if with_store {
        let store = quakestream_store::testkit::fresh_store("fixture").await;
        futures::stream::iter(records.iter())
            .map(|r| {
                let store = store.clone();
                async move { store.upsert(r).await }
            })
            .buffer_unordered(16)
            .try_collect::<Vec<_>>()
            .await?;
        Some(std::sync::Arc::new(store))
    } else {
        None
    };
    let cfg = FrontendConfig {
        listen,
        rate_limit,
        archive,
        source_note: Some(note),
        stats_topic,
        sequences_topic: Some(sequences_topic),
        ..FrontendConfig::new(kafka.bootstrap.clone(), topic.clone())
    };
    let fe = start(cfg, registry, stop_rx.clone()).await?;
    let ctl = Ctl { producer, topic };
    let app = axum::Router::new().route("/produce", post(produce)).with_state(ctl);
    let (ctl_addr, _ctl_task) = quakestream_core::ops::serve("127.0.0.1:0".parse()?, app, stop_rx.clone()).await?;
    // The fixture, not a test: poll readiness to know when to announce the URL.
    while !fe.health.is_ready() || (with_analytics && fe.state.sequences.is_empty()) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let want = world_counts(&quakestream_analytics::testing::expected(
        &records,
        quakestream_analytics::config::DEFAULT_GRACE,
    ));
    while world_counts_of(&fe.state.stats) != want {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "{}",
        serde_json::json!({"url": format!("http://{}", fe.addr), "control": format!("http://{ctl_addr}"), "events": sent, "indexed": fe.state.index.len(), "sequences": fe.state.sequences.len()})
    );
    // Stop when the parent closes stdin.
    let stop = stop_tx.clone();
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            if line.is_err() {
                break;
            }
        }
        let _ = stop.send(true);
    });
    let mut rx = stop_rx;
    let _ = rx.wait_for(|s| *s).await;
    let _ = fe.task.await;
    Ok(())
}

/// Creates the analytics' topics beside `input` (as the operator and `quakestream dev` do) and
/// runs it until `stop`, writing its sequences to `sequences_topic`; returns its statistics topic.
fn start_analytics(
    kafka: &testkit::TestKafka,
    input: &str,
    sequences_topic: &str,
    registry: &prometheus::Registry,
    stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<String> {
    let mut cfg = quakestream_analytics::AnalyticsConfig::new(&kafka.bootstrap, input);
    cfg.app_id = kafka.unique_name("fixture-analytics");
    cfg.stats_topic = kafka.unique_name("fixture-stats");
    cfg.sequences_topic = sequences_topic.to_owned();
    cfg.dlq_topic = kafka.topic("fixture-analytics-dlq", 1);
    cfg.instance_id = "fixture".into();
    cfg.commit_interval = Duration::from_millis(200);
    for t in cfg.topics(3) {
        kafka.create_topic(&t.name, t.partitions);
    }
    let metrics = quakestream_analytics::AnalyticsMetrics::new(registry)?;
    let stats_topic = cfg.stats_topic.clone();
    let health = quakestream_core::ops::Health::new();
    tokio::spawn(async move {
        if let Err(e) = quakestream_analytics::run(cfg, metrics, health, stop).await {
            eprintln!("fixture: the analytics stopped: {e}");
        }
    });
    Ok(stats_topic)
}

/// Count of every hourly and "last 24 hours" window of the world, by key.
fn world_counts(
    m: &std::collections::BTreeMap<String, quakestream_analytics::stats::StatsRecord>,
) -> std::collections::BTreeMap<String, u64> {
    m.iter()
        .filter(|(_, r)| r.dimension == "world" && r.window != quakestream_analytics::window::WindowKind::Day)
        .map(|(k, r)| (k.clone(), r.count))
        .collect()
}

/// The same counts as the frontend holds them.
fn world_counts_of(stats: &quakestream_frontend::stats::Stats) -> std::collections::BTreeMap<String, u64> {
    use quakestream_analytics::window::{Dim, WindowKind};
    let mut out = std::collections::BTreeMap::new();
    for kind in [WindowKind::Hour, WindowKind::Last24h] {
        for h in stats.query(kind, &Dim::World, None, None).0 {
            out.insert(h.key.to_string(), h.record.count);
        }
    }
    out
}
