//! Records of the sequences' repartition topic and changelog (internal; JSON, versioned by shape).

use crate::event::Event;
use crate::processor::TaskError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One event change: the event's current revision (`ev`), or its retraction (`ev: null`, it is
/// gone or no longer grouped), at version `ver` of source partition `src` (the offset of the
/// last `quakes` record of `src` it reflects), with that partition's stream time `st` (µs).
/// The record key is the unid. The changelog stores the same value under the same key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub src: i32,
    pub ver: i64,
    pub st: i64,
    pub ev: Option<quakestream_seismo::Event>,
}

impl Change {
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a change always serialises")
    }
    pub fn decode(v: &[u8]) -> Result<Change, TaskError> {
        serde_json::from_slice(v).map_err(|e| TaskError::Decode {
            what: "sequences record",
            detail: e.to_string(),
        })
    }
}

fn utc(us: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_micros(us).unwrap_or_default()
}

/// The grouping's view of an event, if it takes part (an earthquake with a magnitude).
pub fn groupable(unid: &str, e: &Event) -> Option<quakestream_seismo::Event> {
    if !e.earthquake || e.mag.is_none() {
        return None;
    }
    Some(quakestream_seismo::Event {
        unid: unid.to_owned(),
        time: utc(e.time_us),
        lastupdate: utc(e.lastupdate_us),
        lat: e.lat,
        lon: e.lon,
        depth_km: e.depth_km,
        mag: e.mag,
        magtype: e.magtype.as_deref().map(str::to_owned),
        region: Some(e.region.to_string()),
        // Only earthquakes are sent (the analytics already classified the type).
        evtype: None,
    })
}
