//! The normalised earthquake event, shared by every source, the wire record, the store and the API.

use chrono::{DateTime, Datelike, NaiveDateTime, SecondsFormat, SubsecRound, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Where an event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Emsc,
    Usgs,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Emsc => "emsc",
            Source::Usgs => "usgs",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One earthquake (or other seismic event) at one revision. `lastupdate` is the version:
/// a later `lastupdate` for the same `unid` supersedes an earlier one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quake {
    pub unid: String,
    #[serde(with = "utc_micros")]
    pub time: DateTime<Utc>,
    #[serde(with = "utc_micros")]
    pub lastupdate: DateTime<Utc>,
    pub lat: f64,
    pub lon: f64,
    /// Kilometres, positive down (negative: above sea level).
    pub depth_km: f64,
    pub mag: Option<f64>,
    pub magtype: Option<String>,
    pub region: Option<String>,
    pub agency: Option<String>,
    pub evtype: Option<String>,
    pub source: Source,
}

pub const LAT_RANGE: (f64, f64) = (-90.0, 90.0);
pub const LON_RANGE: (f64, f64) = (-180.0, 180.0);
pub const DEPTH_RANGE_KM: (f64, f64) = (-15.0, 800.0);
pub const MAG_RANGE: (f64, f64) = (-3.0, 10.5);
/// DynamoDB allows 2 KiB keys; real unids are ~16 characters.
pub const MAX_UNID_LEN: usize = 128;
/// Free-text fields (region, agency, ...) are cut to this many characters.
pub const MAX_TEXT_LEN: usize = 256;
/// The earliest origin time or `lastupdate` accepted (instrumental seismology starts about then).
pub const EARLIEST_YEAR: i32 = 1900;
/// How far ahead of this machine's clock an origin time or `lastupdate` may be (clock skew
/// between the agency and us); anything later is impossible and rejected at the edge.
pub const MAX_CLOCK_SKEW: chrono::TimeDelta = chrono::TimeDelta::hours(1);

/// Why an input was rejected. Each variant names the field and the offending value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InvalidQuake {
    #[error("missing field `{0}`")]
    Missing(&'static str),
    #[error("field `unid` is empty")]
    EmptyUnid,
    #[error(
        "field `unid` is invalid: {0:?} (at most {MAX_UNID_LEN} printable characters, no control, space or invisible format characters)"
    )]
    BadUnid(String),
    #[error("field `{field}` is out of range: {value} (allowed {min} to {max})")]
    OutOfRange {
        field: &'static str,
        value: f64,
        min: f64,
        max: f64,
    },
    #[error("field `{field}` is not a valid time: {value:?}")]
    BadTime { field: &'static str, value: String },
    #[error("field `{field}` has the wrong type: {detail}")]
    BadType { field: &'static str, detail: String },
    #[error("field `{field}` is an impossible time: {value} ({why})")]
    ImpossibleTime {
        field: &'static str,
        value: String,
        why: String,
    },
}

impl InvalidQuake {
    /// A short, stable label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            InvalidQuake::Missing(_) => "missing_field",
            InvalidQuake::EmptyUnid | InvalidQuake::BadUnid(_) => "bad_unid",
            InvalidQuake::OutOfRange { .. } => "out_of_range",
            InvalidQuake::BadTime { .. } => "bad_time",
            InvalidQuake::BadType { .. } => "bad_type",
            InvalidQuake::ImpossibleTime { .. } => "impossible_time",
        }
    }
}

impl Quake {
    /// Checks every field against the contract.
    pub fn validate(&self) -> Result<(), InvalidQuake> {
        validate_unid(&self.unid)?;
        check_range("lat", self.lat, LAT_RANGE)?;
        check_range("lon", self.lon, LON_RANGE)?;
        check_range("depth_km", self.depth_km, DEPTH_RANGE_KM)?;
        if let Some(m) = self.mag {
            check_range("mag", m, MAG_RANGE)?;
        }
        Ok(())
    }

    /// Checks that the origin time and `lastupdate` are possible at `now`: not before
    /// [`EARLIEST_YEAR`] and not more than [`MAX_CLOCK_SKEW`] ahead of `now`. Applied where
    /// inputs enter (the parsers), not to records already on the topic.
    pub fn check_times(&self, now: DateTime<Utc>) -> Result<(), InvalidQuake> {
        check_time("time", self.time, now)?;
        check_time("lastupdate", self.lastupdate, now)
    }

    /// The version key: two records with the same key carry the same revision.
    pub fn version(&self) -> (&str, DateTime<Utc>) {
        (&self.unid, self.lastupdate)
    }
}

/// Whether `t` is a time an event can have, seen at `now`.
pub fn check_time(field: &'static str, t: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), InvalidQuake> {
    let why = if t.year() < EARLIEST_YEAR {
        format!("before {EARLIEST_YEAR}")
    } else if t > now + MAX_CLOCK_SKEW {
        format!(
            "more than {} min after this machine's clock, {}",
            MAX_CLOCK_SKEW.num_minutes(),
            fmt_time(&now)
        )
    } else {
        return Ok(());
    };
    Err(InvalidQuake::ImpossibleTime {
        field,
        value: t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        why,
    })
}

/// Unicode's format characters (general category Cf, Unicode 15): invisible, they make two
/// unids that print alike differ (zero-width space U+200B, right-to-left override U+202E, BOM
/// U+FEFF, soft hyphen U+00AD, ...).
const FORMAT_CHARS: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),
    ('\u{0600}', '\u{0605}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{06DD}', '\u{06DD}'),
    ('\u{070F}', '\u{070F}'),
    ('\u{0890}', '\u{0891}'),
    ('\u{08E2}', '\u{08E2}'),
    ('\u{180E}', '\u{180E}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFF9}', '\u{FFFB}'),
    ('\u{110BD}', '\u{110BD}'),
    ('\u{110CD}', '\u{110CD}'),
    ('\u{13430}', '\u{1343F}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0001}', '\u{E0001}'),
    ('\u{E0020}', '\u{E007F}'),
];

/// Whether `c` is a format character (Unicode general category Cf).
pub fn is_format_char(c: char) -> bool {
    FORMAT_CHARS.iter().any(|&(lo, hi)| (lo..=hi).contains(&c))
}

pub fn validate_unid(unid: &str) -> Result<(), InvalidQuake> {
    if unid.trim().is_empty() {
        return Err(InvalidQuake::EmptyUnid);
    }
    let invisible = |c: char| c.is_control() || c.is_whitespace() || is_format_char(c);
    if unid.chars().count() > MAX_UNID_LEN || unid.chars().any(invisible) {
        let shown: String = unid.chars().take(40).collect();
        return Err(InvalidQuake::BadUnid(shown));
    }
    Ok(())
}

fn check_range(field: &'static str, value: f64, (min, max): (f64, f64)) -> Result<(), InvalidQuake> {
    if value.is_finite() && value >= min && value <= max {
        Ok(())
    } else {
        Err(InvalidQuake::OutOfRange { field, value, min, max })
    }
}

/// Cuts free text to a sane length and drops empty strings.
pub fn clean_text(s: Option<&str>) -> Option<String> {
    let s = s?.trim();
    if s.is_empty() {
        return None;
    }
    Some(s.chars().take(MAX_TEXT_LEN).collect())
}

/// Parses the timestamps the agencies send: RFC 3339 with 0 to 9 fractional digits, `Z` or an
/// offset, and the offset-less form (taken as UTC) that some EMSC and FDSN outputs use.
pub fn parse_time(field: &'static str, s: &str) -> Result<DateTime<Utc>, InvalidQuake> {
    let bad = || InvalidQuake::BadTime {
        field,
        value: s.chars().take(64).collect(),
    };
    if s.len() > 64 {
        return Err(bad());
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(to_micros(t.with_timezone(&Utc)));
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Ok(to_micros(t.and_utc()));
        }
    }
    Err(bad())
}

/// Times are kept to the microsecond, the precision of the wire format, so that a value
/// survives a round trip unchanged.
pub fn to_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

pub fn from_epoch_ms(field: &'static str, ms: i64) -> Result<DateTime<Utc>, InvalidQuake> {
    DateTime::from_timestamp_millis(ms).ok_or(InvalidQuake::BadTime {
        field,
        value: ms.to_string(),
    })
}

/// Formats a time as RFC 3339 UTC with exactly six fractional digits, so that the string
/// order is the time order (DynamoDB compares `lastupdate` and the GSI sort key as strings).
pub fn fmt_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Serde adapter for [`fmt_time`]; reads any form [`parse_time`] accepts.
pub mod utc_micros {
    use super::*;

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&fmt_time(t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        parse_time("time", &s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_zero_to_nine_fraction_digits() {
        let cases = [
            "2025-04-26T12:59:28Z",
            "2025-04-26T12:59:28.0Z",
            "2025-04-26T12:59:28.46Z",
            "2025-04-26T12:59:28.736Z",
            "2025-04-26T12:59:28.3029Z",
            "2025-04-26T12:59:28.30293Z",
            "2025-04-26T12:59:28.302931Z",
            "2025-04-26T12:59:28.302931123Z",
            "2025-04-26T12:59:28.5",
            "2025-04-26T14:59:28.5+02:00",
        ];
        for c in cases {
            let t = parse_time("time", c).unwrap_or_else(|e| panic!("{c}: {e}"));
            assert_eq!(fmt_time(&t)[..19], *"2025-04-26T12:59:28", "{c}");
        }
    }

    #[test]
    fn fixed_width_times_sort_as_strings() {
        let a = parse_time("t", "2025-04-26T12:59:28Z").unwrap();
        let b = parse_time("t", "2025-04-26T12:59:28.5Z").unwrap();
        assert!(a < b);
        assert!(fmt_time(&a) < fmt_time(&b), "{} vs {}", fmt_time(&a), fmt_time(&b));
    }

    #[test]
    fn impossible_times_are_rejected_and_the_edges_accepted() {
        let now = parse_time("t", "2026-01-01T00:00:00Z").unwrap();
        let ok = |s: &str| check_time("time", parse_time("t", s).unwrap(), now);
        assert!(ok("1900-01-01T00:00:00Z").is_ok());
        assert!(ok("2026-01-01T01:00:00Z").is_ok(), "within the stated skew");
        for bad in ["1899-12-31T23:59:59Z", "2026-01-01T01:00:01Z", "9999-12-31T00:00:00Z"] {
            let e = ok(bad).unwrap_err();
            assert_eq!(e.reason(), "impossible_time", "{bad}: {e}");
            assert!(e.to_string().contains("`time`"), "{e}");
        }
        let far = from_epoch_ms("time", 1_000_000_000_000_000 - 1).unwrap();
        assert!(
            check_time("time", far, now).is_err(),
            "USGS epoch ms near 1e15 is year 33658"
        );
        let before = from_epoch_ms("time", -62_200_000_000_000).unwrap();
        assert!(check_time("time", before, now).is_err());
    }

    #[test]
    fn unids_with_invisible_format_characters_are_rejected() {
        for bad in [
            "2025\u{200B}0426",
            "\u{202E}20250426",
            "\u{FEFF}20250426",
            "ab\u{00AD}c",
            "x\u{2066}y",
        ] {
            assert_eq!(validate_unid(bad).unwrap_err().reason(), "bad_unid", "{bad:?}");
        }
        assert!(validate_unid("20250426_0000123").is_ok());
        assert!(validate_unid("us7000pq2s").is_ok());
        assert!(validate_unid("évènement").is_ok(), "visible non-ASCII letters are fine");
    }

    #[test]
    fn rejects_bad_times_naming_the_field() {
        for bad in [
            "",
            "yesterday",
            "2025-13-01T00:00:00Z",
            "2025-04-26T25:00:00Z",
            &"9".repeat(500),
        ] {
            let e = parse_time("lastupdate", bad).unwrap_err();
            assert!(
                matches!(
                    e,
                    InvalidQuake::BadTime {
                        field: "lastupdate",
                        ..
                    }
                ),
                "{bad}: {e}"
            );
        }
    }
}
