//! The analytics' windowed statistics (`quake-stats`) in the frontend: [`tail`] reads the
//! compacted topic (read-committed, every partition, no group), [`Stats`] keeps the latest record
//! per window key, [`api`] answers `GET /api/stats` from it, and the windows the page shows are
//! pushed to `/api/stream` as `stats` events once the tail has caught up.

pub mod api;
pub mod tail;

use chrono::{DateTime, Utc};
use parking_lot::RwLock;
use prometheus::{IntCounterVec, IntGauge, Opts, Registry};
use quakestream_analytics::reader::{StatsDecodeError, decode};
use quakestream_analytics::stats::record::StatsRecord;
use quakestream_analytics::window::{DAY_S, Dim, HOUR_S, StatsKey, WindowKind};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

/// Most windows one `/api/stats` answer holds (the newest of the matching ones): 41 days of
/// hourly windows, more than the analytics keeps (35 days).
pub const MAX_WINDOWS: usize = 1000;
/// Windows that ended longer ago than this are dropped from memory (the topic keeps 35 days).
pub const MAX_AGE_S: i64 = 40 * DAY_S;

/// One window's latest statistics, with its JSON rendered once.
#[derive(Debug)]
pub struct Held {
    pub key: StatsKey,
    pub record: StatsRecord,
    pub json: Arc<str>,
}

/// A series: one window kind of one dimension, windows by first hour.
type Series = BTreeMap<i64, Arc<Held>>;

/// Where the stats tail is; `/api/stats` answers only when [`TailState::Live`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum TailState {
    /// Not started, or reading what the topic held when the tail started.
    Loading = 0,
    /// The topic does not exist (no analytics on this cluster); the tail keeps looking for it.
    NoTopic = 1,
    /// Caught up: answers are current.
    Live = 2,
}

/// `quakestream_frontend_stats_*`.
#[derive(Clone)]
pub struct StatsMetrics {
    /// Records read from the stats topic, by outcome (`applied`, or the reader's reason codes).
    pub records: IntCounterVec,
    /// Windows held in memory.
    pub windows: IntGauge,
    /// `stats` events pushed to the stream.
    pub pushed: prometheus::IntCounter,
}

impl StatsMetrics {
    pub fn new(registry: &Registry) -> prometheus::Result<Self> {
        let records = IntCounterVec::new(
            Opts::new(
                "quakestream_frontend_stats_records_total",
                "Records read from the quake-stats topic, by outcome (applied, bad_key, empty, bad_json, unsupported_version, key_mismatch)",
            ),
            &["outcome"],
        )?;
        let windows = IntGauge::new(
            "quakestream_frontend_stats_windows",
            "Windows of statistics held in memory",
        )?;
        let pushed = prometheus::IntCounter::new(
            "quakestream_frontend_stats_pushed_total",
            "stats events published to the SSE stream",
        )?;
        registry.register(Box::new(records.clone()))?;
        registry.register(Box::new(windows.clone()))?;
        registry.register(Box::new(pushed.clone()))?;
        records.with_label_values(&["applied"]);
        Ok(StatsMetrics {
            records,
            windows,
            pushed,
        })
    }
}

/// The latest statistics per window, by series.
pub struct Stats {
    series: RwLock<HashMap<(WindowKind, Dim), Series>>,
    state: AtomicU8,
    /// Hourly windows starting this long before now are "shown" (the page's longest period).
    shown_s: i64,
    pub metrics: StatsMetrics,
}

impl Stats {
    /// `shown`: how far back the page shows hourly activity (the frontend's in-memory window).
    pub fn new(shown: std::time::Duration, metrics: StatsMetrics) -> Stats {
        Stats {
            series: RwLock::new(HashMap::new()),
            state: AtomicU8::new(TailState::Loading as u8),
            shown_s: shown.as_secs() as i64,
            metrics,
        }
    }

    pub fn state(&self) -> TailState {
        match self.state.load(Ordering::Relaxed) {
            1 => TailState::NoTopic,
            2 => TailState::Live,
            _ => TailState::Loading,
        }
    }
    pub fn set_state(&self, s: TailState) {
        self.state.store(s as u8, Ordering::Relaxed);
    }

    /// Applies one record of the topic; returns the window it changed.
    pub fn apply(&self, key: Option<&[u8]>, value: Option<&[u8]>) -> Result<Arc<Held>, StatsDecodeError> {
        let (key, record) = decode(key, value)?;
        let json: Arc<str> = serde_json::to_string(&record)
            .expect("a stats record always serialises")
            .into();
        let held = Arc::new(Held { key, record, json });
        let mut series = self.series.write();
        series
            .entry((held.key.window.kind, held.key.dim.clone()))
            .or_default()
            .insert(held.key.window.first_pane, held.clone());
        Ok(held)
    }

    /// Windows of one series whose start is in `[since, until)` (seconds), oldest first: at most
    /// [`MAX_WINDOWS`], the newest ones; the flag says whether older ones were left out.
    pub fn query(
        &self,
        kind: WindowKind,
        dim: &Dim,
        since_s: Option<i64>,
        until_s: Option<i64>,
    ) -> (Vec<Arc<Held>>, bool) {
        let series = self.series.read();
        let Some(s) = series.get(&(kind, dim.clone())) else {
            return (Vec::new(), false);
        };
        // Window starts are whole hours: start >= since <=> first hour >= ceil(since / 1 h).
        let from = since_s.map_or(i64::MIN, ceil_hours);
        let to = until_s.map_or(i64::MAX, ceil_hours);
        if from >= to {
            return (Vec::new(), false);
        }
        let mut out: Vec<Arc<Held>> = s
            .range(from..to)
            .rev()
            .take(MAX_WINDOWS + 1)
            .map(|(_, h)| h.clone())
            .collect();
        let truncated = out.len() > MAX_WINDOWS;
        out.truncate(MAX_WINDOWS);
        out.reverse();
        (out, truncated)
    }

    /// Whether the page shows this window: the world's hourly windows over the page's longest
    /// period, and the current "last 24 hours" of the world and of every region.
    pub fn is_shown(&self, key: &StatsKey, now: DateTime<Utc>) -> bool {
        let now_s = now.timestamp();
        let start = key.window.start_s();
        match (key.window.kind, &key.dim) {
            (WindowKind::Hour, Dim::World) => start >= now_s - self.shown_s - HOUR_S && start <= now_s,
            // The window ending with the current hour, and the one before it (the hour may
            // have just turned on one side of the connection).
            (WindowKind::Last24h, Dim::World | Dim::Region(_)) => {
                let current = now_s.div_euclid(HOUR_S) * HOUR_S - 23 * HOUR_S;
                start >= current - HOUR_S && start <= current
            }
            _ => false,
        }
    }

    /// Drops windows that ended more than [`MAX_AGE_S`] ago; returns how many.
    pub fn prune(&self, now: DateTime<Utc>) -> usize {
        let cutoff = now.timestamp() - MAX_AGE_S;
        let mut series = self.series.write();
        let mut gone = 0;
        series.retain(|_, s| {
            let before = s.len();
            s.retain(|_, h| h.key.window.end_s() >= cutoff);
            gone += before - s.len();
            !s.is_empty()
        });
        self.metrics
            .windows
            .set(series.values().map(BTreeMap::len).sum::<usize>() as i64);
        gone
    }

    /// Windows held.
    pub fn len(&self) -> usize {
        self.series.read().values().map(BTreeMap::len).sum()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn ceil_hours(s: i64) -> i64 {
    -((-s).div_euclid(HOUR_S))
}

/// The body of a `stats` event: `{"kind":"stats","record":…}`.
pub fn event_data(h: &Held) -> Arc<str> {
    format!("{{\"kind\":\"stats\",\"record\":{}}}", h.json).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(key: &str, count: u64) -> Vec<u8> {
        let k = StatsKey::parse(key).unwrap();
        serde_json::json!({
            "v": 1, "kind": "update", "window": k.window.kind.as_str(),
            "start": quakestream_analytics::window::fmt_epoch_s(k.window.start_s()),
            "end": quakestream_analytics::window::fmt_epoch_s(k.window.end_s()),
            "dimension": k.dim.kind(), "key": k.dim.value(), "count": count,
            "bands": {"lt2": 0, "2-4": count, "4-6": 0, "ge6": 0}, "no_magnitude": 0,
            "largest": null, "moment_nm": 0.0, "moment_magnitude": null,
            "moment_basis": {"mw": 0, "converted": 0, "proxy": count}, "mean_depth_km": null,
            "closes_at": "2030-01-01T00:00:00Z", "stream_time": null
        })
        .to_string()
        .into_bytes()
    }

    fn stats() -> Stats {
        let m = StatsMetrics::new(&Registry::new()).unwrap();
        Stats::new(std::time::Duration::from_secs(7 * 86_400), m)
    }

    #[test]
    fn the_latest_record_wins_and_queries_take_half_open_ranges_of_starts() {
        let s = stats();
        for h in 0..5 {
            let k = format!("1h/2025-04-23T0{h}:00:00Z/world");
            s.apply(Some(k.as_bytes()), Some(&rec(&k, 1))).unwrap();
            s.apply(Some(k.as_bytes()), Some(&rec(&k, 10 + h))).unwrap();
        }
        let t = |x: &str| DateTime::parse_from_rfc3339(x).unwrap().timestamp();
        let (got, truncated) = s.query(
            WindowKind::Hour,
            &Dim::World,
            Some(t("2025-04-23T00:30:00Z")),
            Some(t("2025-04-23T03:00:00Z")),
        );
        assert!(!truncated);
        assert_eq!(got.iter().map(|h| h.record.count).collect::<Vec<_>>(), vec![11, 12]);
        assert_eq!(s.query(WindowKind::Hour, &Dim::World, None, None).0.len(), 5);
        assert!(s.query(WindowKind::Day, &Dim::World, None, None).0.is_empty());
        assert!(
            s.query(WindowKind::Hour, &Dim::Region("X".into()), None, None)
                .0
                .is_empty()
        );
        assert_eq!(s.len(), 5);
        let e = s
            .apply(Some(b"1h/2025-04-23T00:00:00Z/world"), Some(b"{}"))
            .unwrap_err();
        assert_eq!(e.reason(), "bad_json");
    }

    #[test]
    fn answers_are_bounded_to_the_newest_windows() {
        let s = stats();
        let base = DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z")
            .unwrap()
            .timestamp();
        for h in 0..(MAX_WINDOWS as i64 + 5) {
            let k = format!(
                "1h/{}/world",
                quakestream_analytics::window::fmt_epoch_s(base + h * HOUR_S)
            );
            s.apply(Some(k.as_bytes()), Some(&rec(&k, h as u64))).unwrap();
        }
        let (got, truncated) = s.query(WindowKind::Hour, &Dim::World, None, None);
        assert!(truncated);
        assert_eq!(got.len(), MAX_WINDOWS);
        assert_eq!(got[0].record.count, 5, "the oldest five are left out");
        assert_eq!(got.last().unwrap().record.count, MAX_WINDOWS as u64 + 4);
    }

    #[test]
    fn shown_windows_are_recent_hours_of_the_world_and_the_current_day() {
        let s = stats();
        let now = DateTime::parse_from_rfc3339("2025-04-23T09:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let k = |x: &str| StatsKey::parse(x).unwrap();
        assert!(s.is_shown(&k("1h/2025-04-23T09:00:00Z/world"), now));
        assert!(s.is_shown(&k("1h/2025-04-17T09:00:00Z/world"), now));
        assert!(!s.is_shown(&k("1h/2025-04-10T09:00:00Z/world"), now));
        assert!(!s.is_shown(&k("1h/2025-04-23T09:00:00Z/band/4-6"), now));
        assert!(s.is_shown(&k("24h/2025-04-22T10:00:00Z/world"), now));
        assert!(s.is_shown(&k("24h/2025-04-22T10:00:00Z/region/WESTERN TURKEY"), now));
        assert!(!s.is_shown(&k("24h/2025-04-22T05:00:00Z/world"), now));
        assert!(!s.is_shown(&k("1d/2025-04-23T00:00:00Z/world"), now));
    }
}
