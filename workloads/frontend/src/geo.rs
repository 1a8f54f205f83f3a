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
    pub fn parse(s: &str) -> Result<Bbox, String> {
        let parts: Vec<&str> = s.split(',').map(str::trim).collect();
        if parts.len() != 4 {
            return Err("expected four numbers: minlon,minlat,maxlon,maxlat".into());
        }
        let mut v = [0f64; 4];
        for (i, p) in parts.iter().enumerate() {
            v[i] = p
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| format!("{p:?} is not a number"))?;
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

/// EMSC's public page of an event.
pub fn emsc_url(unid: &str) -> String {
    format!("https://www.seismicportal.eu/eventdetails.html?unid={unid}")
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
    }

    #[test]
    fn csv_quotes_what_needs_it() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("NEAR COAST OF PERU, SOUTH"), "\"NEAR COAST OF PERU, SOUTH\"");
        assert_eq!(csv_field("=cmd()"), "\"'=cmd()\"");
    }
}
