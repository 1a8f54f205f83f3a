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
                partition: GLOBAL_PARTITION.min(f.repartitions - 1).max(0),
                key: unid.into_bytes(),
                value,
            });
        }
    }

    fn entries(&self) -> usize {
        self.dirty.len()
    }
}
