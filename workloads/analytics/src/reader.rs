//! A small reader of `quake-stats` for the frontend: decode a record, keep the latest value per
//! window key, answer `window`/`region`/`since`/`until` queries. Tail the topic with
//! [`consumer_config`] (read-committed) and feed every record to [`StatsView::apply`].

use crate::stats::record::{STATS_VERSION, StatsRecord};
use crate::window::{Dim, StatsKey, WindowKind};
use rdkafka::ClientConfig;
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum StatsDecodeError {
    #[error("record has no key")]
    NoKey,
    #[error("key {0:?} is not a window key")]
    BadKey(String),
    #[error("record has no value")]
    Empty,
    #[error("value is not a quake-stats v{STATS_VERSION} record: {0}")]
    Json(#[from] serde_json::Error),
    #[error("unsupported quake-stats version {0}")]
    Version(u64),
    #[error("key {key:?} does not match the record's window")]
    Mismatch { key: String },
}

impl StatsDecodeError {
    pub fn reason(&self) -> &'static str {
        match self {
            StatsDecodeError::NoKey | StatsDecodeError::BadKey(_) => "bad_key",
            StatsDecodeError::Empty => "empty",
            StatsDecodeError::Json(_) => "bad_json",
            StatsDecodeError::Version(_) => "unsupported_version",
            StatsDecodeError::Mismatch { .. } => "key_mismatch",
        }
    }
}

/// Decodes one record of `quake-stats` and checks that its key and value agree.
pub fn decode(key: Option<&[u8]>, value: Option<&[u8]>) -> Result<(StatsKey, StatsRecord), StatsDecodeError> {
    let key = key.ok_or(StatsDecodeError::NoKey)?;
    let key_s = String::from_utf8_lossy(key);
    let k = StatsKey::parse(&key_s).ok_or_else(|| StatsDecodeError::BadKey(key_s.chars().take(200).collect()))?;
    let value = value.filter(|v| !v.is_empty()).ok_or(StatsDecodeError::Empty)?;
    #[derive(serde::Deserialize)]
    struct V {
        v: u64,
    }
    let v: V = serde_json::from_slice(value)?;
    if v.v != u64::from(STATS_VERSION) {
        return Err(StatsDecodeError::Version(v.v));
    }
    let rec: StatsRecord = serde_json::from_slice(value)?;
    let agrees = rec.window == k.window.kind
        && rec.start == crate::window::fmt_epoch_s(k.window.start_s())
        && rec.dimension == k.dim.kind()
        && rec.key == k.dim.value();
    if !agrees {
        return Err(StatsDecodeError::Mismatch {
            key: key_s.into_owned(),
        });
    }
    Ok((k, rec))
}

/// Consumer settings for tailing `quake-stats`: read-committed (only results of committed
/// transactions), no group offsets committed.
pub fn consumer_config(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        // Assigned partitions, never a member: the frontend's Kafka user may only describe it.
        .set("group.id", quakestream_contract::frontend::TAIL_GROUP_ID)
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false");
    c
}

/// A query: one window kind, one dimension (the world, a region, a band), window starts in
/// `[since, until)` (seconds since the epoch).
#[derive(Debug, Clone)]
pub struct StatsQuery {
    pub window: WindowKind,
    pub dim: Dim,
    pub since_s: Option<i64>,
    pub until_s: Option<i64>,
}

/// The latest record per window key (what a compacted topic converges to).
#[derive(Debug, Default, Clone)]
pub struct StatsView {
    latest: BTreeMap<StatsKey, StatsRecord>,
}

impl StatsView {
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one record; returns its key (the window that changed), or why it was rejected.
    pub fn apply(&mut self, key: Option<&[u8]>, value: Option<&[u8]>) -> Result<StatsKey, StatsDecodeError> {
        let (k, rec) = decode(key, value)?;
        self.latest.insert(k.clone(), rec);
        Ok(k)
    }

    pub fn len(&self) -> usize {
        self.latest.len()
    }
    pub fn is_empty(&self) -> bool {
        self.latest.is_empty()
    }
    pub fn get(&self, key: &StatsKey) -> Option<&StatsRecord> {
        self.latest.get(key)
    }
    /// Every key with its latest record, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&StatsKey, &StatsRecord)> {
        self.latest.iter()
    }

    /// The matching windows, oldest first.
    pub fn query(&self, q: &StatsQuery) -> Vec<&StatsRecord> {
        let mut out: Vec<(&StatsKey, &StatsRecord)> = self
            .latest
            .iter()
            .filter(|(k, _)| k.window.kind == q.window && k.dim == q.dim)
            .filter(|(k, _)| q.since_s.is_none_or(|s| k.window.start_s() >= s))
            .filter(|(k, _)| q.until_s.is_none_or(|u| k.window.start_s() < u))
            .collect();
        out.sort_by_key(|(k, _)| k.window.first_pane);
        out.into_iter().map(|(_, r)| r).collect()
    }
}
