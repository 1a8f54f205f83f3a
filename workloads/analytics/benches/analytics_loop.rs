//! Benchmark (not a test): events/s through the whole loop (consume, aggregate, transactional
//! produce of changelogs, repartition records and `quake-stats`, offset commit) with 10%
//! revisions, and the restore of a changelog holding the state of many events.
//!
//! `cargo bench -p quakestream-analytics --bench analytics_loop`; knobs: QS_BENCH_EVENTS (events of
//! the throughput run, default 300000), QS_BENCH_RESTORE_EVENTS (events whose state is restored,
//! default 1000000; 0 skips), QS_BENCH_PARTITIONS (default 3; the mock cluster needs about 40 for
//! a million events, see [`assert_nothing_dropped`]), QS_BENCH_COMMIT_MS (commit interval, default
//! 1000), QS_BENCH_MAX_TXN (input records per transaction, default 100000), QS_BENCH_WORKLOAD
//! (`world` or `dense`, see [`workload`]), QS_BENCH_PROCESSORS (`all`, `stats` or `sequences`).
//!
//! The mock cluster runs in this process. Rust's allocations go to the allocator `QS_ALLOCATOR`
//! chooses, as in the `quakestream` binary: the system allocator unless it says `mimalloc`, which
//! is what the operator runs the analytics on (docs/benchmarks.md). The state's memory is the
//! growth of the live Rust heap (a counting allocator over either: the mock cluster and
//! librdkafka allocate with C's malloc, outside it) from before the restarted engine starts to
//! when it is ready.

use chrono::{Duration as CDuration, TimeZone, Utc};
use quakestream_analytics::testing::{fresh_topics, produce, sample_records};
use quakestream_analytics::{AnalyticsConfig, AnalyticsMetrics};
use quakestream_core::ops::Health;
use quakestream_core::testkit::{self, testdata};
use quakestream_core::wire::{Action, WireRecord};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The underlying allocator, counting the bytes live on the Rust heap.
struct Counting;

const INNER: quakestream_core::alloc::WorkloadAllocator = quakestream_core::alloc::WorkloadAllocator;

static LIVE_BYTES: std::sync::atomic::AtomicIsize = std::sync::atomic::AtomicIsize::new(0);

// SAFETY: every call is passed on to `INNER` unchanged; only a counter is added.
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, std::sync::atomic::Ordering::Relaxed);
        unsafe { INNER.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, std::sync::atomic::Ordering::Relaxed);
        unsafe { INNER.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        let delta = new_size as isize - layout.size() as isize;
        LIVE_BYTES.fetch_add(delta, std::sync::atomic::Ordering::Relaxed);
        unsafe { INNER.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn heap_mb() -> f64 {
    LIVE_BYTES.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1e6
}

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

/// The benchmark's input: `n` events plus a revision of every tenth (an hour later, larger),
/// arriving 50 events after it.
///
/// - `world` (default): the USGS week (2,588 events, the whole globe, every magnitude), repeated
///   week after week with new unids, so the stream has the real catalogue's density and spread:
///   a million events are about 7½ years of the world's seismicity, replayed as fast as it goes.
/// - `dense`: the 430 EMSC events of one Turkish sequence, repeated with their origin times
///   squeezed into 30 days whatever `n` (1M events: 33,000 a day in one 300 km zone); the
///   workload of the first measurements, kept to compare.
fn workload(n: usize, kind: &str) -> Vec<WireRecord> {
    let (base, span_us, period_us) = match kind {
        "dense" => {
            let base = sample_records(&testdata("emsc-fdsn-2025-04-turkey-aegean-m2.5.json"));
            let step = (30 * 86_400_000_000i64) / n.max(1) as i64;
            (base, None, step)
        }
        "world" => {
            let mut base = sample_records(&testdata("usgs-all-week-2024-05-04.geojson"));
            base.sort_by_key(|r| r.quake.time);
            (base, Some(7 * 86_400_000_000i64), 0)
        }
        other => panic!("QS_BENCH_WORKLOAD={other}: world or dense"),
    };
    let start = Utc.with_ymd_and_hms(2016, 1, 1, 0, 0, 0).unwrap();
    let first = base[0].quake.time;
    let mut out = Vec::with_capacity(n + n / 10);
    let mut pending: std::collections::VecDeque<(usize, WireRecord)> = Default::default();
    for i in 0..n {
        let b = &base[i % base.len()].quake;
        let mut q = b.clone();
        q.unid = format!("bench{i:09}");
        q.time = match span_us {
            Some(week) => start + (b.time - first) + CDuration::microseconds(week * (i / base.len()) as i64),
            None => start + CDuration::microseconds(period_us * i as i64),
        };
        q.lastupdate = q.time + CDuration::minutes(10);
        out.push(WireRecord::new(Action::Create, q.clone(), q.lastupdate));
        if i % 10 == 0 {
            let mut r = q.clone();
            r.lastupdate += CDuration::hours(1);
            r.mag = r.mag.map(|m| m + 0.2);
            pending.push_back((i + 50, WireRecord::new(Action::Update, r.clone(), r.lastupdate)));
        }
        while pending.front().is_some_and(|(at, _)| *at <= i) {
            out.push(pending.pop_front().expect("present").1);
        }
    }
    out.extend(pending.into_iter().map(|(_, r)| r));
    out
}

/// The processors to run: `all` (default, as deployed), `stats` or `sequences`.
fn selected_processors(cfg: &AnalyticsConfig) -> Vec<Box<dyn quakestream_analytics::processor::Processor>> {
    let which = std::env::var("QS_BENCH_PROCESSORS").unwrap_or_else(|_| "all".into());
    let all = quakestream_analytics::processors(cfg);
    match which.as_str() {
        "all" => all,
        "stats" | "sequences" => all.into_iter().filter(|p| p.name() == which).collect(),
        other => panic!("QS_BENCH_PROCESSORS={other}: all, stats or sequences"),
    }
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
    let processors = selected_processors(&cfg);
    let task = tokio::spawn(async move {
        quakestream_analytics::run_with(cfg, processors, m, h, rx)
            .await
            .expect("analytics run");
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
    println!("  input read in {:.2} s", t0.elapsed().as_secs_f64());
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
    let kind = std::env::var("QS_BENCH_WORKLOAD").unwrap_or_else(|_| "world".into());
    quakestream_core::ops::init_logging(&std::env::var("QS_LOG").unwrap_or_else(|_| "warn".into()));
    let kafka = testkit::kafka();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average before: {}", load.trim());
    let allocator = quakestream_core::alloc::check().unwrap_or_else(|e| panic!("{e}"));
    println!(
        "allocator: {} ({})",
        allocator.as_str(),
        quakestream_contract::env::ALLOCATOR
    );

    let mut cfg = fresh_topics(kafka, "bench", partitions);
    cfg.commit_interval = Duration::from_millis(env_usize("QS_BENCH_COMMIT_MS", 1000) as u64);
    cfg.max_records_per_transaction = env_usize("QS_BENCH_MAX_TXN", 100_000);
    let records = workload(n, &kind);
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
    println!(
        "  commit latency (building a transaction to the broker's commit; it overlaps the next interval): \
         {} commits, mean {:.1} ms",
        m.commit_seconds.get_sample_count(),
        1e3 * m.commit_seconds.get_sample_sum() / m.commit_seconds.get_sample_count().max(1) as f64,
    );
    run.stop.send_replace(true);
    run.task.await.unwrap();

    if restore_n == 0 {
        return;
    }
    let mut cfg = fresh_topics(kafka, "restore", partitions);
    cfg.commit_interval = Duration::from_millis(env_usize("QS_BENCH_COMMIT_MS", 1000) as u64);
    cfg.max_records_per_transaction = env_usize("QS_BENCH_MAX_TXN", 100_000);
    let records = workload(restore_n, &kind);
    let (secs, run) = through(&cfg, &records).await;
    println!(
        "state of {restore_n} events built through the loop: {:.2} s ({:.0} records/s)",
        secs,
        records.len() as f64 / secs
    );
    run.stop.send_replace(true);
    run.task.await.unwrap();
    assert_nothing_dropped(&cfg, &cfg.events_changelog_topic());
    let (before, heap_before) = (rss_mb(), heap_mb());
    let started = Instant::now();
    let run = start(cfg.clone());
    let h = run.health.clone();
    wait("restored", Duration::from_secs(600), || h.is_ready()).await;
    let wall = started.elapsed().as_secs_f64();
    let (after, heap_after) = (rss_mb(), heap_mb());
    let m = &run.metrics;
    println!(
        "restore: {} changelog records ({} events, {} stats entries) in {:.2} s from start to ready \
         (of which reading and applying the changelogs {:.2} s; the rest is joining the group); Rust heap {:.0} → {:.0} MB: {:.0} MB for the state of {} events \
         (RSS {:.0} → {:.0} MB)",
        m.restored.with_label_values(&["events"]).get() + m.restored.with_label_values(&["stats"]).get(),
        m.state_entries.with_label_values(&["events"]).get(),
        m.state_entries.with_label_values(&["stats_windows"]).get(),
        wall,
        m.restore_seconds.get_sample_sum(),
        heap_before,
        heap_after,
        heap_after - heap_before,
        restore_n,
        before,
        after,
    );
    run.stop.send_replace(true);
    run.task.await.unwrap();
    println!(
        "load average after: {}",
        std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim()
    );
}
