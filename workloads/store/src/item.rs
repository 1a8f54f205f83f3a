//! The item layout in DynamoDB and the revision-history merge (pure, unit-tested).
//!
//! One item per event, keyed by `unid`. Attributes (all optional ones are absent, never NULL):
//!
//! | attribute | type | meaning |
//! |---|---|---|
//! | `unid` | S | partition key of the table |
//! | `day` | S | UTC day of the origin time, `YYYY-MM-DD`: partition key of the GSI `by_day` |
//! | `time` | S | origin time, RFC 3339 UTC with 6 fractional digits: sort key of `by_day` |
//! | `lastupdate` | S | version of the current values (same format, so string order = time order) |
//! | `lat`, `lon`, `depth_km`, `mag` | N | current values (depth positive down) |
//! | `magtype`, `region`, `agency`, `evtype`, `source`, `action` | S | current values |
//! | `received_at` | S | when the producer received the current revision |
//! | `first_seen` | S | when the producer first received any revision of the event |
//! | `revision_count` | N | distinct `lastupdate`s ever stored (also counts those trimmed from the list) |
//! | `revisions` | L of M | history, oldest first: `lastupdate, received_at, lat, lon, depth_km, mag, magtype, region, agency`; the first and the newest [`MAX_REVISIONS`]` - 1` are kept |
//! | `expires_at` | N | optional TTL (epoch seconds), set when the store has a retention |

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use quakestream_core::model::{Quake, Source, fmt_time, parse_time, utc_micros};
use quakestream_core::wire::{Action, WireRecord};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use crate::StoreError;

pub type Item = HashMap<String, AttributeValue>;

/// Attribute and index names.
pub mod attr {
    pub const UNID: &str = "unid";
    pub const DAY: &str = "day";
    pub const TIME: &str = "time";
    pub const LASTUPDATE: &str = "lastupdate";
    pub const LAT: &str = "lat";
    pub const LON: &str = "lon";
    pub const DEPTH_KM: &str = "depth_km";
    pub const MAG: &str = "mag";
    pub const MAGTYPE: &str = "magtype";
    pub const REGION: &str = "region";
    pub const AGENCY: &str = "agency";
    pub const EVTYPE: &str = "evtype";
    pub const SOURCE: &str = "source";
    pub const ACTION: &str = "action";
    pub const RECEIVED_AT: &str = "received_at";
    pub const FIRST_SEEN: &str = "first_seen";
    pub const REVISION_COUNT: &str = "revision_count";
    pub const REVISIONS: &str = "revisions";
    pub const EXPIRES_AT: &str = "expires_at";
    /// The GSI: `day` (HASH) + `time` (RANGE).
    pub const BY_DAY_INDEX: &str = "by_day";
    /// Non-key attributes projected into `by_day` (what a map needs; not the history).
    pub const BY_DAY_PROJECTION: [&str; 10] = [
        LASTUPDATE, LAT, LON, DEPTH_KM, MAG, MAGTYPE, REGION, AGENCY, EVTYPE, SOURCE,
    ];
}

/// How many revisions an item keeps: the first one and the newest `MAX_REVISIONS - 1`.
pub const MAX_REVISIONS: usize = 50;

/// One stored revision of an event: what a given `lastupdate` said.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Revision {
    #[serde(with = "utc_micros")]
    pub lastupdate: DateTime<Utc>,
    /// When the producer received this revision.
    #[serde(with = "utc_micros")]
    pub received_at: DateTime<Utc>,
    pub lat: f64,
    pub lon: f64,
    pub depth_km: f64,
    pub mag: Option<f64>,
    pub magtype: Option<String>,
    pub region: Option<String>,
    pub agency: Option<String>,
}

impl Revision {
    pub fn of(rec: &WireRecord) -> Revision {
        let q = &rec.quake;
        Revision {
            lastupdate: q.lastupdate,
            received_at: rec.received_at,
            lat: q.lat,
            lon: q.lon,
            depth_km: q.depth_km,
            mag: q.mag,
            magtype: q.magtype.clone(),
            region: q.region.clone(),
            agency: q.agency.clone(),
        }
    }
}

/// An event as stored: its newest revision, when it was first seen and its history (oldest first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredQuake {
    pub quake: Quake,
    #[serde(with = "utc_micros")]
    pub first_seen: DateTime<Utc>,
    /// Distinct `lastupdate`s stored so far (may exceed `revisions.len()` once the list is trimmed).
    pub revision_count: u32,
    pub revisions: Vec<Revision>,
}

/// Everything in an item: the public view plus the bookkeeping of the current revision.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ItemState {
    pub stored: StoredQuake,
    pub action: Action,
    pub received_at: DateTime<Utc>,
}

impl ItemState {
    pub fn first(rec: &WireRecord) -> ItemState {
        ItemState {
            stored: StoredQuake {
                quake: rec.quake.clone(),
                first_seen: rec.received_at,
                revision_count: 1,
                revisions: vec![Revision::of(rec)],
            },
            action: rec.action,
            received_at: rec.received_at,
        }
    }
}

/// What to do with a record given the stored item.
#[derive(Debug, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub(crate) enum Merge {
    /// The item already holds this revision (a duplicate or replay): no write.
    Unchanged,
    /// Write this state; `current` says whether the record became the current values.
    Write { state: ItemState, current: bool },
}

/// Merges `rec` into `old`: the newest `lastupdate` provides the current values, every distinct
/// `lastupdate` is kept in the history (oldest first, the first and the newest `cap - 1`).
pub(crate) fn merge(old: &ItemState, rec: &WireRecord, cap: usize) -> Merge {
    let lu = rec.quake.lastupdate;
    let revs = &old.stored.revisions;
    if old.stored.quake.lastupdate == lu || revs.iter().any(|r| r.lastupdate == lu) {
        return Merge::Unchanged;
    }
    // When the list is full, a revision older than every kept one but the first was either
    // trimmed already or is too old to keep: leave the item alone so the count stays honest.
    if revs.len() >= cap && revs.len() >= 2 && lu > revs[0].lastupdate && lu < revs[1].lastupdate {
        return Merge::Unchanged;
    }
    let mut state = old.clone();
    let pos = revs.partition_point(|r| r.lastupdate < lu);
    state.stored.revisions.insert(pos, Revision::of(rec));
    while state.stored.revisions.len() > cap.max(2) {
        state.stored.revisions.remove(1);
    }
    state.stored.revision_count = old.stored.revision_count.saturating_add(1);
    if rec.received_at < state.stored.first_seen {
        state.stored.first_seen = rec.received_at;
    }
    let current = lu > old.stored.quake.lastupdate;
    if current {
        state.stored.quake = rec.quake.clone();
        state.action = rec.action;
        state.received_at = rec.received_at;
    }
    Merge::Write { state, current }
}

pub(crate) fn day_of(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: f64) -> AttributeValue {
    AttributeValue::N(format_num(v))
}

/// Shortest representation that parses back to the same f64.
fn format_num(v: f64) -> String {
    if v == 0.0 { "0".to_owned() } else { format!("{v}") }
}

fn put_opt_s(m: &mut Item, k: &str, v: &Option<String>) {
    if let Some(v) = v {
        m.insert(k.to_owned(), s(v.clone()));
    }
}

/// The item `Store::upsert` writes for an event it has not seen (one revision, no TTL): what a
/// benchmark of raw `PutItem`s should write to compare like with like.
pub fn encode_first(rec: &WireRecord) -> Item {
    encode(&ItemState::first(rec), None)
}

pub(crate) fn encode(state: &ItemState, expires_at: Option<i64>) -> Item {
    let q = &state.stored.quake;
    let mut m = Item::with_capacity(20);
    m.insert(attr::UNID.into(), s(q.unid.clone()));
    m.insert(attr::DAY.into(), s(day_of(&q.time)));
    m.insert(attr::TIME.into(), s(fmt_time(&q.time)));
    m.insert(attr::LASTUPDATE.into(), s(fmt_time(&q.lastupdate)));
    m.insert(attr::LAT.into(), n(q.lat));
    m.insert(attr::LON.into(), n(q.lon));
    m.insert(attr::DEPTH_KM.into(), n(q.depth_km));
    if let Some(mag) = q.mag {
        m.insert(attr::MAG.into(), n(mag));
    }
    put_opt_s(&mut m, attr::MAGTYPE, &q.magtype);
    put_opt_s(&mut m, attr::REGION, &q.region);
    put_opt_s(&mut m, attr::AGENCY, &q.agency);
    put_opt_s(&mut m, attr::EVTYPE, &q.evtype);
    m.insert(attr::SOURCE.into(), s(q.source.as_str()));
    m.insert(attr::ACTION.into(), s(state.action.as_str()));
    m.insert(attr::RECEIVED_AT.into(), s(fmt_time(&state.received_at)));
    m.insert(attr::FIRST_SEEN.into(), s(fmt_time(&state.stored.first_seen)));
    m.insert(
        attr::REVISION_COUNT.into(),
        AttributeValue::N(state.stored.revision_count.to_string()),
    );
    let revs = state.stored.revisions.iter().map(encode_revision).collect();
    m.insert(attr::REVISIONS.into(), AttributeValue::L(revs));
    if let Some(e) = expires_at {
        m.insert(attr::EXPIRES_AT.into(), AttributeValue::N(e.to_string()));
    }
    m
}

fn encode_revision(r: &Revision) -> AttributeValue {
    let mut m = Item::with_capacity(9);
    m.insert(attr::LASTUPDATE.into(), s(fmt_time(&r.lastupdate)));
    m.insert(attr::RECEIVED_AT.into(), s(fmt_time(&r.received_at)));
    m.insert(attr::LAT.into(), n(r.lat));
    m.insert(attr::LON.into(), n(r.lon));
    m.insert(attr::DEPTH_KM.into(), n(r.depth_km));
    if let Some(mag) = r.mag {
        m.insert(attr::MAG.into(), n(mag));
    }
    put_opt_s(&mut m, attr::MAGTYPE, &r.magtype);
    put_opt_s(&mut m, attr::REGION, &r.region);
    put_opt_s(&mut m, attr::AGENCY, &r.agency);
    AttributeValue::M(m)
}

struct Reader<'a> {
    unid: &'a str,
    m: &'a Item,
}

impl<'a> Reader<'a> {
    fn bad(&self, detail: String) -> StoreError {
        StoreError::Malformed {
            unid: self.unid.to_owned(),
            detail,
        }
    }
    fn opt_s(&self, k: &str) -> Result<Option<String>, StoreError> {
        match self.m.get(k) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::S(v)) => Ok(Some(v.clone())),
            Some(_) => Err(self.bad(format!("`{k}` is not a string"))),
        }
    }
    fn req_s(&self, k: &str) -> Result<String, StoreError> {
        self.opt_s(k)?.ok_or_else(|| self.bad(format!("`{k}` is missing")))
    }
    fn opt_n(&self, k: &str) -> Result<Option<f64>, StoreError> {
        match self.m.get(k) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::N(v)) => v
                .parse::<f64>()
                .map(Some)
                .map_err(|_| self.bad(format!("`{k}` is not a number: {v:?}"))),
            Some(_) => Err(self.bad(format!("`{k}` is not a number"))),
        }
    }
    fn req_n(&self, k: &str) -> Result<f64, StoreError> {
        self.opt_n(k)?.ok_or_else(|| self.bad(format!("`{k}` is missing")))
    }
    fn time(&self, k: &'static str) -> Result<DateTime<Utc>, StoreError> {
        let v = self.req_s(k)?;
        parse_time(k, &v).map_err(|e| self.bad(e.to_string()))
    }
}

fn source_of(s: &str) -> Option<Source> {
    match s {
        "emsc" => Some(Source::Emsc),
        "usgs" => Some(Source::Usgs),
        _ => None,
    }
}

fn action_of(s: &str) -> Option<Action> {
    match s {
        "create" => Some(Action::Create),
        "update" => Some(Action::Update),
        "snapshot" => Some(Action::Snapshot),
        _ => None,
    }
}

/// The current values of an item (works on full items and on `by_day` projections).
pub(crate) fn decode_quake(m: &Item) -> Result<Quake, StoreError> {
    let unid = match m.get(attr::UNID) {
        Some(AttributeValue::S(u)) => u.as_str(),
        _ => {
            return Err(StoreError::Malformed {
                unid: String::new(),
                detail: "`unid` is missing".into(),
            });
        }
    };
    let r = Reader { unid, m };
    let source = r.req_s(attr::SOURCE)?;
    Ok(Quake {
        unid: unid.to_owned(),
        time: r.time(attr::TIME)?,
        lastupdate: r.time(attr::LASTUPDATE)?,
        lat: r.req_n(attr::LAT)?,
        lon: r.req_n(attr::LON)?,
        depth_km: r.req_n(attr::DEPTH_KM)?,
        mag: r.opt_n(attr::MAG)?,
        magtype: r.opt_s(attr::MAGTYPE)?,
        region: r.opt_s(attr::REGION)?,
        agency: r.opt_s(attr::AGENCY)?,
        evtype: r.opt_s(attr::EVTYPE)?,
        source: source_of(&source).ok_or_else(|| r.bad(format!("unknown source {source:?}")))?,
    })
}

pub(crate) fn decode(m: &Item) -> Result<ItemState, StoreError> {
    let quake = decode_quake(m)?;
    let r = Reader { unid: &quake.unid, m };
    let action = r.req_s(attr::ACTION)?;
    let action = action_of(&action).ok_or_else(|| r.bad(format!("unknown action {action:?}")))?;
    let count = r.req_n(attr::REVISION_COUNT)?;
    let revisions = match m.get(attr::REVISIONS) {
        Some(AttributeValue::L(l)) => l
            .iter()
            .map(|v| match v {
                AttributeValue::M(rm) => {
                    let rr = Reader {
                        unid: &quake.unid,
                        m: rm,
                    };
                    Ok(Revision {
                        lastupdate: rr.time(attr::LASTUPDATE)?,
                        received_at: rr.time(attr::RECEIVED_AT)?,
                        lat: rr.req_n(attr::LAT)?,
                        lon: rr.req_n(attr::LON)?,
                        depth_km: rr.req_n(attr::DEPTH_KM)?,
                        mag: rr.opt_n(attr::MAG)?,
                        magtype: rr.opt_s(attr::MAGTYPE)?,
                        region: rr.opt_s(attr::REGION)?,
                        agency: rr.opt_s(attr::AGENCY)?,
                    })
                }
                _ => Err(r.bad("a revision is not a map".into())),
            })
            .collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
        Some(_) => return Err(r.bad("`revisions` is not a list".into())),
    };
    Ok(ItemState {
        received_at: r.time(attr::RECEIVED_AT)?,
        action,
        stored: StoredQuake {
            first_seen: r.time(attr::FIRST_SEEN)?,
            revision_count: count as u32,
            revisions,
            quake,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn rec(lu_min: u32, mag: f64) -> WireRecord {
        let t = Utc.with_ymd_and_hms(2025, 10, 29, 0, 0, 0).unwrap();
        let q = Quake {
            unid: "20251029_0000403".into(),
            time: t,
            lastupdate: t + chrono::Duration::minutes(lu_min.into()),
            lat: 64.1,
            lon: -17.429,
            depth_km: 1.1,
            mag: Some(mag),
            magtype: Some("ml".into()),
            region: Some("ICELAND".into()),
            agency: Some("EMSC".into()),
            evtype: Some("ke".into()),
            source: Source::Emsc,
        };
        WireRecord::new(
            Action::Update,
            q,
            t + chrono::Duration::minutes(lu_min.into()) + chrono::Duration::seconds(3),
        )
    }

    fn apply(state: &ItemState, r: &WireRecord, cap: usize) -> ItemState {
        match merge(state, r, cap) {
            Merge::Write { state, .. } => state,
            Merge::Unchanged => state.clone(),
        }
    }

    #[test]
    fn round_trips_through_attribute_values() {
        let mut st = ItemState::first(&rec(1, 3.4));
        st = apply(&st, &rec(5, 4.8), MAX_REVISIONS);
        let item = encode(&st, Some(1_900_000_000));
        assert_eq!(decode(&item).unwrap(), st);
        assert_eq!(item[attr::DAY], AttributeValue::S("2025-10-29".into()));
    }

    #[test]
    fn newest_wins_in_any_order_and_history_holds_each() {
        let recs: Vec<_> = [(1, 3.4), (5, 4.8), (9, 5.0), (12, 5.1), (20, 5.4)]
            .iter()
            .map(|&(m, g)| rec(m, g))
            .collect();
        let orders = [[0, 1, 2, 3, 4], [4, 3, 2, 1, 0], [2, 0, 4, 1, 3], [4, 0, 0, 3, 1]];
        for order in orders {
            let mut st = ItemState::first(&recs[order[0]]);
            for &i in &order[1..] {
                st = apply(&st, &recs[i], MAX_REVISIONS);
            }
            // The repeated order also feeds the rest, so every order ends with all five.
            for r in &recs {
                st = apply(&st, r, MAX_REVISIONS);
            }
            assert_eq!(st.stored.quake.mag, Some(5.4), "{order:?}");
            assert_eq!(st.stored.revision_count, 5);
            let mags: Vec<_> = st.stored.revisions.iter().map(|r| r.mag.unwrap()).collect();
            assert_eq!(mags, [3.4, 4.8, 5.0, 5.1, 5.4]);
        }
    }

    #[test]
    fn duplicates_are_unchanged_and_older_ones_are_not_current() {
        let st = ItemState::first(&rec(5, 4.8));
        assert_eq!(merge(&st, &rec(5, 4.8), MAX_REVISIONS), Merge::Unchanged);
        match merge(&st, &rec(1, 3.4), MAX_REVISIONS) {
            Merge::Write { state, current } => {
                assert!(!current);
                assert_eq!(state.stored.quake.mag, Some(4.8));
                assert_eq!(state.stored.revisions.len(), 2);
            }
            Merge::Unchanged => panic!("an older revision belongs in the history"),
        }
    }

    #[test]
    fn history_is_capped_keeping_the_first_and_the_newest() {
        let mut st = ItemState::first(&rec(0, 1.0));
        for i in 1..20 {
            st = apply(&st, &rec(i, 1.0 + f64::from(i) / 10.0), 5);
        }
        let lus: Vec<u32> = st
            .stored
            .revisions
            .iter()
            .map(|r| (r.lastupdate - st.stored.quake.time).num_minutes() as u32)
            .collect();
        assert_eq!(lus, [0, 16, 17, 18, 19]);
        assert_eq!(st.stored.revision_count, 20);
        // An old revision that was trimmed does not count again.
        assert_eq!(merge(&st, &rec(3, 9.0), 5), Merge::Unchanged);
    }
}
