//! The local half of the sequences: per partition of `quakes`, the unids whose grouped revision
//! changed since the last flush. A flush sends each one's current revision (or its retraction)
//! to the single global partition; the global half keeps the latest version per unid, so a
//! record seen twice changes nothing.

use super::GLOBAL_PARTITION;
use super::msg::{Change, groupable};
use crate::event::Event;
use crate::processor::{LocalFlush, LocalTask, Routed};
use std::collections::BTreeMap;

pub struct SequencesLocal {
    source: i32,
    /// Unid -> what to send at the next flush (`None`: a retraction).
    dirty: BTreeMap<String, Option<quakestream_seismo::Event>>,
}

impl SequencesLocal {
    pub fn new(source: i32) -> Self {
        SequencesLocal {
            source,
            dirty: BTreeMap::new(),
        }
    }
}

impl LocalTask for SequencesLocal {
    fn on_change(&mut self, unid: &str, old: Option<&Event>, new: Option<&Event>) {
        let was = old.and_then(|e| groupable(unid, e));
        let now = new.and_then(|e| groupable(unid, e));
        if was == now {
            return; // nothing the grouping reads changed (or never grouped, still not grouped)
        }
        self.dirty.insert(unid.to_owned(), now);
    }

    fn on_evict(&mut self, _unid: &str, _old: &Event) {
        // Sequences outlive the event table's retention: a mainshock leaving the table must not
        // split its sequence. The grouper keeps the catalogue (see docs/sequences.md).
    }

    fn flush(&mut self, f: &LocalFlush, out: &mut Vec<Routed>) {
        for (unid, ev) in std::mem::take(&mut self.dirty) {
            let value = Change {
                src: self.source,
                ver: f.version,
                st: f.stream_time_us,
                ev,
            }
            .encode();
            out.push(Routed {
                partition: GLOBAL_PARTITION,
                key: unid.into_bytes(),
                value,
            });
        }
    }

    fn entries(&self) -> usize {
        self.dirty.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quakestream_core::model::Source;

    fn ev(mag: Option<f64>, earthquake: bool, lastupdate_us: i64) -> Event {
        Event {
            time_us: 1_745_401_751_000_000,
            lastupdate_us,
            lat: 40.8,
            lon: 28.2,
            depth_km: 10.0,
            mag,
            magtype: Some("ml".into()),
            region: "WESTERN TURKEY".into(),
            earthquake,
            source: Source::Emsc,
        }
    }

    fn flushed(l: &mut SequencesLocal) -> Vec<Change> {
        let mut out = Vec::new();
        let f = LocalFlush {
            version: 7,
            stream_time_us: 1,
            repartitions: 3,
            caught_up: true,
            sources: 1,
        };
        l.flush(&f, &mut out);
        assert!(
            out.iter().all(|r| r.partition == GLOBAL_PARTITION),
            "one partition for all"
        );
        out.iter().map(|r| Change::decode(&r.value).unwrap()).collect()
    }

    #[test]
    fn only_what_the_grouping_reads_is_sent_and_a_blast_retracts() {
        let mut l = SequencesLocal::new(2);
        let quake = ev(Some(3.0), true, 1);
        l.on_change("a", None, Some(&quake));
        let sent = flushed(&mut l);
        assert_eq!(sent.len(), 1);
        assert_eq!((sent[0].src, sent[0].ver), (2, 7));
        assert_eq!(sent[0].ev.as_ref().unwrap().unid, "a");
        // The same revision re-announced (a restore): nothing.
        l.on_change("a", Some(&quake), Some(&quake));
        assert!(flushed(&mut l).is_empty());
        // Without a magnitude, or as a quarry blast, it leaves the grouping: a retraction.
        let blast = ev(Some(3.0), false, 2);
        l.on_change("a", Some(&quake), Some(&blast));
        assert_eq!(flushed(&mut l)[0].ev, None);
        // Never groupable: nothing at all.
        l.on_change("b", None, Some(&ev(None, true, 1)));
        assert!(flushed(&mut l).is_empty());
    }
}
