//! The batch algorithm, written as plainly as possible: the definition of the grouping, which
//! the streaming [`crate::Grouper`] must reproduce exactly. Quadratic; for tests and small
//! catalogues.
//!
//! 1. Take the latest revision of every event ([`Event::supersedes`]); keep those with a
//!    magnitude whose type is an earthquake ([`Event::is_groupable`]).
//! 2. Sort them by rank: magnitude descending, then origin time ascending, then unid.
//! 3. Visit them in that order. An event not yet claimed becomes a head (a mainshock) and claims
//!    every unclaimed event in its window: within L(M) km and from `foreshock_fraction`·T(M)
//!    days before to T(M) days after it, bounds included, M being the head's magnitude.
//!
//! Claimed events never claim others (no linking through secondary aftershocks). A head's
//! cluster is the head and what it claimed; members before the head are foreshocks, the others
//! aftershocks.

use crate::event::{Event, Rank};
use crate::grouper::Cluster;
use crate::windows::{Params, Point, covers};
use std::collections::HashMap;

pub fn group(params: &Params, catalogue: &[Event]) -> Vec<Cluster> {
    let mut latest: HashMap<&str, &Event> = HashMap::new();
    for e in catalogue {
        let keep = latest.get(e.unid.as_str()).is_none_or(|old| e.supersedes(old));
        if keep {
            latest.insert(&e.unid, e);
        }
    }
    let mut events: Vec<&Event> = latest.into_values().filter(|e| e.is_groupable()).collect();
    events.sort_by_key(|e| rank(e));
    let points: Vec<Point> = events.iter().map(|e| point(e)).collect();

    let mut head_of: Vec<Option<usize>> = vec![None; events.len()];
    for i in 0..events.len() {
        if head_of[i].is_some() {
            continue;
        }
        head_of[i] = Some(i);
        for j in 0..events.len() {
            if head_of[j].is_none() && covers(params, &points[i], &points[j]) {
                head_of[j] = Some(i);
            }
        }
    }

    let mut clusters: Vec<Cluster> = Vec::new();
    let mut slot_of_head: HashMap<usize, usize> = HashMap::new();
    for (j, h) in head_of.iter().enumerate() {
        let h = h.expect("every event is assigned");
        if h == j {
            slot_of_head.insert(h, clusters.len());
            clusters.push(Cluster {
                head: events[h].unid.clone(),
                members: Vec::new(),
            });
        } else {
            // Heads come before their members in rank order, so the cluster exists already.
            clusters[slot_of_head[&h]].members.push(events[j].unid.clone());
        }
    }
    clusters.sort();
    clusters
}

fn rank(e: &Event) -> Rank {
    Rank {
        mag: e.mag.expect("groupable") + 0.0,
        time_us: e.time_us(),
        unid: e.unid.as_str().into(),
    }
}

fn point(e: &Event) -> Point {
    Point {
        lat: e.lat,
        lon: e.lon,
        time_us: e.time_us(),
        mag: e.mag.expect("groupable") + 0.0,
    }
}
