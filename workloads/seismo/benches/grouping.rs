//! Benchmark (not a test) of the sequence grouping, single-threaded, in process:
//!
//!     cargo bench -p quakestream-seismo --bench grouping
//!     # knobs: QS_BENCH_EVENTS (default 200000), QS_BENCH_SEQUENCE (default 10000), QS_BENCH_SEED
//!
//! 1. Throughput: a synthetic year of a global catalogue (background seismicity in 200 active
//!    zones and 300 aftershock sequences of M 5-7.5, Gutenberg-Richter magnitudes, Omori decay),
//!    roughly in time order as a feed delivers it, with 10 % of the events revised later
//!    (magnitude and location). `take_changes` every 1,000 operations, as a commit interval
//!    would; the records of the changed sequences are built in a second pass.
//! 2. One revision that re-labels a mainshock: a sequence of `QS_BENCH_SEQUENCE` events whose
//!    M 5.0 foreshock is revised to M 6.8 (it becomes the mainshock of all of them), and back.
//! 3. Restore: `Grouper::from_events` over the whole catalogue, and the snapshot's size.

use chrono::{DateTime, Duration, Utc};
use quakestream_seismo::{Event, Grouper, Params};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// Counts live heap bytes, to measure the grouper's memory exactly.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live_mb() -> f64 {
    LIVE.load(Ordering::Relaxed) as f64 / 1048576.0
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

struct Gen {
    rng: Xoshiro256PlusPlus,
    t0: DateTime<Utc>,
}

impl Gen {
    fn u(&mut self) -> f64 {
        let u: f64 = self.rng.random();
        u.max(1e-300)
    }

    fn gr(&mut self, min: f64, max: f64) -> f64 {
        loop {
            let m = min - self.u().ln() / std::f64::consts::LN_10;
            if m <= max {
                return (m * 10.0).round() / 10.0;
            }
        }
    }

    fn event(&mut self, unid: String, days: f64, lat: f64, lon: f64, mag: f64) -> Event {
        let time = self.t0 + Duration::microseconds((days * 86_400e6) as i64);
        Event {
            unid,
            time,
            lastupdate: time + Duration::minutes(3),
            lat: lat.clamp(-89.9, 89.9),
            lon: (lon + 180.0).rem_euclid(360.0) - 180.0,
            depth_km: 10.0,
            mag: Some(mag),
            magtype: Some("ml".into()),
            region: Some("BENCH REGION".into()),
            evtype: Some("ke".into()),
        }
    }
}

/// The synthetic catalogue, in arrival order (origin time plus a delay), revisions included.
fn catalogue(n: usize, seed: u64) -> (Vec<Event>, usize) {
    let mut g = Gen {
        rng: Xoshiro256PlusPlus::seed_from_u64(seed),
        t0: "2025-01-01T00:00:00Z".parse().unwrap(),
    };
    let zones: Vec<(f64, f64)> = (0..200)
        .map(|_| (g.u() * 120.0 - 60.0, g.u() * 360.0 - 180.0))
        .collect();
    let mut events = Vec::with_capacity(n);
    let n_after = n * 2 / 5;
    let mainshocks: Vec<(f64, usize, f64)> = (0..300)
        .map(|_| (g.gr(5.0, 7.5), (g.u() * 200.0) as usize, g.u() * 300.0))
        .collect();
    let weight: f64 = mainshocks.iter().map(|(m, _, _)| 10f64.powf(*m - 5.0)).sum();
    for (i, &(m, zone, day)) in mainshocks.iter().enumerate() {
        let (lat, lon) = zones[zone];
        events.push(g.event(format!("m{i}"), day, lat, lon, m));
        let k = (n_after as f64 * 10f64.powf(m - 5.0) / weight) as usize;
        let spread = 10f64.powf(0.1238 * m + 0.983) / 111.0 / 3.0;
        for j in 0..k {
            // Omori times (c = 0.05 d, p = 1.1) over 100 days.
            let (c, q) = (0.05f64, -0.1f64);
            let (a, b) = (c.powf(q), (100.0 + c).powf(q));
            let t = (a + g.u() * (b - a)).powf(1.0 / q) - c;
            let (dl, dn) = ((g.u() - 0.5) * 2.0 * spread, (g.u() - 0.5) * 2.0 * spread);
            let mag = g.gr(2.5, m - 0.5);
            events.push(g.event(format!("m{i}a{j}"), day + t, lat + dl, lon + dn, mag));
        }
    }
    while events.len() < n {
        let (lat, lon) = zones[(g.u() * 200.0) as usize];
        let (dl, dn) = ((g.u() - 0.5) * 2.0, (g.u() - 0.5) * 2.0);
        let mag = g.gr(2.5, 7.0);
        let (unid, day) = (format!("b{}", events.len()), g.u() * 365.0);
        events.push(g.event(unid, day, lat + dl, lon + dn, mag));
    }
    // Arrival: origin time plus up to 20 minutes; one in ten revised up to 6 hours later.
    let mut arrivals: Vec<(DateTime<Utc>, Event)> = Vec::with_capacity(n + n / 10);
    let mut revisions = 0;
    for e in events {
        let at = e.time + Duration::seconds((g.u() * 1200.0) as i64);
        if g.u() < 0.1 {
            let mut r = e.clone();
            r.lastupdate = e.lastupdate + Duration::hours(1);
            r.mag = r.mag.map(|m| (m + (g.u() - 0.5) * 0.6).clamp(2.0, 9.0));
            r.lat = (r.lat + (g.u() - 0.5) * 0.1).clamp(-89.9, 89.9);
            arrivals.push((at + Duration::seconds((g.u() * 21600.0) as i64), r));
            revisions += 1;
        }
        arrivals.push((at, e));
    }
    arrivals.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.unid.cmp(&b.1.unid)));
    (arrivals.into_iter().map(|(_, e)| e).collect(), revisions)
}

/// User + system CPU seconds of this process (the machine is shared: wall time alone misleads).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses): utime is the 12th, stime the 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(f64::NAN);
    // Clock ticks of 1/100 s (USER_HZ on Linux).
    (tick(11) + tick(12)) / 100.0
}

fn status_mb(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn peak_rss_mb() -> f64 {
    status_mb("VmHWM:")
}

fn throughput(n: usize, seed: u64) {
    let (arrivals, revisions) = catalogue(n, seed);
    let now = arrivals.iter().map(|e| e.time).max().unwrap();
    let mut g = Grouper::new(Params::default());
    let mut changed = Vec::new();
    let (start, cpu) = (Instant::now(), cpu_seconds());
    for (i, e) in arrivals.iter().enumerate() {
        g.upsert(e.clone()).unwrap();
        if i % 1000 == 999 {
            changed.push(g.take_changes());
        }
    }
    changed.push(g.take_changes());
    let (grouping, grouping_cpu) = (start.elapsed(), cpu_seconds() - cpu);
    let updates: usize = changed.iter().map(|c| c.updated.len()).sum();
    println!(
        "throughput: {} operations ({} events + {} revisions) in {:.3} s wall, {:.2} s CPU = {:.0} operations/s wall, {:.0} per CPU second; {} evaluations; {} sequences, {} updates published",
        arrivals.len(),
        arrivals.len() - revisions,
        revisions,
        grouping.as_secs_f64(),
        grouping_cpu,
        arrivals.len() as f64 / grouping.as_secs_f64(),
        arrivals.len() as f64 / grouping_cpu,
        g.counters().evaluations,
        g.sequence_ids().len(),
        updates
    );
    // The records of those updates (each commit interval publishes the changed sequences).
    let (start, cpu) = (Instant::now(), cpu_seconds());
    let mut bytes = 0usize;
    let mut g2 = Grouper::new(Params::default());
    for (i, e) in arrivals.iter().enumerate() {
        g2.upsert(e.clone()).unwrap();
        if i % 1000 == 999 {
            for id in g2.take_changes().updated {
                bytes += g2.record(&id, e.time).map_or(0, |r| serde_json_len(&r));
            }
        }
    }
    let (with_records, with_records_cpu) = (start.elapsed(), cpu_seconds() - cpu);
    println!(
        "throughput with records: {:.3} s wall, {:.2} s CPU = {:.0} operations/s per CPU second ({:.1} MB of records)",
        with_records.as_secs_f64(),
        with_records_cpu,
        arrivals.len() as f64 / with_records_cpu,
        bytes as f64 / 1e6
    );

    drop(g2);
    let live = live_mb();
    let events: Vec<Event> = g.events().cloned().collect();
    let (start, cpu) = (Instant::now(), cpu_seconds());
    let restored = Grouper::from_events(Params::default(), events).unwrap();
    let (restore, restore_cpu, grouper_mb) = (start.elapsed(), cpu_seconds() - cpu, live_mb() - live);
    assert_eq!(
        restored.clusters(),
        g.clusters(),
        "a restore rebuilds the same grouping"
    );
    let snapshot = serde_snapshot_len(&g);
    println!(
        "restore: {} events in {:.3} s wall, {:.2} s CPU; the restored grouper holds {:.1} MB of heap ({:.0} bytes/event); snapshot {:.1} MB ({:.0} bytes/event); records now {}; peak RSS {:.0} MB",
        g.len(),
        restore.as_secs_f64(),
        restore_cpu,
        grouper_mb,
        grouper_mb * 1048576.0 / g.len() as f64,
        snapshot as f64 / 1e6,
        snapshot as f64 / g.len() as f64,
        g.records(now).len(),
        peak_rss_mb()
    );
}

fn serde_json_len<T: serde::Serialize>(v: &T) -> usize {
    serde_json::to_vec(v).map_or(0, |b| b.len())
}

fn serde_snapshot_len(g: &Grouper) -> usize {
    serde_json_len(&g.snapshot())
}

fn relabel(size: usize, seed: u64) {
    let mut gn = Gen {
        rng: Xoshiro256PlusPlus::seed_from_u64(seed),
        t0: "2025-01-01T00:00:00Z".parse().unwrap(),
    };
    let mut events = vec![gn.event("main".into(), 0.0, 40.8, 28.2, 6.5)];
    let fore = gn.event("fore".into(), -1.0, 40.85, 28.25, 5.0);
    events.push(fore.clone());
    for j in 0..size - 2 {
        let t = 0.001 + gn.u().powi(3) * 200.0;
        let (dl, dn) = ((gn.u() - 0.5) * 0.5, (gn.u() - 0.5) * 0.6);
        let m = gn.gr(2.0, 5.2);
        events.push(gn.event(format!("a{j}"), t, 40.8 + dl, 28.2 + dn, m));
    }
    let mut g = Grouper::from_events(Params::default(), events).unwrap();
    let id = g.sequence_of("main").unwrap();
    let now = gn.t0 + Duration::days(201);
    assert_eq!(g.record(&id, now).unwrap().members, size);
    let mut up = Vec::new();
    let mut back = Vec::new();
    let mut rec = Vec::new();
    let mut lastupdate = fore.lastupdate;
    let cpu = cpu_seconds();
    for _ in 0..7 {
        for (mag, times) in [(6.8, &mut up), (5.0, &mut back)] {
            lastupdate += Duration::minutes(1);
            let mut r = fore.clone();
            r.lastupdate = lastupdate;
            r.mag = Some(mag);
            let before = g.counters().evaluations;
            let start = Instant::now();
            g.upsert(r).unwrap();
            let ch = g.take_changes();
            times.push((start.elapsed().as_secs_f64() * 1e3, g.counters().evaluations - before));
            let start = Instant::now();
            let r = g.record(&ch.updated[0], now).unwrap();
            rec.push(start.elapsed().as_secs_f64() * 1e3);
            assert_eq!(r.members, size);
            assert_eq!(r.mainshock.unid, if mag > 6.5 { "fore" } else { "main" });
        }
    }
    let cpu = cpu_seconds() - cpu;
    let median = |v: &mut Vec<(f64, u64)>| {
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        v[v.len() / 2]
    };
    rec.sort_by(f64::total_cmp);
    let (u, ue) = median(&mut up);
    let (b, be) = median(&mut back);
    println!(
        "relabel in a sequence of {size}: foreshock M5.0 -> M6.8 (new mainshock) {u:.2} ms ({ue} evaluations), back {b:.2} ms ({be} evaluations), median of 7 wall; its record {:.2} ms; CPU for all 14 revisions and their records {:.2} s",
        rec[rec.len() / 2],
        cpu
    );
}

fn main() {
    let n = env("QS_BENCH_EVENTS", 200_000) as usize;
    let size = env("QS_BENCH_SEQUENCE", 10_000) as usize;
    let seed = env("QS_BENCH_SEED", 14);
    throughput(n, seed);
    relabel(size, seed);
}
