//! Helpers shared by the seismo tests: event builders, the bundled EMSC recording, a seeded RNG.
#![allow(dead_code)]

use chrono::{DateTime, Duration, Utc};
use quakestream_seismo::Event;
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use std::path::PathBuf;

pub type Rng = Xoshiro256PlusPlus;

pub fn rng(seed: u64) -> Rng {
    Xoshiro256PlusPlus::seed_from_u64(seed)
}

pub fn t0() -> DateTime<Utc> {
    "2025-01-01T00:00:00Z".parse().unwrap()
}

pub fn at_days(days: f64) -> DateTime<Utc> {
    t0() + Duration::microseconds((days * 86_400e6).round() as i64)
}

/// An earthquake at (lat, lon), `days` after `t0()`, first revision.
pub fn quake(unid: &str, days: f64, lat: f64, lon: f64, mag: f64) -> Event {
    Event {
        unid: unid.to_string(),
        time: at_days(days),
        lastupdate: at_days(days) + Duration::minutes(5),
        lat,
        lon,
        depth_km: 10.0,
        mag: Some(mag),
        magtype: Some("ml".into()),
        region: Some("TEST REGION".into()),
        evtype: Some("ke".into()),
    }
}

/// A later revision of `e` (lastupdate + `minutes`).
pub fn revised(e: &Event, minutes: i64, f: impl FnOnce(&mut Event)) -> Event {
    let mut r = e.clone();
    r.lastupdate = e.lastupdate + Duration::minutes(minutes);
    f(&mut r);
    r
}

pub fn testdata(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(name)
}

pub const EMSC_APRIL_2025: &str = "emsc-fdsn-2025-04-turkey-aegean-m2.5.json";

/// The EMSC FDSN recording as events. The repository's own parser lives in quakestream-core,
/// which this crate does not depend on (it would bring librdkafka into the benchmark build), so
/// the few fields used here are read directly: `properties` holds unid, time, lastupdate, lat,
/// lon, depth (km, positive down), mag, magtype, flynn_region and evtype.
pub fn emsc_april_2025() -> Vec<Event> {
    let text = std::fs::read_to_string(testdata(EMSC_APRIL_2025)).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    doc["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let p = &f["properties"];
            let s = |k: &str| p[k].as_str().map(str::to_string);
            let time = |k: &str| {
                let v = p[k].as_str().unwrap();
                let v = if v.ends_with('Z') {
                    v.to_string()
                } else {
                    format!("{v}Z")
                };
                v.parse::<DateTime<Utc>>().unwrap()
            };
            Event {
                unid: s("unid").unwrap(),
                time: time("time"),
                lastupdate: time("lastupdate"),
                lat: p["lat"].as_f64().unwrap(),
                lon: p["lon"].as_f64().unwrap(),
                depth_km: p["depth"].as_f64().unwrap(),
                mag: p["mag"].as_f64(),
                magtype: s("magtype"),
                region: s("flynn_region"),
                evtype: s("evtype"),
            }
        })
        .collect()
}

/// Fisher–Yates with our seeded RNG.
pub fn shuffle<T>(v: &mut [T], rng: &mut Rng) {
    use rand::RngExt;
    for i in (1..v.len()).rev() {
        let j = rng.random_range(0..=i);
        v.swap(i, j);
    }
}

pub fn uniform(rng: &mut Rng) -> f64 {
    use rand::RngExt;
    // In (0, 1): never 0, so that ln(u) is finite.
    let u: f64 = rng.random();
    u.max(f64::MIN_POSITIVE)
}
