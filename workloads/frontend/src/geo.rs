//! Rendering events as GeoJSON features and CSV rows, and the bounding-box filter.

use quakestream_core::model::{Quake, fmt_time};
use serde_json::json;
use std::fmt::Write as _;

/// `minlon,minlat,maxlon,maxlat` in degrees. `minlon > maxlon` crosses the antimeridian.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bbox {
    pub minlon: f64,
    pub minlat: f64,
    pub maxlon: f64,
    pub maxlat: f64,
}

impl Bbox {
    /// `minlon,minlat,maxlon,maxlat`, each a plain decimal (`-12`, `45.5`: no spaces, signs
    /// other than a leading minus, or exponents), as `openapi.json`'s pattern says.
    pub fn parse(s: &str) -> Result<Bbox, String> {
        let parts: Vec<&str> = s.split(',').collect();
        if parts.len() != 4 {
            return Err("expected four numbers: minlon,minlat,maxlon,maxlat".into());
        }
        let mut v = [0f64; 4];
        for (i, p) in parts.iter().enumerate() {
            v[i] = Some(*p)
                .filter(|p| is_plain_decimal(p))
                .and_then(|p| p.parse::<f64>().ok())
                .ok_or_else(|| format!("{p:?} is not a plain decimal number"))?;
        }
        let [minlon, minlat, maxlon, maxlat] = v;
        if !(-180.0..=180.0).contains(&minlon) || !(-180.0..=180.0).contains(&maxlon) {
            return Err("longitudes must be within -180..180".into());
        }
        if !(-90.0..=90.0).contains(&minlat) || !(-90.0..=90.0).contains(&maxlat) || minlat > maxlat {
            return Err("latitudes must be within -90..90 with minlat <= maxlat".into());
        }
        Ok(Bbox {
            minlon,
            minlat,
            maxlon,
            maxlat,
        })
    }

    pub fn contains(&self, lon: f64, lat: f64) -> bool {
        if lat < self.minlat || lat > self.maxlat {
            return false;
        }
        if self.minlon <= self.maxlon {
            lon >= self.minlon && lon <= self.maxlon
        } else {
            lon >= self.minlon || lon <= self.maxlon
        }
    }
}

/// `-?(0|[1-9][0-9]{0,2})(\.[0-9]{1,15})?`: a plain decimal, as `openapi.json`'s bbox pattern
/// has it (no spaces, plus signs, leading zeros or exponents).
pub(crate) fn is_plain_decimal(s: &str) -> bool {
    let s = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    let digits = |d: &str, max: usize| (1..=max).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit());
    digits(int, 3) && (int == "0" || !int.starts_with('0')) && frac.is_none_or(|f| digits(f, 15))
}

/// Everything but unreserved characters is escaped in a URL component.
const COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// EMSC's public page of an event (the unid percent-encoded: it comes from the feed).
pub fn emsc_url(unid: &str) -> String {
    let unid = percent_encoding::utf8_percent_encode(unid, COMPONENT);
    format!("https://www.seismicportal.eu/eventdetails.html?unid={unid}")
}

/// USGS's public page of an event (the id percent-encoded).
pub fn usgs_url(id: &str) -> String {
    let id = percent_encoding::utf8_percent_encode(id, COMPONENT);
    format!("https://earthquake.usgs.gov/earthquakes/eventpage/{id}")
}

/// One event as a GeoJSON Feature: `id` = `unid`, a 2-D point, the normalised fields as properties.
pub fn feature_value(q: &Quake) -> serde_json::Value {
    json!({
        "type": "Feature",
        "id": q.unid,
        "geometry": {"type": "Point", "coordinates": [q.lon, q.lat]},
        "properties": {
            "unid": q.unid,
            "time": fmt_time(&q.time),
            "lastupdate": fmt_time(&q.lastupdate),
            "lat": q.lat,
            "lon": q.lon,
            "depth_km": q.depth_km,
            "mag": q.mag,
            "magtype": q.magtype,
            "region": q.region,
            "agency": q.agency,
            "evtype": q.evtype,
            "source": q.source,
        }
    })
}

pub fn feature_json(q: &Quake) -> String {
    feature_value(q).to_string()
}

pub const CSV_HEADER: &str = "unid,time,lastupdate,lat,lon,depth_km,mag,magtype,region,agency,evtype,source\r\n";

/// One CSV row (RFC 4180: CRLF, fields with commas, quotes or newlines quoted).
pub fn csv_row(q: &Quake, out: &mut String) {
    let opt_num = |v: Option<f64>| v.map(|m| m.to_string()).unwrap_or_default();
    let _ = write!(
        out,
        "{},{},{},{},{},{},{},{},{},{},{},{}\r\n",
        csv_field(&q.unid),
        fmt_time(&q.time),
        fmt_time(&q.lastupdate),
        q.lat,
        q.lon,
        q.depth_km,
        opt_num(q.mag),
        csv_field(q.magtype.as_deref().unwrap_or("")),
        csv_field(q.region.as_deref().unwrap_or("")),
        csv_field(q.agency.as_deref().unwrap_or("")),
        csv_field(q.evtype.as_deref().unwrap_or("")),
        q.source,
    );
}

fn csv_field(s: &str) -> std::borrow::Cow<'_, str> {
    // Also neutralise spreadsheet formulas (CSV injection): a leading = + - @ gets a quote.
    let formula = s.starts_with(['=', '+', '-', '@']);
    if s.contains([',', '"', '\n', '\r']) || formula {
        let inner = s.replace('"', "\"\"");
        if formula {
            format!("\"'{inner}\"").into()
        } else {
            format!("\"{inner}\"").into()
        }
    } else {
        s.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bbox_parses_and_crosses_the_antimeridian() {
        let b = Bbox::parse("170,-50,-170,-10").unwrap();
        assert!(b.contains(175.0, -20.0));
        assert!(b.contains(-175.0, -20.0));
        assert!(!b.contains(0.0, -20.0));
        assert!(Bbox::parse("1,2,3").is_err());
        assert!(Bbox::parse("0,10,5,5").is_err());
        assert!(Bbox::parse("0,x,5,5").is_err());
        assert_eq!(Bbox::parse("-1.5,-2,3,4.25").unwrap().minlon, -1.5);
        for odd in [
            "1e1,0,5,5",
            " 1,0,5,5",
            "+1,0,5,5",
            ".5,0,5,5",
            "1.,0,5,5",
            "1,0,5,5,",
            "inf,0,5,5",
        ] {
            assert!(Bbox::parse(odd).is_err(), "{odd}");
        }
    }

    #[test]
    fn agency_links_are_percent_encoded() {
        assert_eq!(
            emsc_url("20250305_0000090"),
            "https://www.seismicportal.eu/eventdetails.html?unid=20250305_0000090"
        );
        assert_eq!(
            emsc_url("a&b=c#d"),
            "https://www.seismicportal.eu/eventdetails.html?unid=a%26b%3Dc%23d"
        );
        assert_eq!(
            usgs_url("us7000m0bk/../x?y"),
            "https://earthquake.usgs.gov/earthquakes/eventpage/us7000m0bk%2F..%2Fx%3Fy"
        );
    }

    #[test]
    fn csv_quotes_what_needs_it() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("NEAR COAST OF PERU, SOUTH"), "\"NEAR COAST OF PERU, SOUTH\"");
        assert_eq!(csv_field("=cmd()"), "\"'=cmd()\"");
    }
}
