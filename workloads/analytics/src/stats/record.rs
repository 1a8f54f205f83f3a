//! The value of a record on `quake-stats` (contract v1, schema in `schemas/quake-stats.v1.json`).
//! The record key is the window key ([`crate::window::StatsKey`]).

use crate::agg::Agg;
use crate::moment;
use crate::window::{Band, StatsKey, WindowKind, fmt_epoch_s};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

pub const STATS_VERSION: u8 = 1;
pub const DEFAULT_STATS_TOPIC: &str = quakestream_contract::analytics::DEFAULT_STATS_TOPIC;

/// Early update, the final result when the window closes, or a correction after that.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Update,
    Final,
    Correction,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Update => "update",
            Kind::Final => "final",
            Kind::Correction => "correction",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LargestEvent {
    pub mag: f64,
    pub magtype: Option<String>,
    pub unid: String,
    /// Origin time, RFC 3339 UTC.
    pub time: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Bands {
    pub lt2: u64,
    #[serde(rename = "2-4")]
    pub b2_4: u64,
    #[serde(rename = "4-6")]
    pub b4_6: u64,
    pub ge6: u64,
}

impl Bands {
    pub fn get(&self, b: Band) -> u64 {
        match b {
            Band::Lt2 => self.lt2,
            Band::B2to4 => self.b2_4,
            Band::B4to6 => self.b4_6,
            Band::Ge6 => self.ge6,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MomentBasis {
    pub mw: u64,
    pub converted: u64,
    pub proxy: u64,
}

/// One window's statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatsRecord {
    pub v: u8,
    pub kind: Kind,
    pub window: WindowKind,
    /// Window start and end (end exclusive), RFC 3339 UTC.
    pub start: String,
    pub end: String,
    /// `world`, `region` or `band`, and its value (`world`, the region name, or the band label).
    pub dimension: String,
    pub key: String,
    /// Earthquakes whose current revision has its origin time in the window.
    pub count: u64,
    pub bands: Bands,
    /// Of `count`, events without a magnitude (in no band, no moment).
    pub no_magnitude: u64,
    pub largest: Option<LargestEvent>,
    /// Summed seismic moment (N·m) and its equivalent moment magnitude.
    pub moment_nm: f64,
    pub moment_magnitude: Option<f64>,
    pub moment_basis: MomentBasis,
    pub mean_depth_km: Option<f64>,
    /// Stream time from which the window is closed (end + grace).
    pub closes_at: String,
    /// Stream time of the aggregator when this record was made.
    pub stream_time: Option<String>,
}

fn fmt_us(us: i64) -> String {
    DateTime::<Utc>::from_timestamp_micros(us)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl StatsRecord {
    pub fn new(key: &StatsKey, agg: &Agg, kind: Kind, grace_us: i64, stream_time_us: i64) -> StatsRecord {
        let w = key.window;
        StatsRecord {
            v: STATS_VERSION,
            kind,
            window: w.kind,
            start: fmt_epoch_s(w.start_s()),
            end: fmt_epoch_s(w.end_s()),
            dimension: key.dim.kind().to_owned(),
            key: key.dim.value().to_owned(),
            count: agg.count,
            bands: Bands {
                lt2: agg.bands[0],
                b2_4: agg.bands[1],
                b4_6: agg.bands[2],
                ge6: agg.bands[3],
            },
            no_magnitude: agg.no_mag,
            largest: agg.largest.as_ref().map(|l| LargestEvent {
                mag: l.mag,
                magtype: l.magtype.as_deref().map(str::to_owned),
                unid: l.unid.to_string(),
                time: fmt_us(l.time_us),
            }),
            moment_nm: agg.moment_nm as f64,
            moment_magnitude: moment::equivalent_mw(agg.moment_nm),
            moment_basis: MomentBasis {
                mw: agg.basis[0],
                converted: agg.basis[1],
                proxy: agg.basis[2],
            },
            mean_depth_km: agg.mean_depth_km(),
            closes_at: fmt_us(w.closes_at_us(grace_us)),
            stream_time: (stream_time_us != i64::MIN).then(|| fmt_us(stream_time_us)),
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a stats record always serialises")
    }

    /// The same statistics (everything but `kind` and `stream_time`, which say when it was made).
    pub fn same_measures(&self, o: &StatsRecord) -> bool {
        let strip = |r: &StatsRecord| StatsRecord {
            kind: Kind::Update,
            stream_time: None,
            ..r.clone()
        };
        strip(self) == strip(o)
    }
}
