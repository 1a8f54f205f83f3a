//! The in-memory index of the recent window: every event whose origin time is inside
//! `[now - window - MEMORY_SLACK, now + FUTURE_SLACK]`, at its newest `lastupdate`, with the
//! revisions this replica saw.
//! Records from the Kafka tail and from the DynamoDB warm-up merge here by `lastupdate`, so the
//! order they arrive in does not matter.

use crate::geo::{Bbox, feature_json};
use chrono::{DateTime, Duration, Utc};
use parking_lot::RwLock;
use quakestream_core::model::Quake;
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// How far in the future an origin time may be and still be indexed (clock skew of agencies).
pub const FUTURE_SLACK: Duration = Duration::hours(1);
/// Memory holds this much more than the configured window, so that a view of "the last 7 days"
/// whose start the page rounded down (to the minute) is still answered from memory.
pub const MEMORY_SLACK: Duration = Duration::hours(1);
/// A position in the newest-first order of a window, for paging (shared with the archive).
pub use quakestream_store::Cursor;
/// At most this many revisions are kept per event, the first and the newest: the store's rule.
pub use quakestream_store::MAX_REVISIONS;

/// One version of an event, as listed by `/api/quakes/{unid}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RevisionView {
    #[serde(with = "quakestream_core::model::utc_micros")]
    pub lastupdate: DateTime<Utc>,
    #[serde(with = "quakestream_core::model::utc_micros")]
    pub time: DateTime<Utc>,
    pub mag: Option<f64>,
    pub magtype: Option<String>,
    pub lat: f64,
    pub lon: f64,
    pub depth_km: f64,
    pub region: Option<String>,
    pub agency: Option<String>,
}

impl RevisionView {
    pub fn of(q: &Quake) -> Self {
        RevisionView {
            lastupdate: q.lastupdate,
            time: q.time,
            mag: q.mag,
            magtype: q.magtype.clone(),
            lat: q.lat,
            lon: q.lon,
            depth_km: q.depth_km,
            region: q.region.clone(),
            agency: q.agency.clone(),
        }
    }
}

/// The current state of an event plus its GeoJSON, rendered once and shared by every response.
#[derive(Debug)]
pub struct Current {
    pub quake: Quake,
    /// The GeoJSON Feature, serialised.
    pub json: Arc<str>,
}

#[derive(Debug)]
struct Entry {
    current: Arc<Current>,
    first_seen: DateTime<Utc>,
    revisions: Vec<RevisionView>,
    /// Distinct `lastupdate`s seen (more than `revisions.len()` once the list is trimmed).
    revision_count: u32,
}

/// An event as the index holds it, for `/api/quakes/{unid}`.
#[derive(Debug, Clone)]
pub struct Held {
    pub current: Arc<Current>,
    pub first_seen: DateTime<Utc>,
    pub revisions: Vec<RevisionView>,
    pub revision_count: u32,
}

#[derive(Default)]
struct Inner {
    by_id: HashMap<Arc<str>, Entry>,
    /// (origin time, unid), for window scans in either direction.
    by_time: BTreeSet<(DateTime<Utc>, Arc<str>)>,
}

/// What applying a record did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// A new event.
    New,
    /// A newer revision of a known event.
    Revised,
    /// An older revision than the one held (kept in the history only).
    Older,
    /// Exactly the revision already held.
    Duplicate,
    /// Outside the window: not indexed (still pushed live if it is news to this replica).
    OutOfWindow,
}

impl Applied {
    pub fn as_str(self) -> &'static str {
        match self {
            Applied::New => "new",
            Applied::Revised => "revised",
            Applied::Older => "older",
            Applied::Duplicate => "duplicate",
            Applied::OutOfWindow => "out_of_window",
        }
    }
}

/// Filters of a window query.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    pub minmag: Option<f64>,
    pub maxmag: Option<f64>,
    pub mindepth: Option<f64>,
    pub maxdepth: Option<f64>,
    pub bbox: Option<Bbox>,
}

impl Filter {
    pub fn matches(&self, q: &Quake) -> bool {
        if self.minmag.is_some() || self.maxmag.is_some() {
            let Some(m) = q.mag else { return false };
            if self.minmag.is_some_and(|min| m < min) || self.maxmag.is_some_and(|max| m > max) {
                return false;
            }
        }
        if self.mindepth.is_some_and(|d| q.depth_km < d) || self.maxdepth.is_some_and(|d| q.depth_km > d) {
            return false;
        }
        self.bbox.as_ref().is_none_or(|b| b.contains(q.lon, q.lat))
    }

    /// The filter's values as hashable bits (for cache keys).
    pub fn key(&self) -> [Option<u64>; 8] {
        let b = |v: Option<f64>| v.map(f64::to_bits);
        let bb = self.bbox.map(|b| [b.minlon, b.minlat, b.maxlon, b.maxlat]);
        [
            b(self.minmag),
            b(self.maxmag),
            b(self.mindepth),
            b(self.maxdepth),
            b(bb.map(|v| v[0])),
            b(bb.map(|v| v[1])),
            b(bb.map(|v| v[2])),
            b(bb.map(|v| v[3])),
        ]
    }
}

pub struct Index {
    inner: RwLock<Inner>,
    window: Duration,
    version: AtomicU64,
}

impl Index {
    pub fn new(window: std::time::Duration) -> Self {
        Index {
            inner: RwLock::new(Inner::default()),
            window: Duration::from_std(window).unwrap_or(Duration::days(7)),
            version: AtomicU64::new(0),
        }
    }

    /// The oldest origin time the index holds: the configured window plus [`MEMORY_SLACK`].
    /// A query that starts at or after it is answered from memory; one that starts before it, by
    /// the store.
    pub fn covers_from(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - self.window - MEMORY_SLACK
    }

    /// The configured window (what the page offers; memory holds a little more).
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Increments on every change; responses cached under one version stay valid until it moves.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    pub fn len(&self) -> usize {
        self.inner.read().by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Merges one revision. Returns what happened and, if it became the current state, the
    /// rendered event to push to the browsers.
    pub fn apply(&self, quake: &Quake, now: DateTime<Utc>) -> (Applied, Option<Arc<Current>>) {
        let in_window = quake.time >= self.covers_from(now) && quake.time <= now + FUTURE_SLACK;
        let mut inner = self.inner.write();
        let Inner { by_id, by_time } = &mut *inner;
        match by_id.get_mut(quake.unid.as_str()) {
            Some(entry) => {
                let held = &entry.current.quake;
                if quake.lastupdate == held.lastupdate {
                    return (Applied::Duplicate, None);
                }
                if insert_revision(&mut entry.revisions, quake) {
                    entry.revision_count += 1;
                }
                if quake.lastupdate < held.lastupdate {
                    return (Applied::Older, None);
                }
                let unid: Arc<str> = by_time
                    .take(&(held.time, Arc::from(held.unid.as_str())))
                    .map(|(_, u)| u)
                    .unwrap_or_else(|| Arc::from(quake.unid.as_str()));
                let current = Arc::new(render(quake));
                entry.current = current.clone();
                if in_window {
                    by_time.insert((quake.time, unid));
                } else {
                    // Relocated in time out of the window: forget it here.
                    by_id.remove(quake.unid.as_str());
                }
                drop(inner);
                self.version.fetch_add(1, Ordering::AcqRel);
                (Applied::Revised, Some(current))
            }
            None => {
                let current = Arc::new(render(quake));
                if !in_window {
                    return (Applied::OutOfWindow, Some(current));
                }
                let unid: Arc<str> = Arc::from(quake.unid.as_str());
                by_time.insert((quake.time, unid.clone()));
                by_id.insert(
                    unid,
                    Entry {
                        current: current.clone(),
                        first_seen: now,
                        revisions: vec![RevisionView::of(quake)],
                        revision_count: 1,
                    },
                );
                drop(inner);
                self.version.fetch_add(1, Ordering::AcqRel);
                (Applied::New, Some(current))
            }
        }
    }

    /// Drops events whose origin time has left the window. Returns how many went.
    pub fn prune(&self, now: DateTime<Utc>) -> usize {
        let start = self.covers_from(now);
        let mut inner = self.inner.write();
        let Inner { by_id, by_time } = &mut *inner;
        let mut gone = 0;
        while let Some((t, _)) = by_time.first() {
            if *t >= start {
                break;
            }
            let (_, unid) = by_time.pop_first().expect("first exists");
            by_id.remove(&unid);
            gone += 1;
        }
        drop(inner);
        if gone > 0 {
            self.version.fetch_add(1, Ordering::AcqRel);
        }
        gone
    }

    pub fn get(&self, unid: &str) -> Option<Held> {
        let inner = self.inner.read();
        inner.by_id.get(unid).map(|e| Held {
            current: e.current.clone(),
            first_seen: e.first_seen,
            revisions: e.revisions.clone(),
            revision_count: e.revision_count,
        })
    }

    /// Events with `since <= time <= until` that match `filter`, newest first, starting after
    /// `after`; at most `limit`, and the cursor of the last one if more may follow.
    pub fn query(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        filter: &Filter,
        limit: usize,
        after: Option<&Cursor>,
    ) -> (Vec<Arc<Current>>, Option<Cursor>) {
        let inner = self.inner.read();
        let lo = (since, Arc::<str>::from(""));
        let mut out = Vec::new();
        let range: Box<dyn DoubleEndedIterator<Item = &(DateTime<Utc>, Arc<str>)>> = match after {
            // A cursor before the window: nothing is left (any cursor is valid, see `Cursor`).
            Some(c) if (c.time, c.unid.as_str()) <= (since, "") => return (Vec::new(), None),
            Some(c) => Box::new(inner.by_time.range(lo..(c.time, Arc::<str>::from(c.unid.as_str())))),
            None => Box::new(inner.by_time.range(lo..)),
        };
        let mut last = None;
        for (t, unid) in range.rev() {
            if *t > until {
                continue;
            }
            let Some(e) = inner.by_id.get(unid) else { continue };
            if !filter.matches(&e.current.quake) {
                continue;
            }
            if out.len() == limit {
                return (out, last);
            }
            last = Some(Cursor {
                time: *t,
                unid: unid.to_string(),
            });
            out.push(e.current.clone());
        }
        (out, None)
    }
}

/// Adds a revision to the history (oldest first) unless its `lastupdate` is there; returns
/// whether it was new.
fn insert_revision(revs: &mut Vec<RevisionView>, q: &Quake) -> bool {
    match revs.binary_search_by(|r| r.lastupdate.cmp(&q.lastupdate)) {
        Ok(_) => false,
        Err(pos) => {
            revs.insert(pos, RevisionView::of(q));
            trim_revisions(revs);
            true
        }
    }
}

/// The store's rule for a long history: keep the first (origin) revision and the newest
/// [`MAX_REVISIONS`]` - 1`. `revs` is sorted by `lastupdate` without repeats.
pub fn trim_revisions(revs: &mut Vec<RevisionView>) {
    if revs.len() > MAX_REVISIONS {
        revs.drain(1..revs.len() - (MAX_REVISIONS - 1));
    }
}

pub fn render(q: &Quake) -> Current {
    Current {
        quake: q.clone(),
        json: feature_json(q).into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quakestream_core::model::Source;

    fn q(unid: &str, mins_ago: i64, lu_secs: i64, mag: f64, now: DateTime<Utc>) -> Quake {
        Quake {
            unid: unid.into(),
            time: now - Duration::minutes(mins_ago),
            lastupdate: now - Duration::minutes(mins_ago) + Duration::seconds(lu_secs),
            lat: 10.0,
            lon: 20.0,
            depth_km: 10.0,
            mag: Some(mag),
            magtype: Some("ml".into()),
            region: Some("TEST".into()),
            agency: Some("EMSC".into()),
            evtype: Some("ke".into()),
            source: Source::Emsc,
        }
    }

    #[test]
    fn merges_by_lastupdate_in_any_order() {
        let now = Utc::now();
        let idx = Index::new(std::time::Duration::from_secs(7 * 86400));
        let v1 = q("a", 10, 0, 3.0, now);
        let v2 = q("a", 10, 60, 3.4, now);
        let v3 = q("a", 10, 120, 3.6, now);
        assert_eq!(idx.apply(&v2, now).0, Applied::New);
        assert_eq!(idx.apply(&v3, now).0, Applied::Revised);
        assert_eq!(idx.apply(&v1, now).0, Applied::Older);
        assert_eq!(idx.apply(&v3, now).0, Applied::Duplicate);
        let held = idx.get("a").unwrap();
        assert_eq!(held.current.quake.mag, Some(3.6));
        assert_eq!(
            held.revisions.iter().map(|r| r.mag.unwrap()).collect::<Vec<_>>(),
            vec![3.0, 3.4, 3.6]
        );
        assert_eq!(held.revision_count, 3);
        assert_eq!(idx.len(), 1);
    }

    #[test]
    fn a_long_history_is_trimmed_like_the_stores_and_still_counted() {
        let now = Utc::now();
        let idx = Index::new(std::time::Duration::from_secs(7 * 86400));
        for i in 0..120 {
            idx.apply(&q("long", 30, i, 3.0, now), now);
        }
        let held = idx.get("long").unwrap();
        assert_eq!(held.revision_count, 120);
        assert_eq!(held.revisions.len(), MAX_REVISIONS);
        let lus: Vec<i64> = held
            .revisions
            .iter()
            .map(|r| (r.lastupdate - held.revisions[0].lastupdate).num_seconds())
            .collect();
        assert_eq!(lus[0], 0, "the first revision stays");
        assert_eq!(lus[1], 120 - MAX_REVISIONS as i64 + 1, "then the newest");
        assert_eq!(*lus.last().unwrap(), 119);
    }

    #[test]
    fn memory_covers_the_window_plus_the_slack() {
        let now = Utc::now();
        let idx = Index::new(std::time::Duration::from_secs(7 * 86400));
        // What the page asks for: 7 days ago, rounded down to the minute.
        let seven_days = now - Duration::days(7) - Duration::seconds(59);
        assert!(seven_days >= idx.covers_from(now));
        let (applied, _) = idx.apply(&q("edge", 7 * 24 * 60 + 30, 0, 2.0, now), now);
        assert_eq!(applied, Applied::New, "30 min before the window is still held");
        assert_eq!(
            idx.apply(&q("gone", 7 * 24 * 60 + 61, 0, 2.0, now), now).0,
            Applied::OutOfWindow
        );
    }

    #[test]
    fn pages_newest_first_without_gaps_or_repeats() {
        let now = Utc::now();
        let idx = Index::new(std::time::Duration::from_secs(7 * 86400));
        for i in 0..25 {
            idx.apply(
                &q(&format!("e{i:02}"), i * 5, 0, 2.0 + f64::from(i as i32) * 0.1, now),
                now,
            );
        }
        // Two events at the same origin time: the unid breaks the tie.
        idx.apply(&q("same-a", 7, 0, 2.0, now), now);
        idx.apply(&q("same-b", 7, 0, 2.0, now), now);
        let since = now - Duration::days(1);
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let (page, next) = idx.query(since, now, &Filter::default(), 4, cursor.as_ref());
            seen.extend(page.iter().map(|c| c.quake.unid.clone()));
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(seen.len(), 27);
        // Any cursor is a place: one before the window leaves nothing, one after it is the top.
        let before = Cursor::after(since - Duration::seconds(1), "x");
        assert_eq!(idx.query(since, now, &Filter::default(), 4, Some(&before)).0.len(), 0);
        let at_start = Cursor::after(since, "");
        assert_eq!(idx.query(since, now, &Filter::default(), 4, Some(&at_start)).0.len(), 0);
        let after = Cursor::after(now + Duration::days(1), "x");
        assert_eq!(
            idx.query(since, now, &Filter::default(), 4, Some(&after)).0[0]
                .quake
                .unid,
            "e00"
        );
        let mut dedup = seen.clone();
        dedup.sort();
        dedup.dedup();
        assert_eq!(dedup.len(), 27, "{seen:?}");
        assert_eq!(seen[0], "e00");
    }

    #[test]
    fn prunes_what_leaves_the_window() {
        let now = Utc::now();
        // One hour of window plus the hour of slack.
        let idx = Index::new(std::time::Duration::from_secs(3600));
        idx.apply(&q("old", 110, 0, 2.0, now), now);
        idx.apply(&q("new", 5, 0, 2.0, now), now);
        assert_eq!(idx.apply(&q("ancient", 180, 0, 2.0, now), now).0, Applied::OutOfWindow);
        assert_eq!(idx.prune(now + Duration::minutes(20)), 1);
        assert!(idx.get("old").is_none());
        assert!(idx.get("new").is_some());
    }
}
