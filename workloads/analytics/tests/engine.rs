//! The engine against a real Kafka protocol: librdkafka's mock cluster (or the broker named by
//! KAFKA_BOOTSTRAP_SERVERS), transactions included. No sleeps as synchronisation: every wait is
//! on a condition, with a generous bound as a failure guard.

use quakestream_analytics::testing::{self, expected, produce, revisions, sample_records, wait_for_convergence};
use quakestream_analytics::{AnalyticsConfig, AnalyticsMetrics, AnalyticsReport};
use quakestream_core::ops::{Health, render_metrics};
use quakestream_core::testkit::{self, testdata};
use quakestream_core::wire::{WireRecord, headers};
use std::time::Duration;
use tokio::sync::watch;

const WAIT: Duration = Duration::from_secs(120);

struct Running {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<AnalyticsReport>,
    metrics: AnalyticsMetrics,
    registry: prometheus::Registry,
    health: Health,
}

impl Running {
    async fn stop(self) -> AnalyticsReport {
        self.stop.send_replace(true);
        self.task.await.expect("engine task")
    }
}

fn start(cfg: AnalyticsConfig) -> Running {
    let registry = prometheus::Registry::new();
    let metrics = AnalyticsMetrics::new(&registry).unwrap();
    let health = Health::new();
    let (stop, rx) = watch::channel(false);
    let (m, h) = (metrics.clone(), health.clone());
    let task = tokio::spawn(async move { quakestream_analytics::run(cfg, m, h, rx).await.expect("analytics run") });
    Running {
        stop,
        task,
        metrics,
        registry,
        health,
    }
}

async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Records in the order the producer replays a FeatureCollection: oldest revision first.
fn emsc_sample() -> Vec<WireRecord> {
    let mut r = sample_records(&testdata("emsc-fdsn-2025-04-turkey-aegean-m2.5.json"));
    r.sort_by_key(|r| r.quake.lastupdate);
    r
}

async fn converge(cfg: &AnalyticsConfig, records: &[WireRecord]) -> Vec<testkit::Record> {
    let want = expected(records, cfg.grace);
    assert!(want.len() > 100, "{} windows expected", want.len());
    let (b, t) = (cfg.bootstrap_servers.clone(), cfg.stats_topic.clone());
    let (diff, got) = tokio::task::spawn_blocking(move || wait_for_convergence(&b, &t, &want, WAIT))
        .await
        .unwrap();
    assert!(
        diff.is_empty(),
        "quake-stats does not match the batch result: {diff:#?}"
    );
    got
}

fn schema() -> jsonschema::Validator {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/quake-stats.v1.json");
    let schema: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("a valid schema")
}

/// The real EMSC recording (430 events, 25 days) replayed oldest first, then one revision for
/// every tenth event (an hour later, bigger, some moved, some turned into quarry blasts) and a
/// replay of the first 50 records: the latest value of every window equals the batch result,
/// the revisions that came after their windows closed are corrections, and every record matches
/// the schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_real_recording_with_revisions_and_duplicates_matches_the_batch_result() {
    let kafka = testkit::kafka();
    let cfg = testing::fresh_topics(kafka, "emsc", 3);
    let base = emsc_sample();
    let revs = revisions(&base, 10);
    let mut all = base.clone();
    all.extend(revs.iter().cloned());
    all.extend(base[..50].iter().cloned());
    // The recording first: its windows are computed and the old ones closed...
    produce(&kafka.bootstrap, &cfg.input_topic, &base).await;
    let run = start(cfg.clone());
    converge(&cfg, &base).await;
    let m = &run.metrics;
    assert!(m.emitted.with_label_values(&["final"]).get() > 0);
    // (Replayed by lastupdate, events revised days after their origin already arrive after
    // their windows closed: how many depends on where commits fall, so only the growth counts.)
    let corrections_before = m.late_corrections.get();
    // ...then the revisions and the replay arrive.
    produce(&kafka.bootstrap, &cfg.input_topic, &all[base.len()..]).await;
    let records = converge(&cfg, &all).await;
    eventually("every input record consumed", || m.input_records() == all.len() as u64).await;
    assert_eq!(
        m.records.with_label_values(&["input", "stale"]).get(),
        50,
        "the replayed records change nothing"
    );
    assert!(
        m.late_corrections.get() > corrections_before,
        "the revisions of closed windows were corrected"
    );
    assert_eq!(
        m.late_corrections.get(),
        m.emitted.with_label_values(&["correction"]).get()
    );
    assert!(m.emitted.with_label_values(&["final"]).get() > 0);
    assert!(m.transactions.with_label_values(&["commit"]).get() > 0);
    assert_eq!(m.transactions.with_label_values(&["abort"]).get(), 0);
    assert!(run.health.is_ready());

    let validator = schema();
    let mut kinds = std::collections::BTreeMap::new();
    for r in &records {
        let v: serde_json::Value = serde_json::from_slice(r.value.as_deref().unwrap()).unwrap();
        if let Err(e) = validator.validate(&v) {
            panic!("record {} does not match the schema: {e}\n{v}", r.offset);
        }
        *kinds.entry(v["kind"].as_str().unwrap().to_owned()).or_insert(0) += 1;
    }
    assert!(kinds.len() == 3, "updates, finals and corrections: {kinds:?}");
    let text = render_metrics(&run.registry);
    let report = run.stop().await;
    assert_eq!(report.input_records, all.len() as u64);
    assert_eq!(report.dead_lettered, 0);
    assert!(text.contains("quakestream_analytics_commit_duration_seconds_bucket"));
    check_with_promtool(&text);
}

/// A restart restores its state from the changelogs and does not read `quakes` again: the
/// second run consumes exactly the records produced after the first stopped, restores the
/// first half's events, and the windows still equal the batch over everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restart_restores_from_the_changelog_instead_of_rereading_the_input() {
    let kafka = testkit::kafka();
    let cfg = testing::fresh_topics(kafka, "restore", 3);
    let all = emsc_sample();
    let (first, second) = all.split_at(all.len() / 2);
    produce(&kafka.bootstrap, &cfg.input_topic, first).await;
    let run = start(cfg.clone());
    converge(&cfg, first).await;
    let r1 = run.stop().await;
    assert_eq!(r1.input_records, first.len() as u64);
    assert_eq!(r1.restored_records, 0, "nothing to restore on the first start");

    let run = start(cfg.clone());
    let m = run.metrics.clone();
    eventually("restored and ready", || run.health.is_ready()).await;
    let restored_events = m.restored.with_label_values(&["events"]).get();
    assert!(
        restored_events >= first.len() as u64,
        "every event of the first half came back from the changelog ({restored_events})"
    );
    assert!(m.restored.with_label_values(&["stats"]).get() > 0);
    assert_eq!(
        m.state_entries.with_label_values(&["events"]).get(),
        first.len() as i64,
        "the restored table holds the first half"
    );
    produce(&kafka.bootstrap, &cfg.input_topic, second).await;
    converge(&cfg, &all).await;
    eventually("the second half consumed", || m.input_records() >= second.len() as u64).await;
    let r2 = run.stop().await;
    assert_eq!(
        r2.input_records,
        second.len() as u64,
        "after the restart only the new records were read from the input"
    );
}

/// Undecodable records and revisions beyond retention go to the dead-letter topic with their
/// reason, in the same transactions, and the engine goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_records_and_expired_revisions_are_dead_lettered() {
    let kafka = testkit::kafka();
    let mut cfg = testing::fresh_topics(kafka, "dlq", 1);
    cfg.grace = Duration::from_secs(3600);
    cfg.retention = Duration::from_secs(3 * 86_400);
    let all = emsc_sample();
    let (newest, oldest) = (all.last().unwrap().clone(), all.first().unwrap().clone());
    // The newest event first (stream time = 2025-04-26), then one 25 days older: beyond retention.
    let mut expired = oldest.clone();
    expired.quake.lastupdate = newest.quake.lastupdate + chrono::Duration::hours(1);
    produce(&kafka.bootstrap, &cfg.input_topic, &[newest.clone(), expired]).await;
    let producer = quakestream_core::kafka::create_producer(&kafka.bootstrap).unwrap();
    for (k, v) in [("junk", &b"not json"[..]), ("20250101_0000001", &b"{\"v\":7}"[..])] {
        producer
            .send(
                rdkafka::producer::FutureRecord::<str, [u8]>::to(&cfg.input_topic)
                    .key(k)
                    .payload(v),
                Duration::from_secs(30),
            )
            .await
            .map_err(|(e, _)| e)
            .unwrap();
    }
    let run = start(cfg.clone());
    let m = run.metrics.clone();
    eventually("all four consumed", || m.input_records() == 4).await;
    // Committed, and the good event's partial through the repartition topic into a window (a
    // stop before that would leave it for the next run, which this test does not start).
    eventually("committed and aggregated", || {
        m.transactions.with_label_values(&["commit"]).get() > 0
            && m.emitted.with_label_values(&["update"]).get() > 0
            && testkit::read_topic_to_end(&kafka.bootstrap, &cfg.dlq_topic, Duration::from_secs(10)).len() == 3
    })
    .await;
    let dlq = testkit::read_topic_to_end(&kafka.bootstrap, &cfg.dlq_topic, WAIT);
    let reasons: std::collections::BTreeSet<String> = dlq.iter().map(|r| r.headers[headers::REASON].clone()).collect();
    assert_eq!(
        reasons,
        ["bad_json", "beyond_retention", "unsupported_version"]
            .map(String::from)
            .into()
    );
    for r in &dlq {
        assert_eq!(r.headers[headers::STAGE], "analytics");
        assert!(!r.headers[headers::ERROR].is_empty());
    }
    assert_eq!(m.expired.get(), 1);
    assert_eq!(m.dlq.with_label_values(&["beyond_retention"]).get(), 1);
    let report = run.stop().await;
    assert_eq!(report.dead_lettered, 3);
    // The one good event is counted.
    let stats = testkit::read_topic_to_end(&kafka.bootstrap, &cfg.stats_topic, WAIT);
    let got = testing::reduce(&stats);
    let world_hour = got
        .iter()
        .find(|(k, _)| k.starts_with("1h/") && k.ends_with("/world"))
        .expect("a world hour");
    assert_eq!(world_hour.1.count, 1);
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
