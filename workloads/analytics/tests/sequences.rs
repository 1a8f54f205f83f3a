//! The sequences processor against librdkafka's mock cluster: `quake-sequences`, reduced to the
//! latest value per key (tombstones delete), equals the batch Gardner–Knopoff grouping over the
//! final catalogue, whatever the revisions; a restart restores the grouper from its changelog;
//! and the bundled recording's Marmara Sea sequence comes out as one sequence.

use quakestream_analytics::event::Event;
use quakestream_analytics::sequences::msg::groupable;
use quakestream_analytics::stats::batch::latest;
use quakestream_analytics::testing::{self, produce, revisions, sample_records};
use quakestream_analytics::{AnalyticsConfig, AnalyticsMetrics, AnalyticsReport};
use quakestream_core::ops::Health;
use quakestream_core::testkit::{self, testdata};
use quakestream_core::wire::WireRecord;
use quakestream_seismo::record::{Estimate, SequenceKind};
use quakestream_seismo::{Params, SequenceRecord, batch};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio::sync::watch;

const WAIT: Duration = Duration::from_secs(120);
const MAINSHOCK: &str = "20250423_0000104";

struct Running {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<AnalyticsReport>,
    metrics: AnalyticsMetrics,
    health: Health,
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
        health,
    }
}

impl Running {
    async fn stop(self) -> AnalyticsReport {
        self.stop.send_replace(true);
        self.task.await.expect("engine task")
    }
}

fn emsc_sample() -> Vec<WireRecord> {
    let mut r = sample_records(&testdata("emsc-fdsn-2025-04-turkey-aegean-m2.5.json"));
    r.sort_by_key(|r| r.quake.lastupdate);
    r
}

/// Sequence id -> its events (mainshock included), from the batch grouping of the final
/// catalogue (the latest revision of each event, as the event table keeps it).
fn expected(records: &[WireRecord]) -> BTreeMap<String, BTreeSet<String>> {
    let events: Vec<(String, Event)> = records
        .iter()
        .map(|r| (r.quake.unid.clone(), Event::from_quake(&r.quake)))
        .collect();
    let catalogue: Vec<quakestream_seismo::Event> = latest(events.iter().map(|(u, e)| (u.as_str(), e)))
        .into_iter()
        .filter_map(|(u, e)| groupable(u, e))
        .collect();
    let params = Params::default();
    let ids = quakestream_seismo::Grouper::from_events(params, catalogue.clone()).unwrap();
    batch::group(&params, &catalogue)
        .into_iter()
        .filter(|c| c.members.len() + 1 >= params.min_members)
        .map(|c| {
            let id = ids.sequence_of(&c.head).expect("a published cluster has an id");
            let mut set: BTreeSet<String> = c.members.into_iter().collect();
            set.insert(c.head);
            (id, set)
        })
        .collect()
}

/// The latest record per key of `quake-sequences` (a tombstone deletes the key).
fn reduce(records: &[testkit::Record]) -> BTreeMap<String, SequenceRecord> {
    let mut out = BTreeMap::new();
    for r in records {
        let key = String::from_utf8(r.key.clone().expect("keyed")).unwrap();
        match &r.value {
            None => {
                out.remove(&key);
            }
            Some(v) => {
                let rec: SequenceRecord =
                    serde_json::from_slice(v).unwrap_or_else(|e| panic!("undecodable record at {}: {e}", r.offset));
                assert_eq!(rec.id, key, "the key is the id");
                out.insert(key, rec);
            }
        }
    }
    out
}

fn members(r: &SequenceRecord) -> BTreeSet<String> {
    assert!(!r.member_unids_truncated);
    let mut s: BTreeSet<String> = r.member_unids.iter().cloned().collect();
    s.insert(r.mainshock.unid.clone());
    assert_eq!(s.len(), r.members, "{}: members count", r.id);
    s
}

/// Reads the output until it equals `want` (or `WAIT` passes); returns the reduced output.
async fn converge(cfg: &AnalyticsConfig, want: BTreeMap<String, BTreeSet<String>>) -> BTreeMap<String, SequenceRecord> {
    let (b, t) = (cfg.bootstrap_servers.clone(), cfg.sequences_topic.clone());
    tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let got = reduce(&testkit::read_topic_to_end(&b, &t, Duration::from_secs(30)));
            let sets: BTreeMap<String, BTreeSet<String>> = got.iter().map(|(k, r)| (k.clone(), members(r))).collect();
            if sets == want {
                return got;
            }
            if std::time::Instant::now() >= deadline {
                let only_got: Vec<_> = sets.keys().filter(|k| !want.contains_key(*k)).collect();
                let only_want: Vec<_> = want.keys().filter(|k| !sets.contains_key(*k)).collect();
                let differ: Vec<_> = want.keys().filter(|k| sets.get(*k).is_some_and(|s| s != &want[*k])).collect();
                panic!("quake-sequences differs from the batch grouping: only emitted {only_got:?}, missing {only_want:?}, different members {differ:?}");
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    })
    .await
    .unwrap()
}

async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn check_marmara(got: &BTreeMap<String, SequenceRecord>) {
    let r = got
        .values()
        .find(|r| r.mainshock.unid == MAINSHOCK)
        .expect("the Marmara Sea mainshock heads a sequence");
    assert_eq!(r.id, format!("seq-{MAINSHOCK}"));
    assert_eq!(r.name, "WESTERN TURKEY M6.2 2025-04-23");
    assert_eq!(r.kind, SequenceKind::MainshockAftershock);
    assert!((130..=160).contains(&r.members), "{} members", r.members);
    let b = r.stats.b_value.ok().expect("a b-value");
    assert!((0.75..=1.4).contains(&b.b), "b = {} ± {}", b.b, b.sigma);
    let o = r.stats.omori.ok().expect("an Omori fit");
    assert!((0.7..=1.6).contains(&o.p), "p = {}", o.p);
    assert!(matches!(r.stats.mc, Estimate::Ok(_)));
    // No other sequence holds it or is as large.
    assert!(got.values().filter(|s| s.id != r.id).all(|s| s.members < r.members));
}

/// The recording replayed oldest first, then revisions (bigger, moved, some turned into quarry
/// blasts, which leave their sequences) and a replay of the first 50 records.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_output_equals_the_batch_grouping_of_the_final_catalogue() {
    let kafka = testkit::kafka();
    let cfg = testing::fresh_topics(kafka, "seq", 3);
    let base = emsc_sample();
    produce(&kafka.bootstrap, &cfg.input_topic, &base).await;
    let run = start(cfg.clone());
    let got = converge(&cfg, expected(&base)).await;
    check_marmara(&got);
    let schema_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/quake-sequences.v1.json");
    let schema: serde_json::Value = serde_json::from_slice(&std::fs::read(&schema_path).unwrap()).unwrap();
    let validator = jsonschema::options().build(&schema).expect("a valid schema");
    for r in got.values() {
        let v = serde_json::to_value(r).unwrap();
        if let Err(e) = validator.validate(&v) {
            panic!("{} does not match the schema: {e}", r.id);
        }
    }

    let mut all = base.clone();
    all.extend(revisions(&base, 7));
    all.extend(base[..50].iter().cloned());
    produce(&kafka.bootstrap, &cfg.input_topic, &all[base.len()..]).await;
    let want = expected(&all);
    assert_ne!(want, expected(&base), "the revisions change the grouping");
    converge(&cfg, want).await;
    let m = &run.metrics;
    eventually("every input record consumed", || m.input_records() == all.len() as u64).await;
    let report = run.stop().await;
    assert_eq!(report.dead_lettered, 0);
}

/// A restart restores the grouper from the sequences' changelog (not from the input), then goes
/// on where it stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restart_restores_the_grouping_from_its_changelog() {
    let kafka = testkit::kafka();
    let cfg = testing::fresh_topics(kafka, "seqrestore", 2);
    let all = emsc_sample();
    let (first, second) = all.split_at(all.len() * 2 / 3);
    produce(&kafka.bootstrap, &cfg.input_topic, first).await;
    let run = start(cfg.clone());
    converge(&cfg, expected(first)).await;
    run.stop().await;

    let run = start(cfg.clone());
    let m = run.metrics.clone();
    eventually("restored and ready", || run.health.is_ready()).await;
    let restored = m
        .restored
        .with_label_values(&[quakestream_analytics::sequences::NAME])
        .get();
    assert!(restored > 0, "the sequences' changelog was read");
    produce(&kafka.bootstrap, &cfg.input_topic, second).await;
    let got = converge(&cfg, expected(&all)).await;
    check_marmara(&got);
    let r2 = run.stop().await;
    assert_eq!(r2.input_records, second.len() as u64, "only the new records were read");
}

/// Not a test: the cost of the sequences' global task in process (no Kafka), for
/// docs/benchmarks.md. `QS_BENCH_COPIES` copies of the recording (distinct unids, each copy 40
/// days later), every tenth event revised, applied and flushed every 1000 records; then a
/// restore from the changelog it wrote.
///   QS_BENCH_COPIES=50 cargo test --workspace --locked --test sequences -- --ignored --nocapture sequences_task_cost
#[test]
#[ignore]
fn sequences_task_cost() {
    use quakestream_analytics::processor::{GlobalOut, GlobalTask};
    use quakestream_analytics::sequences::global::SequencesGlobal;
    use quakestream_analytics::sequences::msg::Change;
    let copies: i64 = std::env::var("QS_BENCH_COPIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let base: Vec<quakestream_seismo::Event> = emsc_sample()
        .iter()
        .filter_map(|r| groupable(&r.quake.unid, &Event::from_quake(&r.quake)))
        .collect();
    let mut changes: Vec<(String, Change)> = Vec::new();
    for c in 0..copies {
        let shift = chrono::Duration::days(40 * c);
        for (i, e) in base.iter().enumerate() {
            let mut e = e.clone();
            e.unid = format!("{}-{c}", e.unid);
            e.time += shift;
            e.lastupdate += shift;
            let ver = changes.len() as i64;
            changes.push((
                e.unid.clone(),
                Change {
                    src: 0,
                    ver,
                    st: e.time_us(),
                    ev: Some(e.clone()),
                },
            ));
            if i % 10 == 0 {
                e.lastupdate += chrono::Duration::hours(1);
                e.mag = e.mag.map(|m| m + 0.3);
                changes.push((
                    e.unid.clone(),
                    Change {
                        src: 0,
                        ver: ver + 1,
                        st: e.time_us(),
                        ev: Some(e),
                    },
                ));
            }
        }
    }
    let mut g = SequencesGlobal::new(Params::default());
    let (mut changelog, mut published) = (BTreeMap::new(), 0usize);
    let started = std::time::Instant::now();
    for chunk in changes.chunks(1000) {
        for (k, c) in chunk {
            g.apply(k.as_bytes(), &c.encode()).unwrap();
        }
        let mut out = GlobalOut::default();
        g.flush(&mut out);
        published += out.output.len();
        changelog.extend(out.changelog);
    }
    let run = started.elapsed();
    let started = std::time::Instant::now();
    let mut r = SequencesGlobal::new(Params::default());
    for (k, v) in &changelog {
        r.restore(k, v.as_deref()).unwrap();
    }
    r.restored();
    let restore = started.elapsed();
    assert_eq!(r.grouper().sequence_ids(), g.grouper().sequence_ids());
    println!(
        "{} records ({} events), {} flushes: {:.2} s, {:.0} records/s, {published} sequence records; restore of {} changelog entries: {:.3} s; {} sequences",
        changes.len(),
        g.grouper().len(),
        changes.len().div_ceil(1000),
        run.as_secs_f64(),
        changes.len() as f64 / run.as_secs_f64(),
        changelog.len(),
        restore.as_secs_f64(),
        r.grouper().sequence_ids().len()
    );
}
