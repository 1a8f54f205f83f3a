//! The streaming grouper: the Gardner–Knopoff assignment of [`crate::batch`], kept up to date
//! under upserts and retractions in any order.
//!
//! The batch algorithm visits events in rank order (magnitude down, then time, then unid); an
//! unclaimed event becomes a head (mainshock) and claims every unclaimed event in its window.
//! Equivalently, and this is what is maintained here:
//!
//! > an event is a head iff no head ranked before it has it in its window; otherwise it belongs
//! > to the first-ranked such head.
//!
//! An event's status depends only on heads ranked before it, so after a change the affected
//! events are re-evaluated in rank order (a queue ordered by rank): the changed event itself,
//! the members of a head that loses its status, and the events in the window of a new head that
//! are not already claimed by a head ranked before it. Nothing else can change.

use crate::error::InvalidEvent;
use crate::event::{Event, Rank};
use crate::index::{CellHasher, Grid, lower, upper};
use crate::record::{self, SequenceRecord};
use crate::snapshot::{SNAPSHOT_VERSION, Snapshot};
use crate::windows::{N_BANDS, Params, Point, Window, band_bound, band_of, covers, window};
use chrono::{DateTime, Utc};
use std::collections::{BTreeSet, HashMap};
use std::hash::BuildHasherDefault;
use std::sync::Arc;

/// A sequence's id is `seq-` and the unid of its founding event: the earliest event whose
/// magnitude is within this much of the mainshock's.
pub const ID_MAG_DROP: f64 = 1.0;
pub const SEQ_ID_PREFIX: &str = "seq-";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    /// Not grouped: no magnitude, or not an earthquake.
    Ineligible,
    /// Waiting in the queue to be evaluated.
    Pending,
    Head,
    Member(u32),
}

#[derive(Debug, Clone)]
pub(crate) struct Slot {
    pub ev: Event,
    pub unid: Arc<str>,
    pub time_us: i64,
    status: Status,
}

impl Slot {
    /// A new revision of the same event (the caller has detached the old one).
    fn replace(&mut self, ev: Event) {
        self.ev = normalise(ev);
        self.time_us = self.ev.time_us();
    }

    fn eligible(&self) -> bool {
        self.status != Status::Ineligible
    }

    pub fn mag(&self) -> f64 {
        self.ev.mag.unwrap_or(f64::NEG_INFINITY)
    }

    /// The rank order of two slots, without building their ranks.
    fn rank_cmp(&self, other: &Slot) -> std::cmp::Ordering {
        other
            .mag()
            .total_cmp(&self.mag())
            .then(self.time_us.cmp(&other.time_us))
            .then_with(|| self.unid.cmp(&other.unid))
    }

    fn rank(&self) -> Rank {
        Rank {
            mag: self.mag(),
            time_us: self.time_us,
            unid: self.unid.clone(),
        }
    }

    pub(crate) fn point(&self) -> Point {
        Point {
            lat: self.ev.lat,
            lon: self.ev.lon,
            time_us: self.time_us,
            mag: self.mag(),
        }
    }
}

/// What an upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Inserted,
    Revised,
    /// Older than (or identical to) the revision already held: ignored.
    Stale,
}

/// Sequences to publish (`updated`, by id) and to delete (`removed`) since the last call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub updated: Vec<String>,
    pub removed: Vec<String>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.updated.is_empty() && self.removed.is_empty()
    }
}

/// One cluster: a head and the unids it claimed (rank order), published or not.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cluster {
    pub head: String,
    pub members: Vec<String>,
}

/// Counters for the engine's metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub evaluations: u64,
    pub stale: u64,
}

type Fast = BuildHasherDefault<CellHasher>;

#[derive(Debug, Clone)]
pub struct Grouper {
    params: Params,
    slots: Vec<Option<Slot>>,
    free: Vec<u32>,
    by_unid: HashMap<Arc<str>, u32>,
    /// Every grouped event.
    grid: Grid,
    /// Heads only, one grid per magnitude band, and each band's largest window.
    heads: Vec<Grid>,
    bounds: Vec<Window>,
    /// Head -> the events it claimed.
    clusters: HashMap<u32, BTreeSet<u32>, Fast>,
    queue: BTreeSet<(Rank, u32)>,
    /// Heads whose cluster changed since the last `take_changes`.
    touched: BTreeSet<u32>,
    /// Head -> the id last reported for its cluster.
    published: HashMap<u32, String, Fast>,
    counters: Counters,
}

impl Grouper {
    pub fn new(params: Params) -> Self {
        Grouper {
            params,
            slots: Vec::new(),
            free: Vec::new(),
            by_unid: HashMap::new(),
            grid: Grid::default(),
            heads: vec![Grid::default(); N_BANDS],
            bounds: (0..N_BANDS).map(|b| band_bound(&params, b)).collect(),
            clusters: HashMap::default(),
            queue: BTreeSet::new(),
            touched: BTreeSet::new(),
            published: HashMap::default(),
            counters: Counters::default(),
        }
    }

    /// Builds the state from a catalogue in one pass (the latest revision of each unid wins).
    /// Nothing is reported by `take_changes` afterwards: this is a restore, and the sequences it
    /// finds are taken as already published.
    pub fn from_events(params: Params, events: impl IntoIterator<Item = Event>) -> Result<Self, InvalidEvent> {
        let mut g = Grouper::new(params);
        for ev in events {
            ev.validate()?;
            match g.by_unid.get(ev.unid.as_str()).copied() {
                Some(idx) => {
                    if ev.supersedes(&g.slot(idx).ev) {
                        g.detach(idx);
                        g.slot_mut(idx).replace(ev);
                        g.attach(idx);
                    }
                }
                None => {
                    let idx = g.alloc(normalise(ev));
                    g.attach(idx);
                }
            }
        }
        g.propagate();
        g.touched.clear();
        g.published = g.current_ids();
        Ok(g)
    }

    pub fn params(&self) -> &Params {
        &self.params
    }

    /// Number of events held (grouped or not).
    pub fn len(&self) -> usize {
        self.by_unid.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_unid.is_empty()
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    pub fn get(&self, unid: &str) -> Option<&Event> {
        self.by_unid.get(unid).map(|&i| &self.slot(i).ev)
    }

    pub fn events(&self) -> impl Iterator<Item = &Event> {
        self.slots.iter().flatten().map(|s| &s.ev)
    }

    /// Applies one revision of an event. Revisions may arrive in any order: the one with the
    /// latest `lastupdate` wins (see [`Event::supersedes`]).
    pub fn upsert(&mut self, ev: Event) -> Result<Applied, InvalidEvent> {
        ev.validate()?;
        let applied = match self.by_unid.get(ev.unid.as_str()).copied() {
            Some(idx) => {
                if !ev.supersedes(&self.slot(idx).ev) {
                    self.counters.stale += 1;
                    return Ok(Applied::Stale);
                }
                self.detach(idx);
                self.slot_mut(idx).replace(ev);
                self.attach(idx);
                Applied::Revised
            }
            None => {
                let idx = self.alloc(normalise(ev));
                self.attach(idx);
                Applied::Inserted
            }
        };
        self.propagate();
        Ok(applied)
    }

    /// Forgets an event (retention, or an upstream deletion). Returns whether it was held. No
    /// tombstone is kept: a revision of the same unid that arrives later brings it back.
    pub fn retract(&mut self, unid: &str) -> bool {
        let Some(idx) = self.by_unid.get(unid).copied() else {
            return false;
        };
        self.detach(idx);
        self.by_unid.remove(unid);
        self.slots[idx as usize] = None;
        self.free.push(idx);
        self.propagate();
        true
    }

    /// Every cluster, published or not, sorted by head unid: the grouping itself.
    pub fn clusters(&self) -> Vec<Cluster> {
        let mut out: Vec<Cluster> = self
            .clusters
            .iter()
            .map(|(&h, members)| {
                let mut m: Vec<&Slot> = members.iter().map(|&i| self.slot(i)).collect();
                m.sort_by_key(|s| s.rank());
                Cluster {
                    head: self.slot(h).ev.unid.clone(),
                    members: m.iter().map(|s| s.ev.unid.clone()).collect(),
                }
            })
            .collect();
        out.sort();
        out
    }

    /// Ids of the published sequences (clusters of at least `min_members` events), sorted.
    pub fn sequence_ids(&self) -> Vec<String> {
        let mut v: Vec<String> = self.current_ids().into_values().collect();
        v.sort();
        v
    }

    /// The id of the published sequence an event belongs to.
    pub fn sequence_of(&self, unid: &str) -> Option<String> {
        let idx = *self.by_unid.get(unid)?;
        let head = match self.slot(idx).status {
            Status::Head => idx,
            Status::Member(h) => h,
            _ => return None,
        };
        self.id_of(head)
    }

    pub fn record(&self, id: &str, now: DateTime<Utc>) -> Option<SequenceRecord> {
        let head = self.head_of_id(id)?;
        Some(self.build_record(head, now))
    }

    /// Every published sequence, sorted by id.
    pub fn records(&self, now: DateTime<Utc>) -> Vec<SequenceRecord> {
        let mut v: Vec<(String, u32)> = self.current_ids().into_iter().map(|(h, id)| (id, h)).collect();
        v.sort();
        v.into_iter().map(|(_, h)| self.build_record(h, now)).collect()
    }

    /// The events of a sequence, mainshock first, then by origin time.
    pub fn members(&self, id: &str) -> Option<Vec<&Event>> {
        let head = self.head_of_id(id)?;
        let mut v = self.member_slots(head);
        v[1..].sort_by(|a, b| (a.time_us, &a.unid).cmp(&(b.time_us, &b.unid)));
        Some(v.into_iter().map(|s| &s.ev).collect())
    }

    /// Sequences whose window is still open at `now` (their records change with time alone:
    /// events in the last hour and day, the Omori forecast), for a periodic re-publication.
    pub fn open_sequence_ids(&self, now: DateTime<Utc>) -> Vec<String> {
        let mut v: Vec<String> = self
            .current_ids()
            .into_iter()
            .filter(|(h, _)| {
                let s = self.slot(*h);
                let w = window(&self.params, s.mag());
                (now.timestamp_micros() - s.time_us) as f64 <= w.after_us
            })
            .map(|(_, id)| id)
            .collect();
        v.sort();
        v
    }

    /// What changed since the last call: ids to (re)publish and ids to delete. An id can move
    /// from one head to another (the mainshock changed but the founding event did not); it is
    /// then updated, not removed.
    pub fn take_changes(&mut self) -> Changes {
        let touched = std::mem::take(&mut self.touched);
        let mut old = Vec::new();
        let mut updated = Vec::new();
        for h in touched {
            if let Some(id) = self.published.remove(&h) {
                old.push(id);
            }
            if let Some(id) = self.id_of(h) {
                self.published.insert(h, id.clone());
                updated.push(id);
            }
        }
        updated.sort();
        let mut removed: Vec<String> = old
            .into_iter()
            .filter(|id| updated.binary_search(id).is_err())
            .collect();
        removed.sort();
        removed.dedup();
        Changes { updated, removed }
    }

    pub fn snapshot(&self) -> Snapshot {
        let mut events: Vec<Event> = self.events().cloned().collect();
        events.sort_by(|a, b| a.unid.cmp(&b.unid));
        Snapshot {
            v: SNAPSHOT_VERSION,
            params: self.params,
            events,
        }
    }

    // --- internals -----------------------------------------------------------------------------

    pub(crate) fn slot(&self, idx: u32) -> &Slot {
        self.slots[idx as usize].as_ref().expect("live slot")
    }

    fn slot_mut(&mut self, idx: u32) -> &mut Slot {
        self.slots[idx as usize].as_mut().expect("live slot")
    }

    fn alloc(&mut self, ev: Event) -> u32 {
        let unid: Arc<str> = ev.unid.as_str().into();
        let slot = Slot {
            time_us: ev.time_us(),
            unid: unid.clone(),
            ev,
            status: Status::Ineligible,
        };
        let idx = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(slot);
                i
            }
            None => {
                self.slots.push(Some(slot));
                (self.slots.len() - 1) as u32
            }
        };
        self.by_unid.insert(unid, idx);
        idx
    }

    /// Takes an event out of the grouping (before a revision replaces it, or a retraction).
    fn detach(&mut self, idx: u32) {
        let s = self.slot(idx);
        if !s.eligible() {
            return;
        }
        let (lat, lon, t, status, rank) = (s.ev.lat, s.ev.lon, s.time_us, s.status, s.rank());
        self.grid.remove(lat, lon, t, idx);
        match status {
            Status::Head => self.demote(idx),
            Status::Member(h) => self.leave(idx, h),
            // Only while a catalogue is loaded in one pass: the queued entry has the old rank.
            Status::Pending => {
                self.queue.remove(&(rank, idx));
            }
            Status::Ineligible => {}
        }
        self.slot_mut(idx).status = Status::Ineligible;
    }

    /// Puts the event's current revision into the grouping, pending evaluation.
    fn attach(&mut self, idx: u32) {
        if !self.slot(idx).ev.is_groupable() {
            self.slot_mut(idx).status = Status::Ineligible;
            return;
        }
        let s = self.slot(idx);
        let (lat, lon, t, rank) = (s.ev.lat, s.ev.lon, s.time_us, s.rank());
        self.grid.insert(lat, lon, t, idx);
        self.slot_mut(idx).status = Status::Pending;
        self.queue.insert((rank, idx));
    }

    /// A head loses its status: its members are evaluated again.
    fn demote(&mut self, h: u32) {
        let s = self.slot(h);
        let (lat, lon, t, band) = (s.ev.lat, s.ev.lon, s.time_us, band_of(s.mag()));
        self.heads[band].remove(lat, lon, t, h);
        for m in self.clusters.remove(&h).unwrap_or_default() {
            let rank = self.slot(m).rank();
            self.slot_mut(m).status = Status::Pending;
            self.queue.insert((rank, m));
        }
        self.touched.insert(h);
    }

    fn leave(&mut self, idx: u32, h: u32) {
        if let Some(c) = self.clusters.get_mut(&h) {
            c.remove(&idx);
        }
        self.touched.insert(h);
    }

    /// An event becomes a head: the events in its window that no earlier head claims are
    /// evaluated again.
    fn promote(&mut self, h: u32) {
        let p = self.slot(h).point();
        self.heads[band_of(p.mag)].insert(p.lat, p.lon, p.time_us, h);
        self.clusters.insert(h, BTreeSet::new());
        self.touched.insert(h);
        let w = window(&self.params, p.mag);
        let t = p.time_us as f64;
        let mut found = Vec::new();
        self.grid.query(
            p.lat,
            p.lon,
            w.distance_km,
            lower(t - w.before_us),
            upper(t + w.after_us),
            |y| {
                if y != h {
                    found.push(y)
                }
            },
        );
        let s = self.slot(h);
        let mut queue = Vec::new();
        for y in found {
            let sy = self.slot(y);
            if !sy.rank_cmp(s).is_gt() || !covers(&self.params, &p, &sy.point()) {
                continue;
            }
            let settled = match sy.status {
                Status::Member(g) => self.slot(g).rank_cmp(s).is_lt(),
                Status::Pending => true, // already queued
                Status::Head => false,
                Status::Ineligible => true,
            };
            if !settled {
                queue.push((sy.rank(), y));
            }
        }
        self.queue.extend(queue);
    }

    /// The first-ranked head (before `e`) whose window holds `e`.
    fn claimer(&self, e: u32) -> Option<u32> {
        let s = self.slot(e);
        let p = s.point();
        let mut best: Option<&Slot> = None;
        let mut best_idx = None;
        for band in band_of(p.mag)..N_BANDS {
            let grid = &self.heads[band];
            if grid.is_empty() {
                continue;
            }
            let w = self.bounds[band];
            let t = p.time_us as f64;
            grid.query(
                p.lat,
                p.lon,
                w.distance_km,
                lower(t - w.after_us),
                upper(t + w.before_us),
                |h| {
                    let sh = self.slot(h);
                    if h != e
                        && sh.rank_cmp(s).is_lt()
                        && best.is_none_or(|b| sh.rank_cmp(b).is_lt())
                        && covers(&self.params, &sh.point(), &p)
                    {
                        best = Some(sh);
                        best_idx = Some(h);
                    }
                },
            );
        }
        best_idx
    }

    /// Evaluates queued events in rank order until the queue is empty. Everything ranked before
    /// the event being evaluated is final, because an evaluation only ever queues events ranked
    /// after the one evaluated.
    fn propagate(&mut self) {
        while let Some((_, e)) = self.queue.pop_first() {
            self.counters.evaluations += 1;
            let new = match self.claimer(e) {
                Some(h) => Status::Member(h),
                None => Status::Head,
            };
            let old = self.slot(e).status;
            if old == new {
                continue;
            }
            match old {
                Status::Head => self.demote(e),
                Status::Member(g) => self.leave(e, g),
                Status::Pending | Status::Ineligible => {}
            }
            self.slot_mut(e).status = new;
            match new {
                Status::Head => self.promote(e),
                Status::Member(h) => {
                    self.clusters.get_mut(&h).expect("claimer is a head").insert(e);
                    self.touched.insert(h);
                }
                Status::Pending | Status::Ineligible => unreachable!("evaluation gives a head or a member"),
            }
        }
    }

    /// The head's cluster, head first, then its members in rank order.
    pub(crate) fn member_slots(&self, head: u32) -> Vec<&Slot> {
        let mut v = vec![self.slot(head)];
        if let Some(c) = self.clusters.get(&head) {
            let mut m: Vec<&Slot> = c.iter().map(|&i| self.slot(i)).collect();
            m.sort_by_key(|s| s.rank());
            v.extend(m);
        }
        v
    }

    /// The published id of a head's cluster, if it is a head with enough members.
    fn id_of(&self, h: u32) -> Option<String> {
        let s = self.slots.get(h as usize)?.as_ref()?;
        if s.status != Status::Head {
            return None;
        }
        let c = self.clusters.get(&h)?;
        if c.len() + 1 < self.params.min_members {
            return None;
        }
        let floor = s.mag() - ID_MAG_DROP;
        let founder = std::iter::once(s)
            .chain(c.iter().map(|&i| self.slot(i)))
            .filter(|m| m.mag() >= floor)
            .min_by(|a, b| (a.time_us, &a.unid).cmp(&(b.time_us, &b.unid)))
            .expect("the head qualifies");
        Some(format!("{SEQ_ID_PREFIX}{}", founder.unid))
    }

    fn head_of_id(&self, id: &str) -> Option<u32> {
        let founder = *self.by_unid.get(id.strip_prefix(SEQ_ID_PREFIX)?)?;
        let head = match self.slot(founder).status {
            Status::Head => founder,
            Status::Member(h) => h,
            _ => return None,
        };
        (self.id_of(head).as_deref() == Some(id)).then_some(head)
    }

    fn current_ids(&self) -> HashMap<u32, String, Fast> {
        self.clusters
            .keys()
            .filter_map(|&h| self.id_of(h).map(|id| (h, id)))
            .collect()
    }

    fn build_record(&self, head: u32, now: DateTime<Utc>) -> SequenceRecord {
        let id = self.id_of(head).expect("a published head");
        let slots = self.member_slots(head);
        let events: Vec<&Event> = slots.iter().map(|s| &s.ev).collect();
        record::build(&self.params, id, &events, now)
    }
}

/// `-0.0` and `0.0` are one magnitude.
fn normalise(mut ev: Event) -> Event {
    ev.mag = ev.mag.map(|m| m + 0.0);
    ev
}
