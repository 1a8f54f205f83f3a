//! The record on the `quakes` topic (contract v1, schema in `schemas/wire-record.v1.json`)
//! and the dead-letter record on `quakes.dlq`.

use crate::model::{Quake, fmt_time, utc_micros};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

pub const WIRE_VERSION: u8 = 1;
pub const DEFAULT_TOPIC: &str = quakestream_contract::names::DEFAULT_TOPIC;
pub const DEFAULT_DLQ_TOPIC: &str = quakestream_contract::names::DEFAULT_DLQ_TOPIC;

/// Kafka header names carried by every record.
pub mod headers {
    pub const ACTION: &str = "qs-action";
    pub const SOURCE: &str = "qs-source";
    /// On dead letters: the stable reason code, the human message and the stage that rejected it.
    pub const REASON: &str = "qs-reason";
    pub const ERROR: &str = "qs-error";
    pub const STAGE: &str = "qs-stage";
    pub const RECEIVED_AT: &str = "qs-received-at";
    /// On dead letters that keep only a prefix of their input: its full length in bytes and
    /// its SHA-256 (lowercase hex).
    pub const ORIGINAL_LENGTH: &str = "qs-original-length";
    pub const ORIGINAL_SHA256: &str = "qs-original-sha256";
}

/// What happened to the event at the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// EMSC pushed a new event.
    Create,
    /// EMSC pushed a revision of an event.
    Update,
    /// The event came from a catalogue query or a file (FDSN backfill, USGS feed, replay of a
    /// FeatureCollection): its current state, with no claim about whether it is new.
    Snapshot,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Snapshot => "snapshot",
        }
    }

    /// The actions of the EMSC websocket protocol; anything else is unknown and skipped.
    pub fn from_emsc(s: &str) -> Option<Action> {
        match s {
            "create" => Some(Action::Create),
            "update" => Some(Action::Update),
            _ => None,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The value of a record on `quakes`; the key is `quake.unid`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireRecord {
    pub v: u8,
    pub action: Action,
    /// When the producer received the event (its clock).
    #[serde(with = "utc_micros")]
    pub received_at: DateTime<Utc>,
    pub quake: Quake,
}

/// Why a record on `quakes` could not be used by a consumer.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("record is not valid JSON for wire v{WIRE_VERSION}: {0}")]
    Json(#[from] serde_json::Error),
    #[error("unsupported wire version {0} (this build reads v{WIRE_VERSION})")]
    Version(u64),
    #[error("record has no value")]
    Empty,
    #[error("invalid quake: {0}")]
    Invalid(#[from] crate::model::InvalidQuake),
    #[error("record key {key:?} does not match quake.unid {unid:?}")]
    KeyMismatch { key: String, unid: String },
}

impl DecodeError {
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::Json(_) => "bad_json",
            DecodeError::Version(_) => "unsupported_version",
            DecodeError::Empty => "empty",
            DecodeError::Invalid(e) => e.reason(),
            DecodeError::KeyMismatch { .. } => "key_mismatch",
        }
    }
}

impl WireRecord {
    pub fn new(action: Action, quake: Quake, received_at: DateTime<Utc>) -> Self {
        WireRecord {
            v: WIRE_VERSION,
            action,
            received_at: crate::model::to_micros(received_at),
            quake,
        }
    }

    pub fn key(&self) -> &str {
        &self.quake.unid
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a wire record always serialises")
    }

    /// Decodes and re-validates a record read from Kafka. `key` is the record key, if any.
    pub fn decode(key: Option<&[u8]>, value: Option<&[u8]>) -> Result<WireRecord, DecodeError> {
        let value = value.filter(|v| !v.is_empty()).ok_or(DecodeError::Empty)?;
        #[derive(Deserialize)]
        struct Version {
            v: Option<u64>,
        }
        // One parse when the record is good; the version alone is read only to explain a failure
        // (a record of another version is "unsupported", not "bad JSON").
        let rec: WireRecord = match serde_json::from_slice::<WireRecord>(value) {
            Ok(rec) if rec.v == WIRE_VERSION => rec,
            Ok(rec) => return Err(DecodeError::Version(u64::from(rec.v))),
            Err(e) => {
                let version: Version = serde_json::from_slice(value)?;
                return Err(match version.v {
                    Some(v) if v != u64::from(WIRE_VERSION) => DecodeError::Version(v),
                    None => DecodeError::Version(0),
                    Some(_) => DecodeError::Json(e),
                });
            }
        };
        rec.quake.validate()?;
        if let Some(key) = key
            && key != rec.quake.unid.as_bytes()
        {
            return Err(DecodeError::KeyMismatch {
                key: String::from_utf8_lossy(key).chars().take(64).collect(),
                unid: rec.quake.unid.clone(),
            });
        }
        Ok(rec)
    }
}

/// Renders a time the way the wire does (for logs and headers).
pub fn wire_time(t: &DateTime<Utc>) -> String {
    fmt_time(t)
}
