//! `/api/quakes`, `/api/quakes/{unid}`, `/api/stream`, `/api/openapi.json`.

use crate::State;
use crate::archive::Archived;
use crate::cache::Cached;
use crate::geo;
use crate::hub::{Resume, wants};
use crate::index::{FUTURE_SLACK, Filter, Held, RevisionView, trim_revisions};
use crate::params::{Format, LIST_PARAMS, ListKey, ListQuery, Params, STREAM_PARAMS, token};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State as AxState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use futures::stream::{self, Stream};
use quakestream_core::model::{Quake, Source, fmt_time, validate_unid};
use serde_json::json;
use std::collections::VecDeque;
use std::sync::Arc;

/// A 4xx or 5xx answer: `{"error": code, "parameter": name, "message": text}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    /// A stable code: `invalid_parameter`, `bad_request`, `not_found`, `unavailable`, ...
    pub code: &'static str,
    pub parameter: Option<String>,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            parameter: None,
            message: message.into(),
        }
    }
    pub fn param(parameter: &'static str, message: impl Into<String>) -> Self {
        Self::param_named(parameter.to_owned(), message)
    }
    pub fn param_named(parameter: String, message: impl Into<String>) -> Self {
        ApiError {
            parameter: Some(parameter),
            ..Self::new(StatusCode::BAD_REQUEST, "invalid_parameter", message)
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    /// The JSON body (also written by `conn` for errors answered before routing).
    pub fn body(&self) -> String {
        json!({"error": self.code, "parameter": self.parameter, "message": self.message}).to_string()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, [(header::CONTENT_TYPE, "application/json")], self.body()).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        resp
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

pub async fn list(
    AxState(state): AxState<State>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let now = Utc::now();
    let q = ListQuery::parse(&Params::parse(raw.as_deref(), LIST_PARAMS)?, now)?;
    // Memory answers every window it covers (the configured one plus a slack); older windows,
    // and only those, go to the store.
    if state.store.is_some() && q.since < state.index.covers_from(now) {
        let c = store_list(&state, &q, now).await?;
        return Ok(respond(&state, None, c, &headers));
    }
    let key = q.key();
    let c = memory_list(&state, &key, &q);
    Ok(respond(&state, Some(&key), c, &headers))
}

fn memory_list(state: &State, key: &ListKey, q: &ListQuery) -> Cached {
    let version = state.index.version();
    if let Some(c) = state.cache.get(key, version, q.open_ended) {
        return c;
    }
    let (items, next) = state
        .index
        .query(q.since, q.until, &q.filter, q.limit, q.after.as_ref());
    let next = next.map(|c| token(&c));
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
    let c = Cached::new(body, next, q.format, version);
    state.cache.insert(key.clone(), c.clone());
    c
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

/// Counts `calls` store requests of `kind`, the last one failed if `failed`.
pub(crate) fn count_store_calls(state: &State, kind: &str, calls: u32, failed: bool) {
    let ok = if failed { calls.saturating_sub(1) } else { calls };
    state
        .metrics
        .store_queries
        .with_label_values(&[kind, "ok"])
        .inc_by(u64::from(ok));
    if failed {
        state.metrics.store_queries.with_label_values(&[kind, "error"]).inc();
    }
}

async fn store_list(state: &State, q: &ListQuery, now: DateTime<Utc>) -> Result<Cached, ApiError> {
    let store = state
        .store
        .as_ref()
        .expect("routed to the store only when there is one");
    // No origin time is later than this (the index's rule), so the days after it are not read.
    let until = q.until.min(now + FUTURE_SLACK);
    let mut calls = 0;
    let result = store
        .query_window(q.since, until, &q.filter, q.limit, q.after.as_ref(), &mut calls)
        .await;
    count_store_calls(state, "window", calls, result.is_err());
    let page = result.map_err(|e| {
        tracing::warn!(error = %e, calls, "store window query failed");
        ApiError::unavailable("the archive is unavailable; try again")
    })?;
    let quakes: Vec<Quake> = page.quakes.into_iter().filter(|qk| q.filter.matches(qk)).collect();
    let next = page.next.map(|c| token(&c));
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
    Ok(Cached::new(body, next, q.format, 0))
}

/// The response for a cached (or just built) body. `key`: where it is cached, so that a gzip
/// copy made now is counted against the cache's budget.
fn respond(state: &State, key: Option<&ListKey>, c: Cached, req: &HeaderMap) -> Response {
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
        let made_now = !c.has_gzip();
        let gz = c.gzipped().clone();
        if made_now && let Some(k) = key {
            state.cache.grew(k, &c);
        }
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        return (StatusCode::OK, h, gz).into_response();
    }
    (StatusCode::OK, h, c.body).into_response()
}

pub fn event_url(q: &Quake) -> String {
    match q.source {
        Source::Emsc => geo::emsc_url(&q.unid),
        Source::Usgs => geo::usgs_url(&q.unid),
    }
}

pub async fn detail(
    AxState(state): AxState<State>,
    unid: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(unid) = unid.map_err(|e| ApiError::param("unid", format!("cannot decode the path: {}", e.body_text())))?;
    validate_unid(&unid).map_err(|e| ApiError::param("unid", e.to_string()))?;
    let mem = state.index.get(&unid);
    let stored = match &state.store {
        Some(store) => match store.get(&unid).await {
            Ok(s) => {
                count_store_calls(&state, "get", 1, false);
                s
            }
            Err(e) => {
                count_store_calls(&state, "get", 1, true);
                tracing::warn!(unid = %unid, error = %e, "store get failed; answering from memory");
                None
            }
        },
        None => None,
    };
    let Some(view) = merge_views(mem, stored) else {
        return Err(ApiError::not_found(format!("no event {unid:?}")));
    };
    let mut f = geo::feature_value(&view.quake);
    let props = f["properties"].as_object_mut().expect("properties is an object");
    props.insert("url".into(), json!(event_url(&view.quake)));
    props.insert("first_seen".into(), json!(view.first_seen.map(|t| fmt_time(&t))));
    props.insert("revision_count".into(), json!(view.revision_count));
    f["revisions"] = json!(view.revisions);
    Ok((
        [
            (header::CONTENT_TYPE, "application/geo+json"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        f.to_string(),
    )
        .into_response())
}

/// One event as `/api/quakes/{unid}` shows it, from memory, the archive or both.
struct EventView {
    quake: Quake,
    first_seen: Option<DateTime<Utc>>,
    revisions: Vec<RevisionView>,
    revision_count: u32,
}

/// The newest of the two is current; the history is the union (by `lastupdate`), trimmed by the
/// store's rule; the count is the larger of the two counts (each counts every distinct revision
/// it saw, including those trimmed from its list) and never less than the list shown.
fn merge_views(mem: Option<Held>, stored: Option<Archived>) -> Option<EventView> {
    let mut view = match (mem, stored) {
        (None, None) => return None,
        (Some(h), None) => EventView {
            quake: h.current.quake.clone(),
            first_seen: Some(h.first_seen),
            revisions: h.revisions,
            revision_count: h.revision_count,
        },
        (None, Some(s)) => EventView {
            quake: s.quake,
            first_seen: s.first_seen,
            revisions: s.revisions,
            revision_count: s.revision_count,
        },
        (Some(h), Some(s)) => {
            let quake = if s.quake.lastupdate > h.current.quake.lastupdate {
                s.quake
            } else {
                h.current.quake.clone()
            };
            let mut revisions = h.revisions;
            revisions.extend(s.revisions);
            EventView {
                quake,
                first_seen: s.first_seen.or(Some(h.first_seen)),
                revisions,
                revision_count: h.revision_count.max(s.revision_count),
            }
        }
    };
    view.revisions.sort_by_key(|r| r.lastupdate);
    view.revisions.dedup_by_key(|r| r.lastupdate);
    view.revision_count = view.revision_count.max(view.revisions.len() as u32);
    trim_revisions(&mut view.revisions);
    Some(view)
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
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, std::convert::Infallible>>>, ApiError> {
    let p = Params::parse(raw.as_deref(), STREAM_PARAMS)?;
    let filter = p.filter()?;
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| p.get("last_event_id").map(str::to_owned));
    let (rx, resume) = state.hub.subscribe(last.as_deref());
    let seq_rx = state.sequences.subscribe();
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
                            .event(it.event())
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
        seq_rx: tokio::sync::broadcast::Receiver<Arc<str>>,
        filter: Filter,
        last_seq: u64,
        state: State,
        _guard: ClientGuard,
        done: bool,
    }
    let st = St {
        first,
        rx,
        seq_rx,
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
                r = st.rx.recv() => Ok(r),
                // Sequence changes (no id: a reconnecting page reloads /api/sequences).
                Ok(s) = st.seq_rx.recv() => Err(s),
                // The server is stopping: end the stream; the browser reconnects to another replica.
                _ = st.state.shutdown.wait_for(|s| *s) => return None,
            };
            let received = match received {
                Ok(r) => r,
                Err(s) => return Some((Ok(Event::default().event("sequence").data(&*s)), st)),
            };
            match received {
                Ok(p) => {
                    if p.seq <= st.last_seq || !wants(&st.filter, &p) {
                        continue;
                    }
                    st.last_seq = p.seq;
                    let e = Event::default()
                        .event(p.event())
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

/// A handler that panicked (a bug) answers 500 with the API's body instead of dropping the
/// connection; the panic is logged.
pub fn panicked(err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let what = err
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| err.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    tracing::error!(panic = %what, "a request handler panicked");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "the server failed on this request",
    )
    .into_response()
}

/// Middleware: an error the router answers by itself (405 for a method a route does not take)
/// gets the API's JSON body too; its headers (`Allow`) stay.
pub async fn json_errors(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let resp = next.run(req).await;
    if resp.status() != StatusCode::METHOD_NOT_ALLOWED || resp.headers().contains_key(header::CONTENT_TYPE) {
        return resp;
    }
    let (mut parts, _) = resp.into_parts();
    let err = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method (see the Allow header)",
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Response::from_parts(parts, axum::body::Body::from(err.body()))
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
}
