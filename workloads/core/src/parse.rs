//! Parsers for every input QuakeStream reads: EMSC websocket frames, EMSC FDSN `format=json`
//! responses, USGS GeoJSON feeds, and files of them (JSON lines of frames or features, or one
//! FeatureCollection document, streamed so that a file of any size is read in bounded memory).

use crate::model::{InvalidQuake, Quake, Source, clean_text, from_epoch_ms, parse_time, validate_unid};
use crate::wire::Action;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;
use std::io::{BufRead, BufReader, Read};

/// The largest websocket frame, JSON line or single feature accepted (real ones are ~1 KiB).
pub const MAX_ITEM_BYTES: usize = 1 << 20;

/// Why one input item (a frame, a line, a feature) was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RejectReason {
    #[error("not valid JSON: {0}")]
    Json(String),
    #[error("input is {0} bytes, over the {MAX_ITEM_BYTES}-byte limit")]
    TooLarge(usize),
    #[error("not an EMSC frame or GeoJSON feature: {0}")]
    Shape(String),
    #[error(transparent)]
    Invalid(#[from] InvalidQuake),
}

impl RejectReason {
    /// A short, stable label for metrics and the DLQ header.
    pub fn code(&self) -> &'static str {
        match self {
            RejectReason::Json(_) => "bad_json",
            RejectReason::TooLarge(_) => "too_large",
            RejectReason::Shape(_) => "bad_shape",
            RejectReason::Invalid(e) => e.reason(),
        }
    }
}

/// What one input item turned into.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Event {
        action: Action,
        quake: Quake,
    },
    /// A well-formed frame with an action we do not know: logged, counted and skipped.
    UnknownAction {
        action: String,
        unid: Option<String>,
    },
}

/// Parses one EMSC websocket text frame: `{"action": "create"|"update", "data": Feature}`.
/// The whole frame is one JSON document (the feature inside is often pretty-printed).
pub fn parse_frame(text: &str) -> Result<Item, RejectReason> {
    if text.len() > MAX_ITEM_BYTES {
        return Err(RejectReason::TooLarge(text.len()));
    }
    let value: Value = serde_json::from_str(text).map_err(|e| RejectReason::Json(e.to_string()))?;
    parse_frame_value(value)
}

fn parse_frame_value(value: Value) -> Result<Item, RejectReason> {
    let Value::Object(mut frame) = value else {
        return Err(RejectReason::Shape("a frame must be a JSON object".into()));
    };
    let action = match frame.get("action") {
        Some(Value::String(a)) => a.clone(),
        Some(other) => {
            return Err(RejectReason::Shape(format!(
                "`action` must be a string, got {}",
                kind(other)
            )));
        }
        None => return Err(RejectReason::Shape("frame has no `action`".into())),
    };
    let data = frame
        .remove("data")
        .ok_or_else(|| RejectReason::Shape("frame has no `data`".into()))?;
    let Some(action) = Action::from_emsc(&action) else {
        let unid = data
            .pointer("/properties/unid")
            .and_then(Value::as_str)
            .map(|s| s.chars().take(64).collect());
        return Ok(Item::UnknownAction {
            action: action.chars().take(64).collect(),
            unid,
        });
    };
    let quake = parse_feature(&data)?;
    Ok(Item::Event { action, quake })
}

/// Parses one GeoJSON feature from EMSC (FDSN or websocket `data`) or USGS, telling them apart
/// by their properties: USGS carries epoch-millisecond `time` and `updated`.
pub fn parse_feature(feature: &Value) -> Result<Quake, RejectReason> {
    let Some(obj) = feature.as_object() else {
        return Err(RejectReason::Shape(format!(
            "a feature must be an object, got {}",
            kind(feature)
        )));
    };
    let props = match obj.get("properties") {
        Some(Value::Object(p)) => p,
        Some(other) => {
            return Err(RejectReason::Shape(format!(
                "`properties` must be an object, got {}",
                kind(other)
            )));
        }
        None => return Err(RejectReason::Shape("feature has no `properties`".into())),
    };
    let is_usgs = props.contains_key("updated")
        || (props.get("time").is_some_and(Value::is_number) && !props.contains_key("lastupdate"));
    let quake = if is_usgs {
        usgs_quake(obj, props)?
    } else {
        emsc_quake(obj, props)?
    };
    quake.validate()?;
    Ok(quake)
}

fn emsc_quake(feature: &Map<String, Value>, p: &Map<String, Value>) -> Result<Quake, RejectReason> {
    let unid = match opt_str(p, "unid")? {
        Some(u) => u,
        None => opt_str(feature, "id")?.ok_or(InvalidQuake::Missing("unid"))?,
    };
    validate_unid(unid)?;
    let coords = coordinates(feature)?;
    let lat = match opt_f64(p, "lat")? {
        Some(v) => v,
        None => coords.map(|c| c.1).ok_or(InvalidQuake::Missing("lat"))?,
    };
    let lon = match opt_f64(p, "lon")? {
        Some(v) => v,
        None => coords.map(|c| c.0).ok_or(InvalidQuake::Missing("lon"))?,
    };
    // EMSC's `depth` is positive down; its geometry carries the elevation (-depth).
    let depth_km = match opt_f64(p, "depth")? {
        Some(v) => v,
        None => coords
            .and_then(|c| c.2)
            .map(|z| -z)
            .ok_or(InvalidQuake::Missing("depth"))?,
    };
    Ok(Quake {
        unid: unid.to_owned(),
        time: parse_time("time", req_str(p, "time")?)?,
        lastupdate: parse_time("lastupdate", req_str(p, "lastupdate")?)?,
        lat,
        lon,
        depth_km: normalise_zero(depth_km),
        mag: opt_f64(p, "mag")?,
        magtype: clean_text(opt_str(p, "magtype")?),
        region: clean_text(opt_str(p, "flynn_region")?),
        agency: clean_text(opt_str(p, "auth")?),
        evtype: clean_text(opt_str(p, "evtype")?),
        source: Source::Emsc,
    })
}

fn usgs_quake(feature: &Map<String, Value>, p: &Map<String, Value>) -> Result<Quake, RejectReason> {
    let unid = opt_str(feature, "id")?.ok_or(InvalidQuake::Missing("id"))?;
    validate_unid(unid)?;
    let (lon, lat, depth) = coordinates(feature)?.ok_or(InvalidQuake::Missing("geometry.coordinates"))?;
    let time = opt_i64(p, "time")?.ok_or(InvalidQuake::Missing("time"))?;
    let updated = opt_i64(p, "updated")?.ok_or(InvalidQuake::Missing("updated"))?;
    Ok(Quake {
        unid: unid.to_owned(),
        time: from_epoch_ms("time", time)?,
        lastupdate: from_epoch_ms("updated", updated)?,
        lat,
        lon,
        // USGS depth is positive down already (the opposite sign of EMSC's geometry).
        depth_km: normalise_zero(depth.ok_or(InvalidQuake::Missing("depth"))?),
        mag: opt_f64(p, "mag")?,
        magtype: clean_text(opt_str(p, "magType")?),
        region: clean_text(opt_str(p, "place")?),
        agency: clean_text(opt_str(p, "net")?),
        evtype: clean_text(opt_str(p, "type")?),
        source: Source::Usgs,
    })
}

/// Turns -0.0 into 0.0, so it prints as `0`.
fn normalise_zero(v: f64) -> f64 {
    if v == 0.0 { 0.0 } else { v }
}

type Coords = (f64, f64, Option<f64>);

fn coordinates(feature: &Map<String, Value>) -> Result<Option<Coords>, InvalidQuake> {
    let Some(c) = feature.get("geometry").and_then(|g| g.get("coordinates")) else {
        return Ok(None);
    };
    let bad = |detail: &str| InvalidQuake::BadType {
        field: "geometry.coordinates",
        detail: detail.into(),
    };
    let arr = c.as_array().ok_or_else(|| bad("not an array"))?;
    let num = |i: usize| {
        arr.get(i)
            .map(|v| v.as_f64().ok_or_else(|| bad("not a number")))
            .transpose()
    };
    match (num(0)?, num(1)?) {
        (Some(lon), Some(lat)) => Ok(Some((lon, lat, num(2)?))),
        _ => Err(bad("needs at least [lon, lat]")),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn opt_str<'a>(p: &'a Map<String, Value>, field: &'static str) -> Result<Option<&'a str>, InvalidQuake> {
    match p.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(InvalidQuake::BadType {
            field,
            detail: format!("expected a string, got {}", kind(other)),
        }),
    }
}

fn req_str<'a>(p: &'a Map<String, Value>, field: &'static str) -> Result<&'a str, InvalidQuake> {
    opt_str(p, field)?.ok_or(InvalidQuake::Missing(field))
}

/// Numbers, and numbers sent as strings (some FDSN nodes quote them).
fn opt_f64(p: &Map<String, Value>, field: &'static str) -> Result<Option<f64>, InvalidQuake> {
    match p.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => s.trim().parse::<f64>().map(Some).map_err(|_| InvalidQuake::BadType {
            field,
            detail: format!("expected a number, got {:?}", s.chars().take(32).collect::<String>()),
        }),
        Some(other) => Err(InvalidQuake::BadType {
            field,
            detail: format!("expected a number, got {}", kind(other)),
        }),
    }
}

fn opt_i64(p: &Map<String, Value>, field: &'static str) -> Result<Option<i64>, InvalidQuake> {
    match opt_f64(p, field)? {
        None => Ok(None),
        Some(v) if v.is_finite() && v.abs() < 1e15 => Ok(Some(v as i64)),
        Some(v) => Err(InvalidQuake::BadTime {
            field,
            value: v.to_string(),
        }),
    }
}

/// Where in a file an item was found, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// 1-based line of a JSON-lines file.
    Line(u64),
    /// 1-based index of a feature in a FeatureCollection.
    Feature(u64),
    /// The document as a whole (a syntax error ends the read).
    Document,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::Line(n) => write!(f, "line {n}"),
            Position::Feature(n) => write!(f, "feature {n}"),
            Position::Document => f.write_str("document"),
        }
    }
}

/// One item read from a file: what it became, and its raw text for the dead-letter topic.
#[derive(Debug, Clone)]
pub struct FileItem {
    pub position: Position,
    pub result: Result<Item, RejectReason>,
    pub raw: String,
}

/// The layout of a file, detected from its first line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// One JSON value per line: websocket frames or bare features.
    JsonLines,
    /// One JSON document: a FeatureCollection (EMSC FDSN or USGS) or a single frame/feature.
    Document,
}

/// What the reader learned about the file besides its items.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileSummary {
    /// `metadata.count` or `metadata.totalCount` of a FeatureCollection, if present.
    pub declared_count: Option<u64>,
    /// Number of items (lines or features) seen.
    pub items: u64,
}

/// Reads `first_line` (at most [`MAX_ITEM_BYTES`]) and decides the layout.
pub fn detect_format(first_line: &str) -> FileFormat {
    match serde_json::from_str::<Value>(first_line.trim()) {
        Ok(Value::Object(o)) if o.get("type").and_then(Value::as_str) != Some("FeatureCollection") => {
            FileFormat::JsonLines
        }
        _ => FileFormat::Document,
    }
}

/// Reads a whole file, calling `on_item` for each frame or feature in file order.
/// `open` is called once per pass (detection reads the first line, then the read starts over).
pub fn read_file<R: Read>(
    mut open: impl FnMut() -> std::io::Result<R>,
    mut on_item: impl FnMut(FileItem),
) -> std::io::Result<(FileFormat, FileSummary)> {
    let first = {
        let mut r = BufReader::new(open()?);
        let mut buf = Vec::new();
        (&mut r).take(MAX_ITEM_BYTES as u64).read_until(b'\n', &mut buf)?;
        String::from_utf8_lossy(&buf).into_owned()
    };
    let format = detect_format(&first);
    let summary = match format {
        FileFormat::JsonLines => read_json_lines(BufReader::new(open()?), &mut on_item)?,
        FileFormat::Document => read_document(BufReader::new(open()?), &mut on_item),
    };
    Ok((format, summary))
}

fn read_json_lines<R: BufRead>(mut r: R, on_item: &mut impl FnMut(FileItem)) -> std::io::Result<FileSummary> {
    let mut summary = FileSummary::default();
    let mut line_no = 0u64;
    let mut buf = Vec::with_capacity(4096);
    loop {
        buf.clear();
        line_no += 1;
        let n = (&mut r).take(MAX_ITEM_BYTES as u64 + 1).read_until(b'\n', &mut buf)?;
        if n == 0 {
            break;
        }
        let too_long = buf.len() > MAX_ITEM_BYTES && buf.last() != Some(&b'\n');
        if too_long {
            // Skip the rest of the line without holding it in memory.
            let mut skipped = buf.len();
            loop {
                let chunk = r.fill_buf()?;
                if chunk.is_empty() {
                    break;
                }
                match chunk.iter().position(|&b| b == b'\n') {
                    Some(i) => {
                        r.consume(i + 1);
                        skipped += i;
                        break;
                    }
                    None => {
                        let len = chunk.len();
                        r.consume(len);
                        skipped += len;
                    }
                }
            }
            summary.items += 1;
            let raw = String::from_utf8_lossy(&buf[..256]).into_owned();
            on_item(FileItem {
                position: Position::Line(line_no),
                result: Err(RejectReason::TooLarge(skipped)),
                raw,
            });
            continue;
        }
        let text = String::from_utf8_lossy(&buf);
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        summary.items += 1;
        let result = match serde_json::from_str::<Value>(text) {
            Err(e) => Err(RejectReason::Json(e.to_string())),
            Ok(v) if v.get("action").is_some() => parse_frame_value(v),
            Ok(v) => parse_feature(&v).map(|quake| Item::Event {
                action: Action::Snapshot,
                quake,
            }),
        };
        on_item(FileItem {
            position: Position::Line(line_no),
            result,
            raw: text.to_owned(),
        });
    }
    Ok(summary)
}

fn read_document<R: Read>(r: R, on_item: &mut impl FnMut(FileItem)) -> FileSummary {
    let mut de = serde_json::Deserializer::from_reader(r);
    let mut state = DocState {
        on_item,
        summary: FileSummary::default(),
        single: None,
    };
    let outcome = (&mut state).deserialize(&mut de).and_then(|()| de.end());
    let DocState {
        on_item,
        mut summary,
        single,
    } = state;
    match outcome {
        Ok(()) => {
            if let Some(value) = single {
                summary.items += 1;
                let raw = value.to_string();
                let result = if value.get("action").is_some() {
                    parse_frame_value(value)
                } else {
                    parse_feature(&value).map(|quake| Item::Event {
                        action: Action::Snapshot,
                        quake,
                    })
                };
                on_item(FileItem {
                    position: Position::Document,
                    result,
                    raw,
                });
            }
        }
        Err(e) if e.line() == 1 && e.column() <= 1 => on_item(FileItem {
            position: Position::Document,
            result: Err(RejectReason::Json(format!(
                "{e}: this is not JSON; expected EMSC websocket frames (JSON lines), an FDSN or USGS GeoJSON FeatureCollection"
            ))),
            raw: String::new(),
        }),
        Err(e) => on_item(FileItem {
            position: Position::Document,
            result: Err(RejectReason::Json(e.to_string())),
            raw: String::new(),
        }),
    }
    summary
}

/// Streams a top-level object: a FeatureCollection's `features` one at a time, or, for a
/// single frame or feature, the whole (bounded) object.
struct DocState<'a, F> {
    on_item: &'a mut F,
    summary: FileSummary,
    single: Option<Value>,
}

impl<'de, F: FnMut(FileItem)> DeserializeSeed<'de> for &mut DocState<'_, F> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, F: FnMut(FileItem)> Visitor<'de> for &mut DocState<'_, F> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a GeoJSON FeatureCollection, a feature or an EMSC frame")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut rest = Map::new();
        let mut is_collection = false;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "features" => {
                    is_collection = true;
                    map.next_value_seed(Features { state: &mut *self })?;
                }
                "metadata" => {
                    #[derive(serde::Deserialize)]
                    struct Meta {
                        count: Option<u64>,
                        #[serde(rename = "totalCount")]
                        total_count: Option<u64>,
                    }
                    if let Ok(m) = serde_json::from_value::<Meta>(map.next_value::<Value>()?) {
                        self.summary.declared_count = m.count.or(m.total_count);
                    }
                }
                _ if rest.len() < 64 => {
                    rest.insert(key, map.next_value()?);
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !is_collection {
            self.single = Some(Value::Object(rest));
        }
        Ok(())
    }
}

struct Features<'s, 'a, F> {
    state: &'s mut DocState<'a, F>,
}

impl<'de, F: FnMut(FileItem)> DeserializeSeed<'de> for Features<'_, '_, F> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, F: FnMut(FileItem)> Visitor<'de> for Features<'_, '_, F> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of features")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(feature) = seq.next_element::<Value>()? {
            self.state.summary.items += 1;
            let position = Position::Feature(self.state.summary.items);
            let raw = feature.to_string();
            let result = if raw.len() > MAX_ITEM_BYTES {
                Err(RejectReason::TooLarge(raw.len()))
            } else {
                parse_feature(&feature).map(|quake| Item::Event {
                    action: Action::Snapshot,
                    quake,
                })
            };
            (self.state.on_item)(FileItem { position, result, raw });
        }
        Ok(())
    }
}

/// Parses an FDSN `format=json` response body (one page of a backfill).
pub fn parse_fdsn_page(body: &[u8], mut on_item: impl FnMut(FileItem)) -> FileSummary {
    read_document(body, &mut on_item)
}
