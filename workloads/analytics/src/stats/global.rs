//! The global half of the statistics: per partition of the repartition topic (every pane of a
//! dimension lands on the same one), the latest partial of each source partition for each
//! (dimension, pane), and the windows built from them.
//!
//! - Stream time is the largest stream time any source partition has reported (Kafka Streams'
//!   rule); a window closes once it reaches the window's end plus the grace period, and its final
//!   result is emitted then, once.
//! - A partial that changes a closed window emits a correction (counted), never nothing.
//! - Early updates are coalesced: a window changed many times between two commits is emitted once.
//! - Its changelog holds every partial (key `p|{pane}|{src}|{dim}`) and the stream time (`st`).

use super::msg::Msg;
use super::record::{Kind, StatsRecord};
use crate::agg::Agg;
use crate::processor::{GlobalOut, GlobalTask, TaskError};
use crate::window::{Dim, HOUR_S, StatsKey, Window, windows_of_pane};
use std::collections::{BTreeMap, BTreeSet, HashMap};

const ST_KEY: &[u8] = b"st";

#[derive(Debug, Clone, Copy)]
pub struct WindowSettings {
    pub grace_us: i64,
    /// Panes whose end is older than this (behind stream time) are dropped.
    pub retention_us: i64,
}

type Parts = BTreeMap<i32, (i64, Agg)>;

#[derive(Debug)]
struct DimState {
    dim: Dim,
    panes: BTreeMap<i64, Parts>,
}

pub struct StatsGlobal {
    cfg: WindowSettings,
    dims: HashMap<String, DimState>,
    stream_time: i64,
    /// Stream time at the last flush: windows closing at or before it have had their final.
    flushed_st: i64,
    dirty: BTreeSet<(String, Window)>,
    /// Windows with data, not yet closed, by the stream time at which they close.
    pending: BTreeMap<i64, BTreeSet<(String, Window)>>,
    changed: BTreeSet<(i64, i32, String)>,
    entries: usize,
    /// Eviction runs when stream time has passed this.
    next_evict: i64,
    /// Partials for panes already dropped, since the last flush.
    expired: u64,
}

fn part_key(pane: i64, src: i32, dim: &str) -> Vec<u8> {
    format!("p|{pane}|{src}|{dim}").into_bytes()
}

fn bad(detail: impl ToString) -> TaskError {
    TaskError::Decode {
        what: "stats changelog record",
        detail: detail.to_string(),
    }
}

impl StatsGlobal {
    pub fn new(cfg: WindowSettings) -> Self {
        StatsGlobal {
            cfg,
            dims: HashMap::new(),
            stream_time: i64::MIN,
            flushed_st: i64::MIN,
            dirty: BTreeSet::new(),
            pending: BTreeMap::new(),
            changed: BTreeSet::new(),
            entries: 0,
            next_evict: i64::MIN,
            expired: 0,
        }
    }

    pub fn stream_time(&self) -> i64 {
        self.stream_time
    }

    /// Stores a partial if it is at least as new as the one held; returns whether it was.
    fn put_part(&mut self, src: i32, ver: i64, pane: i64, dim_enc: &str, agg: Agg) -> Result<bool, TaskError> {
        let state = match self.dims.get_mut(dim_enc) {
            Some(s) => s,
            None => {
                let dim = Dim::decode(dim_enc).ok_or_else(|| bad(format!("dimension {dim_enc:?}")))?;
                self.dims.entry(dim_enc.to_owned()).or_insert(DimState {
                    dim,
                    panes: BTreeMap::new(),
                })
            }
        };
        let parts = state.panes.entry(pane).or_default();
        if let Some((held, _)) = parts.get(&src)
            && *held > ver
        {
            return Ok(false);
        }
        let before = parts.len();
        if agg.is_empty() {
            parts.remove(&src);
        } else {
            parts.insert(src, (ver, agg));
        }
        let after = parts.len();
        if after == 0 {
            state.panes.remove(&pane);
        }
        self.entries = self.entries + after - before;
        Ok(true)
    }

    fn mark(&mut self, dim_enc: &str, pane: i64) {
        for w in windows_of_pane(pane) {
            let close = w.closes_at_us(self.cfg.grace_us);
            let entry = (dim_enc.to_owned(), w);
            if close > self.stream_time {
                self.pending.entry(close).or_default().insert(entry.clone());
            }
            self.dirty.insert(entry);
        }
    }

    fn merged(&self, dim_enc: &str, w: &Window) -> Agg {
        let mut agg = Agg::default();
        if let Some(s) = self.dims.get(dim_enc) {
            for (_, parts) in s.panes.range(w.panes()) {
                for (_, a) in parts.values() {
                    agg.merge(a);
                }
            }
        }
        agg
    }

    fn advance(&mut self, st: i64) {
        self.stream_time = self.stream_time.max(st);
    }

    fn evict(&mut self, out: &mut GlobalOut) {
        if self.stream_time == i64::MIN || self.stream_time < self.next_evict {
            return;
        }
        let hour_us = HOUR_S * 1_000_000;
        // Keep every pane that ends after stream time minus retention.
        let first_kept = (self.stream_time - self.cfg.retention_us).div_euclid(hour_us);
        self.next_evict = (first_kept + 1) * hour_us + self.cfg.retention_us;
        let mut removed = 0;
        for (enc, s) in self.dims.iter_mut() {
            let kept = s.panes.split_off(&first_kept);
            for (pane, parts) in std::mem::replace(&mut s.panes, kept) {
                for src in parts.keys() {
                    out.changelog.push((part_key(pane, *src, enc), None));
                    removed += 1;
                }
            }
        }
        self.dims.retain(|_, s| !s.panes.is_empty());
        self.entries -= removed;
    }
}

impl GlobalTask for StatsGlobal {
    fn restore(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<(), TaskError> {
        if key == ST_KEY {
            if let Some(v) = value {
                let st: i64 = serde_json::from_slice(v).map_err(bad)?;
                self.advance(st);
            }
            return Ok(());
        }
        let k = std::str::from_utf8(key).map_err(bad)?;
        let mut it = k.splitn(4, '|');
        let (Some("p"), Some(pane), Some(src), Some(dim)) = (it.next(), it.next(), it.next(), it.next()) else {
            return Err(bad(format!("key {k:?}")));
        };
        let pane: i64 = pane.parse().map_err(bad)?;
        let src: i32 = src.parse().map_err(bad)?;
        let (ver, agg) = match value {
            None => (i64::MAX, Agg::default()),
            Some(v) => serde_json::from_slice::<(i64, Agg)>(v).map_err(bad)?,
        };
        if value.is_none() {
            // A tombstone: forget the share whatever its version.
            if let Some(s) = self.dims.get_mut(dim)
                && let Some(parts) = s.panes.get_mut(&pane)
                && parts.remove(&src).is_some()
            {
                self.entries -= 1;
                if parts.is_empty() {
                    s.panes.remove(&pane);
                }
            }
            return Ok(());
        }
        self.put_part(src, ver, pane, dim, agg).map(|_| ())
    }

    fn restored(&mut self) {
        // Windows not yet closed go back on the pending list; the closed ones had their final.
        let st = self.stream_time;
        let grace = self.cfg.grace_us;
        let mut pending: BTreeMap<i64, BTreeSet<(String, Window)>> = BTreeMap::new();
        for (enc, s) in &self.dims {
            for pane in s.panes.keys() {
                for w in windows_of_pane(*pane) {
                    let close = w.closes_at_us(grace);
                    if close > st {
                        pending.entry(close).or_default().insert((enc.clone(), w));
                    }
                }
            }
        }
        self.pending = pending;
        self.flushed_st = st;
    }

    fn apply(&mut self, _key: &[u8], value: &[u8]) -> Result<(), TaskError> {
        match Msg::decode(value)? {
            Msg::Watermark { st, .. } => self.advance(st),
            Msg::Partial {
                src,
                ver,
                pane,
                dim,
                agg,
            } => {
                if self.stream_time != i64::MIN
                    && pane < (self.stream_time - self.cfg.retention_us).div_euclid(HOUR_S * 1_000_000)
                {
                    // Its window was dropped: counted (and the record that caused it was
                    // dead-lettered by the local task when it was the one to see it first).
                    self.expired += 1;
                    return Ok(());
                }
                if self.put_part(src, ver, pane, &dim, agg)? {
                    self.changed.insert((pane, src, dim.clone()));
                    self.mark(&dim, pane);
                }
            }
        }
        Ok(())
    }

    fn flush(&mut self, out: &mut GlobalOut) {
        let (prev, now) = (self.flushed_st, self.stream_time);
        let grace = self.cfg.grace_us;
        let mut emit: BTreeMap<(String, Window), Kind> = BTreeMap::new();
        for (dim, w) in std::mem::take(&mut self.dirty) {
            let close = w.closes_at_us(grace);
            let kind = if close <= prev {
                Kind::Correction
            } else if close <= now {
                Kind::Final
            } else {
                Kind::Update
            };
            emit.insert((dim, w), kind);
        }
        let still_open = self.pending.split_off(&(now.saturating_add(1)));
        for (_, ws) in std::mem::replace(&mut self.pending, still_open) {
            for key in ws {
                emit.insert(key, Kind::Final);
            }
        }
        for ((dim_enc, w), kind) in emit {
            let agg = self.merged(&dim_enc, &w);
            let Some(s) = self
                .dims
                .get(&dim_enc)
                .map(|s| s.dim.clone())
                .or_else(|| Dim::decode(&dim_enc))
            else {
                continue;
            };
            let key = StatsKey { window: w, dim: s };
            let rec = StatsRecord::new(&key, &agg, kind, grace, now);
            match kind {
                Kind::Update => out.updates += 1,
                Kind::Final => out.finals += 1,
                Kind::Correction => out.corrections += 1,
            }
            out.output.push((key.to_string().into_bytes(), rec.to_json()));
        }
        for (pane, src, dim) in std::mem::take(&mut self.changed) {
            let held = self
                .dims
                .get(&dim)
                .and_then(|s| s.panes.get(&pane))
                .and_then(|p| p.get(&src));
            let value = held.map(|(ver, agg)| serde_json::to_vec(&(ver, agg)).expect("serialises"));
            out.changelog.push((part_key(pane, src, &dim), value));
        }
        if now != prev {
            out.changelog
                .push((ST_KEY.to_vec(), Some(serde_json::to_vec(&now).expect("serialises"))));
        }
        self.evict(out);
        out.expired += std::mem::take(&mut self.expired);
        self.flushed_st = now;
    }

    fn entries(&self) -> usize {
        self.entries
    }

    fn open(&self) -> usize {
        self.pending.values().map(BTreeSet::len).sum()
    }
}
