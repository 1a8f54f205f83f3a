//! Records of the statistics' repartition topic and changelog (internal; JSON, versioned by shape).

use crate::agg::Agg;
use crate::processor::TaskError;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "k")]
pub enum Msg {
    /// One source partition's whole share of one (pane, dimension), at version `ver` (the
    /// offset of the last `quakes` record of `src` it reflects). An empty `agg` removes the share.
    #[serde(rename = "p")]
    Partial {
        src: i32,
        ver: i64,
        pane: i64,
        dim: String,
        agg: Agg,
    },
    /// Stream time `st` (µs) of source partition `src`; `idle`: the partition was read to its
    /// end when it was sent (absent in records written before it existed: not idle).
    #[serde(rename = "w")]
    Watermark {
        src: i32,
        st: i64,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        idle: bool,
        /// Partitions of `quakes`, all of which report (absent in older records: unknown).
        #[serde(default, skip_serializing_if = "is_zero")]
        of: i32,
    },
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

impl Msg {
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a message always serialises")
    }
    pub fn decode(v: &[u8]) -> Result<Msg, TaskError> {
        serde_json::from_slice(v).map_err(|e| TaskError::Decode {
            what: "stats repartition record",
            detail: e.to_string(),
        })
    }
}
