//! The event as the analytics keeps it: one current revision per `unid`, with its region
//! resolved. This is what the event table holds, what its changelog stores, and what every
//! processor sees when an event changes.

use quakestream_core::model::{Quake, Source};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::sync::Arc;

/// The revision of one event the analytics counts. Times are microseconds since the epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Origin time.
    #[serde(rename = "t")]
    pub time_us: i64,
    /// Revision time (the version).
    #[serde(rename = "u")]
    pub lastupdate_us: i64,
    pub lat: f64,
    pub lon: f64,
    #[serde(rename = "d")]
    pub depth_km: f64,
    #[serde(rename = "m", default, skip_serializing_if = "Option::is_none")]
    pub mag: Option<f64>,
    #[serde(rename = "mt", default, skip_serializing_if = "Option::is_none")]
    pub magtype: Option<Arc<str>>,
    /// The Flinn-Engdahl region: EMSC's `region`, or for USGS events (and EMSC events without
    /// one) the region of the coordinates in the 1995 Flinn-Engdahl regionalisation.
    #[serde(rename = "r")]
    pub region: Arc<str>,
    /// Whether it counts as an earthquake (see [`is_earthquake`]).
    #[serde(rename = "q")]
    pub earthquake: bool,
    #[serde(rename = "s")]
    pub source: Source,
}

/// Region given to a point the regionalisation cannot place (it covers the whole globe, so only
/// for coordinates outside the contract's ranges, which the wire decoder already rejects).
pub const UNKNOWN_REGION: &str = "UNKNOWN";

/// The Flinn-Engdahl region name (upper case, as EMSC writes them) of a point.
pub fn fe_region(lat: f64, lon: f64) -> &'static str {
    flinn_engdahl::region(lat, lon).unwrap_or(UNKNOWN_REGION)
}

/// `name` in upper case, copied once.
fn upper_case(name: &str) -> Arc<str> {
    if name.bytes().any(|b| b.is_ascii_lowercase()) {
        name.to_ascii_uppercase().into()
    } else {
        name.into()
    }
}

/// Earthquakes count; quarry blasts, explosions and other non-tectonic events do not. EMSC:
/// `ke` (known earthquake) and `se` (suspected earthquake); USGS: `earthquake`. A missing type
/// counts as an earthquake. A revision that changes the type retracts or adds the event.
pub fn is_earthquake(evtype: Option<&str>) -> bool {
    evtype.is_none_or(|t| {
        let t = t.trim();
        ["", "ke", "se", "earthquake"].iter().any(|e| t.eq_ignore_ascii_case(e))
    })
}

impl Event {
    pub fn from_quake(q: &Quake) -> Event {
        let region = match (q.source, q.region.as_deref()) {
            (Source::Emsc, Some(r)) if !r.trim().is_empty() => upper_case(r.trim()),
            _ => fe_region(q.lat, q.lon).into(),
        };
        Event {
            time_us: q.time.timestamp_micros(),
            lastupdate_us: q.lastupdate.timestamp_micros(),
            lat: q.lat,
            lon: q.lon,
            depth_km: q.depth_km,
            mag: q.mag,
            magtype: q.magtype.as_deref().map(Arc::from),
            region,
            earthquake: is_earthquake(q.evtype.as_deref()),
            source: q.source,
        }
    }

    /// The total order of revisions: the later `lastupdate` wins; two different revisions with
    /// the same `lastupdate` are ordered by their encoding, so every replica and every arrival
    /// order picks the same one.
    pub fn revision_cmp(&self, other: &Event) -> Ordering {
        self.lastupdate_us
            .cmp(&other.lastupdate_us)
            .then_with(|| self.encode().cmp(&other.encode()))
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an event always serialises")
    }

    pub fn decode(bytes: &[u8]) -> Result<Event, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usgs_events_get_the_flinn_engdahl_region_of_their_coordinates() {
        assert_eq!(fe_region(-42.448299, 171.214005), "SOUTH ISLAND, NEW ZEALAND");
        assert_eq!(fe_region(19.4, -155.28), "HAWAII");
        assert_eq!(fe_region(38.4, -122.8), "NORTHERN CALIFORNIA");
    }

    #[test]
    fn event_types() {
        for t in [None, Some("ke"), Some("se"), Some("earthquake"), Some("Earthquake")] {
            assert!(is_earthquake(t), "{t:?}");
        }
        for t in [Some("quarry blast"), Some("explosion"), Some("qb"), Some("ex")] {
            assert!(!is_earthquake(t), "{t:?}");
        }
    }
}
