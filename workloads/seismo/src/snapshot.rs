//! The grouper's state, serialisable. The state is the catalogue (the latest revision of each
//! event) and the parameters; everything else (heads, clusters, indexes) is derived, and is
//! rebuilt on restore by the same algorithm, so a restored grouper equals the original.
//!
//! An engine with a changelog keyed by unid stores each [`Event`] under its unid and restores
//! with [`Grouper::from_events`]; a whole snapshot is the same thing in one value.

use crate::error::RestoreError;
use crate::event::Event;
use crate::grouper::Grouper;
use crate::windows::Params;
use serde::{Deserialize, Serialize};

pub const SNAPSHOT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub v: u32,
    pub params: Params,
    /// Sorted by unid.
    pub events: Vec<Event>,
}

impl Grouper {
    pub fn from_snapshot(s: Snapshot) -> Result<Grouper, RestoreError> {
        if s.v != SNAPSHOT_VERSION {
            return Err(RestoreError::UnsupportedVersion(s.v));
        }
        s.params.validate()?;
        if let Some((e, err)) = s.events.iter().find_map(|e| e.validate().err().map(|err| (e, err))) {
            return Err(RestoreError::InvalidEvent {
                unid: e.unid.chars().take(40).collect(),
                source: err,
            });
        }
        Grouper::from_events(s.params, s.events).map_err(|source| RestoreError::InvalidEvent {
            unid: String::new(),
            source,
        })
    }
}
