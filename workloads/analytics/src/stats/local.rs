//! The local half of the statistics: per partition of `quakes`, every (dimension, hourly pane)
//! this partition's events fall in, kept exactly (sums plus the ranked set of magnitudes, so the
//! largest event survives retractions). A flush sends each changed pane's whole partial, never a
//! delta: the global half keeps the latest partial per (pane, dimension, source partition), so a
//! record seen twice (a replay, an uncommitted transaction on a broker that does not hide it)
//! changes nothing.

use super::msg::Msg;
use crate::agg::{Agg, Contribution, Largest};
use crate::event::Event;
use crate::processor::{LocalFlush, LocalTask, Routed, route};
use crate::window::{Dim, pane_of};
use foldhash::{HashMap, HashSet};
use std::cmp::Ordering;
use std::collections::BTreeSet;

/// A `Largest` ordered by rank (the set's last element is the largest event).
#[derive(Debug, Clone, PartialEq)]
struct Ranked(Largest);
impl Eq for Ranked {}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Ranked {
    fn cmp(&self, o: &Self) -> Ordering {
        self.0.rank_cmp(&o.0).then_with(|| self.0.magtype.cmp(&o.0.magtype))
    }
}

#[derive(Debug, Default)]
struct Pane {
    sums: Agg,
    ranked: BTreeSet<Ranked>,
}

impl Pane {
    fn partial(&self) -> Agg {
        let mut a = self.sums.clone();
        a.largest = self.ranked.last().map(|r| r.0.clone());
        a
    }
}

pub struct StatsLocal {
    source: i32,
    panes: HashMap<(Dim, i64), Pane>,
    dirty: HashSet<(Dim, i64)>,
    /// The stream time last broadcast to the global tasks, and whether it was sent as idle.
    sent_stream_time: i64,
    sent_idle: bool,
    /// Whether a watermark was sent since this task was created.
    reported: bool,
}

impl StatsLocal {
    pub fn new(source: i32) -> Self {
        StatsLocal {
            source,
            panes: HashMap::default(),
            dirty: HashSet::default(),
            sent_stream_time: i64::MIN,
            sent_idle: false,
            reported: false,
        }
    }

    fn apply(&mut self, e: &Event, c: &Contribution, sign: i64, mark: bool) {
        let pane = pane_of(e.time_us);
        for dim in c.dims(e) {
            let key = (dim, pane);
            let p = self.panes.entry(key.clone()).or_default();
            p.sums.add_sums(c, sign);
            if let Some(l) = &c.largest {
                if sign > 0 {
                    p.ranked.insert(Ranked(l.clone()));
                } else {
                    p.ranked.remove(&Ranked(l.clone()));
                }
            }
            if mark {
                self.dirty.insert(key);
            } else if p.sums.is_empty() {
                self.panes.remove(&key);
                self.dirty.remove(&key);
            }
        }
    }
}

impl LocalTask for StatsLocal {
    fn on_change(&mut self, unid: &str, old: Option<&Event>, new: Option<&Event>) {
        let old_c = old.and_then(|e| Contribution::of(unid, e).map(|c| (e, c)));
        let new_c = new.and_then(|e| Contribution::of(unid, e).map(|c| (e, c)));
        if let (Some((oe, oc)), Some((ne, nc))) = (&old_c, &new_c)
            && oc == nc
            && oe.region == ne.region
            && pane_of(oe.time_us) == pane_of(ne.time_us)
        {
            return; // a revision that changes nothing counted (e.g. only the agency)
        }
        if let Some((e, c)) = old_c {
            self.apply(e, &c, -1, true);
        }
        if let Some((e, c)) = new_c {
            self.apply(e, &c, 1, true);
        }
    }

    fn on_evict(&mut self, unid: &str, old: &Event) {
        if let Some(c) = Contribution::of(unid, old) {
            self.apply(old, &c, -1, false);
        }
    }

    fn flush(&mut self, f: &LocalFlush, out: &mut Vec<Routed>) {
        let mut dirty: Vec<(Dim, i64)> = self.dirty.drain().collect();
        dirty.sort();
        for key in dirty {
            let agg = match self.panes.get(&key) {
                Some(p) if !p.sums.is_empty() => p.partial(),
                _ => {
                    self.panes.remove(&key);
                    Agg::default()
                }
            };
            let dim = key.0.encode();
            let msg = Msg::Partial {
                src: self.source,
                ver: f.version,
                pane: key.1,
                dim: dim.clone(),
                agg,
            };
            out.push(Routed {
                partition: route(dim.as_bytes(), f.repartitions),
                key: dim.into_bytes(),
                value: msg.encode(),
            });
        }
        // After the partials (so a global task never closes a window before it has them).
        let st = f.stream_time_us.max(self.sent_stream_time);
        // The first flush reports even before the first event, so that the global tasks wait
        // for this partition (or, read to its end and empty, know it holds nothing back).
        if !self.reported || st > self.sent_stream_time || f.caught_up != self.sent_idle {
            self.reported = true;
            self.sent_stream_time = st;
            self.sent_idle = f.caught_up;
            let value = Msg::Watermark {
                src: self.source,
                st,
                idle: f.caught_up,
                of: f.sources,
            }
            .encode();
            for partition in 0..f.repartitions {
                out.push(Routed {
                    partition,
                    key: b"~watermark".to_vec(),
                    value: value.clone(),
                });
            }
        }
    }

    fn entries(&self) -> usize {
        self.panes.len()
    }
}
