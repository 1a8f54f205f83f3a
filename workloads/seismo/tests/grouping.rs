//! The streaming grouping equals the batch algorithm over the final catalogue, whatever the
//! arrival order and the revisions; what it reports through `take_changes` keeps a compacted
//! topic equal to the current sequences; ids survive the revisions they should.

mod common;

use common::*;
use proptest::prelude::*;
use quakestream_seismo::record::SequenceKind;
use quakestream_seismo::{Applied, Event, Grouper, Params, SequenceRecord, batch};
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone)]
enum Op {
    Upsert(Event),
    Retract(String),
}

/// The catalogue after all operations: the latest revision of every unid not retracted.
fn final_catalogue(ops: &[Op]) -> Vec<Event> {
    let mut latest: HashMap<String, Event> = HashMap::new();
    for op in ops {
        match op {
            Op::Upsert(e) => {
                if latest.get(&e.unid).is_none_or(|old| e.supersedes(old)) {
                    latest.insert(e.unid.clone(), e.clone());
                }
            }
            Op::Retract(u) => {
                latest.remove(u);
            }
        }
    }
    let mut v: Vec<Event> = latest.into_values().collect();
    v.sort_by(|a, b| a.unid.cmp(&b.unid));
    v
}

type Topic = BTreeMap<String, SequenceRecord>;

fn publish(g: &mut Grouper, topic: &mut Topic, now: chrono::DateTime<chrono::Utc>) {
    let ch = g.take_changes();
    for id in &ch.removed {
        assert!(topic.remove(id).is_some(), "removed {id}, which was never published");
    }
    for id in ch.updated {
        let r = g.record(&id, now).expect("an updated id has a record");
        topic.insert(id, r);
    }
}

/// Runs `ops` in order through a grouper, publishing every `every` operations, and checks the
/// result against the batch algorithm over the final catalogue.
fn check_against_batch(params: Params, ops: &[Op], every: usize) {
    let now = at_days(45.0);
    let mut g = Grouper::new(params);
    let mut topic = Topic::new();
    for (i, op) in ops.iter().enumerate() {
        match op {
            Op::Upsert(e) => {
                g.upsert(e.clone()).unwrap();
            }
            Op::Retract(u) => {
                g.retract(u);
            }
        }
        if i % every == 0 {
            publish(&mut g, &mut topic, now);
        }
    }
    publish(&mut g, &mut topic, now);

    let cat = final_catalogue(ops);
    let mut held: Vec<&Event> = g.events().collect();
    held.sort_by(|a, b| a.unid.cmp(&b.unid));
    assert_eq!(held, cat.iter().collect::<Vec<_>>(), "the held catalogue");
    assert_eq!(g.clusters(), batch::group(&params, &cat), "streaming != batch");
    let fresh = Grouper::from_events(params, cat.clone()).unwrap();
    assert_eq!(fresh.clusters(), batch::group(&params, &cat), "one-pass load != batch");
    let records: Topic = g.records(now).into_iter().map(|r| (r.id.clone(), r)).collect();
    let fresh_records: Topic = fresh.records(now).into_iter().map(|r| (r.id.clone(), r)).collect();
    assert_eq!(records, fresh_records, "records differ from a fresh build");
    // Records are republished only when their cluster changes, so compare what does not depend
    // on the time of publication: the set of ids and each record recomputed now.
    assert_eq!(
        topic.keys().collect::<Vec<_>>(),
        records.keys().collect::<Vec<_>>(),
        "published ids"
    );
    for (id, r) in &topic {
        assert_eq!(&g.record(id, now).unwrap(), r, "stale record {id}");
    }
    assert!(g.take_changes().is_empty());
}

#[derive(Debug, Clone)]
struct Spec {
    days: f64,
    lat: f64,
    lon: f64,
    mag: Option<f64>,
    quarry: bool,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        0.0..40.0f64,
        0.0..0.6f64,
        0.0..0.6f64,
        prop::option::weighted(0.95, 20..=65u32),
        prop::bool::weighted(0.05),
    )
        .prop_map(|(days, dlat, dlon, mag, quarry)| Spec {
            // Times to the minute, magnitudes to 0.1: ties in rank and window edges happen.
            days: (days * 1440.0).round() / 1440.0,
            lat: 40.0 + dlat,
            lon: 28.0 + dlon,
            mag: mag.map(|m| m as f64 / 10.0),
            quarry,
        })
}

fn to_event(unid: &str, s: &Spec, lastupdate_min: i64) -> Event {
    let mut e = quake(unid, s.days, s.lat, s.lon, 0.0);
    e.mag = s.mag;
    e.lastupdate = t0() + chrono::Duration::minutes(lastupdate_min);
    if s.quarry {
        e.evtype = Some("quarry blast".into());
    }
    e
}

/// A catalogue, revisions of some of its events (each a whole new spec: a bigger or smaller
/// magnitude, a moved location, a new time, a re-typing), some retractions, in a random order.
fn scenario(max_events: usize) -> impl Strategy<Value = Vec<Op>> {
    (
        prop::collection::vec(spec(), 1..max_events),
        prop::collection::vec((any::<prop::sample::Index>(), spec(), 0..3i64), 0..max_events),
        prop::collection::vec(any::<prop::sample::Index>(), 0..4),
    )
        .prop_flat_map(|(base, revs, retracts)| {
            let n = base.len();
            let mut ops: Vec<Op> = base
                .iter()
                .enumerate()
                .map(|(i, s)| Op::Upsert(to_event(&format!("e{i:03}"), s, 1_000)))
                .collect();
            for (idx, s, bump) in &revs {
                // lastupdate 1000 + bump: bump 0 ties with the first revision (content decides).
                ops.push(Op::Upsert(to_event(&format!("e{:03}", idx.index(n)), s, 1_000 + bump)));
            }
            let gone: Vec<String> = retracts.iter().map(|i| format!("e{:03}", i.index(n))).collect();
            Just(ops).prop_shuffle().prop_map(move |mut ops| {
                // Kafka keeps the order per key: a retraction comes after that key's revisions.
                ops.extend(gone.iter().cloned().map(Op::Retract));
                ops
            })
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn streaming_equals_batch_small(ops in scenario(40), every in 1usize..8) {
        check_against_batch(Params::default(), &ops, every);
    }

    #[test]
    fn streaming_equals_batch_with_symmetric_foreshock_windows(ops in scenario(40)) {
        let params = Params { foreshock_fraction: 1.0, min_members: 2 };
        check_against_batch(params, &ops, 3);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn streaming_equals_batch_large(ops in scenario(300)) {
        check_against_batch(Params::default(), &ops, 25);
    }
}

#[test]
fn a_foreshock_that_turns_out_bigger_takes_over_and_the_id_stays() {
    let mut g = Grouper::new(Params::default());
    let fore = quake("fore", 9.0, 40.0, 28.0, 4.2);
    g.upsert(fore.clone()).unwrap();
    g.upsert(quake("main", 10.0, 40.05, 28.05, 5.0)).unwrap();
    for i in 0..20 {
        g.upsert(quake(&format!("a{i:02}"), 10.1 + i as f64 * 0.5, 40.02, 28.02, 3.0))
            .unwrap();
    }
    let ch = g.take_changes();
    assert_eq!(
        ch.updated,
        vec!["seq-fore"],
        "the founder is the earliest event within 1.0 of the mainshock"
    );
    let r = g.record("seq-fore", at_days(20.0)).unwrap();
    assert_eq!((r.mainshock.unid.as_str(), r.members, r.foreshocks), ("main", 22, 1));

    // The foreshock is revised to M 5.4: it becomes the mainshock and the old one its aftershock.
    g.upsert(revised(&fore, 30, |e| e.mag = Some(5.4))).unwrap();
    let ch = g.take_changes();
    assert_eq!(ch.updated, vec!["seq-fore"]);
    assert!(ch.removed.is_empty(), "{ch:?}");
    let r = g.record("seq-fore", at_days(20.0)).unwrap();
    assert_eq!(
        (r.mainshock.unid.as_str(), r.foreshocks, r.aftershocks),
        ("fore", 0, 21)
    );
    assert_eq!(r.largest_aftershock.unwrap().unid, "main");
    assert_eq!(g.sequence_of("a05").as_deref(), Some("seq-fore"));
}

#[test]
fn a_moved_or_retyped_event_leaves_its_sequence() {
    let mut g = Grouper::new(Params::default());
    g.upsert(quake("main", 1.0, 40.0, 28.0, 5.0)).unwrap();
    let a = quake("a", 1.5, 40.1, 28.1, 3.5);
    g.upsert(a.clone()).unwrap();
    let b = quake("b", 2.0, 40.1, 28.0, 3.0);
    g.upsert(b.clone()).unwrap();
    g.upsert(quake("c", 2.5, 40.0, 28.1, 3.1)).unwrap();
    assert_eq!(g.take_changes().updated, vec!["seq-main"]);
    assert_eq!(g.record("seq-main", at_days(3.0)).unwrap().members, 4);

    // `a` was mislocated: it is 300 km away. `b` turns out to be a quarry blast.
    g.upsert(revised(&a, 10, |e| e.lat = 42.7)).unwrap();
    assert_eq!(g.take_changes().updated, vec!["seq-main"]);
    assert_eq!(g.record("seq-main", at_days(3.0)).unwrap().members, 3);
    assert_eq!(g.sequence_of("a"), None);
    g.upsert(revised(&b, 10, |e| e.evtype = Some("qb".into()))).unwrap();
    assert_eq!(g.sequence_of("b"), None);
    // Two events are below `min_members` (3): the sequence is withdrawn...
    let ch = g.take_changes();
    assert_eq!(
        (ch.updated.len(), ch.removed.as_slice()),
        (0, &["seq-main".to_string()][..])
    );
    assert!(g.sequence_ids().is_empty() && g.record("seq-main", at_days(3.0)).is_none());
    // ... but the grouping still holds the cluster, and a new aftershock brings it back.
    assert_eq!(
        g.clusters().iter().find(|c| c.head == "main").unwrap().members,
        vec!["c"]
    );
    g.upsert(quake("d", 2.7, 40.0, 28.0, 2.9)).unwrap();
    assert_eq!(g.take_changes().updated, vec!["seq-main"]);
}

#[test]
fn stale_and_duplicate_revisions_change_nothing() {
    let mut g = Grouper::new(Params::default());
    let e = quake("x", 1.0, 40.0, 28.0, 4.0);
    let newer = revised(&e, 10, |e| e.mag = Some(4.4));
    assert_eq!(g.upsert(newer.clone()).unwrap(), Applied::Inserted);
    assert_eq!(g.upsert(e.clone()).unwrap(), Applied::Stale);
    assert_eq!(g.upsert(newer.clone()).unwrap(), Applied::Stale);
    assert_eq!(g.get("x").unwrap().mag, Some(4.4));
    assert_eq!(g.upsert(revised(&newer, 1, |_| {})).unwrap(), Applied::Revised);
    assert_eq!(g.counters().stale, 2);
}

#[test]
fn invalid_events_are_refused_and_nothing_is_stored() {
    let mut g = Grouper::new(Params::default());
    let mut e = quake("x", 1.0, 40.0, 28.0, 4.0);
    e.lat = f64::NAN;
    assert_eq!(g.upsert(e).unwrap_err().code(), "out_of_range");
    assert!(g.is_empty());
}

#[test]
fn a_much_larger_event_absorbs_an_earlier_sequence_and_its_id_changes() {
    let mut g = Grouper::new(Params::default());
    g.upsert(quake("m5", 0.0, 40.0, 28.0, 5.0)).unwrap();
    for i in 0..5 {
        g.upsert(quake(&format!("a{i}"), 0.5 + i as f64, 40.0, 28.0, 3.0))
            .unwrap();
    }
    assert_eq!(g.take_changes().updated, vec!["seq-m5"]);
    // Ten days later an M 7 nearby: the M 5 falls in its foreshock window (92 days).
    g.upsert(quake("m7", 10.0, 40.2, 28.2, 7.0)).unwrap();
    let ch = g.take_changes();
    assert_eq!(ch.updated, vec!["seq-m7"]);
    assert_eq!(ch.removed, vec!["seq-m5"]);
    let r = g.record("seq-m7", at_days(11.0)).unwrap();
    assert_eq!((r.members, r.foreshocks), (7, 6));
}

#[test]
fn swarms_are_told_from_mainshock_aftershock_sequences() {
    let mut g = Grouper::new(Params::default());
    // A swarm: 15 events of M 3.4-3.8 over five days, nobody dominant.
    for i in 0..15 {
        let m = 3.4 + (i % 5) as f64 * 0.1;
        g.upsert(quake(&format!("s{i:02}"), i as f64 / 3.0, 36.5, 25.5, m))
            .unwrap();
    }
    // A mainshock-aftershock sequence far away.
    g.upsert(quake("ms", 0.0, 40.0, 28.0, 5.5)).unwrap();
    for i in 0..15 {
        g.upsert(quake(
            &format!("as{i:02}"),
            0.1 + i as f64 / 3.0,
            40.0,
            28.0,
            3.0 + (i % 4) as f64 * 0.3,
        ))
        .unwrap();
    }
    let kinds: BTreeMap<String, SequenceKind> = g
        .records(at_days(6.0))
        .into_iter()
        .map(|r| (r.mainshock.unid, r.kind))
        .collect();
    assert_eq!(kinds["s04"], SequenceKind::Swarm);
    assert_eq!(kinds["ms"], SequenceKind::MainshockAftershock);
}

#[test]
fn a_snapshot_restores_the_same_grouper() {
    let mut rng = rng(7);
    let mut g = Grouper::new(Params::default());
    for i in 0..400 {
        let (d, la, lo) = (
            uniform(&mut rng) * 60.0,
            40.0 + uniform(&mut rng),
            28.0 + uniform(&mut rng),
        );
        let m = 2.5 + (uniform(&mut rng) * 30.0).floor() / 10.0;
        g.upsert(quake(&format!("q{i}"), d, la, lo, m)).unwrap();
    }
    g.take_changes();
    let json = serde_json::to_string(&g.snapshot()).unwrap();
    let back = Grouper::from_snapshot(serde_json::from_str(&json).unwrap()).unwrap();
    assert_eq!(back.clusters(), g.clusters());
    let now = at_days(61.0);
    assert_eq!(back.records(now), g.records(now));
    assert_eq!(back.snapshot(), g.snapshot());
    let mut back = back;
    assert!(back.take_changes().is_empty(), "a restore publishes nothing");

    let mut bad = g.snapshot();
    bad.v = 2;
    assert_eq!(Grouper::from_snapshot(bad).unwrap_err().code(), "unsupported_version");
    let mut bad = g.snapshot();
    bad.events[0].mag = Some(42.0);
    assert_eq!(Grouper::from_snapshot(bad).unwrap_err().code(), "bad_event");
}

#[test]
fn a_wire_quake_object_deserialises_as_an_event() {
    let quake = r#"{"unid":"20250305_0000090","time":"2025-03-05T09:45:07.000000Z","lastupdate":"2025-03-05T10:06:56.102425Z",
        "lat":40.115,"lon":28.5381,"depth_km":7.0,"mag":1.4,"magtype":"ml","region":"WESTERN TURKEY",
        "agency":"AFAD","evtype":"ke","source":"emsc"}"#;
    let e: Event = serde_json::from_str(quake).unwrap();
    assert_eq!(
        (e.unid.as_str(), e.mag, e.magtype.as_deref()),
        ("20250305_0000090", Some(1.4), Some("ml"))
    );
    assert!(e.is_groupable());
}

#[test]
fn what_depends_on_now_the_state_and_the_last_hour_and_day() {
    use quakestream_seismo::record::SequenceState;
    let mut g = Grouper::new(Params::default());
    g.upsert(quake("main", 0.0, 40.0, 28.0, 5.0)).unwrap(); // T(5.0) = 143.7 days
    let now = 10.0;
    for (u, d) in [
        ("h", now - 0.5 / 24.0),
        ("d", now - 5.0 / 24.0),
        ("w", now - 2.0),
        ("f", now + 0.1),
    ] {
        g.upsert(quake(u, d, 40.01, 28.01, 3.0)).unwrap();
    }
    let r = g.record("seq-main", at_days(now)).unwrap();
    assert_eq!(
        (r.last_hour, r.last_day, r.members),
        (1, 2, 5),
        "the future event is in no window"
    );
    assert_eq!(r.state, SequenceState::Open);
    assert_eq!(g.open_sequence_ids(at_days(now)), vec!["seq-main"]);
    let later = g.record("seq-main", at_days(150.0)).unwrap();
    assert_eq!((later.state, later.last_day), (SequenceState::Closed, 0));
    assert!(g.open_sequence_ids(at_days(150.0)).is_empty());
    assert_eq!(
        later.window.open_until,
        at_days(0.0) + chrono::Duration::microseconds((later.window.days_after * 86_400e6) as i64)
    );
    // Members: the mainshock first, then by origin time.
    let m: Vec<&str> = g.members("seq-main").unwrap().iter().map(|e| e.unid.as_str()).collect();
    assert_eq!(m, vec!["main", "w", "d", "h", "f"]);
    assert!(g.members("seq-nope").is_none() && g.record("nope", at_days(now)).is_none());
}
