//! Benchmark (not a test): in one run, the raw PutItem ceiling of the local store (dynoxide,
//! in-process, over HTTP via the AWS SDK; a plain concurrent loop) and the consumer's end-to-end
//! rate from Kafka (librdkafka's mock cluster) into the same store. In between, the store's
//! conditional upsert in the same plain loop, which splits the gap into what the conditional
//! write costs the store and what Kafka and the consumer cost. Each phase gets a dynoxide of its
//! own, empty, so none of them writes into a database the one before filled.
//!
//!     cargo bench -p quakestream-consumer --bench throughput            # release
//!     QS_BENCH_N=20000 QS_BENCH_CONCURRENCY=64 cargo bench ...           # knobs
//!
//! The consumer's clock starts at its first consumed record (the mock cluster needs ~3 s to
//! assign partitions, which is not throughput) and stops when every record is written.

use chrono::{Duration as CDuration, TimeZone, Utc};
use quakestream_consumer::{ConsumerConfig, ConsumerMetrics};
use quakestream_core::model::{Quake, Source};
use quakestream_core::ops::Health;
use quakestream_core::testkit;
use quakestream_core::wire::{Action, WireRecord};
use quakestream_store::testkit::own_store;
use rdkafka::producer::FutureRecord;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn record(i: usize) -> WireRecord {
    let t = Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap() + CDuration::seconds(i as i64 * 7);
    let q = Quake {
        unid: format!("bench{i:07}"),
        time: t,
        lastupdate: t + CDuration::minutes(3),
        lat: 38.0 + (i % 100) as f64 / 100.0,
        lon: 27.0 + (i % 77) as f64 / 100.0,
        depth_km: (i % 30) as f64,
        mag: Some((i % 60) as f64 / 10.0),
        magtype: Some("ml".into()),
        region: Some("WESTERN TURKEY".into()),
        agency: Some("EMSC".into()),
        evtype: Some("ke".into()),
        source: Source::Emsc,
    };
    WireRecord::new(Action::Create, q, t + CDuration::minutes(4))
}

/// Runs `op` on every record from `conc` concurrent tasks; returns records per second.
async fn plain_loop<F, Fut>(records: &Arc<Vec<WireRecord>>, conc: usize, op: F) -> f64
where
    F: Fn(WireRecord) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..conc)
        .map(|_| {
            let (next, records, op) = (next.clone(), records.clone(), op.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= records.len() {
                        return;
                    }
                    op(records[i].clone()).await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    records.len() as f64 / t0.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let n = env("QS_BENCH_N", 20_000);
    let conc = env("QS_BENCH_CONCURRENCY", 64);
    let records: Arc<Vec<WireRecord>> = Arc::new((0..n).map(record).collect());

    // 1. The store's own ceiling: plain PutItem of the item a new event gets.
    let (dynamo, raw) = own_store("bench-raw").await;
    let raw_rate = plain_loop(&records, conc, move |rec| {
        let store = raw.clone();
        async move {
            store
                .client()
                .put_item()
                .table_name(store.table())
                .set_item(Some(quakestream_store::item::encode_first(&rec)))
                .send()
                .await
                .unwrap();
        }
    })
    .await;
    drop(dynamo);
    eprintln!("raw PutItem: {n} items = {raw_rate:.0}/s ({conc} concurrent)");

    // 1b. The store's conditional upsert in the same loop (no Kafka).
    let (dynamo, up) = own_store("bench-upsert").await;
    let upsert_rate = plain_loop(&records, conc, move |rec| {
        let store = up.clone();
        async move {
            store.upsert(&rec).await.unwrap();
        }
    })
    .await;
    drop(dynamo);
    eprintln!("Store::upsert loop: {n} records = {upsert_rate:.0}/s ({conc} concurrent)");

    // 2. The consumer: the same records from Kafka into a fresh table of the same store.
    let kafka = testkit::kafka();
    let topic = kafka.topic("bench", 6);
    let producer = quakestream_core::kafka::create_producer(&kafka.bootstrap).unwrap();
    let payloads: Vec<(String, Vec<u8>)> = records.iter().map(|r| (r.quake.unid.clone(), r.to_json())).collect();
    let sends = payloads.iter().map(|(k, v)| {
        producer.send(
            FutureRecord::to(&topic).key(k.as_str()).payload(v.as_slice()),
            Duration::from_secs(60),
        )
    });
    for r in futures::future::join_all(sends).await {
        r.map_err(|(e, _)| e).unwrap();
    }
    let (_dynamo, store) = own_store("bench-consumer").await;
    let registry = prometheus::Registry::new();
    let metrics = ConsumerMetrics::new(&registry).unwrap();
    let mut cfg = ConsumerConfig::new(&kafka.bootstrap, &topic, &format!("{topic}.dlq"), "bench-group");
    cfg.concurrency = conc;
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let m = metrics.clone();
    let task = tokio::spawn(async move {
        quakestream_consumer::run(cfg, store, m, Health::new(), stop_rx)
            .await
            .unwrap()
    });
    let deadline = Instant::now() + Duration::from_secs(600);
    while metrics.consumed.get() == 0 {
        assert!(Instant::now() < deadline, "no record consumed");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let t1 = Instant::now();
    while metrics.written.get() < n as u64 {
        assert!(Instant::now() < deadline, "consumer did not finish");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let cons_secs = t1.elapsed().as_secs_f64();
    let cons_rate = n as f64 / cons_secs;
    stop.send_replace(true);
    let report = task.await.unwrap();
    assert_eq!(report.written, n as u64);
    let p50 = metrics.write_latency.get_sample_sum() / metrics.write_latency.get_sample_count() as f64;
    eprintln!(
        "consumer: {n} records in {cons_secs:.2} s = {cons_rate:.0}/s ({conc} lanes), mean upsert {:.2} ms",
        p50 * 1000.0
    );
    println!(
        "| {n} | {conc} | {raw_rate:.0} | {upsert_rate:.0} | {cons_rate:.0} | {:.0}% |",
        100.0 * cons_rate / raw_rate
    );
}
