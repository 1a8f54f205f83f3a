//! One sequence as published on `quake-sequences` (key: `id`), versioned JSON described by
//! `schemas/quake-sequences.v1.json`. Built from the sequence's events and a "now" (stream
//! time): the counts of the last hour and day, the state and the Omori forecast depend on it.

use crate::event::{Event, magnitude_scale};
use crate::geo::{centroid, haversine_km, lon_offset, wrap_lon};
use crate::stats::bath::{self, Verdict};
use crate::stats::bvalue::{self, BValue};
use crate::stats::mc::{self, Mc};
use crate::stats::moment::{self, Kind};
use crate::stats::omori::{self, OmoriFit};
use crate::stats::{NotEnough, bath::Bath};
use crate::time::{MICROS_PER_HOUR, days_between, from_micros};
use crate::windows::{Params, window};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const RECORD_VERSION: u32 = 1;
/// At most this many member unids are listed in a record (largest first); the count is exact.
pub const MAX_LISTED_MEMBERS: usize = 10_000;
/// The Omori forecast horizon, days.
pub const FORECAST_DAYS: f64 = 1.0;
const HOUR_US: i64 = MICROS_PER_HOUR;
const DAY_US: i64 = 24 * MICROS_PER_HOUR;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SequenceRecord {
    pub v: u32,
    pub id: String,
    /// Region, largest magnitude and date of the mainshock, e.g. "WESTERN TURKEY M6.2 2025-04-23".
    pub name: String,
    pub kind: SequenceKind,
    pub state: SequenceState,
    /// The "now" the record was computed for (stream time).
    #[serde(with = "crate::time::micros")]
    pub as_of: DateTime<Utc>,
    pub mainshock: EventRef,
    pub largest_aftershock: Option<EventRef>,
    /// Events in the sequence, mainshock included.
    pub members: usize,
    pub foreshocks: usize,
    pub aftershocks: usize,
    #[serde(with = "crate::time::micros")]
    pub first_time: DateTime<Utc>,
    #[serde(with = "crate::time::micros")]
    pub last_time: DateTime<Utc>,
    pub duration_days: f64,
    /// Members with origin time in (as_of − 1 h, as_of] and (as_of − 24 h, as_of].
    pub last_hour: usize,
    pub last_day: usize,
    pub centroid: Centroid,
    pub extent: Extent,
    /// The mainshock's window (Gardner–Knopoff).
    pub window: WindowInfo,
    /// The mainshock's share of the summed seismic moment (the swarm rule).
    pub mainshock_moment_share: f64,
    /// Members per magnitude scale (lower case; moment magnitudes as `mw`; `unknown` if none).
    pub magnitude_types: BTreeMap<String, usize>,
    pub stats: Stats,
    /// Member unids, largest first, at most `MAX_LISTED_MEMBERS`.
    pub member_unids: Vec<String>,
    pub member_unids_truncated: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SequenceKind {
    MainshockAftershock,
    Swarm,
    Multiplet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SequenceState {
    /// The mainshock's window is still open: new aftershocks can join.
    Open,
    Closed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRef {
    pub unid: String,
    #[serde(with = "crate::time::micros")]
    pub time: DateTime<Utc>,
    pub lat: f64,
    pub lon: f64,
    pub depth_km: f64,
    pub mag: f64,
    pub magtype: Option<String>,
    pub region: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Centroid {
    pub lat: f64,
    pub lon: f64,
    pub depth_km: f64,
}

/// Where the members lie: the largest distance from the centroid, and a bounding box whose
/// longitudes run eastwards from `lon_west` to `lon_east` (so `lon_west > lon_east` across the
/// antimeridian).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Extent {
    pub radius_km: f64,
    pub lat_min: f64,
    pub lat_max: f64,
    pub lon_west: f64,
    pub lon_east: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WindowInfo {
    pub distance_km: f64,
    pub days_before: f64,
    pub days_after: f64,
    #[serde(with = "crate::time::micros")]
    pub open_until: DateTime<Utc>,
}

/// The statistics, all on one magnitude scale (`magnitude_type`): events of other scales are
/// left out and counted in `excluded_events`; nothing is converted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub magnitude_type: Option<String>,
    pub events: usize,
    pub excluded_events: usize,
    /// Non-cumulative frequency–magnitude distribution on 0.1 bins, of `magnitude_type`.
    pub fmd: Vec<FmdBin>,
    pub mc: Estimate<McOut>,
    pub b_value: Estimate<BValueOut>,
    pub omori: Estimate<OmoriOut>,
    pub bath: Option<BathOut>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FmdBin {
    pub mag: f64,
    pub count: usize,
}

/// An estimate, or why there is none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Estimate<T> {
    Ok(T),
    NotEnoughEvents { events: usize, required: usize },
}

impl<T> From<Result<T, NotEnough>> for Estimate<T> {
    fn from(r: Result<T, NotEnough>) -> Self {
        match r {
            Ok(v) => Estimate::Ok(v),
            Err(NotEnough { events, required }) => Estimate::NotEnoughEvents { events, required },
        }
    }
}

impl<T> Estimate<T> {
    pub fn ok(&self) -> Option<&T> {
        match self {
            Estimate::Ok(v) => Some(v),
            Estimate::NotEnoughEvents { .. } => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct McOut {
    pub mc: f64,
    /// The maximum of the distribution, before the +0.2 correction.
    pub max_curvature: f64,
    pub method: McMethod,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum McMethod {
    #[serde(rename = "maxc+0.2")]
    MaxcPlus02,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BValueOut {
    pub b: f64,
    /// Shi & Bolt (1982) standard error.
    pub sigma: f64,
    pub events: usize,
    pub mc: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OmoriOut {
    pub k: f64,
    pub c_days: f64,
    pub p: f64,
    pub sigma_k: Option<f64>,
    pub sigma_c_days: Option<f64>,
    pub sigma_p: Option<f64>,
    pub at_bound: bool,
    /// Aftershocks fitted: of `magnitude_type`, M ≥ `mc`, in (0, `t_end_days`] after the mainshock.
    pub events: usize,
    pub mc: f64,
    pub t_end_days: f64,
    /// Expected number of aftershocks with M ≥ `mc` in the 24 h after `as_of` (0 once the window has closed).
    pub expected_next_24h: f64,
    /// Its standard error from the parameters' uncertainty (the Poisson scatter comes on top).
    pub expected_next_24h_sigma: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BathOut {
    /// Mainshock magnitude − largest aftershock magnitude.
    pub delta_m: f64,
    pub expected: f64,
    pub percentile: f64,
    pub b_used: f64,
    pub verdict: BathVerdict,
    /// Whether the two magnitudes are of the same scale (if not, ΔM mixes scales: read with care).
    pub same_magnitude_type: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BathVerdict {
    Typical,
    LargeAftershock,
    SmallAftershocks,
}

/// Builds the record. `events[0]` is the mainshock (the head); the others are its members.
pub(crate) fn build(params: &Params, id: String, events: &[&Event], now: DateTime<Utc>) -> SequenceRecord {
    let main = events[0];
    let main_mag = main.mag.expect("grouped events have a magnitude");
    let t_main = main.time_us();
    let now_us = now.timestamp_micros();
    let w = window(params, main_mag);

    let mut by_time: Vec<&Event> = events.to_vec();
    by_time.sort_by(|a, b| (a.time, &a.unid).cmp(&(b.time, &b.unid)));
    let (first, last) = (by_time[0].time, by_time[by_time.len() - 1].time);
    let foreshocks = events.iter().filter(|e| e.time_us() < t_main).count();
    let aftershocks: Vec<&Event> = events[1..].iter().copied().filter(|e| e.time_us() >= t_main).collect();
    let in_last = |span: i64| {
        events
            .iter()
            .filter(|e| e.time_us() <= now_us && e.time_us() > now_us - span)
            .count()
    };
    let share = moment::largest_share(main_mag, events.iter().map(|e| e.mag.expect("grouped")));
    let open_until_us = t_main.saturating_add(w.after_us as i64);

    let mut types: BTreeMap<String, usize> = BTreeMap::new();
    for e in events {
        *types.entry(scale_name(e)).or_insert(0) += 1;
    }
    let listed: Vec<String> = events.iter().take(MAX_LISTED_MEMBERS).map(|e| e.unid.clone()).collect();

    SequenceRecord {
        v: RECORD_VERSION,
        id,
        name: name(main),
        kind: match moment::classify(share, events.len()) {
            Kind::MainshockAftershock => SequenceKind::MainshockAftershock,
            Kind::Swarm => SequenceKind::Swarm,
            Kind::Multiplet => SequenceKind::Multiplet,
        },
        state: if now_us <= open_until_us {
            SequenceState::Open
        } else {
            SequenceState::Closed
        },
        as_of: now,
        mainshock: event_ref(main),
        largest_aftershock: aftershocks.first().map(|e| event_ref(e)),
        members: events.len(),
        foreshocks,
        aftershocks: aftershocks.len(),
        first_time: first,
        last_time: last,
        duration_days: days_between(first.timestamp_micros(), last.timestamp_micros()),
        last_hour: in_last(HOUR_US),
        last_day: in_last(DAY_US),
        centroid: centroid_of(events),
        extent: extent_of(events),
        window: WindowInfo {
            distance_km: w.distance_km,
            days_before: w.before_us / crate::time::MICROS_PER_DAY,
            days_after: w.after_us / crate::time::MICROS_PER_DAY,
            open_until: from_micros(open_until_us),
        },
        mainshock_moment_share: share,
        magnitude_types: types,
        stats: stats(events, &aftershocks, now_us, open_until_us),
        member_unids: listed,
        member_unids_truncated: events.len() > MAX_LISTED_MEMBERS,
    }
}

const UNKNOWN_SCALE: &str = "unknown";

fn scale_name(e: &Event) -> String {
    magnitude_scale(e.magtype.as_deref()).unwrap_or_else(|| UNKNOWN_SCALE.to_string())
}

fn name(main: &Event) -> String {
    let place = main.region.clone().unwrap_or_else(|| {
        let ns = if main.lat >= 0.0 { 'N' } else { 'S' };
        let ew = if main.lon >= 0.0 { 'E' } else { 'W' };
        format!("{:.2}{ns} {:.2}{ew}", main.lat.abs(), main.lon.abs())
    });
    format!(
        "{place} M{:.1} {}",
        main.mag.unwrap_or(f64::NAN),
        main.time.format("%Y-%m-%d")
    )
}

fn event_ref(e: &Event) -> EventRef {
    EventRef {
        unid: e.unid.clone(),
        time: e.time,
        lat: e.lat,
        lon: e.lon,
        depth_km: e.depth_km,
        mag: e.mag.expect("grouped"),
        magtype: e.magtype.clone(),
        region: e.region.clone(),
    }
}

fn centroid_of(events: &[&Event]) -> Centroid {
    let (lat, lon) = centroid(events.iter().map(|e| (e.lat, e.lon))).unwrap_or((events[0].lat, events[0].lon));
    let depth_km = events.iter().map(|e| e.depth_km).sum::<f64>() / events.len() as f64;
    Centroid { lat, lon, depth_km }
}

fn extent_of(events: &[&Event]) -> Extent {
    let c = centroid_of(events);
    let radius_km = events
        .iter()
        .map(|e| haversine_km(c.lat, c.lon, e.lat, e.lon))
        .fold(0.0, f64::max);
    let lat_min = events.iter().map(|e| e.lat).fold(f64::INFINITY, f64::min);
    let lat_max = events.iter().map(|e| e.lat).fold(f64::NEG_INFINITY, f64::max);
    let offsets = events.iter().map(|e| lon_offset(c.lon, e.lon));
    let (west, east) = offsets.fold((f64::INFINITY, f64::NEG_INFINITY), |(w, e), d| (w.min(d), e.max(d)));
    Extent {
        radius_km,
        lat_min,
        lat_max,
        lon_west: wrap_lon(c.lon + west),
        lon_east: wrap_lon(c.lon + east),
    }
}

/// The scale most members use; ties go to the alphabetically first. Events without a type are
/// never used.
fn stats_scale(events: &[&Event]) -> Option<String> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for e in events {
        if let Some(s) = magnitude_scale(e.magtype.as_deref()) {
            *counts.entry(s).or_insert(0) += 1;
        }
    }
    let max = *counts.values().max()?;
    counts.into_iter().find(|(_, n)| *n == max).map(|(s, _)| s)
}

fn stats(events: &[&Event], aftershocks: &[&Event], now_us: i64, open_until_us: i64) -> Stats {
    let main = events[0];
    let scale = stats_scale(events);
    let same = |e: &Event| scale.is_some() && magnitude_scale(e.magtype.as_deref()) == scale;
    let mags: Vec<f64> = events
        .iter()
        .filter(|e| same(e))
        .map(|e| e.mag.expect("grouped"))
        .collect();
    let fmd = mc::histogram(&mags)
        .into_iter()
        .map(|(k, count)| FmdBin {
            mag: mc::bin_mag(k),
            count,
        })
        .collect();
    let mc_est = mc::maxc(&mags);
    let b_est: Result<BValue, NotEnough> = match mc_est {
        Ok(m) => bvalue::aki_utsu(&mags, m.bin),
        Err(e) => Err(e),
    };
    let omori_est = match mc_est {
        Ok(m) => fit_omori(
            main,
            aftershocks.iter().copied().filter(|e| same(e)),
            m,
            now_us,
            open_until_us,
        ),
        Err(e) => Err(e),
    };
    let bath = aftershocks.first().map(|a| {
        let b = bath::check(
            main.mag.expect("grouped"),
            a.mag.expect("grouped"),
            b_est.ok().map(|b| b.b),
        );
        let (sm, sa) = (
            magnitude_scale(main.magtype.as_deref()),
            magnitude_scale(a.magtype.as_deref()),
        );
        bath_out(b, sm.is_some() && sm == sa)
    });
    Stats {
        magnitude_type: scale,
        events: mags.len(),
        excluded_events: events.len() - mags.len(),
        fmd,
        mc: mc_est
            .map(|m: Mc| McOut {
                mc: m.value(),
                max_curvature: mc::bin_mag(m.mode_bin),
                method: McMethod::MaxcPlus02,
            })
            .into(),
        b_value: b_est
            .map(|b| BValueOut {
                b: b.b,
                sigma: b.sigma,
                events: b.n,
                mc: b.mc,
            })
            .into(),
        omori: omori_est.into(),
        bath,
    }
}

fn fit_omori<'a>(
    main: &Event,
    aftershocks: impl Iterator<Item = &'a Event>,
    mc: Mc,
    now_us: i64,
    open_until_us: i64,
) -> Result<OmoriOut, NotEnough> {
    let t_main = main.time_us();
    let t_end = days_between(t_main, now_us.min(open_until_us));
    let times: Vec<f64> = aftershocks
        .filter(|e| mc::bin(e.mag.expect("grouped")) >= mc.bin)
        .map(|e| days_between(t_main, e.time_us()))
        .collect();
    let f: OmoriFit = omori::fit(&times, 0.0, t_end)?;
    let tau = days_between(t_main, now_us);
    let horizon_end = (tau + FORECAST_DAYS).min(days_between(t_main, open_until_us));
    let (expected, sigma) = if horizon_end > tau {
        (f.expected(tau, horizon_end), f.expected_sigma(tau, horizon_end))
    } else {
        (0.0, Some(0.0))
    };
    Ok(OmoriOut {
        k: f.k,
        c_days: f.c,
        p: f.p,
        sigma_k: f.sigma_k,
        sigma_c_days: f.sigma_c,
        sigma_p: f.sigma_p,
        at_bound: f.at_bound,
        events: f.n,
        mc: mc.value(),
        t_end_days: t_end,
        expected_next_24h: expected,
        expected_next_24h_sigma: sigma,
    })
}

fn bath_out(b: Bath, same_magnitude_type: bool) -> BathOut {
    BathOut {
        delta_m: b.delta_m,
        expected: bath::BATH_DELTA_M,
        percentile: b.percentile,
        b_used: b.b,
        verdict: match b.verdict {
            Verdict::Typical => BathVerdict::Typical,
            Verdict::LargeAftershock => BathVerdict::LargeAftershock,
            Verdict::SmallAftershocks => BathVerdict::SmallAftershocks,
        },
        same_magnitude_type,
    }
}
