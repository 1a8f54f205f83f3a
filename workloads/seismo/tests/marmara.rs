//! The bundled real recording: EMSC, Türkiye and the Aegean, April 2025, M ≥ 2.5 (430 events).
//! It holds the 2025-04-23 Mw 6.2 Marmara Sea (Silivri) mainshock and its aftershocks, which
//! must come out as one mainshock–aftershock sequence with sensible statistics, however the
//! events arrive and however they are revised on the way.
//!
//! "Sensible" is judged against published values: regional b ≈ 1.14 ± 0.07 for the Marmara
//! region (ML, 2000–2020, Mc 2.7; Sigma J. Eng. Nat. Sci. 38(3), 2020); Omori p usually 0.9–1.5
//! (Utsu, Ogata & Matsu'ura 1995); ΔM ≈ 1.2 (Båth 1965); EMSC lists the largest aftershock as
//! an Mw 5.3 two minutes after the mainshock.

mod common;

use common::*;
use quakestream_seismo::record::{BathVerdict, Estimate, SequenceKind, SequenceState};
use quakestream_seismo::{Event, Grouper, Params, SequenceRecord, batch};

const MAINSHOCK: &str = "20250423_0000104";

fn now(events: &[Event]) -> chrono::DateTime<chrono::Utc> {
    events.iter().map(|e| e.time).max().unwrap() + chrono::Duration::minutes(30)
}

fn marmara(g: &Grouper, events: &[Event]) -> SequenceRecord {
    let id = g.sequence_of(MAINSHOCK).expect("the mainshock is in a sequence");
    g.record(&id, now(events)).unwrap()
}

#[test]
fn the_recording_parses_completely() {
    let events = emsc_april_2025();
    assert_eq!(events.len(), 430);
    assert!(events.iter().all(|e| e.validate().is_ok()));
}

#[test]
fn the_marmara_sequence_is_one_mainshock_aftershock_sequence() {
    let events = emsc_april_2025();
    let g = Grouper::from_events(Params::default(), events.clone()).unwrap();
    let r = marmara(&g, &events);
    println!("{}", serde_json::to_string_pretty(&r).unwrap());

    assert_eq!(r.id, format!("seq-{MAINSHOCK}"));
    assert_eq!(r.name, "WESTERN TURKEY M6.2 2025-04-23");
    assert_eq!(r.kind, SequenceKind::MainshockAftershock);
    assert_eq!(r.state, SequenceState::Open);
    assert_eq!((r.mainshock.mag, r.mainshock.magtype.as_deref()), (6.2, Some("mw")));
    let largest = r.largest_aftershock.as_ref().unwrap();
    assert_eq!((largest.unid.as_str(), largest.mag), ("20250423_0000296", 5.3));
    // Every event near the mainshock after it belongs to the sequence.
    let near_after = events
        .iter()
        .filter(|e| e.time >= r.mainshock.time && (e.lat - 40.83).abs() < 0.4 && (e.lon - 28.23).abs() < 0.6)
        .count();
    assert_eq!(r.aftershocks + 1, near_after, "all aftershocks");
    assert!((130..=160).contains(&r.members), "{} members", r.members);
    assert!(r.foreshocks <= 5, "{} foreshocks", r.foreshocks);
    assert!(r.mainshock_moment_share > 0.85, "{}", r.mainshock_moment_share);
    // The aftershock zone of a ~30 km rupture along the Kumburgaz segment.
    assert!(
        (10.0..60.0).contains(&r.extent.radius_km),
        "radius {}",
        r.extent.radius_km
    );
    assert!(
        (r.centroid.lat - 40.85).abs() < 0.1 && (r.centroid.lon - 28.3).abs() < 0.2,
        "{:?}",
        r.centroid
    );

    // Statistics on ML, the scale of most members; the Mw and mb events are left out and counted.
    let s = &r.stats;
    assert_eq!(s.magnitude_type.as_deref(), Some("ml"));
    assert_eq!(s.events + s.excluded_events, r.members);
    assert!((5..=20).contains(&s.excluded_events), "{}", s.excluded_events);
    let Estimate::Ok(mc) = &s.mc else {
        panic!("no Mc: {:?}", s.mc)
    };
    // The catalogue is cut at 2.5; its distribution peaks at 2.8.
    assert_eq!((mc.max_curvature, mc.mc), (2.8, 3.0));
    let Estimate::Ok(b) = &s.b_value else {
        panic!("no b-value: {:?}", s.b_value)
    };
    assert!(b.events >= 50);
    assert!((0.75..=1.4).contains(&b.b), "b = {} ± {}", b.b, b.sigma);
    assert!((0.04..0.25).contains(&b.sigma), "σ(b) = {}", b.sigma);
    assert!(
        (b.b - 1.14).abs() < 2.0 * (b.sigma.powi(2) + 0.07f64.powi(2)).sqrt(),
        "b differs from the region's 1.14 ± 0.07"
    );
    let Estimate::Ok(o) = &s.omori else {
        panic!("no Omori fit: {:?}", s.omori)
    };
    assert!((0.7..=1.6).contains(&o.p), "p = {} ± {:?}", o.p, o.sigma_p);
    assert!(o.c_days < 0.5 && o.k > 0.0, "{o:?}");
    assert!(
        o.expected_next_24h > 0.0 && o.expected_next_24h < 30.0,
        "{}",
        o.expected_next_24h
    );
    let bath = s.bath.unwrap();
    assert!((bath.delta_m - 0.9).abs() < 1e-9 && bath.same_magnitude_type);
    assert_eq!(bath.verdict, BathVerdict::Typical);
    assert!(r.last_day > 0 && r.last_hour <= r.last_day);
}

#[test]
fn any_arrival_order_and_revisions_give_the_same_sequences() {
    let events = emsc_april_2025();
    let params = Params::default();
    let expected = batch::group(&params, &events);
    let reference = Grouper::from_events(params, events.clone()).unwrap();
    let t = now(&events);
    for seed in 0..8 {
        let mut rng = rng(seed);
        let mut arrivals: Vec<Event> = Vec::new();
        for e in &events {
            // Early versions of some events, as the feed sends them: the mainshock first as an
            // ML 5.8 located 20 km off, one in ten events first 150 km away or a magnitude unit
            // bigger, a few first typed as blasts.
            let u = uniform(&mut rng);
            let early = |f: &dyn Fn(&mut Event)| {
                let mut x = e.clone();
                x.lastupdate = e.lastupdate - chrono::Duration::minutes(20);
                f(&mut x);
                x
            };
            if e.unid == MAINSHOCK {
                arrivals.push(early(&|x| {
                    x.mag = Some(5.8);
                    x.magtype = Some("ml".into());
                    x.lat += 0.18;
                }));
            } else if u < 0.05 {
                arrivals.push(early(&|x| x.lat -= 1.35));
            } else if u < 0.10 {
                arrivals.push(early(&|x| x.mag = x.mag.map(|m| m + 1.0)));
            } else if u < 0.12 {
                arrivals.push(early(&|x| x.evtype = Some("km".into())));
            }
            arrivals.push(e.clone());
        }
        shuffle(&mut arrivals, &mut rng);
        let mut g = Grouper::new(params);
        for e in arrivals {
            g.upsert(e).unwrap();
        }
        assert_eq!(g.clusters(), expected, "seed {seed}");
        assert_eq!(g.records(t), reference.records(t), "seed {seed}");
        assert_eq!(marmara(&g, &events).id, format!("seq-{MAINSHOCK}"));
    }
}

#[test]
fn the_other_clusters_of_the_month() {
    // What else April 2025 holds, for the docs: the swarms around Simav (Kütahya–Balıkesir),
    // off Crete and in the Dodecanese (the tail of the Santorini–Amorgos swarm).
    let events = emsc_april_2025();
    let g = Grouper::from_events(Params::default(), events.clone()).unwrap();
    let records = g.records(now(&events));
    for r in &records {
        println!(
            "{:<50} {:>4} {:?} share {:.2}",
            r.name, r.members, r.kind, r.mainshock_moment_share
        );
    }
    let simav = records.iter().find(|r| r.mainshock.unid == "20250425_0000108").unwrap();
    assert_eq!(
        simav.kind,
        SequenceKind::Swarm,
        "M 4.6, 4.5 and 4.3 of similar size: no dominant event"
    );
    assert!(records.iter().filter(|r| r.kind == SequenceKind::Swarm).count() >= 2);
    // No other sequence of the month reaches 50 events: their b-values say "not enough events".
    for r in records.iter().filter(|r| r.mainshock.unid != MAINSHOCK) {
        assert!(
            matches!(r.stats.b_value, Estimate::NotEnoughEvents { required: 50, .. }),
            "{}",
            r.name
        );
    }
}
