//! The consumer with real parts: librdkafka's mock cluster (or the broker named by
//! KAFKA_BOOTSTRAP_SERVERS) and dynoxide over HTTP through the AWS SDK. No sleeps as
//! synchronisation: every wait is on a condition, with a generous bound as a failure guard.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{Duration as CDuration, TimeZone, Utc};
use quakestream_consumer::{ConsumerConfig, ConsumerMetrics, ConsumerReport};
use quakestream_core::kafka::create_producer;
use quakestream_core::model::{Quake, Source};
use quakestream_core::ops::{Health, render_metrics};
use quakestream_core::testkit;
use quakestream_core::wire::{Action, WireRecord, headers};
use quakestream_store::Store;
use quakestream_store::testkit as dyn_testkit;
use rdkafka::producer::FutureRecord;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use tokio::sync::watch;

const WAIT: Duration = Duration::from_secs(90);

struct Running {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<ConsumerReport>,
    metrics: ConsumerMetrics,
    registry: prometheus::Registry,
}

impl Running {
    async fn stop(self) -> ConsumerReport {
        self.stop.send_replace(true);
        self.task.await.expect("consumer task")
    }
    fn done(&self) -> u64 {
        let dlq: u64 = [
            "bad_json",
            "unsupported_version",
            "empty",
            "key_mismatch",
            "out_of_range",
            "missing_field",
            "bad_unid",
            "bad_time",
            "bad_type",
            "store_rejected",
        ]
        .iter()
        .map(|r| self.metrics.dlq.with_label_values(&[*r]).get())
        .sum();
        self.metrics.written.get() + self.metrics.stale.get() + dlq
    }
}

fn config(topic: &str, group: &str) -> ConsumerConfig {
    let mut c = ConsumerConfig::new(&testkit::kafka().bootstrap, topic, &format!("{topic}.dlq"), group);
    c.lag_interval = Duration::from_millis(100);
    c.retry_min = Duration::from_millis(20);
    c.retry_max = Duration::from_millis(200);
    c.commit_interval = Duration::from_millis(200);
    c
}

fn start(cfg: ConsumerConfig, store: Store) -> Running {
    let registry = prometheus::Registry::new();
    let metrics = ConsumerMetrics::new(&registry).unwrap();
    let (stop, stop_rx) = watch::channel(false);
    let m = metrics.clone();
    let task = tokio::spawn(async move {
        quakestream_consumer::run(cfg, store, m, Health::new(), stop_rx)
            .await
            .expect("consumer run")
    });
    Running {
        stop,
        task,
        metrics,
        registry,
    }
}

/// Waits until `cond` holds, polling; panics with `what` after `WAIT`.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn produce(topic: &str, records: &[(Option<String>, Vec<u8>)]) {
    let producer = create_producer(&testkit::kafka().bootstrap).unwrap();
    let sends = records.iter().map(|(k, v)| {
        let mut r: FutureRecord<'_, str, [u8]> = FutureRecord::to(topic).payload(v.as_slice());
        if let Some(k) = k {
            r = r.key(k.as_str());
        }
        producer.send(r, Duration::from_secs(30))
    });
    for res in futures::future::join_all(sends).await {
        res.map_err(|(e, _)| e).expect("delivered");
    }
}

fn wire(r: &WireRecord) -> (Option<String>, Vec<u8>) {
    (Some(r.quake.unid.clone()), r.to_json())
}

fn quake(unid: &str, minutes: i64, mag: f64) -> Quake {
    let t = Utc.with_ymd_and_hms(2025, 10, 29, 10, 30, 0).unwrap();
    Quake {
        unid: unid.into(),
        time: t,
        lastupdate: t + CDuration::minutes(minutes),
        lat: 64.0,
        lon: -17.4,
        depth_km: 10.0,
        mag: Some(mag),
        magtype: Some("ml".into()),
        region: Some("ICELAND".into()),
        agency: Some("EMSC".into()),
        evtype: Some("ke".into()),
        source: Source::Emsc,
    }
}

fn record(unid: &str, minutes: i64, mag: f64) -> WireRecord {
    let q = quake(unid, minutes, mag);
    let at = q.lastupdate + CDuration::seconds(1);
    WireRecord::new(Action::Update, q, at)
}

/// A deterministic rendering (map keys sorted at every level).
fn canon(v: &AttributeValue) -> String {
    match v {
        AttributeValue::M(m) => {
            let sorted: BTreeMap<_, _> = m.iter().map(|(k, v)| (k.clone(), canon(v))).collect();
            format!("{sorted:?}")
        }
        AttributeValue::L(l) => format!("{:?}", l.iter().map(canon).collect::<Vec<_>>()),
        other => format!("{other:?}"),
    }
}

/// Every item of the table, by unid (a Scan: test-only).
async fn snapshot(store: &Store) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut start = None;
    loop {
        let res = store
            .client()
            .scan()
            .table_name(store.table())
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        for item in res.items.unwrap_or_default() {
            let Some(AttributeValue::S(unid)) = item.get("unid") else {
                panic!("item without unid")
            };
            out.insert(unid.clone(), canon(&AttributeValue::M(item.clone())));
        }
        match res.last_evaluated_key {
            Some(k) => start = Some(k),
            None => return out,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replaying_every_sample_twice_leaves_the_same_table_as_once() {
    let kafka = testkit::kafka();
    let topic = kafka.topic("replay", 3);
    let store = dyn_testkit::fresh_store("replay").await;
    let files: Vec<_> = std::fs::read_dir(testkit::testdata_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| testkit::is_sample(p))
        .collect();
    assert!(files.len() >= 4, "{files:?}");
    let replay_all = |topic: String| {
        let files = files.clone();
        async move {
            let mut published = 0;
            for path in files {
                let (_tx, rx) = watch::channel(false);
                let pipeline = quakestream_producer::PipelineConfig {
                    topic: topic.clone(),
                    dlq_topic: format!("{topic}.producer-dlq"),
                    ..Default::default()
                };
                let source = quakestream_producer::SourceConfig::Replay(quakestream_producer::replay::ReplayConfig {
                    path: path.clone(),
                    speed: quakestream_producer::replay::Speed::Max,
                    retime: false,
                    max_pause: Duration::from_secs(1),
                });
                let metrics = quakestream_producer::ProducerMetrics::new(&prometheus::Registry::new()).unwrap();
                let report = quakestream_producer::run(
                    &testkit::kafka().bootstrap,
                    pipeline,
                    source,
                    metrics,
                    Health::new(),
                    rx,
                )
                .await
                .unwrap_or_else(|e| panic!("replaying {}: {e:#}", path.display()));
                assert_eq!(report.undelivered, 0);
                published += report.published;
            }
            published
        }
    };
    let once = replay_all(topic.clone()).await;
    assert!(once > 3000, "published {once}");
    let c = start(config(&topic, "replay-group"), store.clone());
    eventually("first replay written", || c.done() == once).await;
    let first = snapshot(&store).await;
    let written_once = c.metrics.written.get();
    assert!(
        first.len() > 3000 && first.len() as u64 <= written_once,
        "{} items, {written_once} written",
        first.len()
    );

    let twice = replay_all(topic.clone()).await;
    assert_eq!(twice, once);
    eventually("second replay processed", || c.done() == once + twice).await;
    let report = c.stop().await;
    let second = snapshot(&store).await;
    let changed: Vec<_> = first
        .iter()
        .filter(|(k, v)| second.get(*k) != Some(v))
        .map(|(k, _)| k)
        .take(5)
        .collect();
    assert!(
        changed.is_empty() && first.len() == second.len(),
        "replaying again changed the table: {changed:?}"
    );
    assert_eq!(
        report.written, written_once,
        "nothing from the second replay was applied"
    );
    assert!(report.stale >= twice, "every record of the second replay is stale");
    assert_eq!(report.dead_lettered, 0);
    assert_eq!(report.abandoned, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn revisions_out_of_order_keep_the_newest_and_the_history() {
    let topic = testkit::kafka().topic("ooo", 2);
    let store = dyn_testkit::fresh_store("ooo").await;
    // The Iceland event of 2025-10-29, revised M3.4 → 4.8 → 5.0 → 5.1 → 5.4, delivered scrambled
    // with duplicates; and a second event whose revisions arrive newest first.
    let revs = [(0, 3.4), (4, 4.8), (9, 5.0), (15, 5.1), (30, 5.4)];
    let mut records = Vec::new();
    for i in [2usize, 4, 0, 4, 1, 3, 2, 0] {
        records.push(wire(&record("20251029_0000403", revs[i].0, revs[i].1)));
    }
    for i in [4usize, 3, 2, 1, 0] {
        records.push(wire(&record("20251029_0000500", revs[i].0, revs[i].1)));
    }
    produce(&topic, &records).await;
    let c = start(config(&topic, "ooo-group"), store.clone());
    eventually("all processed", || c.done() == records.len() as u64).await;
    let report = c.stop().await;
    for unid in ["20251029_0000403", "20251029_0000500"] {
        let got = store.get(unid).await.unwrap().expect("stored");
        assert_eq!(got.quake.mag, Some(5.4), "{unid}: the newest revision wins");
        assert_eq!(got.quake.lastupdate, record(unid, 30, 5.4).quake.lastupdate);
        assert_eq!(got.revision_count, 5, "{unid}");
        let mags: Vec<_> = got.revisions.iter().map(|r| r.mag.unwrap()).collect();
        assert_eq!(mags, [3.4, 4.8, 5.0, 5.1, 5.4], "{unid}: history, oldest first");
    }
    // Applied: 20251029_0000403 at 5.0 and then 5.4; 20251029_0000500 at 5.4 only.
    assert_eq!(report.written, 3);
    assert_eq!(report.stale, records.len() as u64 - 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stopped_mid_batch_and_restarted_every_event_is_present_once() {
    let topic = testkit::kafka().topic("restart", 3);
    let store = dyn_testkit::fresh_store("restart").await;
    const N: usize = 4000;
    let records: Vec<_> = (0..N)
        .map(|i| wire(&record(&format!("ev{i:05}"), 1, (i % 70) as f64 / 10.0)))
        .collect();
    produce(&topic, &records).await;
    let mut cfg = config(&topic, "restart-group");
    cfg.concurrency = 4;
    cfg.max_in_flight = 32;
    let first = start(cfg.clone(), store.clone());
    eventually("some written", || first.metrics.written.get() >= 300).await;
    let r1 = first.stop().await;
    assert!(
        (r1.written as usize) < N,
        "stopped before the end of the batch ({r1:?})"
    );

    let second = start(cfg, store.clone());
    eventually("the rest written", || {
        r1.written + second.metrics.written.get() >= N as u64 && second.metrics.in_flight.get() == 0
    })
    .await;
    let r2 = second.stop().await;
    assert!(
        (r2.consumed as usize) < N,
        "the restart resumed from the committed offsets ({r2:?})"
    );
    assert_eq!(
        r1.written + r2.written,
        N as u64,
        "each event applied exactly once ({r1:?} {r2:?})"
    );
    let table = snapshot(&store).await;
    assert_eq!(table.len(), N);
    for i in (0..N).step_by(97) {
        let got = store.get(&format!("ev{i:05}")).await.unwrap().expect("present");
        assert_eq!(got.revision_count, 1);
        assert_eq!(got.revisions.len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn store_unreachable_for_a_while_consumer_waits_then_catches_up() {
    let topic = testkit::kafka().topic("outage", 2);
    let table = dyn_testkit::fresh_store("outage").await;
    let proxy = dyn_testkit::CuttableProxy::start(dyn_testkit::dynamo().addr())
        .await
        .unwrap();
    let store = Store::connect(&quakestream_store::StoreConfig::local(table.table(), proxy.endpoint()))
        .await
        .unwrap();
    let c = start(config(&topic, "outage-group"), store.clone());

    let a: Vec<_> = (0..100).map(|i| wire(&record(&format!("a{i:03}"), 1, 2.0))).collect();
    produce(&topic, &a).await;
    eventually("batch A written", || c.metrics.written.get() == 100).await;

    proxy.cut();
    let b: Vec<_> = (0..200).map(|i| wire(&record(&format!("b{i:03}"), 1, 3.0))).collect();
    produce(&topic, &b).await;
    eventually("paused, lag risen to the whole batch", || {
        c.metrics.paused.get() == 1 && c.metrics.total_lag() >= 200
    })
    .await;
    let retries_before = c.metrics.retries.with_label_values(&["connection"]).get()
        + c.metrics.retries.with_label_values(&["timeout"]).get();
    assert!(retries_before > 0, "the failing writes are being retried");
    assert_eq!(
        c.metrics.written.get(),
        100,
        "nothing written while the store is unreachable"
    );

    proxy.restore();
    eventually("caught up", || {
        c.metrics.written.get() == 300 && c.metrics.paused.get() == 0 && c.metrics.total_lag() == 0
    })
    .await;
    let report = c.stop().await;
    assert_eq!(report.dead_lettered, 0);
    let snap = snapshot(&table).await;
    assert_eq!(snap.len(), 300, "nothing lost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn garbage_goes_to_the_dlq_and_the_consumer_keeps_going() {
    let kafka = testkit::kafka();
    let topic = kafka.topic("garbage", 1);
    let store = dyn_testkit::fresh_store("garbage").await;
    let good = record("20250305_0000090", 1, 4.1);
    let mut mismatched = record("20250305_0000091", 1, 4.2);
    mismatched.quake.unid = "other".into();
    let mut v2 = serde_json::to_value(record("20250305_0000092", 1, 4.3)).unwrap();
    v2["v"] = 2.into();
    let mut bad_lat = serde_json::to_value(record("20250305_0000093", 1, 4.4)).unwrap();
    bad_lat["quake"]["lat"] = 123.0.into();
    let records = vec![
        wire(&good),
        (Some("junk".into()), b"not json at all".to_vec()),
        (Some("20250305_0000091".into()), mismatched.to_json()),
        (Some("20250305_0000092".into()), serde_json::to_vec(&v2).unwrap()),
        (None, Vec::new()),
        (Some("20250305_0000093".into()), serde_json::to_vec(&bad_lat).unwrap()),
        wire(&record("20250305_0000094", 1, 4.5)),
    ];
    produce(&topic, &records).await;
    let dlq_topic = kafka.topic("garbage-dlq", 1);
    let mut cfg = config(&topic, "garbage-group");
    cfg.dlq_topic = dlq_topic.clone();
    let c = start(cfg, store.clone());
    eventually("all processed", || c.done() == records.len() as u64).await;
    assert_eq!(c.metrics.written.get(), 2, "the records after the garbage are written");
    for (reason, n) in [
        ("bad_json", 1),
        ("key_mismatch", 1),
        ("unsupported_version", 1),
        ("empty", 1),
        ("out_of_range", 1),
    ] {
        assert_eq!(c.metrics.dlq.with_label_values(&[reason]).get(), n, "{reason}");
    }
    let metrics_text = render_metrics(&c.registry);
    let report = c.stop().await;
    assert_eq!(report.dead_lettered, 5);
    assert!(store.get("20250305_0000094").await.unwrap().is_some());

    let dlq = testkit::read_topic(&kafka.bootstrap, &dlq_topic, WAIT, |r| r.len() >= 5);
    assert_eq!(dlq.len(), 5);
    let by_reason: HashMap<_, _> = dlq.iter().map(|r| (r.headers[headers::REASON].clone(), r)).collect();
    assert_eq!(
        by_reason["bad_json"].value_str(),
        "not json at all",
        "the raw payload is kept"
    );
    assert_eq!(by_reason["bad_json"].key.as_deref(), Some(&b"junk"[..]));
    assert_eq!(
        by_reason["key_mismatch"].value.as_deref(),
        Some(mismatched.to_json().as_slice())
    );
    for r in &dlq {
        assert_eq!(r.headers[headers::STAGE], "consumer");
        assert!(!r.headers[headers::ERROR].is_empty());
    }

    // The exposition is valid for Prometheus.
    assert!(metrics_text.contains("quakestream_consumer_write_duration_seconds_bucket"));
    check_with_promtool(&metrics_text);
}

fn check_with_promtool(text: &str) {
    use std::io::Write;
    let mut child = match std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) if std::env::var_os("QS_SKIP_PROMTOOL").is_some() => {
            eprintln!("promtool not run ({e}); QS_SKIP_PROMTOOL is set");
            return;
        }
        Err(e) => panic!("promtool (Debian package `prometheus`) is needed: {e}; set QS_SKIP_PROMTOOL=1 to skip"),
    };
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
