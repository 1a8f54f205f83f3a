//! Times: RFC 3339 UTC with exactly six fractional digits on output (as on the wire, so that
//! string order is time order), any RFC 3339 on input; microseconds since the epoch inside.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serializer};

pub const MICROS_PER_DAY: f64 = 86_400e6;
pub const MICROS_PER_HOUR: i64 = 3_600_000_000;

pub fn fmt(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub fn from_micros(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Days from `from` to `to` (negative when `to` is earlier).
pub fn days_between(from_us: i64, to_us: i64) -> f64 {
    (to_us - from_us) as f64 / MICROS_PER_DAY
}

/// Serde adapter: six fractional digits out, any RFC 3339 in.
pub mod micros {
    use super::*;

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&fmt(t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}
