//! The aggregation itself, without Kafka: the engine's event tables, local tasks and global
//! tasks wired in memory exactly as the engine wires them through the repartition topic (records
//! of one source partition stay in order, partitions interleave freely, flushes land anywhere).
//! Property: whatever the arrival order of events and revisions, the final windows equal a batch
//! recomputation over the latest revision of each event.

use proptest::prelude::*;
use quakestream_analytics::event::Event;
use quakestream_analytics::processor::{GlobalOut, GlobalTask, LocalFlush, LocalTask, Routed, route};
use quakestream_analytics::stats::global::{StatsGlobal, WindowSettings};
use quakestream_analytics::stats::local::StatsLocal;
use quakestream_analytics::stats::msg::Msg;
use quakestream_analytics::stats::{Kind, StatsRecord, batch};
use quakestream_analytics::table::{Applied, EventTable};
use quakestream_core::model::Source;
use std::collections::{BTreeMap, VecDeque};

const HOUR_US: i64 = 3_600_000_000;
const DAY_US: i64 = 24 * HOUR_US;
/// 2025-04-20T00:00:00Z.
const BASE_US: i64 = 1_745_107_200_000_000;

struct Source_ {
    table: EventTable,
    local: StatsLocal,
    version: i64,
}

struct Sim {
    sources: Vec<Source_>,
    globals: Vec<StatsGlobal>,
    queues: Vec<VecDeque<Routed>>,
    latest: BTreeMap<String, StatsRecord>,
    finals: BTreeMap<String, u32>,
    corrections: u64,
}

impl Sim {
    fn new(sources: i32, globals: i32, w: WindowSettings) -> Sim {
        Sim {
            sources: (0..sources)
                .map(|p| Source_ {
                    table: EventTable::new(w.retention_us),
                    local: StatsLocal::new(p),
                    version: -1,
                })
                .collect(),
            globals: (0..globals).map(|_| StatsGlobal::new(w)).collect(),
            queues: (0..globals).map(|_| VecDeque::new()).collect(),
            latest: BTreeMap::new(),
            finals: BTreeMap::new(),
            corrections: 0,
        }
    }

    fn send(&mut self, unid: &str, ev: &Event) {
        let p = route(unid.as_bytes(), self.sources.len() as i32) as usize;
        let s = &mut self.sources[p];
        s.version += 1;
        if let Applied::Changed { old } = s.table.apply(unid, ev.clone(), ev.lastupdate_us) {
            s.local.on_change(unid, old.as_ref(), s.table.get(unid));
        }
    }

    fn flush_source(&mut self, p: usize) {
        let n = self.globals.len() as i32;
        let sources = self.sources.len() as i32;
        let s = &mut self.sources[p];
        let f = LocalFlush {
            version: s.version,
            stream_time_us: s.table.stream_time(),
            repartitions: n,
            caught_up: false,
            sources,
        };
        let mut out = Vec::new();
        s.local.flush(&f, &mut out);
        for r in out {
            self.queues[r.partition as usize].push_back(r);
        }
    }

    fn deliver(&mut self, q: usize, n: usize) {
        for _ in 0..n {
            let Some(r) = self.queues[q].pop_front() else { return };
            self.globals[q].apply(&r.key, &r.value).unwrap();
        }
    }

    fn flush_global(&mut self, q: usize) {
        let mut out = GlobalOut::default();
        self.globals[q].flush(&mut out);
        self.corrections += out.corrections;
        for (k, v) in out.output {
            let k = String::from_utf8(k).unwrap();
            let rec: StatsRecord = serde_json::from_slice(&v).unwrap();
            if rec.kind == Kind::Final {
                *self.finals.entry(k.clone()).or_default() += 1;
            }
            self.latest.insert(k, rec);
        }
    }

    /// Drains everything, then moves stream time far ahead so every window closes.
    fn finish(&mut self) {
        for p in 0..self.sources.len() {
            self.flush_source(p);
        }
        for q in 0..self.globals.len() {
            self.deliver(q, usize::MAX);
            self.flush_global(q);
            for src in 0..self.sources.len() as i32 {
                let wm = Msg::Watermark {
                    src,
                    st: BASE_US + 400 * DAY_US,
                    idle: false,
                    of: self.sources.len() as i32,
                };
                self.globals[q].apply(b"~watermark", &wm.encode()).unwrap();
            }
            self.flush_global(q);
        }
    }
}

fn regions() -> Vec<&'static str> {
    vec![
        "WESTERN TURKEY",
        "AEGEAN SEA",
        "CENTRAL ITALY",
        "ICELAND",
        "NORTHERN CALIFORNIA",
    ]
}

/// One revision: origin time offset (minutes from BASE), revision number, magnitude ×10
/// (or none), magtype, region, depth, earthquake or not.
fn revision() -> impl Strategy<Value = (u32, u16, Option<i16>, u8, u8, u16, bool)> {
    (
        0u32..(3 * 24 * 60),
        0u16..50,
        prop::option::weighted(0.9, -10i16..85),
        0u8..4,
        0u8..5,
        0u16..700,
        prop::bool::weighted(0.95),
    )
}

fn make_event(rev: (u32, u16, Option<i16>, u8, u8, u16, bool)) -> Event {
    let (minute, n, mag, mt, region, depth, eq) = rev;
    Event {
        time_us: BASE_US + i64::from(minute) * 60_000_000 + 17_000_000,
        // Revisions come within 10 days of the base.
        lastupdate_us: BASE_US + i64::from(n) * 4 * HOUR_US + i64::from(minute),
        lat: 38.0,
        lon: 27.0,
        depth_km: f64::from(depth) / 10.0,
        mag: mag.map(|m| f64::from(m) / 10.0),
        magtype: Some(["mw", "ml", "mb", "md"][mt as usize].into()),
        region: regions()[region as usize].into(),
        earthquake: eq,
        source: Source::Emsc,
    }
}

/// Events (each with 1..4 revisions), a shuffled arrival order, and where flushes happen.
fn scenario() -> impl Strategy<Value = (Vec<(String, Event)>, Vec<usize>, Vec<u8>)> {
    prop::collection::vec(prop::collection::vec(revision(), 1..4), 1..40)
        .prop_flat_map(|events| {
            let records: Vec<(String, Event)> = events
                .into_iter()
                .enumerate()
                .flat_map(|(i, revs)| {
                    revs.into_iter()
                        .map(move |r| (format!("2025042{}_{i:07}", i % 10), make_event(r)))
                })
                .collect();
            let n = records.len();
            let order = Just((0..n).collect::<Vec<_>>()).prop_shuffle();
            // Duplicates: some records arrive twice.
            let dups = prop::collection::vec(0..n, 0..(n / 3 + 1));
            (Just(records), order, dups)
        })
        .prop_flat_map(|(records, mut order, dups)| {
            order.extend(dups);
            let steps = order.len();
            (
                Just(records),
                Just(order).prop_shuffle(),
                prop::collection::vec(any::<u8>(), steps),
            )
        })
}

fn run_sim(records: &[(String, Event)], order: &[usize], schedule: &[u8], w: WindowSettings) -> Sim {
    let mut sim = Sim::new(3, 2, w);
    for (i, &r) in order.iter().enumerate() {
        let (unid, ev) = &records[r];
        sim.send(unid, ev);
        let s = schedule[i];
        if s.is_multiple_of(3) {
            sim.flush_source(usize::from(s / 3) % 3);
        }
        if s % 4 == 1 {
            let q = usize::from(s / 4) % 2;
            sim.deliver(q, usize::from(s % 7));
        }
        if s % 5 == 2 {
            sim.flush_global(usize::from(s / 5) % 2);
        }
    }
    sim.finish();
    sim
}

fn check_against_batch(sim: &Sim, records: &[(String, Event)], grace_us: i64) -> Result<(), TestCaseError> {
    let expected = batch::compute(records.iter().map(|(u, e)| (u.as_str(), e)), grace_us);
    for (key, want) in &expected {
        let got = sim.latest.get(key);
        prop_assert!(got.is_some(), "window {key} never emitted");
        let got = got.unwrap();
        prop_assert!(got.same_measures(want), "window {key}:\n got  {got:?}\n want {want:?}");
    }
    for (key, got) in &sim.latest {
        if !expected.contains_key(key) {
            prop_assert_eq!(
                got.count,
                0,
                "window {} is not in the batch result but counts {}",
                key,
                got.count
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Within grace (nothing closes before the end): one final per window, no correction, and
    /// the finals equal the batch result.
    #[test]
    fn any_arrival_order_within_grace_gives_the_batch_result((records, order, schedule) in scenario()) {
        let w = WindowSettings { grace_us: 30 * DAY_US, retention_us: 200 * DAY_US };
        let sim = run_sim(&records, &order, &schedule, w);
        check_against_batch(&sim, &records, w.grace_us)?;
        prop_assert_eq!(sim.corrections, 0);
        for (key, rec) in &sim.latest {
            prop_assert_eq!(rec.kind, Kind::Final, "{}", key);
            prop_assert_eq!(sim.finals.get(key).copied(), Some(1), "{} has one final", key);
        }
    }

    /// With a short grace, late revisions arrive after windows closed: they become corrections,
    /// and the latest value per window still equals the batch result (nothing dropped).
    #[test]
    fn late_revisions_become_corrections_and_nothing_is_lost((records, order, schedule) in scenario()) {
        let w = WindowSettings { grace_us: HOUR_US, retention_us: 200 * DAY_US };
        let sim = run_sim(&records, &order, &schedule, w);
        check_against_batch(&sim, &records, w.grace_us)?;
        for key in sim.latest.keys() {
            prop_assert!(sim.finals.get(key).copied().unwrap_or(0) <= 1, "{} has at most one final", key);
        }
    }
}

/// A concrete late revision: the window has its final, the revision arrives, a correction follows.
#[test]
fn a_revision_after_close_produces_a_correction() {
    let w = WindowSettings {
        grace_us: HOUR_US,
        retention_us: 200 * DAY_US,
    };
    let mut sim = Sim::new(1, 1, w);
    let mut first = make_event((0, 0, Some(31), 0, 3, 100, true));
    sim.send("20250420_0000001", &first);
    // A later event (received 8 h after the base) moves stream time to 05:00:17, past the
    // first hour's end + grace.
    let later = make_event((5 * 60, 2, Some(20), 0, 3, 100, true));
    sim.send("20250420_0000002", &later);
    sim.flush_source(0);
    sim.deliver(0, usize::MAX);
    sim.flush_global(0);
    let key = "1h/2025-04-20T00:00:00Z/region/ICELAND";
    assert_eq!(sim.latest[key].kind, Kind::Final);
    assert_eq!(sim.latest[key].count, 1);
    assert_eq!(sim.corrections, 0);
    // The first event is revised: M3.1 → M5.4.
    first.lastupdate_us += HOUR_US;
    first.mag = Some(5.4);
    sim.send("20250420_0000001", &first);
    sim.flush_source(0);
    sim.deliver(0, usize::MAX);
    sim.flush_global(0);
    let rec = &sim.latest[key];
    assert_eq!(rec.kind, Kind::Correction);
    assert_eq!(rec.largest.as_ref().unwrap().mag, 5.4);
    assert_eq!(rec.bands.b4_6, 1);
    assert_eq!(rec.bands.b2_4, 0);
    // Closed at 05:00:17 with 1 h of grace: the hour, and the 4 hopping windows ending at
    // 01:00..04:00; for the world, the region, band 2-4 (retracted) and band 4-6 (added).
    assert_eq!(sim.corrections, 5 * 4);
    let day = &sim.latest["1d/2025-04-20T00:00:00Z/world"];
    assert_eq!(day.kind, Kind::Update, "the day is still open");
    assert_eq!(day.count, 2);
}

/// A global task restored from its changelog continues exactly where it left off.
#[test]
fn a_global_task_restored_from_its_changelog_continues_identically() {
    let w = WindowSettings {
        grace_us: 2 * HOUR_US,
        retention_us: 200 * DAY_US,
    };
    let events: Vec<(String, Event)> = (0..60u32)
        .map(|i| {
            (
                format!("e{i:03}"),
                make_event((
                    i * 97 % 4000,
                    1,
                    Some((i % 70) as i16),
                    (i % 4) as u8,
                    (i % 5) as u8,
                    50,
                    true,
                )),
            )
        })
        .collect();
    let mut a = Sim::new(1, 1, w);
    let mut log: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::new();
    for (i, (u, e)) in events.iter().enumerate() {
        a.send(u, e);
        if i % 7 == 0 {
            a.flush_source(0);
            a.deliver(0, usize::MAX);
            let mut out = GlobalOut::default();
            a.globals[0].flush(&mut out);
            log.extend(out.changelog);
        }
    }
    let mut restored = StatsGlobal::new(w);
    for (k, v) in &log {
        restored.restore(k, v.as_deref()).unwrap();
    }
    restored.restored();
    assert_eq!(restored.entries(), a.globals[0].entries());
    assert_eq!(restored.open(), a.globals[0].open());
    assert_eq!(restored.stream_time(), a.globals[0].stream_time());
    assert!(restored.entries() > 10);
    assert!(restored.restore(b"p|x|0|world", Some(b"[1,{}]")).is_err());
}
