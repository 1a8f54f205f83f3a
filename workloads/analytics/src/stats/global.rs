//! The global half of the statistics: per partition of the repartition topic (every pane of a
//! dimension lands on the same one), the latest partial of each source partition for each
//! (dimension, pane), and the windows built from them.
//!
//! - Stream time is the least stream time of the source partitions still being read, or, when
//!   every source partition is read to its end, the largest any has reported (see
//!   [`StatsGlobal::watermark`]); it never goes back. A window closes once it reaches the window's
//!   end plus the grace period, and its final result is emitted then, once.
//! - A partial that changes a closed window emits a correction (counted), never nothing.
//! - Early updates are coalesced: a window changed many times between two commits is emitted once.
//! - Its changelog holds every partial (key `p|{pane}|{src}|{dim}`), each source partition's
//!   last watermark (`w|{src}`) and the stream time (`st`).

use super::msg::Msg;
use super::record::{Kind, StatsRecord};
use crate::agg::Agg;
use crate::processor::{GlobalOut, GlobalTask, TaskError};
use crate::window::{Dim, HOUR_S, StatsKey, Window, windows_of_pane};
use foldhash::HashMap;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

const ST_KEY: &[u8] = b"st";
const SOURCE_PREFIX: &str = "w|";

#[derive(Debug, Clone, Copy)]
pub struct WindowSettings {
    pub grace_us: i64,
    /// Panes whose end is older than this (behind stream time) are dropped.
    pub retention_us: i64,
}

type Parts = BTreeMap<i32, (i64, Agg)>;

#[derive(Debug)]
struct DimState {
    /// Its key in [`StatsGlobal::dims`].
    name: DimName,
    dim: Dim,
    panes: BTreeMap<i64, Parts>,
}

/// A dimension's encoding ([`Dim::encode`]), shared by every set that names it: marking a
/// pane's 26 windows dirty and pending costs no allocation.
type DimName = Arc<str>;

pub struct StatsGlobal {
    cfg: WindowSettings,
    dims: HashMap<DimName, DimState>,
    stream_time: i64,
    /// Per source partition: the largest stream time it reported, and whether it was read to
    /// its end when it last reported.
    sources: BTreeMap<i32, (i64, bool)>,
    /// Sources whose watermark must be written to the changelog at the next flush.
    changed_sources: BTreeSet<i32>,
    /// Partitions of `quakes` that report (the largest number a watermark gave; 0: unknown).
    expected_sources: i32,
    /// Stream time at the last flush: windows closing at or before it have had their final.
    flushed_st: i64,
    dirty: BTreeSet<(DimName, Window)>,
    /// Windows with data, not yet closed, by the stream time at which they close.
    pending: BTreeMap<i64, BTreeSet<(DimName, Window)>>,
    changed: BTreeSet<(i64, i32, DimName)>,
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
            dims: HashMap::default(),
            stream_time: i64::MIN,
            sources: BTreeMap::new(),
            changed_sources: BTreeSet::new(),
            expected_sources: 0,
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

    /// Stores a partial if it is at least as new as the one held; returns the dimension's shared
    /// name if it changed the state (the same share at a newer version only moves the version).
    fn put_part(
        &mut self,
        src: i32,
        ver: i64,
        pane: i64,
        dim_enc: &str,
        agg: Agg,
    ) -> Result<Option<DimName>, TaskError> {
        if !self.dims.contains_key(dim_enc) {
            let dim = Dim::decode(dim_enc).ok_or_else(|| bad(format!("dimension {dim_enc:?}")))?;
            let name: DimName = dim_enc.into();
            let state = DimState {
                name: name.clone(),
                dim,
                panes: BTreeMap::new(),
            };
            self.dims.insert(name, state);
        }
        let state = self.dims.get_mut(dim_enc).expect("inserted above");
        let parts = state.panes.entry(pane).or_default();
        match parts.get_mut(&src) {
            Some((held, _)) if *held > ver => return Ok(None),
            // The same share again (a re-announce after a restore, a record seen twice): newer
            // version, no change, so no update and above all no correction of a closed window.
            Some((held, old)) if *old == agg => {
                *held = ver;
                return Ok(None);
            }
            _ => {}
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
        let name = state.name.clone();
        self.entries = self.entries + after - before;
        Ok(Some(name))
    }

    /// Marks the pane's windows dirty, and pending if not yet closed. Stream time moves at
    /// flushes only, so a window already dirty is already pending if it is to be.
    fn mark(&mut self, dim: &DimName, pane: i64) {
        for w in windows_of_pane(pane) {
            let entry = (dim.clone(), w);
            if self.dirty.contains(&entry) {
                continue;
            }
            let close = w.closes_at_us(self.cfg.grace_us);
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

    /// Stream time as the windows see it (Flink's rule for an operator with several inputs,
    /// with idleness): the least stream time of the source partitions still being read, so a
    /// partition read behind the others (a replay, a restart with a backlog) holds open the
    /// windows it may still fill instead of turning its events into corrections; when every
    /// source partition is read to its end, the largest, so a quiet partition holds nothing
    /// (live, every partition is read to its end almost always, and this is Kafka Streams'
    /// rule).
    ///
    /// Until every partition of `quakes` has reported (a partition not read yet may hold
    /// anything), stream time does not move.
    pub fn watermark(&self) -> i64 {
        if (self.sources.len() as i32) < self.expected_sources {
            return i64::MIN;
        }
        let reading = self.sources.values().filter(|(_, idle)| !idle).map(|(st, _)| *st).min();
        reading.unwrap_or_else(|| self.sources.values().map(|(st, _)| *st).max().unwrap_or(i64::MIN))
    }

    fn on_watermark(&mut self, src: i32, st: i64, idle: bool, of: i32) {
        self.expected_sources = self.expected_sources.max(of);
        let e = self.sources.entry(src).or_insert((i64::MIN, idle));
        *e = (e.0.max(st), idle);
        self.changed_sources.insert(src);
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
        if let Some(src) = k.strip_prefix(SOURCE_PREFIX) {
            let src: i32 = src.parse().map_err(bad)?;
            match value {
                Some(v) => {
                    let (st, idle): (i64, bool) = serde_json::from_slice(v).map_err(bad)?;
                    self.sources.insert(src, (st, idle));
                }
                None => {
                    self.sources.remove(&src);
                }
            }
            return Ok(());
        }
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
        let mut pending: BTreeMap<i64, BTreeSet<(DimName, Window)>> = BTreeMap::new();
        // A pane's windows all end within a day of its start: panes older than that plus grace
        // have no window left open (most of the state), so only the recent ones are looked at.
        let hour_us = HOUR_S * 1_000_000;
        let first_open = if st == i64::MIN {
            i64::MIN
        } else {
            (st - grace).div_euclid(hour_us) - crate::window::PANES_PER_DAY
        };
        for (enc, s) in &self.dims {
            for pane in s.panes.range(first_open..).map(|(p, _)| p) {
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
            Msg::Watermark { src, st, idle, of } => self.on_watermark(src, st, idle, of),
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
                if let Some(name) = self.put_part(src, ver, pane, &dim, agg)? {
                    self.changed.insert((pane, src, name.clone()));
                    self.mark(&name, pane);
                }
            }
        }
        Ok(())
    }

    fn flush(&mut self, out: &mut GlobalOut) {
        // Stream time moves at flushes only, once every watermark applied since the last one is
        // in: the sources' watermarks of one commit arrive one after the other, and the first
        // alone must not move stream time past the others.
        self.advance(self.watermark());
        let (prev, now) = (self.flushed_st, self.stream_time);
        let grace = self.cfg.grace_us;
        let mut emit: BTreeMap<(DimName, Window), Kind> = BTreeMap::new();
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
        for src in std::mem::take(&mut self.changed_sources) {
            let value = self
                .sources
                .get(&src)
                .map(|w| serde_json::to_vec(w).expect("serialises"));
            out.changelog
                .push((format!("{SOURCE_PREFIX}{src}").into_bytes(), value));
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

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR_US: i64 = 3_600_000_000;
    const GRACE_US: i64 = 2 * HOUR_US;

    fn global() -> StatsGlobal {
        StatsGlobal::new(WindowSettings {
            grace_us: GRACE_US,
            retention_us: 1000 * HOUR_US,
        })
    }

    fn watermark(g: &mut StatsGlobal, src: i32, st: i64, idle: bool) {
        let m = Msg::Watermark { src, st, idle, of: 0 };
        g.apply(b"~watermark", &m.encode()).unwrap();
    }

    /// One event of band 2–4 in the pane.
    fn partial(g: &mut StatsGlobal, src: i32, ver: i64, pane: i64) {
        partial_of(g, src, ver, pane, 1);
    }

    /// `count` events of band 2–4 in the pane.
    fn partial_of(g: &mut StatsGlobal, src: i32, ver: i64, pane: i64, count: u64) {
        let agg = Agg {
            count,
            bands: [0, count, 0, 0],
            ..Agg::default()
        };
        let m = Msg::Partial {
            src,
            ver,
            pane,
            dim: Dim::World.encode(),
            agg,
        };
        g.apply(b"world", &m.encode()).unwrap();
    }

    fn flushed(g: &mut StatsGlobal) -> GlobalOut {
        let mut out = GlobalOut::default();
        g.flush(&mut out);
        out
    }

    #[test]
    fn a_partition_read_behind_the_others_holds_the_windows_it_may_still_fill() {
        let mut g = global();
        // Source 0 is far ahead in a replay; source 1, still being read, is at hour 10.
        watermark(&mut g, 0, 500 * HOUR_US, false);
        watermark(&mut g, 1, 10 * HOUR_US, false);
        flushed(&mut g);
        assert_eq!(
            g.stream_time(),
            10 * HOUR_US,
            "the least of the partitions still being read"
        );
        // Source 1's next events, in hour 11, are counted in open windows: no correction.
        partial(&mut g, 1, 7, 11);
        let out = flushed(&mut g);
        assert_eq!((out.corrections, out.finals), (0, 0), "{out:?}");
        assert!(out.updates > 0);
        // Once source 1 is read to its end, the largest stream time closes the windows.
        watermark(&mut g, 1, 12 * HOUR_US, true);
        let out = flushed(&mut g);
        assert_eq!(g.stream_time(), 500 * HOUR_US);
        assert!(out.finals > 0 && out.corrections == 0, "{out:?}");
    }

    #[test]
    fn the_same_share_again_after_the_final_is_no_correction() {
        let mut g = global();
        partial(&mut g, 0, 5, 10);
        watermark(&mut g, 0, 500 * HOUR_US, true);
        let out = flushed(&mut g);
        assert!(out.finals > 0, "{out:?}");
        // A restored input partition re-announces its share at its committed offset.
        partial(&mut g, 0, 9, 10);
        let out = flushed(&mut g);
        assert_eq!((out.corrections, out.updates, out.output.len()), (0, 0, 0), "{out:?}");
        // A real change after the final is a correction.
        partial_of(&mut g, 0, 12, 10, 2);
        assert!(flushed(&mut g).corrections > 0);
    }

    #[test]
    fn when_every_partition_is_read_to_its_end_a_quiet_one_holds_nothing() {
        let mut g = global();
        watermark(&mut g, 0, 100 * HOUR_US, true);
        watermark(&mut g, 1, 3 * HOUR_US, true);
        flushed(&mut g);
        assert_eq!(g.stream_time(), 100 * HOUR_US);
        // Stream time never goes back, even when a partition falls behind again.
        watermark(&mut g, 1, 4 * HOUR_US, false);
        flushed(&mut g);
        assert_eq!(g.stream_time(), 100 * HOUR_US);
        // An event older than the closed windows is a correction, never dropped.
        partial(&mut g, 1, 9, 5);
        let out = flushed(&mut g);
        assert!(out.corrections > 0, "{out:?}");
    }

    #[test]
    fn the_partitions_watermarks_survive_a_restore() {
        let mut g = global();
        watermark(&mut g, 0, 50 * HOUR_US, false);
        watermark(&mut g, 1, 10 * HOUR_US, false);
        let out = flushed(&mut g);
        let mut r = global();
        for (k, v) in &out.changelog {
            r.restore(k, v.as_deref()).unwrap();
        }
        r.restored();
        assert_eq!(r.stream_time(), 10 * HOUR_US);
        // Source 0 alone moving on does not close what source 1 may still fill.
        watermark(&mut r, 0, 60 * HOUR_US, false);
        flushed(&mut r);
        assert_eq!(r.stream_time(), 10 * HOUR_US);
        watermark(&mut r, 1, 20 * HOUR_US, false);
        flushed(&mut r);
        assert_eq!(r.stream_time(), 20 * HOUR_US);
    }
}
