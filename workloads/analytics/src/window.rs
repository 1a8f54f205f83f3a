//! Windows on origin time and the keys of `quake-stats`.
//!
//! Everything is built from hourly panes (pane `h` = the hour starting at `h·3600` s since the
//! epoch): the 1 h tumbling window is one pane, the 1 d tumbling window (UTC days) is 24 aligned
//! panes, and the 24 h hopping window advancing every hour is 24 consecutive panes, so an event
//! belongs to exactly 1 + 1 + 24 windows per key.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

pub const HOUR_S: i64 = 3600;
pub const DAY_S: i64 = 86_400;
/// Panes per day (and per hopping window).
pub const PANES_PER_DAY: i64 = 24;

/// The hourly pane of an origin time in microseconds.
pub fn pane_of(time_us: i64) -> i64 {
    time_us.div_euclid(HOUR_S * 1_000_000)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum WindowKind {
    /// Tumbling, one hour.
    #[serde(rename = "1h")]
    Hour,
    /// Tumbling, one UTC day.
    #[serde(rename = "1d")]
    Day,
    /// Hopping: 24 hours, a new one every hour ("the last day").
    #[serde(rename = "24h")]
    Last24h,
}

impl WindowKind {
    pub const ALL: [WindowKind; 3] = [WindowKind::Hour, WindowKind::Day, WindowKind::Last24h];

    pub fn as_str(self) -> &'static str {
        match self {
            WindowKind::Hour => "1h",
            WindowKind::Day => "1d",
            WindowKind::Last24h => "24h",
        }
    }

    pub fn parse(s: &str) -> Option<WindowKind> {
        WindowKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Length in panes.
    pub fn panes(self) -> i64 {
        match self {
            WindowKind::Hour => 1,
            WindowKind::Day | WindowKind::Last24h => PANES_PER_DAY,
        }
    }
}

/// One window: its kind and its first pane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Window {
    pub kind: WindowKind,
    pub first_pane: i64,
}

impl Window {
    pub fn start_s(&self) -> i64 {
        self.first_pane * HOUR_S
    }
    pub fn end_s(&self) -> i64 {
        (self.first_pane + self.kind.panes()) * HOUR_S
    }
    /// The panes it covers.
    pub fn panes(&self) -> std::ops::Range<i64> {
        self.first_pane..self.first_pane + self.kind.panes()
    }
    /// Stream time (µs) from which it is closed: its end plus the grace period.
    pub fn closes_at_us(&self, grace_us: i64) -> i64 {
        self.end_s() * 1_000_000 + grace_us
    }
}

/// Every window that contains pane `p`: its hour, its day, and the 24 hopping windows.
pub fn windows_of_pane(p: i64) -> impl Iterator<Item = Window> {
    let hour = Window {
        kind: WindowKind::Hour,
        first_pane: p,
    };
    let day = Window {
        kind: WindowKind::Day,
        first_pane: p.div_euclid(PANES_PER_DAY) * PANES_PER_DAY,
    };
    let hops = (p - PANES_PER_DAY + 1..=p).map(|first_pane| Window {
        kind: WindowKind::Last24h,
        first_pane,
    });
    [hour, day].into_iter().chain(hops)
}

/// Magnitude bands, on the magnitude as reported (whatever its type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Band {
    #[serde(rename = "lt2")]
    Lt2,
    #[serde(rename = "2-4")]
    B2to4,
    #[serde(rename = "4-6")]
    B4to6,
    #[serde(rename = "ge6")]
    Ge6,
}

impl Band {
    pub const ALL: [Band; 4] = [Band::Lt2, Band::B2to4, Band::B4to6, Band::Ge6];

    /// `< 2`, `2 ≤ m < 4`, `4 ≤ m < 6`, `≥ 6`.
    pub fn of(mag: f64) -> Band {
        if mag < 2.0 {
            Band::Lt2
        } else if mag < 4.0 {
            Band::B2to4
        } else if mag < 6.0 {
            Band::B4to6
        } else {
            Band::Ge6
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Band::Lt2 => "lt2",
            Band::B2to4 => "2-4",
            Band::B4to6 => "4-6",
            Band::Ge6 => "ge6",
        }
    }
    pub fn parse(s: &str) -> Option<Band> {
        Band::ALL.into_iter().find(|b| b.as_str() == s)
    }
    pub fn index(self) -> usize {
        self as usize
    }
}

/// What a statistic is about: the whole world, one Flinn-Engdahl region, or one magnitude band.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dim {
    World,
    Region(Arc<str>),
    Band(Band),
}

impl Dim {
    pub fn kind(&self) -> &'static str {
        match self {
            Dim::World => "world",
            Dim::Region(_) => "region",
            Dim::Band(_) => "band",
        }
    }
    pub fn value(&self) -> &str {
        match self {
            Dim::World => "world",
            Dim::Region(r) => r,
            Dim::Band(b) => b.as_str(),
        }
    }
    pub fn parse(kind: &str, value: &str) -> Option<Dim> {
        match kind {
            "world" => Some(Dim::World),
            "region" if !value.is_empty() => Some(Dim::Region(value.into())),
            "band" => Band::parse(value).map(Dim::Band),
            _ => None,
        }
    }
    /// `world`, `region/NAME` or `band/LABEL`: the routing key of a dimension.
    pub fn encode(&self) -> String {
        match self {
            Dim::World => "world".to_owned(),
            other => format!("{}/{}", other.kind(), other.value()),
        }
    }
    pub fn decode(s: &str) -> Option<Dim> {
        match s.split_once('/') {
            None => Dim::parse(s, ""),
            Some((k, v)) => Dim::parse(k, v),
        }
    }
}

/// The key of a record on `quake-stats`: `{window}/{start}/{dimension}[/{value}]`, e.g.
/// `1h/2025-04-23T09:00:00Z/world`, `24h/2025-04-22T10:00:00Z/band/4-6`,
/// `1d/2025-04-23T00:00:00Z/region/NEAR COAST OF WESTERN TURKEY` (a region name may hold any
/// character, `/` included: it is everything after the third `/`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StatsKey {
    pub window: Window,
    pub dim: Dim,
}

pub fn fmt_epoch_s(s: i64) -> String {
    DateTime::<Utc>::from_timestamp(s, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl fmt::Display for StatsKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}",
            self.window.kind.as_str(),
            fmt_epoch_s(self.window.start_s()),
            self.dim.encode()
        )
    }
}

impl StatsKey {
    pub fn parse(s: &str) -> Option<StatsKey> {
        let mut parts = s.splitn(3, '/');
        let kind = WindowKind::parse(parts.next()?)?;
        let start = DateTime::parse_from_rfc3339(parts.next()?).ok()?.timestamp();
        let dim = Dim::decode(parts.next()?)?;
        if start.rem_euclid(HOUR_S) != 0 || (kind == WindowKind::Day && start.rem_euclid(DAY_S) != 0) {
            return None;
        }
        Some(StatsKey {
            window: Window {
                kind,
                first_pane: start / HOUR_S,
            },
            dim,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pane_is_in_its_hour_its_day_and_24_hopping_windows() {
        let p = pane_of(
            DateTime::parse_from_rfc3339("2025-04-23T09:41:00Z")
                .unwrap()
                .timestamp_micros(),
        );
        let ws: Vec<Window> = windows_of_pane(p).collect();
        assert_eq!(ws.len(), 26);
        for w in &ws {
            assert!(w.panes().contains(&p), "{w:?}");
        }
        assert_eq!(fmt_epoch_s(ws[0].start_s()), "2025-04-23T09:00:00Z");
        assert_eq!(fmt_epoch_s(ws[1].start_s()), "2025-04-23T00:00:00Z");
        assert_eq!(fmt_epoch_s(ws[1].end_s()), "2025-04-24T00:00:00Z");
        assert_eq!(fmt_epoch_s(ws[2].start_s()), "2025-04-22T10:00:00Z");
        assert_eq!(fmt_epoch_s(ws[25].end_s()), "2025-04-24T09:00:00Z");
    }

    #[test]
    fn negative_times_fall_in_the_right_pane() {
        assert_eq!(pane_of(-1), -1);
        assert_eq!(pane_of(0), 0);
    }

    #[test]
    fn keys_round_trip_including_slashes_in_region_names() {
        for dim in [
            Dim::World,
            Dim::Band(Band::B4to6),
            Dim::Region("NEAR COAST OF WESTERN TURKEY".into()),
            Dim::Region("A/B REGION".into()),
        ] {
            for kind in WindowKind::ALL {
                let key = StatsKey {
                    window: Window {
                        kind,
                        first_pane: 483_249 * 24,
                    },
                    dim: dim.clone(),
                };
                let s = key.to_string();
                assert_eq!(StatsKey::parse(&s), Some(key), "{s}");
            }
        }
        assert_eq!(
            StatsKey {
                window: Window {
                    kind: WindowKind::Hour,
                    first_pane: 0
                },
                dim: Dim::Band(Band::Ge6)
            }
            .to_string(),
            "1h/1970-01-01T00:00:00Z/band/ge6"
        );
        for bad in [
            "",
            "2h/1970-01-01T00:00:00Z/world",
            "1d/1970-01-01T01:00:00Z/world",
            "1h/x/world",
            "1h/1970-01-01T00:00:00Z/region/",
            "1h/1970-01-01T00:00:00Z/band/9",
        ] {
            assert_eq!(StatsKey::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn bands_have_closed_lower_bounds() {
        assert_eq!(Band::of(1.99), Band::Lt2);
        assert_eq!(Band::of(2.0), Band::B2to4);
        assert_eq!(Band::of(4.0), Band::B4to6);
        assert_eq!(Band::of(6.0), Band::Ge6);
        assert_eq!(Band::of(-1.0), Band::Lt2);
    }
}
