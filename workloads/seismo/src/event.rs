//! The input: one event at one revision, as the grouping sees it. The field names are those of
//! the wire record's `quake` object, so a wire record's `quake` deserialises into an [`Event`]
//! directly (the fields the grouping does not use, `agency` and `source`, are ignored).

use crate::error::InvalidEvent;
use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::sync::Arc;

/// The same limits as the wire contract (`schemas/wire-record.v1.json`).
pub const MAX_UNID_LEN: usize = 128;
pub const LAT_RANGE: (f64, f64) = (-90.0, 90.0);
pub const LON_RANGE: (f64, f64) = (-180.0, 180.0);
pub const DEPTH_RANGE_KM: (f64, f64) = (-15.0, 800.0);
pub const MAG_RANGE: (f64, f64) = (-3.0, 10.5);
/// Years an origin time or revision time may have: RFC 3339's four digits. This also keeps every
/// difference of two times in microseconds far inside an i64.
pub const YEAR_RANGE: (i32, i32) = (1, 9999);

/// Event types that are grouped: EMSC `ke` (known earthquake) and `se` (suspected earthquake),
/// USGS `earthquake`; an event without a type is taken as an earthquake. Anything else (quarry
/// blasts, explosions, mining events, ...) is kept but never joins a sequence.
pub const EARTHQUAKE_TYPES: [&str; 3] = ["ke", "se", "earthquake"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub unid: String,
    /// Origin time.
    #[serde(with = "crate::time::micros")]
    pub time: DateTime<Utc>,
    /// Revision time: the version. A later `lastupdate` supersedes an earlier one.
    #[serde(with = "crate::time::micros")]
    pub lastupdate: DateTime<Utc>,
    pub lat: f64,
    pub lon: f64,
    /// Kilometres, positive down.
    pub depth_km: f64,
    #[serde(default)]
    pub mag: Option<f64>,
    #[serde(default)]
    pub magtype: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub evtype: Option<String>,
}

impl Event {
    /// Checks the fields the grouping relies on against the wire contract's ranges.
    pub fn validate(&self) -> Result<(), InvalidEvent> {
        let n = self.unid.chars().count();
        if n == 0 || n > MAX_UNID_LEN || self.unid.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(InvalidEvent::BadUnid(self.unid.chars().take(40).collect()));
        }
        for (field, t) in [("time", self.time), ("lastupdate", self.lastupdate)] {
            check(
                field,
                f64::from(t.year()),
                (f64::from(YEAR_RANGE.0), f64::from(YEAR_RANGE.1)),
            )?;
        }
        check("lat", self.lat, LAT_RANGE)?;
        check("lon", self.lon, LON_RANGE)?;
        check("depth_km", self.depth_km, DEPTH_RANGE_KM)?;
        if let Some(m) = self.mag {
            check("mag", m, MAG_RANGE)?;
        }
        Ok(())
    }

    /// Whether this revision takes part in the grouping: it has a magnitude and is an earthquake.
    pub fn is_groupable(&self) -> bool {
        self.mag.is_some() && is_earthquake(self.evtype.as_deref())
    }

    /// Whether `self` replaces `old` (the same unid): a later `lastupdate` wins. Two different
    /// revisions with the same `lastupdate` are ordered by their content, so that the survivor
    /// does not depend on the order in which they arrived; an identical one is a duplicate.
    pub fn supersedes(&self, old: &Event) -> bool {
        match self.lastupdate.cmp(&old.lastupdate) {
            Ordering::Greater => true,
            Ordering::Less => false,
            Ordering::Equal => content_cmp(self, old) == Ordering::Greater,
        }
    }

    pub fn time_us(&self) -> i64 {
        self.time.timestamp_micros()
    }
}

fn check(field: &'static str, value: f64, (min, max): (f64, f64)) -> Result<(), InvalidEvent> {
    if value.is_finite() && value >= min && value <= max {
        Ok(())
    } else {
        Err(InvalidEvent::OutOfRange { field, value, min, max })
    }
}

pub fn is_earthquake(evtype: Option<&str>) -> bool {
    match evtype.map(str::trim) {
        None | Some("") => true,
        Some(t) => EARTHQUAKE_TYPES.iter().any(|e| e.eq_ignore_ascii_case(t)),
    }
}

/// The magnitude scale an event's `magtype` belongs to, for the statistics (which never mix
/// scales). Lower-cased; every moment magnitude (`mw`, `mww`, `mwr`, `mwb`, `mwc`, ...) is one
/// scale, `mw`: they are estimates of the same quantity, so nothing is converted. `None` when the
/// event has no magnitude type.
pub fn magnitude_scale(magtype: Option<&str>) -> Option<String> {
    let t = magtype?.trim().to_ascii_lowercase();
    if t.is_empty() {
        None
    } else if t.starts_with("mw") {
        Some("mw".to_string())
    } else {
        Some(t)
    }
}

fn content_cmp(a: &Event, b: &Event) -> Ordering {
    a.time
        .cmp(&b.time)
        .then(a.lat.total_cmp(&b.lat))
        .then(a.lon.total_cmp(&b.lon))
        .then(a.depth_km.total_cmp(&b.depth_km))
        .then(opt_f64_cmp(a.mag, b.mag))
        .then(a.magtype.cmp(&b.magtype))
        .then(a.region.cmp(&b.region))
        .then(a.evtype.cmp(&b.evtype))
}

fn opt_f64_cmp(a: Option<f64>, b: Option<f64>) -> Ordering {
    match (a, b) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        (a, b) => a.is_some().cmp(&b.is_some()),
    }
}

/// The processing order of the Gardner–Knopoff algorithm: larger magnitude first, then earlier
/// origin time, then unid (byte order). A total order, so the grouping is deterministic.
#[derive(Debug, Clone)]
pub(crate) struct Rank {
    pub mag: f64,
    pub time_us: i64,
    pub unid: Arc<str>,
}

impl Ord for Rank {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .mag
            .total_cmp(&self.mag)
            .then(self.time_us.cmp(&other.time_us))
            .then_with(|| self.unid.cmp(&other.unid))
    }
}

impl PartialOrd for Rank {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Rank {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Rank {}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(unid: &str, lastupdate: &str, mag: Option<f64>) -> Event {
        Event {
            unid: unid.into(),
            time: "2025-04-23T09:49:11.93Z".parse().unwrap(),
            lastupdate: lastupdate.parse().unwrap(),
            lat: 40.8,
            lon: 28.2,
            depth_km: 10.0,
            mag,
            magtype: Some("mw".into()),
            region: None,
            evtype: Some("ke".into()),
        }
    }

    #[test]
    fn later_revisions_win_and_equal_ones_are_ordered_by_content() {
        let a = ev("x", "2025-04-23T10:00:00Z", Some(6.0));
        let b = ev("x", "2025-04-23T11:00:00Z", Some(5.9));
        assert!(b.supersedes(&a) && !a.supersedes(&b));
        let c = ev("x", "2025-04-23T11:00:00Z", Some(6.2));
        assert!(
            c.supersedes(&b) && !b.supersedes(&c),
            "same lastupdate: the content decides, both ways"
        );
        assert!(!b.supersedes(&b.clone()), "an identical revision is a duplicate");
    }

    #[test]
    fn only_earthquakes_with_a_magnitude_are_grouped() {
        assert!(ev("x", "2025-04-23T10:00:00Z", Some(3.0)).is_groupable());
        assert!(!ev("x", "2025-04-23T10:00:00Z", None).is_groupable());
        for (t, yes) in [
            ("ke", true),
            ("SE", true),
            ("earthquake", true),
            ("quarry blast", false),
            ("km", false),
        ] {
            assert_eq!(is_earthquake(Some(t)), yes, "{t}");
        }
        assert!(is_earthquake(None));
    }

    #[test]
    fn moment_magnitudes_are_one_scale_and_nothing_else_is_merged() {
        for t in ["mw", "Mww", "mwr", "mwb"] {
            assert_eq!(magnitude_scale(Some(t)).as_deref(), Some("mw"), "{t}");
        }
        assert_eq!(magnitude_scale(Some("ML")).as_deref(), Some("ml"));
        assert_eq!(magnitude_scale(Some("mb")).as_deref(), Some("mb"));
        assert_eq!(magnitude_scale(Some(" ")), None);
        assert_eq!(magnitude_scale(None), None);
    }

    #[test]
    fn validation_names_the_field() {
        let mut e = ev("x", "2025-04-23T10:00:00Z", Some(11.0));
        assert_eq!(e.validate().unwrap_err().code(), "out_of_range");
        e.mag = Some(f64::NAN);
        assert!(matches!(
            e.validate(),
            Err(InvalidEvent::OutOfRange { field: "mag", .. })
        ));
        e.mag = Some(5.0);
        e.unid = "a b".into();
        assert_eq!(e.validate().unwrap_err().code(), "bad_unid");
        e.unid = "x".repeat(MAX_UNID_LEN + 1);
        assert_eq!(e.validate().unwrap_err().code(), "bad_unid");
        e.unid = "ok".into();
        e.lat = 91.0;
        assert!(matches!(
            e.validate(),
            Err(InvalidEvent::OutOfRange { field: "lat", .. })
        ));
        e.lat = 40.0;
        e.time = "+20000-01-01T00:00:00Z".parse().unwrap();
        assert!(matches!(
            e.validate(),
            Err(InvalidEvent::OutOfRange { field: "time", .. })
        ));
        e.time = e.lastupdate;
        assert!(e.validate().is_ok());
    }

    #[test]
    fn rank_is_magnitude_down_then_time_then_unid() {
        let r = |mag, time_us, unid: &str| Rank {
            mag,
            time_us,
            unid: unid.into(),
        };
        assert!(r(6.0, 5, "z") < r(5.9, 0, "a"));
        assert!(r(6.0, 0, "z") < r(6.0, 1, "a"));
        assert!(r(6.0, 0, "a") < r(6.0, 0, "b"));
    }
}
