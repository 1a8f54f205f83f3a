//! The batch computation the streaming result must equal: every window of every event's latest
//! revision, computed directly (no panes, no partials, no retractions). Used by the tests and by
//! anyone who wants to check a `quake-stats` topic against a catalogue.

use super::record::{Kind, StatsRecord};
use crate::agg::{Agg, Contribution};
use crate::event::Event;
use crate::window::{StatsKey, pane_of, windows_of_pane};
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

/// The latest revision of each event (by [`Event::revision_cmp`]).
pub fn latest<'a>(revisions: impl IntoIterator<Item = (&'a str, &'a Event)>) -> HashMap<&'a str, &'a Event> {
    let mut out: HashMap<&str, &Event> = HashMap::new();
    for (unid, e) in revisions {
        match out.get(unid) {
            Some(cur) if e.revision_cmp(cur) != Ordering::Greater => {}
            _ => {
                out.insert(unid, e);
            }
        }
    }
    out
}

/// Every window's statistics, by window key (rendered as finals).
pub fn compute<'a>(
    revisions: impl IntoIterator<Item = (&'a str, &'a Event)>,
    grace_us: i64,
) -> BTreeMap<String, StatsRecord> {
    let mut aggs: BTreeMap<StatsKey, Agg> = BTreeMap::new();
    for (unid, e) in latest(revisions) {
        let Some(c) = Contribution::of(unid, e) else { continue };
        for dim in c.dims(e) {
            for window in windows_of_pane(pane_of(e.time_us)) {
                aggs.entry(StatsKey {
                    window,
                    dim: dim.clone(),
                })
                .or_default()
                .add(&c);
            }
        }
    }
    aggs.into_iter()
        .map(|(k, a)| (k.to_string(), StatsRecord::new(&k, &a, Kind::Final, grace_us, i64::MIN)))
        .collect()
}
