//! Every record the crate produces matches `schemas/quake-sequences.v1.json`, and round-trips.

mod common;

use common::*;
use quakestream_seismo::{Grouper, Params, SequenceRecord};
use std::path::Path;

fn schema() -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/quake-sequences.v1.json");
    let schema: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the schema compiles")
}

fn check(v: &jsonschema::Validator, r: &SequenceRecord) {
    let json = serde_json::to_value(r).unwrap();
    let errors: Vec<String> = v
        .iter_errors(&json)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{}: {errors:#?}", r.id);
    let back: SequenceRecord = serde_json::from_value(json).unwrap();
    assert_eq!(&back, r);
}

#[test]
fn records_of_the_real_recording_match_the_schema() {
    let v = schema();
    let events = emsc_april_2025();
    let g = Grouper::from_events(Params::default(), events).unwrap();
    let records = g.records("2025-04-26T14:00:00Z".parse().unwrap());
    assert!(records.len() > 5);
    for r in &records {
        check(&v, r);
    }
    // Both forms of each estimate occur: the Marmara sequence has them, the others do not.
    let json = serde_json::to_string(&records).unwrap();
    assert!(json.contains(r#""status":"ok""#) && json.contains(r#""status":"not_enough_events""#));
}

#[test]
fn edge_cases_match_the_schema() {
    let v = schema();
    let mut g = Grouper::new(Params::default());
    // Across the antimeridian, without region or magnitude type, at the edges of the ranges.
    for (i, lon) in [179.95, -179.95, 179.99, -179.9].iter().enumerate() {
        let mut e = quake(&format!("f{i}"), i as f64 * 0.1, -17.0, *lon, 6.0 - i as f64);
        e.region = None;
        e.magtype = None;
        e.depth_km = -15.0;
        g.upsert(e).unwrap();
    }
    // A large sequence whose Omori fit exists, long closed.
    g.upsert(quake("big", 0.0, 60.0, -150.0, 7.5)).unwrap();
    for i in 0..400 {
        let m = 2.5 + (i % 17) as f64 * 0.1;
        g.upsert(quake(
            &format!("a{i:03}"),
            0.01 + (i as f64).powf(1.6) * 0.01,
            60.1,
            -150.1,
            m,
        ))
        .unwrap();
    }
    let records = g.records(at_days(5000.0));
    assert_eq!(records.len(), 2);
    for r in &records {
        check(&v, r);
    }
    let fiji = records.iter().find(|r| r.mainshock.unid == "f0").unwrap();
    assert!(fiji.extent.lon_west > fiji.extent.lon_east, "{:?}", fiji.extent);
    assert!(fiji.name.starts_with("17.00S 179.95E M6.0"), "{}", fiji.name);
    assert_eq!(fiji.magnitude_types.get("unknown"), Some(&4));
    assert_eq!(fiji.stats.magnitude_type, None);
    let big = records.iter().find(|r| r.mainshock.unid == "big").unwrap();
    assert!(
        big.stats.omori.ok().is_some_and(|o| o.expected_next_24h == 0.0),
        "closed: no forecast"
    );
}

#[test]
fn the_schema_refuses_what_it_should() {
    let v = schema();
    let events = emsc_april_2025();
    let g = Grouper::from_events(Params::default(), events).unwrap();
    let r = g.records("2025-04-26T14:00:00Z".parse().unwrap()).remove(0);
    let good = serde_json::to_value(&r).unwrap();
    assert!(v.is_valid(&good));
    for (path, bad) in [
        ("/v", serde_json::json!(2)),
        ("/kind", serde_json::json!("burst")),
        ("/as_of", serde_json::json!("2025-04-26T14:00:00Z")),
        ("/stats/b_value", serde_json::json!({"status": "ok", "b": 1.0})),
    ] {
        let mut x = good.clone();
        *x.pointer_mut(path).unwrap() = bad;
        assert!(!v.is_valid(&x), "{path} accepted");
    }
    let mut x = good.clone();
    x.as_object_mut().unwrap().insert("extra".into(), serde_json::json!(1));
    assert!(!v.is_valid(&x));
}

#[test]
fn the_member_list_is_capped_and_says_so() {
    use quakestream_seismo::record::MAX_LISTED_MEMBERS;
    let n = MAX_LISTED_MEMBERS + 5;
    let mut events = vec![quake("main", 0.0, 40.0, 28.0, 6.0)];
    events.extend((0..n - 1).map(|i| quake(&format!("a{i:05}"), 0.001 + i as f64 * 0.01, 40.01, 28.01, 2.0)));
    let g = Grouper::from_events(Params::default(), events).unwrap();
    let r = g.record("seq-main", at_days(200.0)).unwrap();
    assert_eq!(r.members, n);
    assert_eq!(r.member_unids.len(), MAX_LISTED_MEMBERS);
    assert!(r.member_unids_truncated);
    assert_eq!(r.member_unids[0], "main");
    check(&schema(), &r);
}
