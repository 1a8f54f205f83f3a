//! Benchmark (not a test): events/s through the whole loop (consume, aggregate, transactional
//! produce of changelogs, repartition records and `quake-stats`, offset commit) with 10%
//! revisions, and the restore of a changelog holding the state of many events.
//!
//! `cargo bench -p quakestream-analytics --bench analytics_loop`; knobs: QS_BENCH_EVENTS (events of
//! the throughput run, default 300000), QS_BENCH_RESTORE_EVENTS (events whose state is restored,
//! default 1000000; 0 skips), QS_BENCH_PARTITIONS (default 3), QS_BENCH_COMMIT_MS (commit
//! interval, default 1000), QS_BENCH_MAX_TXN (input records per transaction, default 100000).
//!
//! Events are the 430 real events of the EMSC sample, repeated with distinct unids and origin
//! times spread over 30 days in arrival order; every tenth gets a revision (an hour later, larger)
//! that arrives 50 events after it. The mock cluster runs in this process.

use chrono::{Duration as CDuration, TimeZone, Utc};
use quakestream_analytics::testing::{fresh_topics, produce, sample_records};
use quakestream_analytics::{AnalyticsConfig, AnalyticsMetrics};
use quakestream_core::ops::Health;
use quakestream_core::testkit::{self, testdata};
use quakestream_core::wire::{Action, WireRecord};
use std::time::{Duration, Instant};
use tokio::sync::watch;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn rss_mb() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0.0);
    pages * 4096.0 / 1e6
}

fn workload(n: usize) -> Vec<WireRecord> {
    let base = sample_records(&testdata("emsc-fdsn-2025-04-turkey-aegean-m2.5.json"));
    let start = Utc.with_ymd_and_hms(2025, 3, 1, 0, 0, 0).unwrap();
    let step_us = (30 * 86_400_000_000i64) / n.max(1) as i64;
    let mut out = Vec::with_capacity(n + n / 10);
    let mut pending: Vec<(usize, WireRecord)> = Vec::new();
    for i in 0..n {
        let mut q = base[i % base.len()].quake.clone();
        q.unid = format!("bench{i:09}");
        q.time = start + CDuration::microseconds(step_us * i as i64);
        q.lastupdate = q.time + CDuration::minutes(10);
        let rec = WireRecord::new(Action::Create, q.clone(), q.lastupdate);
        out.push(rec);
        if i % 10 == 0 {
            let mut r = q.clone();
            r.lastupdate += CDuration::hours(1);
            r.mag = r.mag.map(|m| m + 0.2);
            pending.push((i + 50, WireRecord::new(Action::Update, r.clone(), r.lastupdate)));
        }
        while pending.first().is_some_and(|(at, _)| *at <= i) {
            out.push(pending.remove(0).1);
        }
    }
    out.extend(pending.into_iter().map(|(_, r)| r));
    out
}

/// librdkafka's mock cluster keeps at most 5 MB of batches per partition and silently drops the
/// oldest beyond that (`rdkafka_mock.c`): fail clearly instead of waiting for records that are gone.
fn assert_nothing_dropped(cfg: &AnalyticsConfig, topic: &str) {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let c: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &cfg.bootstrap_servers)
        .create()
        .unwrap();
    let md = c.fetch_metadata(Some(topic), Duration::from_secs(10)).unwrap();
    for p in md.topics()[0].partitions() {
        let (low, _) = c.fetch_watermarks(topic, p.id(), Duration::from_secs(10)).unwrap();
        assert_eq!(
            low,
            0,
            "{topic}[{}] lost its oldest records: use more partitions (QS_BENCH_PARTITIONS)",
            p.id()
        );
    }
}

struct Run {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    metrics: AnalyticsMetrics,
    health: Health,
}

fn start(cfg: AnalyticsConfig) -> Run {
    let metrics = AnalyticsMetrics::new(&prometheus::Registry::new()).unwrap();
    let health = Health::new();
    let (stop, rx) = watch::channel(false);
    let (m, h) = (metrics.clone(), health.clone());
    let task = tokio::spawn(async move {
        quakestream_analytics::run(cfg, m, h, rx).await.expect("analytics run");
    });
    Run {
        stop,
        task,
        metrics,
        health,
    }
}

async fn wait(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Runs `records` through a fresh engine; returns (seconds from the first consumed record to the
/// transaction that committed the last one, the engine still running).
async fn through(cfg: &AnalyticsConfig, records: &[WireRecord]) -> (f64, Run) {
    produce(&cfg.bootstrap_servers, &cfg.input_topic, records).await;
    assert_nothing_dropped(cfg, &cfg.input_topic);
    let run = start(cfg.clone());
    let m = run.metrics.clone();
    wait("first record", Duration::from_secs(120), || m.input_records() > 0).await;
    let t0 = Instant::now();
    let total = records.len() as u64;
    wait("all consumed", Duration::from_secs(3600), || m.input_records() >= total).await;
    // Then until the aggregators have consumed every partial and committed their outputs: the
    // run ends at the last change of the repartition and output counters, once they have stood
    // still for three commit intervals (an idle engine commits nothing).
    let progress = || {
        m.records.with_label_values(&["repartition", "applied"]).get()
            + m.emitted.with_label_values(&["update"]).get()
            + m.emitted.with_label_values(&["final"]).get()
    };
    let mut last = progress();
    let mut last_busy = Instant::now();
    while last_busy.elapsed() < cfg.commit_interval * 3 {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let now = progress();
        if now != last {
            last = now;
            last_busy = Instant::now();
        }
    }
    (last_busy.duration_since(t0).as_secs_f64(), run)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n = env_usize("QS_BENCH_EVENTS", 300_000);
    let restore_n = env_usize("QS_BENCH_RESTORE_EVENTS", 1_000_000);
    let partitions = env_usize("QS_BENCH_PARTITIONS", 3) as i32;
    quakestream_core::ops::init_logging(&std::env::var("QS_LOG").unwrap_or_else(|_| "warn".into()));
    let kafka = testkit::kafka();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average before: {}", load.trim());

    let mut cfg = fresh_topics(kafka, "bench", partitions);
    cfg.commit_interval = Duration::from_millis(env_usize("QS_BENCH_COMMIT_MS", 1000) as u64);
    cfg.max_records_per_transaction = env_usize("QS_BENCH_MAX_TXN", 100_000);
    let records = workload(n);
    let (secs, run) = through(&cfg, &records).await;
    let m = &run.metrics;
    println!(
        "throughput: {} records ({} events + {} revisions), {partitions} partitions: {:.2} s, {:.0} records/s; \
         {} transactions, {} stats records, {} corrections",
        records.len(),
        n,
        records.len() - n,
        secs,
        records.len() as f64 / secs,
        m.transactions.with_label_values(&["commit"]).get(),
        m.emitted.with_label_values(&["update"]).get() + m.emitted.with_label_values(&["final"]).get(),
        m.late_corrections.get(),
    );
    run.stop.send_replace(true);
    run.task.await.unwrap();

    if restore_n == 0 {
        return;
    }
    let mut cfg = fresh_topics(kafka, "restore", partitions);
    cfg.commit_interval = Duration::from_millis(env_usize("QS_BENCH_COMMIT_MS", 1000) as u64);
    cfg.max_records_per_transaction = env_usize("QS_BENCH_MAX_TXN", 100_000);
    let records = workload(restore_n);
    let (secs, run) = through(&cfg, &records).await;
    println!(
        "state of {restore_n} events built through the loop: {:.2} s ({:.0} records/s)",
        secs,
        records.len() as f64 / secs
    );
    run.stop.send_replace(true);
    run.task.await.unwrap();
    assert_nothing_dropped(&cfg, &cfg.events_changelog_topic());
    let before = rss_mb();
    let started = Instant::now();
    let run = start(cfg.clone());
    let h = run.health.clone();
    wait("restored", Duration::from_secs(600), || h.is_ready()).await;
    let wall = started.elapsed().as_secs_f64();
    let after = rss_mb();
    let m = &run.metrics;
    println!(
        "restore: {} changelog records ({} events, {} stats entries) in {:.2} s wall from start to ready \
         (sum of per-partition restores {:.2} s); RSS {:.0} → {:.0} MB: {:.0} MB for the state of {} events",
        m.restored.with_label_values(&["events"]).get() + m.restored.with_label_values(&["stats"]).get(),
        m.state_entries.with_label_values(&["events"]).get(),
        m.state_entries.with_label_values(&["stats_windows"]).get(),
        wall,
        m.restore_seconds.get_sample_sum(),
        before,
        after,
        after - before,
        restore_n,
    );
    run.stop.send_replace(true);
    run.task.await.unwrap();
    println!(
        "load average after: {}",
        std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim()
    );
}
