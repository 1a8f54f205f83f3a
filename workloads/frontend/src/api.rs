//! `/api/quakes`, `/api/quakes/{unid}`, `/api/stream`, `/api/openapi.json`.

use crate::State;
use crate::geo::{self, Bbox};
use crate::hub::{Resume, wants};
use crate::index::{Cursor, Filter, RevisionView};
use axum::extract::{Path, Query, State as AxState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use futures::stream::{self, Stream};
use quakestream_core::model::{Quake, Source, fmt_time, validate_unid};
use serde_json::json;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

pub const DEFAULT_LIMIT: usize = 1000;
pub const MAX_LIMIT: usize = 20_000;
const DEFAULT_SPAN: Duration = Duration::hours(24);

/// A 4xx answer: `{"error": code, "parameter": name, "message": text}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub parameter: Option<&'static str>,
    pub message: String,
}

impl ApiError {
    pub fn param(parameter: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_parameter",
            parameter: Some(parameter),
            message: message.into(),
        }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            parameter: None,
            message: message.into(),
        }
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "unavailable",
            parameter: None,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.code, "parameter": self.parameter, "message": self.message});
        (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response()
    }
}

type Params = Query<HashMap<String, String>>;

fn num(p: &HashMap<String, String>, name: &'static str) -> Result<Option<f64>, ApiError> {
    match p.get(name).map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .map(Some)
            .ok_or_else(|| ApiError::param(name, format!("{s:?} is not a number"))),
    }
}

fn time(p: &HashMap<String, String>, name: &'static str) -> Result<Option<DateTime<Utc>>, ApiError> {
    match p.get(name).map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => DateTime::parse_from_rfc3339(s)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|e| ApiError::param(name, format!("{s:?} is not an RFC 3339 time ({e})"))),
    }
}

/// The magnitude, depth and bbox filters shared by `/api/quakes` and `/api/stream`.
pub fn parse_filter(p: &HashMap<String, String>) -> Result<Filter, ApiError> {
    let f = Filter {
        minmag: num(p, "minmag")?,
        maxmag: num(p, "maxmag")?,
        mindepth: num(p, "mindepth")?,
        maxdepth: num(p, "maxdepth")?,
        bbox: match p.get("bbox").map(|s| s.trim()).filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => Some(Bbox::parse(s).map_err(|e| ApiError::param("bbox", e))?),
        },
    };
    if let (Some(a), Some(b)) = (f.minmag, f.maxmag)
        && a > b
    {
        return Err(ApiError::param(
            "minmag",
            format!("minmag {a} is greater than maxmag {b}"),
        ));
    }
    if let (Some(a), Some(b)) = (f.mindepth, f.maxdepth)
        && a > b
    {
        return Err(ApiError::param(
            "mindepth",
            format!("mindepth {a} is greater than maxdepth {b}"),
        ));
    }
    Ok(f)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    GeoJson,
    Csv,
}

struct ListQuery {
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    relative: bool,
    filter: Filter,
    limit: usize,
    format: Format,
    token: Option<String>,
}

fn parse_list(p: &HashMap<String, String>, now: DateTime<Utc>) -> Result<ListQuery, ApiError> {
    let since = time(p, "since")?;
    let until = time(p, "until")?;
    let relative = since.is_none() && until.is_none();
    let until_v = until.unwrap_or(now);
    let since_v = since.unwrap_or(until_v - DEFAULT_SPAN);
    if since_v > until_v {
        return Err(ApiError::param("since", "since is after until"));
    }
    let limit = match p.get("limit").map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => DEFAULT_LIMIT,
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| ApiError::param("limit", format!("{s:?} is not an integer from 1 to {MAX_LIMIT}")))?,
    };
    let format = match p.get("format").map(|s| s.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("geojson") => Format::GeoJson,
        Some("csv") => Format::Csv,
        Some(other) => {
            return Err(ApiError::param(
                "format",
                format!("{other:?} is not one of geojson, csv"),
            ));
        }
    };
    let token = p
        .get("page_token")
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    Ok(ListQuery {
        since: since_v,
        until: until_v,
        relative,
        filter: parse_filter(p)?,
        limit,
        format,
        token,
    })
}

/// A cached list response, valid while the index version is unchanged (and, for windows relative
/// to now, for one second). The gzipped body is made once, by the first client that accepts gzip,
/// and shared by every clone of the entry, so gzip clients are served from memory too.
#[derive(Clone)]
pub struct Cached {
    version: u64,
    built: Instant,
    body: Bytes,
    gzip: Arc<OnceLock<Bytes>>,
    etag: HeaderValue,
    next: Option<String>,
    format: Format,
}

impl Cached {
    fn gzipped(&self) -> &Bytes {
        self.gzip.get_or_init(|| {
            use std::io::Write as _;
            // Level 6 (zlib's default): about 12x smaller GeoJSON for a few ms, paid once per version.
            let mut enc = flate2::write::GzEncoder::new(
                Vec::with_capacity(self.body.len() / 8 + 64),
                flate2::Compression::default(),
            );
            enc.write_all(&self.body).expect("writing to a Vec cannot fail");
            Bytes::from(enc.finish().expect("writing to a Vec cannot fail"))
        })
    }
}

/// Whether the client accepts gzip (`gzip`, `x-gzip` or `*`, with a q-value above 0).
fn accepts_gzip(req: &HeaderMap) -> bool {
    req.get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q=").or_else(|| p.trim().strip_prefix("Q=")))
                .find_map(|v| v.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            q > 0.0 && (coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") || coding == "*")
        })
}

pub type ResponseCache = parking_lot::Mutex<HashMap<String, Cached>>;
const CACHE_ENTRIES: usize = 512;

pub async fn list(AxState(state): AxState<State>, Query(p): Params, headers: HeaderMap) -> Result<Response, ApiError> {
    let now = Utc::now();
    let q = parse_list(&p, now)?;
    // The in-memory window answers unless the query reaches before it and a store exists.
    let window_start = state.index.window_start(now) + Duration::seconds(5);
    let from_store =
        state.store.is_some() && (q.since < window_start || q.token.as_deref().is_some_and(|t| t.starts_with("s.")));
    let cached = if from_store {
        None
    } else {
        memory_list(&state, &p, &q, now)?.into()
    };
    let c = match cached {
        Some(c) => c,
        None => store_list(&state, &q).await?,
    };
    Ok(respond(c, &headers))
}

fn cache_key(p: &HashMap<String, String>) -> String {
    let mut kv: Vec<_> = p.iter().filter(|(k, _)| !k.starts_with('_')).collect();
    kv.sort();
    let mut s = String::new();
    for (k, v) in kv {
        s.push_str(k);
        s.push('=');
        s.push_str(v);
        s.push('&');
    }
    s
}

fn memory_list(
    state: &State,
    p: &HashMap<String, String>,
    q: &ListQuery,
    now: DateTime<Utc>,
) -> Result<Cached, ApiError> {
    let key = cache_key(p);
    let version = state.index.version();
    if let Some(c) = state.cache.lock().get(&key)
        && c.version == version
        && (!q.relative || c.built.elapsed() < std::time::Duration::from_secs(1))
    {
        return Ok(c.clone());
    }
    let after = match &q.token {
        None => None,
        Some(t) => {
            Some(parse_memory_token(t).ok_or_else(|| ApiError::param("page_token", "not a token from this API"))?)
        }
    };
    let (items, next) = state.index.query(q.since, q.until, &q.filter, q.limit, after.as_ref());
    let next = next.map(|c| format!("m.{}.{}", c.time.timestamp_micros(), c.unid));
    let body = match q.format {
        Format::GeoJson => {
            let mut s = String::with_capacity(256 + items.iter().map(|c| c.json.len() + 1).sum::<usize>());
            s.push_str(&meta_prefix(q, items.len(), next.as_deref(), "memory"));
            for (i, c) in items.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                s.push_str(&c.json);
            }
            s.push_str("]}");
            s
        }
        Format::Csv => {
            let mut s = String::from(geo::CSV_HEADER);
            for c in &items {
                geo::csv_row(&c.quake, &mut s);
            }
            s
        }
    };
    let _ = now;
    let c = finish(body, next, q.format, version);
    let mut cache = state.cache.lock();
    if cache.len() >= CACHE_ENTRIES {
        cache.clear();
    }
    cache.insert(key, c.clone());
    Ok(c)
}

fn meta_prefix(q: &ListQuery, count: usize, next: Option<&str>, source: &str) -> String {
    let meta = json!({
        "count": count,
        "since": fmt_time(&q.since),
        "until": fmt_time(&q.until),
        "limit": q.limit,
        "source": source,
        "next_page_token": next,
        "attribution": "EMSC-CSEM / SeismicPortal (CC BY 4.0); U.S. Geological Survey (public domain)",
    });
    format!("{{\"type\":\"FeatureCollection\",\"metadata\":{meta},\"features\":[")
}

fn parse_memory_token(t: &str) -> Option<Cursor> {
    let rest = t.strip_prefix("m.")?;
    let (micros, unid) = rest.split_once('.')?;
    let time = DateTime::from_timestamp_micros(micros.parse().ok()?)?;
    validate_unid(unid).ok()?;
    Some(Cursor {
        time,
        unid: unid.to_owned(),
    })
}

async fn store_list(state: &State, q: &ListQuery) -> Result<Cached, ApiError> {
    let store = state
        .store
        .as_ref()
        .ok_or_else(|| ApiError::unavailable("no store configured"))?;
    let token = match &q.token {
        None => None,
        Some(t) => Some(
            t.strip_prefix("s.")
                .ok_or_else(|| ApiError::param("page_token", "not a token for this window"))?
                .to_owned(),
        ),
    };
    let (quakes, next) = store
        .query_window(q.since, q.until, &q.filter, q.limit, token)
        .await
        .map_err(|e| {
            state
                .metrics
                .store_queries
                .with_label_values(&["window", "error"])
                .inc();
            tracing::warn!(error = %e, "store window query failed");
            ApiError::unavailable("the archive is unavailable; try again")
        })?;
    state.metrics.store_queries.with_label_values(&["window", "ok"]).inc();
    let quakes: Vec<Quake> = quakes.into_iter().filter(|qk| q.filter.matches(qk)).collect();
    let next = next.map(|t| format!("s.{t}"));
    let body = match q.format {
        Format::GeoJson => {
            let mut s = meta_prefix(q, quakes.len(), next.as_deref(), "store");
            for (i, qk) in quakes.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                s.push_str(&geo::feature_json(qk));
            }
            s.push_str("]}");
            s
        }
        Format::Csv => {
            let mut s = String::from(geo::CSV_HEADER);
            for qk in &quakes {
                geo::csv_row(qk, &mut s);
            }
            s
        }
    };
    Ok(finish(body, next, q.format, 0))
}

fn finish(body: String, next: Option<String>, format: Format, version: u64) -> Cached {
    let etag = HeaderValue::from_str(&format!("W/\"{:016x}\"", fnv1a(body.as_bytes()))).expect("hex is a valid header");
    Cached {
        version,
        built: Instant::now(),
        body: Bytes::from(body),
        gzip: Arc::default(),
        etag,
        next,
        format,
    }
}

fn respond(c: Cached, req: &HeaderMap) -> Response {
    let matches = req
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim() == "*" || t.trim() == c.etag.to_str().unwrap_or_default())
        });
    let ctype = match c.format {
        Format::GeoJson => "application/geo+json",
        Format::Csv => "text/csv; charset=utf-8",
    };
    let mut h = HeaderMap::new();
    h.insert(header::ETAG, c.etag.clone());
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if let Some(n) = &c.next
        && let Ok(v) = HeaderValue::from_str(n)
    {
        h.insert("x-next-page-token", v);
    }
    if matches {
        return (StatusCode::NOT_MODIFIED, h).into_response();
    }
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    // Bodies are served compressed from the cache; the compression layer leaves a response that
    // already has a Content-Encoding alone.
    if accepts_gzip(req) {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        return (StatusCode::OK, h, c.gzipped().clone()).into_response();
    }
    (StatusCode::OK, h, c.body).into_response()
}

/// FNV-1a, 64 bit: stable across processes, so replicas give the same ETag for the same body.
fn fnv1a(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

pub fn event_url(q: &Quake) -> String {
    match q.source {
        Source::Emsc => geo::emsc_url(&q.unid),
        Source::Usgs => format!("https://earthquake.usgs.gov/earthquakes/eventpage/{}", q.unid),
    }
}

pub async fn detail(AxState(state): AxState<State>, Path(unid): Path<String>) -> Result<Response, ApiError> {
    validate_unid(&unid).map_err(|e| ApiError::param("unid", e.to_string()))?;
    let mem = state.index.get(&unid);
    let stored = match &state.store {
        Some(store) => match store.get(&unid).await {
            Ok(s) => {
                state.metrics.store_queries.with_label_values(&["get", "ok"]).inc();
                s
            }
            Err(e) => {
                state.metrics.store_queries.with_label_values(&["get", "error"]).inc();
                tracing::warn!(unid = %unid, error = %e, "store get failed; answering from memory");
                None
            }
        },
        None => None,
    };
    // The newest of the two is current; revisions are the union, by lastupdate.
    let (quake, first_seen, mut revisions) = match (mem, stored) {
        (None, None) => return Err(ApiError::not_found(format!("no event {unid:?}"))),
        (Some((c, fs, revs)), None) => (c.quake.clone(), Some(fs), revs),
        (None, Some(s)) => (s.quake, s.first_seen, s.revisions),
        (Some((c, fs, mut revs)), Some(s)) => {
            let quake = if s.quake.lastupdate > c.quake.lastupdate {
                s.quake
            } else {
                c.quake.clone()
            };
            revs.extend(s.revisions);
            (quake, s.first_seen.or(Some(fs)), revs)
        }
    };
    revisions.sort_by_key(|r| r.lastupdate);
    revisions.dedup_by_key(|r| r.lastupdate);
    let mut f = geo::feature_value(&quake);
    let props = f["properties"].as_object_mut().expect("properties is an object");
    props.insert("url".into(), json!(event_url(&quake)));
    props.insert("first_seen".into(), json!(first_seen.map(|t| fmt_time(&t))));
    props.insert("revision_count".into(), json!(revisions.len()));
    f["revisions"] = json!(revisions);
    Ok((
        [
            (header::CONTENT_TYPE, "application/geo+json"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        f.to_string(),
    )
        .into_response())
}

/// Keeps the SSE client gauge honest however the stream ends.
struct ClientGuard(State);
impl Drop for ClientGuard {
    fn drop(&mut self) {
        self.0.metrics.sse_clients.dec();
    }
}

pub async fn stream(
    AxState(state): AxState<State>,
    Query(p): Params,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, std::convert::Infallible>>>, ApiError> {
    let filter = parse_filter(&p)?;
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| p.get("last_event_id").cloned());
    let (rx, resume) = state.hub.subscribe(last.as_deref());
    state.metrics.sse_clients.inc();
    let guard = ClientGuard(state.clone());
    let mut first: VecDeque<Event> = VecDeque::new();
    first.push_back(
        Event::default().event("hello").data(
            json!({
                "epoch": state.hub.event_id(0),
                "window_s": state.index.window().num_seconds(),
                "source": state.source_note.as_deref(),
            })
            .to_string(),
        ),
    );
    let mut last_seq = 0;
    match resume {
        Resume::Fresh => {}
        Resume::Reset => first.push_back(Event::default().event("reset").data("{}")),
        Resume::Replay(items) => {
            for it in items {
                last_seq = it.seq;
                if wants(&filter, &it) {
                    first.push_back(
                        Event::default()
                            .event("quake")
                            .id(state.hub.event_id(it.seq))
                            .data(&*it.data),
                    );
                }
            }
        }
    }
    struct St {
        first: VecDeque<Event>,
        rx: tokio::sync::broadcast::Receiver<Arc<crate::hub::Pushed>>,
        filter: Filter,
        last_seq: u64,
        state: State,
        _guard: ClientGuard,
        done: bool,
    }
    let st = St {
        first,
        rx,
        filter,
        last_seq,
        state: state.clone(),
        _guard: guard,
        done: false,
    };
    let s = stream::unfold(st, |mut st| async move {
        if st.done {
            return None;
        }
        if let Some(e) = st.first.pop_front() {
            return Some((Ok(e), st));
        }
        loop {
            let received = tokio::select! {
                r = st.rx.recv() => r,
                // The server is stopping: end the stream; the browser reconnects to another replica.
                _ = st.state.shutdown.wait_for(|s| *s) => return None,
            };
            match received {
                Ok(p) => {
                    if p.seq <= st.last_seq || !wants(&st.filter, &p) {
                        continue;
                    }
                    st.last_seq = p.seq;
                    let e = Event::default()
                        .event("quake")
                        .id(st.state.hub.event_id(p.seq))
                        .data(&*p.data);
                    return Some((Ok(e), st));
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    // Too slow: end this stream; the browser reconnects with Last-Event-ID and
                    // catches up from the ring without holding anyone else back.
                    st.state.metrics.sse_dropped.with_label_values(&["lagged"]).inc();
                    tracing::info!(missed = n, "dropping a slow SSE client");
                    st.done = true;
                    return Some((Ok(Event::default().event("lagged").data(n.to_string())), st));
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Ok(Sse::new(s).keep_alive(KeepAlive::new().interval(state.heartbeat).text("heartbeat")))
}

pub async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("openapi.json"),
    )
}

/// For the store's revision type to be shown like the index's.
pub fn revision_of(q: &Quake) -> RevisionView {
    RevisionView::of(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(kv: &[(&str, &str)]) -> HashMap<String, String> {
        kv.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect()
    }

    #[test]
    fn accept_encoding_is_parsed_with_q_values() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
            accepts_gzip(&m)
        };
        assert!(h("gzip"));
        assert!(h("br, gzip;q=0.5"));
        assert!(h("deflate, GZIP"));
        assert!(h("*"));
        assert!(!h("gzip;q=0"));
        assert!(!h("gzip; q=0.0, identity"));
        assert!(!h("br, deflate"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn the_gzipped_body_is_made_once_and_shared_by_clones() {
        let c = finish("{\"type\":\"FeatureCollection\"}".repeat(50), None, Format::GeoJson, 1);
        let clone = c.clone();
        let a = c.gzipped().clone();
        assert_eq!(clone.gzipped().as_ptr(), a.as_ptr(), "one compression per cache entry");
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&a[..]), &mut out).unwrap();
        assert_eq!(out, c.body);
    }

    #[test]
    fn errors_name_the_parameter() {
        let now = Utc::now();
        for (kv, param) in [
            (vec![("minmag", "big")], "minmag"),
            (vec![("minmag", "5"), ("maxmag", "3")], "minmag"),
            (vec![("since", "yesterday")], "since"),
            (
                vec![("since", "2025-01-02T00:00:00Z"), ("until", "2025-01-01T00:00:00Z")],
                "since",
            ),
            (vec![("limit", "0")], "limit"),
            (vec![("limit", "100000")], "limit"),
            (vec![("format", "xml")], "format"),
            (vec![("bbox", "1,2,3")], "bbox"),
            (vec![("maxdepth", "NaN")], "maxdepth"),
        ] {
            let e = parse_list(&m(&kv), now)
                .err()
                .unwrap_or_else(|| panic!("{kv:?} accepted"));
            assert_eq!(e.parameter, Some(param), "{kv:?}");
            assert_eq!(e.status, StatusCode::BAD_REQUEST);
        }
    }

    #[test]
    fn memory_tokens_round_trip() {
        let c = parse_memory_token("m.1714806408000000.us7000abcd").unwrap();
        assert_eq!(c.unid, "us7000abcd");
        assert!(parse_memory_token("s.xyz").is_none());
        assert!(parse_memory_token("m.notanumber.x").is_none());
    }
}
