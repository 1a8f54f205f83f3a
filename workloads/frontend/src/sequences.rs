//! Aftershock sequences for the page and the API: a tail of the compacted `quake-sequences`
//! topic (written by `quakestream analytics`), kept in memory, served as `GET /api/sequences`
//! and `GET /api/sequences/{id}`, and pushed to the browsers as SSE `sequence` events when a
//! sequence starts, grows, changes state (open/closed, kind) or ends.
//!
//! The tail reads the topic from its beginning (it is compacted: one record per sequence),
//! read-committed, without a consumer group, so every replica holds every sequence. Until it has
//! read to the end once, nothing is pushed (those are not news). A frontend without the
//! analytics (no topic) serves empty lists; readiness does not depend on it.

use crate::State;
use crate::api::ApiError;
use crate::params::Params;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State as AxState};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Duration, Utc};
use parking_lot::RwLock;
use quakestream_core::model::{MAG_RANGE, Quake, fmt_time};
use quakestream_seismo::SequenceRecord;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{broadcast, watch};

/// The parameters `/api/sequences` takes.
pub const LIST_PARAMS: &[&str] = &["since", "until", "region", "minmag", "minmembers", "event", "limit"];
/// The window when neither `since` nor `until` is given: sequences active in the last 30 days.
pub const DEFAULT_SPAN: Duration = Duration::days(30);
pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 500;
/// `minmembers` range (a sequence has at least 2 events; the record lists at most 10,000).
pub const MEMBERS_RANGE: (f64, f64) = (2.0, 1e9);
/// `region` and `event` lengths at most.
pub const MAX_TEXT_PARAM: usize = 128;
/// Longest sequence id accepted in a path (`seq-` and a unid).
pub const MAX_ID_LEN: usize = 4 + quakestream_core::model::MAX_UNID_LEN;
/// Archive pages read at most for the members of one sequence beyond the in-memory window.
pub const MAX_ARCHIVE_PAGES: u32 = 20;
const ARCHIVE_PAGE: usize = 1000;
/// Capacity of the sequence-event channel (a client this far behind misses some; the page
/// reloads the list on every (re)connection anyway).
const CHANNEL: usize = 256;

/// One sequence as held: its record and the two renderings every response shares.
struct Held {
    rec: SequenceRecord,
    /// The record without its member list and distribution (for lists and pushes).
    summary: Arc<Value>,
}

#[derive(Default)]
struct Book {
    by_id: HashMap<String, Arc<Held>>,
    /// Member unid -> sequence id.
    of_event: HashMap<String, String>,
}

/// The sequences a replica holds, and the channel their changes are pushed on.
pub struct Sequences {
    book: RwLock<Book>,
    tx: broadcast::Sender<Arc<str>>,
    live: AtomicBool,
}

impl Default for Sequences {
    fn default() -> Self {
        Sequences {
            book: RwLock::new(Book::default()),
            tx: broadcast::channel(CHANNEL).0,
            live: AtomicBool::new(false),
        }
    }
}

/// What a record did to a sequence, as pushed (`change` of the SSE `sequence` event).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Start,
    Grow,
    State,
    End,
}

fn summary(rec: &SequenceRecord) -> Value {
    let mut v = serde_json::to_value(rec).expect("a record serialises");
    if let Some(o) = v.as_object_mut() {
        o.remove("member_unids");
        o.remove("member_unids_truncated");
        if let Some(s) = o.get_mut("stats").and_then(Value::as_object_mut) {
            s.remove("fmd");
        }
    }
    v
}

impl Sequences {
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<str>> {
        self.tx.subscribe()
    }

    pub fn len(&self) -> usize {
        self.book.read().by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Applies one record of the topic (`None`: a tombstone); returns what changed, if news.
    pub fn apply(&self, id: &str, value: Option<&[u8]>) -> Result<Option<Change>, serde_json::Error> {
        let new = value.map(serde_json::from_slice::<SequenceRecord>).transpose()?;
        let mut book = self.book.write();
        let old = match &new {
            Some(rec) => {
                let held = Arc::new(Held {
                    summary: Arc::new(summary(rec)),
                    rec: rec.clone(),
                });
                book.by_id.insert(id.to_owned(), held)
            }
            None => book.by_id.remove(id),
        };
        if let Some(o) = &old {
            for u in o.rec.member_unids.iter().chain([&o.rec.mainshock.unid]) {
                if book.of_event.get(u).is_some_and(|s| s == id) {
                    book.of_event.remove(u);
                }
            }
        }
        if let Some(n) = &new {
            for u in n.member_unids.iter().chain([&n.mainshock.unid]) {
                book.of_event.insert(u.clone(), id.to_owned());
            }
        }
        let change = match (&old, &new) {
            (None, Some(_)) => Some(Change::Start),
            (Some(_), None) => Some(Change::End),
            (Some(o), Some(n)) if n.members > o.rec.members => Some(Change::Grow),
            (Some(o), Some(n)) if n.state != o.rec.state || n.kind != o.rec.kind => Some(Change::State),
            _ => None,
        };
        let summary = match (&new, &old) {
            (Some(_), _) => book.by_id.get(id).map(|h| h.summary.clone()),
            (None, Some(o)) => Some(o.summary.clone()),
            _ => None,
        };
        drop(book);
        if let (Some(c), Some(s), true) = (change, summary, self.live.load(Ordering::Relaxed)) {
            let data = json!({"change": c, "id": id, "sequence": &*s}).to_string();
            let _ = self.tx.send(data.into());
        }
        Ok(change)
    }

    /// The id and name of the sequence an event belongs to.
    pub fn of_event(&self, unid: &str) -> Option<(String, String)> {
        let book = self.book.read();
        let id = book.of_event.get(unid)?;
        Some((id.clone(), book.by_id.get(id)?.rec.name.clone()))
    }

    fn get(&self, id: &str) -> Option<Arc<Held>> {
        self.book.read().by_id.get(id).cloned()
    }

    fn list(&self, q: &ListQuery) -> (Vec<Arc<Value>>, usize) {
        let book = self.book.read();
        let mut hits: Vec<&Arc<Held>> = match &q.event {
            Some(u) => book
                .of_event
                .get(u)
                .and_then(|id| book.by_id.get(id))
                .into_iter()
                .collect(),
            None => book.by_id.values().collect(),
        };
        hits.retain(|h| q.matches(&h.rec));
        // Latest activity first.
        hits.sort_by(|a, b| (b.rec.last_time, &a.rec.id).cmp(&(a.rec.last_time, &b.rec.id)));
        let total = hits.len();
        (
            hits.into_iter().take(q.limit).map(|h| h.summary.clone()).collect(),
            total,
        )
    }
}

/// A parsed `/api/sequences` request.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub region: Option<String>,
    pub minmag: Option<f64>,
    pub minmembers: Option<usize>,
    pub event: Option<String>,
    pub limit: usize,
}

fn text(p: &Params, name: &'static str) -> Result<Option<String>, ApiError> {
    match p.get(name) {
        None => Ok(None),
        Some(s) if s.chars().count() > MAX_TEXT_PARAM || s.chars().any(char::is_control) => Err(ApiError::param(
            name,
            format!("{name} must be at most {MAX_TEXT_PARAM} characters, without control characters"),
        )),
        Some(s) => Ok(Some(s.to_owned())),
    }
}

impl ListQuery {
    pub fn parse(p: &Params, now: DateTime<Utc>) -> Result<ListQuery, ApiError> {
        let event = text(p, "event")?;
        let since = p.time("since")?;
        let until = p.time("until")?;
        let until_v = until.unwrap_or(now + crate::index::FUTURE_SLACK);
        // With `event`, the sequence of that event whenever it was.
        let since_v = since.unwrap_or(if event.is_some() {
            DateTime::<Utc>::MIN_UTC
        } else {
            until_v - DEFAULT_SPAN
        });
        if since_v > until_v {
            return Err(ApiError::param("since", "since is after until"));
        }
        let limit = match p.get("limit") {
            None => DEFAULT_LIMIT,
            Some(s) => s
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| ApiError::param("limit", format!("limit must be an integer in 1..={MAX_LIMIT}")))?,
        };
        let minmembers = match p.get("minmembers") {
            None => None,
            Some(s) => Some(
                s.parse::<usize>()
                    .ok()
                    .filter(|n| (MEMBERS_RANGE.0..=MEMBERS_RANGE.1).contains(&(*n as f64)))
                    .ok_or_else(|| ApiError::param("minmembers", "minmembers must be an integer of at least 2"))?,
            ),
        };
        Ok(ListQuery {
            since: since_v,
            until: until_v,
            region: text(p, "region")?.map(|r| r.to_uppercase()),
            minmag: p.number("minmag", MAG_RANGE)?,
            minmembers,
            event,
            limit,
        })
    }

    /// Active in the window (some member in it, or open then), in the region, big enough.
    fn matches(&self, r: &SequenceRecord) -> bool {
        let active_until = r.last_time.max(r.window.open_until.min(r.as_of));
        active_until >= self.since
            && r.first_time <= self.until
            && self.region.as_ref().is_none_or(|reg| {
                r.name.to_uppercase().contains(reg)
                    || r.mainshock
                        .region
                        .as_ref()
                        .is_some_and(|m| m.to_uppercase().contains(reg))
            })
            && self.minmag.is_none_or(|m| r.mainshock.mag >= m)
            && self.minmembers.is_none_or(|m| r.members >= m)
    }
}

pub fn router() -> axum::Router<State> {
    axum::Router::new()
        .route("/api/sequences", get(list))
        .route("/api/sequences/{id}", get(detail))
}

fn json_response(v: &Value) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        v.to_string(),
    )
        .into_response()
}

async fn list(AxState(state): AxState<State>, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let q = ListQuery::parse(&Params::parse(raw.as_deref(), LIST_PARAMS)?, Utc::now())?;
    let (items, total) = state.sequences.list(&q);
    let items: Vec<&Value> = items.iter().map(|v| &**v).collect();
    Ok(json_response(&json!({
        "metadata": {
            "count": items.len(),
            "matched": total,
            "truncated": total > items.len(),
            "since": (q.since > DateTime::<Utc>::MIN_UTC).then(|| fmt_time(&q.since)),
            "until": fmt_time(&q.until),
            "limit": q.limit,
            "live": state.sequences.live.load(Ordering::Relaxed),
        },
        "sequences": items,
    })))
}

/// A member as the detail lists it (what the page's plots need).
#[derive(Debug, Serialize)]
struct Member<'a> {
    unid: &'a str,
    #[serde(with = "quakestream_core::model::utc_micros")]
    time: DateTime<Utc>,
    mag: Option<f64>,
    magtype: Option<&'a str>,
    lat: f64,
    lon: f64,
    depth_km: f64,
}

fn member(q: &Quake) -> Member<'_> {
    Member {
        unid: &q.unid,
        time: q.time,
        mag: q.mag,
        magtype: q.magtype.as_deref(),
        lat: q.lat,
        lon: q.lon,
        depth_km: q.depth_km,
    }
}

async fn detail(AxState(state): AxState<State>, id: Result<Path<String>, PathRejection>) -> Result<Response, ApiError> {
    let Path(id) = id.map_err(|_| ApiError::param("id", "the sequence id is not valid UTF-8 text"))?;
    let held = (id.len() <= MAX_ID_LEN)
        .then(|| state.sequences.get(&id))
        .flatten()
        .ok_or_else(|| ApiError::not_found(format!("no sequence {:?}", id.chars().take(64).collect::<String>())))?;
    let rec = &held.rec;
    let (quakes, missing) = members(&state, rec).await;
    let mut quakes: Vec<&Quake> = quakes.iter().collect();
    quakes.sort_by(|a, b| (a.time, &a.unid).cmp(&(b.time, &b.unid)));
    let list: Vec<Member<'_>> = quakes.into_iter().map(member).collect();
    Ok(json_response(&json!({
        "sequence": rec,
        "members": list,
        "members_missing": missing,
    })))
}

/// The member events: from memory, then (for those older than the window) from the archive,
/// one bounded window query over the sequence's time span. Returns them and how many are missing.
async fn members(state: &State, rec: &SequenceRecord) -> (Vec<Quake>, usize) {
    let want: HashSet<&str> = rec
        .member_unids
        .iter()
        .map(String::as_str)
        .chain([rec.mainshock.unid.as_str()])
        .collect();
    let mut found: HashMap<String, Quake> = HashMap::new();
    for u in &want {
        if let Some(h) = state.index.get(u) {
            found.insert((*u).to_owned(), h.current.quake.clone());
        }
    }
    if let Some(store) = &state.store
        && found.len() < want.len()
    {
        let filter = crate::index::Filter::default();
        let (mut cursor, mut calls, mut pages) = (None, 0u32, 0u32);
        while pages < MAX_ARCHIVE_PAGES {
            pages += 1;
            let page = store
                .query_window(
                    rec.first_time,
                    rec.last_time,
                    &filter,
                    ARCHIVE_PAGE,
                    cursor.as_ref(),
                    &mut calls,
                )
                .await;
            let Ok(page) = page else {
                crate::api::count_store_calls(state, "sequence", calls, true);
                calls = 0;
                break;
            };
            for q in page.quakes {
                if want.contains(q.unid.as_str()) && !found.contains_key(&q.unid) {
                    found.insert(q.unid.clone(), q);
                }
            }
            match page.next {
                Some(c) if found.len() < want.len() => cursor = Some(c),
                _ => break,
            }
        }
        if calls > 0 {
            crate::api::count_store_calls(state, "sequence", calls, false);
        }
    }
    let missing = rec.members.saturating_sub(found.len());
    (found.into_values().collect(), missing)
}

/// Tails `topic` into `state.sequences` until `shutdown`.
pub async fn tail(
    state: State,
    bootstrap: String,
    security: quakestream_core::kafka_security::KafkaSecurity,
    topic: String,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut cfg = crate::tail::consumer_config(&bootstrap);
    cfg.set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true")
        .set("client.id", "quakestream-frontend-sequences");
    let consumer: StreamConsumer = match security.apply(&mut cfg).create() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot create the sequences consumer; no sequences");
            return;
        }
    };
    let consumer = Arc::new(consumer);
    let mut backoff = std::time::Duration::from_millis(500);
    let partitions: Vec<i32> = loop {
        if let Ok(ps) = crate::tail::partitions_of(&consumer, &topic).await
            && !ps.is_empty()
        {
            break ps;
        }
        tracing::debug!(%topic, "no sequences topic yet; waiting");
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        backoff = (backoff * 2).min(std::time::Duration::from_secs(30));
    };
    let mut tpl = TopicPartitionList::new();
    for p in &partitions {
        let _ = tpl.add_partition_offset(&topic, *p, Offset::Beginning);
    }
    if let Err(e) = consumer.assign(&tpl) {
        tracing::error!(error = %e, "cannot assign the sequences topic; no sequences");
        return;
    }
    tracing::info!(%topic, partitions = partitions.len(), "tailing sequences");
    let mut at_end: HashSet<i32> = HashSet::new();
    loop {
        let msg = tokio::select! {
            m = consumer.recv() => m,
            _ = shutdown.wait_for(|s| *s) => return,
        };
        match msg {
            Ok(m) => {
                let Some(id) = m.key().and_then(|k| std::str::from_utf8(k).ok()) else {
                    continue;
                };
                if let Err(e) = state.sequences.apply(id, m.payload()) {
                    tracing::warn!(id, offset = m.offset(), error = %e, "undecodable sequence record skipped");
                }
            }
            Err(KafkaError::PartitionEOF(p)) => {
                if at_end.insert(p) && at_end.len() == partitions.len() {
                    state.sequences.live.store(true, Ordering::Relaxed);
                    tracing::info!(sequences = state.sequences.len(), "sequences caught up");
                }
            }
            Err(e) => tracing::warn!(error = %e, "sequences consume error"),
        }
    }
}
