//! The global half of the sequences: one task (every change lands on one partition) holding a
//! [`Grouper`] over the current revision of every grouped event.
//!
//! - **Versions.** Each unid's latest applied change is remembered with its source partition and
//!   version; an older or equal change is ignored, so replays are no-ops.
//! - **Output.** At each flush, the sequences `take_changes` names are published as
//!   [`quakestream_seismo::SequenceRecord`] JSON (key = id) and the removed ones get a tombstone.
//!   A record depends on "now" (stream time: events in the last hour and day, open or closed,
//!   the Omori forecast), so the open sequences are re-published whenever stream time has moved
//!   by [`REPUBLISH_EVERY_US`], and once more when they close.
//! - **Changelog.** Key `e|{unid}`: the [`Change`] last applied (tombstone on retraction); key
//!   `st`: the stream time. Restore collects the events and builds the grouper in one pass
//!   ([`Grouper::from_events`]), which takes the sequences it finds as already published.

use super::msg::Change;
use crate::processor::{GlobalOut, GlobalTask, TaskError};
use chrono::{DateTime, Utc};
use quakestream_seismo::{Grouper, Params};
use std::collections::{BTreeMap, BTreeSet, HashMap};

const ST_KEY: &[u8] = b"st";
const EVENT_PREFIX: &str = "e|";
/// Re-publish open sequences when stream time has moved by this much (an hour: the
/// `last_hour` count's resolution).
pub const REPUBLISH_EVERY_US: i64 = 3_600_000_000;

fn bad(detail: impl ToString) -> TaskError {
    TaskError::Decode {
        what: "sequences changelog record",
        detail: detail.to_string(),
    }
}

fn utc(us: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_micros(us).unwrap_or_default()
}

pub struct SequencesGlobal {
    params: Params,
    grouper: Grouper,
    /// Unid -> (source partition, version) of the change last applied (retractions included).
    versions: HashMap<String, (i32, i64)>,
    /// While restoring: the changes read from the changelog, by unid.
    restoring: BTreeMap<String, Change>,
    /// Unids whose changelog entry must be written at the next flush.
    changed: BTreeSet<String>,
    stream_time: i64,
    /// Stream time last written to the changelog.
    written_st: i64,
    /// Stream time of the last re-publication of the open sequences.
    republished_st: i64,
    /// Ids open at the last re-publication (re-published once more when they close).
    open: BTreeSet<String>,
    invalid: u64,
}

impl SequencesGlobal {
    pub fn new(params: Params) -> Self {
        SequencesGlobal {
            params,
            grouper: Grouper::new(params),
            versions: HashMap::new(),
            restoring: BTreeMap::new(),
            changed: BTreeSet::new(),
            stream_time: i64::MIN,
            written_st: i64::MIN,
            republished_st: i64::MIN,
            open: BTreeSet::new(),
            invalid: 0,
        }
    }

    pub fn grouper(&self) -> &Grouper {
        &self.grouper
    }

    /// "Now" for the records: the stream time, or before any the latest origin time held.
    fn now(&self) -> DateTime<Utc> {
        if self.stream_time != i64::MIN {
            return utc(self.stream_time);
        }
        utc(self.grouper.events().map(|e| e.time_us()).max().unwrap_or(0))
    }

    fn newer(&self, unid: &str, c: &Change) -> bool {
        self.versions
            .get(unid)
            .is_none_or(|&(src, ver)| src != c.src || c.ver > ver)
    }

    /// Applies a change to the grouper: the revision the event table chose is the truth, even
    /// when the grouper's own order of revisions (equal `lastupdate`) would keep another.
    fn apply_change(&mut self, unid: &str, c: &Change) -> Result<(), TaskError> {
        match &c.ev {
            None => {
                self.grouper.retract(unid);
            }
            Some(ev) => {
                if self.grouper.get(unid) == Some(ev) {
                    return Ok(());
                }
                let res = self.grouper.upsert(ev.clone()).map_err(|e| TaskError::Decode {
                    what: "sequences event",
                    detail: e.to_string(),
                })?;
                if res == quakestream_seismo::Applied::Stale {
                    self.grouper.retract(unid);
                    self.grouper.upsert(ev.clone()).map_err(|e| TaskError::Decode {
                        what: "sequences event",
                        detail: e.to_string(),
                    })?;
                }
            }
        }
        Ok(())
    }

    /// Ids to re-publish because time moved: those open now and those open last time.
    fn time_driven(&mut self, now: DateTime<Utc>) -> BTreeSet<String> {
        let st = self.stream_time;
        if st == i64::MIN || (self.republished_st != i64::MIN && st - self.republished_st < REPUBLISH_EVERY_US) {
            return BTreeSet::new();
        }
        self.republished_st = st;
        let open: BTreeSet<String> = self.grouper.open_sequence_ids(now).into_iter().collect();
        let ids: BTreeSet<String> = open.union(&self.open).cloned().collect();
        self.open = open;
        ids
    }
}

impl GlobalTask for SequencesGlobal {
    fn restore(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<(), TaskError> {
        if key == ST_KEY {
            if let Some(v) = value {
                self.stream_time = self.stream_time.max(serde_json::from_slice(v).map_err(bad)?);
            }
            return Ok(());
        }
        let k = std::str::from_utf8(key).map_err(bad)?;
        let unid = k.strip_prefix(EVENT_PREFIX).ok_or_else(|| bad(format!("key {k:?}")))?;
        match value {
            None => {
                self.restoring.remove(unid);
            }
            Some(v) => {
                let c: Change = serde_json::from_slice(v).map_err(bad)?;
                self.restoring.insert(unid.to_owned(), c);
            }
        }
        Ok(())
    }

    fn restored(&mut self) {
        let changes = std::mem::take(&mut self.restoring);
        let mut events = Vec::with_capacity(changes.len());
        for (unid, c) in changes {
            self.versions.insert(unid, (c.src, c.ver));
            events.extend(c.ev);
        }
        self.grouper = Grouper::from_events(self.params, events).unwrap_or_else(|e| {
            // Every event in the changelog passed `upsert`'s validation when it was written.
            tracing::error!(error = %e, "invalid event in the sequences changelog; starting empty");
            Grouper::new(self.params)
        });
        self.republished_st = self.stream_time;
        self.written_st = self.stream_time;
        let now = self.now();
        self.open = self.grouper.open_sequence_ids(now).into_iter().collect();
    }

    fn apply(&mut self, key: &[u8], value: &[u8]) -> Result<(), TaskError> {
        let c = Change::decode(value)?;
        let unid = std::str::from_utf8(key).map_err(|e| TaskError::Decode {
            what: "sequences record key",
            detail: e.to_string(),
        })?;
        self.stream_time = self.stream_time.max(c.st);
        if !self.newer(unid, &c) {
            return Ok(());
        }
        if let Err(e) = self.apply_change(unid, &c) {
            self.invalid += 1;
            return Err(e);
        }
        self.versions.insert(unid.to_owned(), (c.src, c.ver));
        self.changed.insert(unid.to_owned());
        Ok(())
    }

    fn flush(&mut self, out: &mut GlobalOut) {
        let now = self.now();
        let changes = self.grouper.take_changes();
        let mut publish: BTreeSet<String> = changes.updated.into_iter().collect();
        publish.extend(self.time_driven(now));
        for id in &publish {
            if let Some(rec) = self.grouper.record(id, now) {
                out.updates += 1;
                out.output.push((
                    id.clone().into_bytes(),
                    serde_json::to_vec(&rec).expect("a record serialises"),
                ));
            }
        }
        for id in changes.removed {
            out.output_deletes.push(id.into_bytes());
        }
        for unid in std::mem::take(&mut self.changed) {
            let key = format!("{EVENT_PREFIX}{unid}").into_bytes();
            let value = self.grouper.get(&unid).map(|ev| {
                let (src, ver) = self.versions[&unid];
                Change {
                    src,
                    ver,
                    st: self.stream_time,
                    ev: Some(ev.clone()),
                }
                .encode()
            });
            out.changelog.push((key, value));
        }
        if self.stream_time != self.written_st {
            self.written_st = self.stream_time;
            out.changelog.push((
                ST_KEY.to_vec(),
                Some(serde_json::to_vec(&self.stream_time).expect("serialises")),
            ));
        }
    }

    fn entries(&self) -> usize {
        self.grouper.len()
    }

    fn open(&self) -> usize {
        self.open.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(unid: &str, minutes: i64, lat: f64, mag: f64) -> quakestream_seismo::Event {
        let t = "2025-04-23T09:49:00Z".parse::<DateTime<Utc>>().unwrap() + chrono::Duration::minutes(minutes);
        quakestream_seismo::Event {
            unid: unid.into(),
            time: t,
            lastupdate: t,
            lat,
            lon: 28.2,
            depth_km: 10.0,
            mag: Some(mag),
            magtype: Some("ml".into()),
            region: Some("WESTERN TURKEY".into()),
            evtype: None,
        }
    }

    fn change(ver: i64, e: Option<quakestream_seismo::Event>) -> (Vec<u8>, Vec<u8>) {
        let st = e.as_ref().map_or(0, |e| e.time_us());
        (Vec::new(), Change { src: 0, ver, st, ev: e }.encode())
    }

    fn apply(g: &mut SequencesGlobal, unid: &str, ver: i64, e: Option<quakestream_seismo::Event>) {
        let (_, v) = change(ver, e);
        g.apply(unid.as_bytes(), &v).unwrap();
    }

    fn flush(g: &mut SequencesGlobal) -> GlobalOut {
        let mut out = GlobalOut::default();
        g.flush(&mut out);
        out
    }

    #[test]
    fn replays_are_no_ops_retractions_delete_and_restore_rebuilds() {
        let mut g = SequencesGlobal::new(Params::default());
        apply(&mut g, "m", 1, Some(ev("m", 0, 40.8, 6.0)));
        apply(&mut g, "a", 2, Some(ev("a", 10, 40.81, 4.0)));
        apply(&mut g, "b", 3, Some(ev("b", 20, 40.82, 3.5)));
        let out = flush(&mut g);
        let keys: Vec<String> = out
            .output
            .iter()
            .map(|(k, _)| String::from_utf8(k.clone()).unwrap())
            .collect();
        assert_eq!(keys, ["seq-m"]);
        let changelog = out.changelog.clone();
        assert_eq!(changelog.len(), 4, "three events and the stream time");

        // The same records again, and an older version of one: nothing to publish.
        apply(&mut g, "a", 2, Some(ev("a", 10, 40.81, 4.0)));
        apply(&mut g, "b", 1, Some(ev("b", 20, 45.0, 3.5)));
        let out = flush(&mut g);
        assert!(out.output.is_empty() && out.output_deletes.is_empty() && out.changelog.is_empty());

        // Restore from the changelog: the same sequence, reported as already published.
        let mut r = SequencesGlobal::new(Params::default());
        for (k, v) in &changelog {
            r.restore(k, v.as_deref()).unwrap();
        }
        r.restored();
        assert_eq!(r.grouper().sequence_ids(), ["seq-m"]);
        assert!(flush(&mut r).output.is_empty());
        // The restored versions hold: a replay there is a no-op too.
        apply(&mut r, "a", 2, Some(ev("a", 10, 40.81, 4.0)));
        assert!(flush(&mut r).changelog.is_empty());

        // Two retractions leave a single event: the sequence is deleted with a tombstone.
        apply(&mut g, "a", 4, None);
        apply(&mut g, "b", 5, None);
        let out = flush(&mut g);
        assert_eq!(out.output_deletes, [b"seq-m".to_vec()]);
        assert!(out.changelog.iter().any(|(k, v)| k == b"e|a" && v.is_none()));
        // A retraction seen again changes nothing.
        apply(&mut g, "a", 4, None);
        assert!(flush(&mut g).output_deletes.is_empty());
    }

    #[test]
    fn the_event_tables_revision_wins_even_at_an_equal_lastupdate() {
        let mut g = SequencesGlobal::new(Params::default());
        let a = ev("x", 0, 40.8, 5.0);
        let mut b = a.clone();
        b.mag = Some(4.0); // same lastupdate, ordered below `a` by the grouper's own rule
        assert!(!b.supersedes(&a));
        apply(&mut g, "x", 1, Some(a));
        apply(&mut g, "x", 2, Some(b.clone()));
        assert_eq!(g.grouper().get("x").and_then(|e| e.mag), Some(4.0));
    }
}
