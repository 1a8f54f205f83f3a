//! `GET /api/stats?window=1h|1d|24h&region=&at=&since=&until=`: the analytics' windows of one
//! series, oldest first, at most [`MAX_WINDOWS`](super::MAX_WINDOWS) (the newest).

use super::TailState;
use crate::State;
use crate::api::ApiError;
use crate::params::Params;
use axum::Router;
use axum::extract::{RawQuery, State as AxState};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use quakestream_analytics::window::{Dim, WindowKind, fmt_epoch_s};
use quakestream_core::model::fmt_time;
use serde_json::json;

/// The parameters `/api/stats` takes.
pub const STATS_PARAMS: &[&str] = &["window", "region", "at", "since", "until"];
/// Longest region name accepted (the longest Flinn-Engdahl name has 41 characters).
pub const MAX_REGION_LEN: usize = 100;

/// The router of `/api/stats` (merged into the API's, under its layers).
pub fn router(state: State) -> Router {
    Router::new().route("/api/stats", get(handler)).with_state(state)
}

/// A parsed `/api/stats` request.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsQuery {
    pub window: WindowKind,
    pub dim: Dim,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

impl StatsQuery {
    pub fn parse(p: &Params) -> Result<StatsQuery, ApiError> {
        let window = match p.get("window") {
            None => return Err(ApiError::param("window", "window is required: one of 1h, 1d, 24h")),
            Some(w) => WindowKind::parse(w)
                .ok_or_else(|| ApiError::param("window", format!("{w:?} is not one of 1h, 1d, 24h")))?,
        };
        let dim = match (p.get("region"), p.get("at")) {
            (Some(_), Some(_)) => return Err(ApiError::param("at", "give region or at, not both")),
            (Some(r), None) => Dim::Region(region(r)?.into()),
            (None, Some(at)) => {
                let (lat, lon) = point(at)?;
                Dim::Region(quakestream_analytics::event::fe_region(lat, lon).into())
            }
            (None, None) => Dim::World,
        };
        let since = p.time("since")?;
        let until = p.time("until")?;
        if let (Some(s), Some(u)) = (since, until)
            && s > u
        {
            return Err(ApiError::param("since", "since is after until"));
        }
        Ok(StatsQuery {
            window,
            dim,
            since,
            until,
        })
    }
}

/// A region name as the analytics writes it: upper case (EMSC's and Flinn-Engdahl's spelling);
/// 1 to [`MAX_REGION_LEN`] characters, none of them a control character.
fn region(r: &str) -> Result<String, ApiError> {
    if r.chars().count() > MAX_REGION_LEN || r.chars().any(char::is_control) {
        return Err(ApiError::param(
            "region",
            format!("a region is a Flinn-Engdahl region name of 1 to {MAX_REGION_LEN} printable characters"),
        ));
    }
    Ok(r.to_uppercase())
}

/// `lat,lon` in degrees, plain decimals as in `bbox` (no spaces, signs, leading zeros, exponents).
fn point(s: &str) -> Result<(f64, f64), ApiError> {
    let bad = || {
        ApiError::param(
            "at",
            format!("{s:?} is not lat,lon (plain decimals, -90..90 and -180..180)"),
        )
    };
    let (a, b) = s.split_once(',').ok_or_else(bad)?;
    let num = |x: &str| {
        Some(x)
            .filter(|x| crate::geo::is_plain_decimal(x))
            .and_then(|x| x.parse::<f64>().ok())
            .ok_or_else(bad)
    };
    let (lat, lon) = (num(a)?, num(b)?);
    if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
        return Err(bad());
    }
    Ok((lat, lon))
}

async fn handler(AxState(state): AxState<State>, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let q = StatsQuery::parse(&Params::parse(raw.as_deref(), STATS_PARAMS)?)?;
    match state.stats.state() {
        TailState::Live => {}
        TailState::Loading => return Err(ApiError::unavailable("statistics are loading; try again")),
        TailState::NoTopic => {
            return Err(ApiError::unavailable(
                "no statistics: the analytics' topic does not exist (yet)",
            ));
        }
    }
    let (windows, truncated) = state.stats.query(
        q.window,
        &q.dim,
        q.since.map(|t| t.timestamp()),
        q.until.map(|t| t.timestamp()),
    );
    let head = json!({
        "window": q.window.as_str(),
        "dimension": q.dim.kind(),
        "key": q.dim.value(),
        "since": q.since.map(|t| fmt_time(&t)),
        "until": q.until.map(|t| fmt_time(&t)),
        "count": windows.len(),
        "truncated": truncated,
        "max_windows": super::MAX_WINDOWS,
        "oldest": windows.first().map(|h| fmt_epoch_s(h.key.window.start_s())),
    })
    .to_string();
    let mut body = String::with_capacity(head.len() + 16 + windows.iter().map(|h| h.json.len() + 1).sum::<usize>());
    body.push_str(&head[..head.len() - 1]);
    body.push_str(",\"windows\":[");
    for (i, h) in windows.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&h.json);
    }
    body.push_str("]}");
    Ok((
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &str) -> Result<StatsQuery, ApiError> {
        StatsQuery::parse(&Params::parse(Some(q), STATS_PARAMS)?)
    }

    #[test]
    fn stats_parameters_are_canonical_and_errors_name_them() {
        for (q, param) in [
            ("", "window"),
            ("window=2h", "window"),
            ("window=1H", "window"),
            ("window=1h&window=1d", "window"),
            ("window=1h&region=", "region"),
            ("window=1h&region=%01", "region"),
            ("window=1h&at=91,0", "at"),
            ("window=1h&at=north", "at"),
            ("window=1h&at=+1,2", "at"),
            ("window=1h&at=01,2", "at"),
            ("window=1h&at=1e1,2", "at"),
            ("window=1h&at=1,2&region=X", "at"),
            ("window=1h&since=yesterday", "since"),
            (
                "window=1h&since=2025-01-02T00:00:00Z&until=2025-01-01T00:00:00Z",
                "since",
            ),
            ("window=1h&minmag=3", "minmag"),
        ] {
            let e = parse(q).err().unwrap_or_else(|| panic!("{q} accepted"));
            assert_eq!(e.parameter.as_deref(), Some(param), "{q}: {}", e.message);
            assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST);
        }
        let q = parse("window=24h&region=western%20turkey").unwrap();
        assert_eq!(q.dim, Dim::Region("WESTERN TURKEY".into()));
        assert_eq!(parse("window=1d").unwrap().dim, Dim::World);
        assert_eq!(
            parse("window=24h&at=19.4,-155.28").unwrap().dim,
            Dim::Region("HAWAII".into())
        );
    }
}
