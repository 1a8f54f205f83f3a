//! The event table: per partition of `quakes`, each event's current revision. The input is a
//! changelog, not a log of facts: a record applies only if it is a later revision than the one
//! held ([`Event::revision_cmp`]), so duplicates, replays and out-of-order revisions change
//! nothing, and processors are told `old → new` to retract and add.
//!
//! Its changelog topic (co-partitioned with `quakes`: partition p holds partition p's table) is
//! keyed by `unid` and holds each event's latest revision, plus the partition's stream time under
//! the key [`STREAM_TIME_KEY`] (which no valid unid can be: unids hold no whitespace). Restoring is
//! the same last-writer-wins merge as processing, so a record of an uncommitted transaction that
//! a broker without read-committed isolation shows is harmless: the input that produced it is
//! read again and leads to the same revision.

use crate::event::Event;
use crate::window::{HOUR_S, pane_of};
use foldhash::{HashMap, HashSet};
use std::cmp::Ordering;

pub const STREAM_TIME_KEY: &[u8] = b" stream-time";
/// Origin times further ahead of the producer's receipt time than this do not move stream time
/// (a bogus future date must not close every window).
pub const MAX_FUTURE_US: i64 = 3600 * 1_000_000;
/// Stream time between two evictions of the event table (each scans the whole table).
pub const EVICT_EVERY_US: i64 = 24 * 3600 * 1_000_000;

/// What applying one record did.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// It is the event's new current revision; `old` was the previous one.
    Changed { old: Option<Event> },
    /// The table already had this or a later revision.
    Stale,
    /// Its origin time is beyond retention (behind stream time): it cannot be counted correctly
    /// any more, because the windows it belongs to were dropped.
    Expired,
}

#[derive(Debug)]
pub struct EventTable {
    events: HashMap<String, Event>,
    stream_time: i64,
    retention_us: i64,
    changed: HashSet<String>,
    stream_time_changed: bool,
    next_evict: i64,
}

#[derive(Debug, thiserror::Error)]
#[error("undecodable event-table changelog record: {0}")]
pub struct RestoreError(String);

impl EventTable {
    pub fn new(retention_us: i64) -> Self {
        EventTable {
            events: HashMap::default(),
            stream_time: i64::MIN,
            retention_us,
            changed: HashSet::default(),
            stream_time_changed: false,
            next_evict: i64::MIN,
        }
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
    pub fn stream_time(&self) -> i64 {
        self.stream_time
    }
    pub fn get(&self, unid: &str) -> Option<&Event> {
        self.events.get(unid)
    }
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Event)> {
        self.events.iter()
    }

    /// The first pane still kept: panes ending at or before stream time minus retention are gone.
    fn first_kept_pane(&self) -> Option<i64> {
        (self.stream_time != i64::MIN).then(|| (self.stream_time - self.retention_us).div_euclid(HOUR_S * 1_000_000))
    }

    /// Applies one decoded record; `received_us` is when the producer received it.
    pub fn apply(&mut self, unid: &str, ev: Event, received_us: i64) -> Applied {
        if self.first_kept_pane().is_some_and(|first| pane_of(ev.time_us) < first) {
            return Applied::Expired;
        }
        let candidate = ev.time_us.min(received_us.saturating_add(MAX_FUTURE_US));
        if candidate > self.stream_time {
            self.stream_time = candidate;
            self.stream_time_changed = true;
        }
        match self.events.get_mut(unid) {
            Some(cur) if ev.revision_cmp(cur) != Ordering::Greater => Applied::Stale,
            Some(cur) => {
                let old = std::mem::replace(cur, ev);
                self.changed.insert(unid.to_owned());
                Applied::Changed { old: Some(old) }
            }
            None => {
                self.events.insert(unid.to_owned(), ev);
                self.changed.insert(unid.to_owned());
                Applied::Changed { old: None }
            }
        }
    }

    /// Applies one changelog record while restoring (value `None`: a tombstone).
    pub fn restore(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<(), RestoreError> {
        if key == STREAM_TIME_KEY {
            if let Some(v) = value {
                let st: i64 = serde_json::from_slice(v).map_err(|e| RestoreError(e.to_string()))?;
                self.stream_time = self.stream_time.max(st);
            }
            return Ok(());
        }
        let unid = std::str::from_utf8(key).map_err(|e| RestoreError(e.to_string()))?;
        match value {
            None => {
                self.events.remove(unid);
            }
            Some(v) => {
                let ev = Event::decode(v).map_err(|e| RestoreError(format!("{unid}: {e}")))?;
                match self.events.get(unid) {
                    Some(cur) if ev.revision_cmp(cur) != Ordering::Greater => {}
                    _ => {
                        self.events.insert(unid.to_owned(), ev);
                    }
                }
            }
        }
        Ok(())
    }

    /// Events whose panes are beyond retention, removed from the table, with a tombstone in the
    /// changelog for each. It scans the table, so it runs at most once per [`EVICT_EVERY_US`] of
    /// stream time: an event may outstay retention by that much (memory only; a revision of it is
    /// still rejected as expired by [`EventTable::apply`]).
    pub fn evict(&mut self) -> Vec<(String, Event)> {
        let Some(first) = self.first_kept_pane() else {
            return Vec::new();
        };
        if self.stream_time < self.next_evict {
            return Vec::new();
        }
        self.next_evict = self.stream_time + EVICT_EVERY_US;
        let gone: Vec<String> = self
            .events
            .iter()
            .filter(|(_, e)| pane_of(e.time_us) < first)
            .map(|(u, _)| u.clone())
            .collect();
        gone.into_iter()
            .map(|u| {
                let e = self.events.remove(&u).expect("present");
                self.changed.insert(u.clone());
                (u, e)
            })
            .collect()
    }

    /// The changelog writes since the last call: each changed event's current revision (or a
    /// tombstone), and the stream time if it moved.
    pub fn drain_changelog(&mut self) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        let mut out: Vec<(Vec<u8>, Option<Vec<u8>>)> = self
            .changed
            .drain()
            .map(|u| {
                let v = self.events.get(&u).map(Event::encode);
                (u.into_bytes(), v)
            })
            .collect();
        if std::mem::take(&mut self.stream_time_changed) {
            out.push((
                STREAM_TIME_KEY.to_vec(),
                Some(serde_json::to_vec(&self.stream_time).expect("serialises")),
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quakestream_core::model::Source;

    const DAY_US: i64 = 86_400 * 1_000_000;

    fn ev(t: i64, u: i64, mag: f64) -> Event {
        Event {
            time_us: t,
            lastupdate_us: u,
            lat: 1.0,
            lon: 2.0,
            depth_km: 10.0,
            mag: Some(mag),
            magtype: None,
            region: "R".into(),
            earthquake: true,
            source: Source::Emsc,
        }
    }

    #[test]
    fn the_later_revision_wins_whatever_the_order_and_duplicates_are_stale() {
        let mut t = EventTable::new(30 * DAY_US);
        assert_eq!(t.apply("a", ev(100, 2, 3.0), 100), Applied::Changed { old: None });
        assert_eq!(t.apply("a", ev(100, 1, 2.0), 100), Applied::Stale);
        assert_eq!(t.apply("a", ev(100, 2, 3.0), 100), Applied::Stale);
        assert_eq!(
            t.apply("a", ev(100, 3, 4.0), 100),
            Applied::Changed {
                old: Some(ev(100, 2, 3.0))
            }
        );
        // Same lastupdate, different content: the same one wins in both orders.
        let (x, y) = (ev(100, 9, 1.0), ev(100, 9, 1.5));
        let mut t1 = EventTable::new(DAY_US * 30);
        let mut t2 = EventTable::new(DAY_US * 30);
        t1.apply("b", x.clone(), 0);
        t1.apply("b", y.clone(), 0);
        t2.apply("b", y, 0);
        t2.apply("b", x, 0);
        assert_eq!(t1.get("b"), t2.get("b"));
    }

    #[test]
    fn restore_is_the_same_merge_and_tombstones_delete() {
        let mut t = EventTable::new(30 * DAY_US);
        t.apply("a", ev(100, 5, 3.0), 100);
        t.apply("b", ev(100, 5, 3.0), 100);
        let log = t.drain_changelog();
        assert_eq!(log.len(), 3, "two events and the stream time");
        let mut r = EventTable::new(30 * DAY_US);
        // Out of order and repeated, plus an older revision after the newer one.
        for (k, v) in log.iter().rev().chain(log.iter()) {
            r.restore(k, v.as_deref()).unwrap();
        }
        r.restore(b"a", Some(&ev(100, 1, 9.0).encode())).unwrap();
        assert_eq!(r.get("a"), t.get("a"));
        assert_eq!(r.stream_time(), 100);
        r.restore(b"b", None).unwrap();
        assert!(r.get("b").is_none());
        assert!(r.restore(b"c", Some(b"{not json")).is_err());
    }

    #[test]
    fn stream_time_ignores_future_dates_and_old_events_expire() {
        let mut t = EventTable::new(2 * DAY_US);
        let now = 100 * DAY_US;
        t.apply("a", ev(now, 1, 3.0), now);
        t.apply("future", ev(now + 365 * DAY_US, 1, 3.0), now);
        assert_eq!(t.stream_time(), now + MAX_FUTURE_US);
        assert_eq!(t.apply("old", ev(now - 3 * DAY_US, 1, 3.0), now), Applied::Expired);
        assert!(matches!(
            t.apply("recent", ev(now - DAY_US, 1, 3.0), now),
            Applied::Changed { .. }
        ));
        t.apply("b", ev(now + 2 * DAY_US, 1, 3.0), now + 2 * DAY_US);
        let gone: Vec<String> = t.evict().into_iter().map(|(u, _)| u).collect();
        assert_eq!(gone, ["recent"]);
        assert!(t.drain_changelog().iter().any(|(k, v)| k == b"recent" && v.is_none()));
    }
}
