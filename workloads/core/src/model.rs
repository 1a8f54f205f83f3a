//! The normalised earthquake event, shared by every source, the wire record, the store and the API.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, SubsecRound, Utc};
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

/// Why an input was rejected. Each variant names the field and the offending value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InvalidQuake {
    #[error("missing field `{0}`")]
    Missing(&'static str),
    #[error("field `unid` is empty")]
    EmptyUnid,
    #[error("field `unid` is invalid: {0:?} (at most {MAX_UNID_LEN} printable characters)")]
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

    /// The version key: two records with the same key carry the same revision.
    pub fn version(&self) -> (&str, DateTime<Utc>) {
        (&self.unid, self.lastupdate)
    }
}

pub fn validate_unid(unid: &str) -> Result<(), InvalidQuake> {
    if unid.trim().is_empty() {
        return Err(InvalidQuake::EmptyUnid);
    }
    if unid.chars().count() > MAX_UNID_LEN || unid.chars().any(|c| c.is_control() || c.is_whitespace()) {
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
