//! The query parameters of `/api/quakes` and `/api/stream`, parsed into canonical values.
//!
//! Every parameter has one spelling and one meaning: unknown names, repeated names and empty
//! values are 400s (never silently ignored, never a new cache entry), and the parsed values are
//! what responses are cached under, so `minmag=4`, `minmag=4.0` and a reordered query string
//! share one cached answer. The rules here are the ones `openapi.json` states.

use crate::api::ApiError;
use crate::geo::Bbox;
use crate::index::Filter;
use chrono::{DateTime, Datelike, Duration, Utc};
use quakestream_core::model::{DEPTH_RANGE_KM, MAG_RANGE, MAX_UNID_LEN, validate_unid};
use quakestream_store::Cursor;
use std::collections::HashMap;

pub const DEFAULT_LIMIT: usize = 1000;
pub const MAX_LIMIT: usize = 20_000;
/// The window when neither `since` nor `until` is given: the last 24 hours.
pub const DEFAULT_SPAN: Duration = Duration::hours(24);
/// No origin time before this year is accepted by QuakeStream, so no window may start before it.
pub const EARLIEST_YEAR: i32 = 1900;
/// At most this many parameters in one query string (each route takes fewer).
pub const MAX_PARAMS: usize = 16;

/// The parameters `/api/quakes` takes.
pub const LIST_PARAMS: &[&str] = &[
    "since",
    "until",
    "minmag",
    "maxmag",
    "mindepth",
    "maxdepth",
    "bbox",
    "limit",
    "format",
    "page_token",
];
/// The parameters `/api/stream` takes.
pub const STREAM_PARAMS: &[&str] = &["minmag", "maxmag", "mindepth", "maxdepth", "bbox", "last_event_id"];

/// Decoded `name=value` pairs, each name one of the route's and given once, no value empty.
pub struct Params(HashMap<&'static str, String>);

impl Params {
    pub fn parse(query: Option<&str>, allowed: &[&'static str]) -> Result<Params, ApiError> {
        let mut out = HashMap::new();
        for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            if out.len() >= MAX_PARAMS {
                return Err(ApiError::bad_request(format!("more than {MAX_PARAMS} parameters")));
            }
            let Some(name) = allowed.iter().copied().find(|a| *a == k) else {
                let shown: String = k.chars().take(64).collect();
                return Err(ApiError::param_named(
                    shown.clone(),
                    format!("unknown parameter {shown:?}; this route takes {}", allowed.join(", ")),
                ));
            };
            if v.is_empty() {
                return Err(ApiError::param(name, format!("{name} is empty; leave it out instead")));
            }
            if out.insert(name, v.into_owned()).is_some() {
                return Err(ApiError::param(name, format!("{name} is given more than once")));
            }
        }
        Ok(Params(out))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    pub(crate) fn number(&self, name: &'static str, (min, max): (f64, f64)) -> Result<Option<f64>, ApiError> {
        let Some(s) = self.get(name) else { return Ok(None) };
        let v = s
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| ApiError::param(name, format!("{s:?} is not a number")))?;
        if !(min..=max).contains(&v) {
            return Err(ApiError::param(
                name,
                format!("{name} {v} is outside {min}..{max}, the range of every stored event"),
            ));
        }
        // -0 and 0 are one value (and one cache key).
        Ok(Some(if v == 0.0 { 0.0 } else { v }))
    }

    pub fn time(&self, name: &'static str) -> Result<Option<DateTime<Utc>>, ApiError> {
        let Some(s) = self.get(name) else { return Ok(None) };
        let t = DateTime::parse_from_rfc3339(s)
            .map_err(|e| ApiError::param(name, format!("{s:?} is not an RFC 3339 time ({e})")))?;
        if t.year() < EARLIEST_YEAR {
            return Err(ApiError::param(
                name,
                format!("{s:?} is before {EARLIEST_YEAR}, older than any event QuakeStream holds"),
            ));
        }
        Ok(Some(t.with_timezone(&Utc)))
    }

    /// The magnitude, depth and bbox filters shared by `/api/quakes` and `/api/stream`.
    pub fn filter(&self) -> Result<Filter, ApiError> {
        let f = Filter {
            minmag: self.number("minmag", MAG_RANGE)?,
            maxmag: self.number("maxmag", MAG_RANGE)?,
            mindepth: self.number("mindepth", DEPTH_RANGE_KM)?,
            maxdepth: self.number("maxdepth", DEPTH_RANGE_KM)?,
            bbox: match self.get("bbox") {
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    GeoJson,
    Csv,
}

/// A parsed `/api/quakes` request.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// `until` was not given: the window ends now, so a cached answer ages.
    pub open_ended: bool,
    /// Neither `since` nor `until` was given: the last [`DEFAULT_SPAN`], whatever the clock.
    pub relative: bool,
    pub filter: Filter,
    pub limit: usize,
    pub format: Format,
    pub after: Option<Cursor>,
}

impl ListQuery {
    pub fn parse(p: &Params, now: DateTime<Utc>) -> Result<ListQuery, ApiError> {
        let since = p.time("since")?;
        let until = p.time("until")?;
        let until_v = until.unwrap_or(now);
        let since_v = since.unwrap_or(until_v - DEFAULT_SPAN);
        if since_v > until_v {
            return Err(ApiError::param("since", "since is after until"));
        }
        let limit = match p.get("limit") {
            None => DEFAULT_LIMIT,
            Some(s) => s
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| ApiError::param("limit", format!("{s:?} is not an integer from 1 to {MAX_LIMIT}")))?,
        };
        let format = match p.get("format") {
            None | Some("geojson") => Format::GeoJson,
            Some("csv") => Format::Csv,
            Some(other) => {
                return Err(ApiError::param(
                    "format",
                    format!("{other:?} is not one of geojson, csv"),
                ));
            }
        };
        let after = match p.get("page_token") {
            None => None,
            Some(t) => Some(parse_token(t).ok_or_else(|| {
                ApiError::param(
                    "page_token",
                    "not a page token (metadata.next_page_token of an earlier page)",
                )
            })?),
        };
        Ok(ListQuery {
            since: since_v,
            until: until_v,
            open_ended: until.is_none(),
            relative: since.is_none() && until.is_none(),
            filter: p.filter()?,
            limit,
            format,
            after,
        })
    }

    /// What the answer depends on besides the index version (and, if open-ended, the clock):
    /// the parsed values, so equal requests share one cache entry however they were spelt.
    pub fn key(&self) -> ListKey {
        ListKey {
            // The default window is one key whatever the clock says.
            since: (!self.relative).then(|| self.since.timestamp_micros()),
            until: (!self.open_ended).then(|| self.until.timestamp_micros()),
            filter: self.filter.key(),
            limit: self.limit as u32,
            format: self.format,
            after: self.after.as_ref().map(|c| (c.time.timestamp_micros(), c.unid.clone())),
        }
    }
}

/// The cache key of a list response; see [`ListQuery::key`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ListKey {
    since: Option<i64>,
    until: Option<i64>,
    filter: [Option<u64>; 8],
    limit: u32,
    format: Format,
    after: Option<(i64, String)>,
}

impl ListKey {
    /// Bytes the key holds (for the cache's byte budget).
    pub fn size(&self) -> usize {
        std::mem::size_of::<Self>() + self.after.as_ref().map_or(0, |(_, u)| u.len())
    }
}

/// The characters a unid may have inside a page token (every real EMSC and USGS unid).
fn token_unid_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':')
}

/// A page token: `<origin time in µs since 1970>.<unid>`, the cursor after which the next page
/// starts (the unid may be empty: "older than that time"). Memory and archive pages use the same
/// tokens, and any token of this shape is valid (see `quakestream_store::Cursor`).
pub fn token(c: &Cursor) -> String {
    if c.unid.chars().all(token_unid_char) {
        format!("{}.{}", c.time.timestamp_micros(), c.unid)
    } else {
        // Not expressible in a token: continue below the whole microsecond instead.
        format!("{}.", c.time.timestamp_micros())
    }
}

pub fn parse_token(t: &str) -> Option<Cursor> {
    let (micros, unid) = t.split_once('.')?;
    let digits = micros.strip_prefix('-').unwrap_or(micros);
    if digits.is_empty() || digits.len() > 16 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !unid.is_empty()
        && (unid.len() > MAX_UNID_LEN || !unid.chars().all(token_unid_char) || validate_unid(unid).is_err())
    {
        return None;
    }
    Some(Cursor {
        time: DateTime::from_timestamp_micros(micros.parse().ok()?)?,
        unid: unid.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(q: &str) -> Result<Params, ApiError> {
        Params::parse(Some(q), LIST_PARAMS)
    }

    fn list(q: &str) -> Result<ListQuery, ApiError> {
        ListQuery::parse(&params(q)?, Utc::now())
    }

    #[test]
    fn errors_name_the_parameter() {
        for (q, param) in [
            ("minmag=big", "minmag"),
            ("minmag=5&maxmag=3", "minmag"),
            ("minmag=11", "minmag"),
            ("maxmag=-4", "maxmag"),
            ("maxdepth=900", "maxdepth"),
            ("since=yesterday", "since"),
            ("since=1899-12-31T23:59:59Z", "since"),
            ("until=0001-01-01T00:00:00Z", "until"),
            ("since=2025-01-02T00:00:00Z&until=2025-01-01T00:00:00Z", "since"),
            ("limit=0", "limit"),
            ("limit=100000", "limit"),
            ("format=xml", "format"),
            ("format=GeoJSON", "format"),
            ("bbox=1,2,3", "bbox"),
            ("maxdepth=NaN", "maxdepth"),
            ("minmag=inf", "minmag"),
            ("minmag=", "minmag"),
            ("minmag=1&minmag=2", "minmag"),
            ("min_mag=3", "min_mag"),
            ("page_token=zzz", "page_token"),
            ("page_token=12.a%2Fb", "page_token"),
            ("page_token=12345678901234567.x", "page_token"),
        ] {
            let e = list(q).err().unwrap_or_else(|| panic!("{q} accepted"));
            assert_eq!(e.parameter.as_deref(), Some(param), "{q}: {}", e.message);
            assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST);
        }
    }

    #[test]
    fn equal_requests_have_one_key_however_they_are_spelt() {
        let k = |q: &str| list(q).unwrap().key();
        let a = k("since=2025-01-01T00:00:00Z&minmag=4&limit=20000");
        assert_eq!(a, k("limit=20000&minmag=4.0&since=2025-01-01T01:00:00%2B01:00"));
        assert_eq!(a, k("minmag=4.00&since=2025-01-01T00:00:00.000Z&limit=20000"));
        assert_ne!(a, k("since=2025-01-01T00:00:00Z&minmag=4&limit=19999"));
        assert_eq!(k("mindepth=0"), k("mindepth=-0"));
        // The default window is one key whatever the clock says.
        let now = Utc::now();
        let q1 = ListQuery::parse(&params("").unwrap(), now).unwrap();
        let q2 = ListQuery::parse(&params("").unwrap(), now + Duration::seconds(3)).unwrap();
        assert_eq!(q1.key(), q2.key());
    }

    #[test]
    fn tokens_round_trip_and_any_well_formed_token_is_a_cursor() {
        let c = Cursor::after(
            DateTime::from_timestamp_micros(1_714_806_408_000_000).unwrap(),
            "us7000abcd",
        );
        assert_eq!(token(&c), "1714806408000000.us7000abcd");
        assert_eq!(parse_token(&token(&c)), Some(c.clone()));
        let below = Cursor::after(c.time, "");
        assert_eq!(parse_token("1714806408000000."), Some(below.clone()));
        assert_eq!(token(&Cursor::after(c.time, "odd/unid")), "1714806408000000.");
        assert!(parse_token("-9999999999999999.x").is_some());
        for bad in ["", ".", "x.y", "1", "1.a b", "1.a/b", "+1.a", "m.1.a"] {
            assert!(parse_token(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn the_stream_takes_its_own_parameters() {
        assert!(Params::parse(Some("minmag=3&last_event_id=x"), STREAM_PARAMS).is_ok());
        let e = Params::parse(Some("since=2025-01-01T00:00:00Z"), STREAM_PARAMS)
            .err()
            .unwrap();
        assert_eq!(e.parameter.as_deref(), Some("since"));
    }
}
