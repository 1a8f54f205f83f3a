//! Parsers for every input QuakeStream reads: EMSC websocket frames, EMSC FDSN `format=json`
//! responses, USGS GeoJSON feeds, and files of them (JSON lines of frames or features, or one
//! FeatureCollection document, streamed so that a file of any size is read in bounded memory).

use crate::model::{InvalidQuake, Quake, Source, clean_text, from_epoch_ms, parse_time, validate_unid};
use crate::wire::Action;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::rc::Rc;

/// The largest websocket frame, JSON line, feature or single document parsed (real ones are
/// ~1 KiB); see [`quakestream_contract::limits`].
pub const MAX_ITEM_BYTES: usize = quakestream_contract::limits::MAX_ITEM_BYTES;

/// Why one input item (a frame, a line, a feature) was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RejectReason {
    #[error("not valid JSON: {0}")]
    Json(String),
    #[error("not valid UTF-8: {0}")]
    Utf8(String),
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
            RejectReason::Utf8(_) => "bad_utf8",
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

/// [`parse_frame`] for a frame as bytes (a binary frame, or text of unknown encoding).
pub fn parse_frame_bytes(bytes: &[u8]) -> Result<Item, RejectReason> {
    if bytes.len() > MAX_ITEM_BYTES {
        return Err(RejectReason::TooLarge(bytes.len()));
    }
    parse_frame(std::str::from_utf8(bytes).map_err(|e| RejectReason::Utf8(e.to_string()))?)
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
    quake.check_times(chrono::Utc::now())?;
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

/// The bytes of a rejected input, as the dead-letter topic keeps them: the whole input up to
/// [`MAX_ITEM_BYTES`], or, beyond, its first [`DLQ_PREFIX_BYTES`] with its length and SHA-256.
/// Bytes stay bytes: invalid UTF-8 is kept as it came.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Raw {
    /// The input, or its prefix when `truncated` is set.
    pub bytes: Vec<u8>,
    pub truncated: Option<Truncated>,
}

/// What a dead letter records of an input it keeps only a prefix of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncated {
    /// The input's full length in bytes.
    pub len: u64,
    /// SHA-256 of the whole input, lowercase hex.
    pub sha256: String,
}

pub use quakestream_contract::limits::DLQ_PREFIX_BYTES;

impl Raw {
    /// The raw form of an input held in memory (cut to a prefix beyond [`MAX_ITEM_BYTES`]).
    pub fn of(bytes: &[u8]) -> Raw {
        let mut sink = RawSink::default();
        sink.update(bytes);
        sink.finish()
    }

    /// The input's full length.
    pub fn len(&self) -> u64 {
        self.truncated.as_ref().map_or(self.bytes.len() as u64, |t| t.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Builds a [`Raw`] from an input read in pieces, holding at most [`MAX_ITEM_BYTES`] of it.
#[derive(Default)]
pub struct RawSink {
    head: Vec<u8>,
    len: u64,
    hasher: sha2::Sha256,
}

impl RawSink {
    pub fn update(&mut self, chunk: &[u8]) {
        use sha2::Digest;
        self.hasher.update(chunk);
        self.len += chunk.len() as u64;
        let room = MAX_ITEM_BYTES.saturating_sub(self.head.len());
        self.head.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }

    pub fn finish(mut self) -> Raw {
        use sha2::Digest;
        if self.len <= MAX_ITEM_BYTES as u64 {
            return Raw {
                bytes: self.head,
                truncated: None,
            };
        }
        self.head.truncate(DLQ_PREFIX_BYTES);
        let sha256 = self.hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
        Raw {
            bytes: self.head,
            truncated: Some(Truncated { len: self.len, sha256 }),
        }
    }
}

/// Where in a file an item was found, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// 1-based line of a JSON-lines file.
    Line(u64),
    /// 1-based index of a feature in a FeatureCollection.
    Feature(u64),
    /// The document as a whole (a syntax error or an over-long item ends the read).
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

/// One item read from a file: what it became, and, if rejected, its raw bytes for the
/// dead-letter topic (empty for accepted items).
#[derive(Debug, Clone)]
pub struct FileItem {
    pub position: Position,
    pub result: Result<Item, RejectReason>,
    pub raw: Raw,
}

/// The layout of a file.
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

const BOM: &[u8] = b"\xEF\xBB\xBF";
/// Detection looks at this many non-blank lines for one that is a JSON object by itself.
const DETECT_LINES: usize = 8;

/// Decides the layout of a file (`open` is called once per look, each time from the start):
///
/// 1. a FeatureCollection, however laid out (one line of any length, or pretty-printed), is
///    recognised by its top-level `type` or `features` key within its first [`MAX_ITEM_BYTES`];
/// 2. otherwise, if one of the first few non-blank lines is a JSON object on its own, the
///    file is JSON lines: a blank, truncated, over-long or non-object first line (`[]`) is
///    then one rejected line, not the end of the file;
/// 3. otherwise it is one document (a pretty-printed frame or feature).
///
/// A leading UTF-8 byte-order mark is skipped.
pub fn detect_format<R: Read>(mut open: impl FnMut() -> std::io::Result<R>) -> std::io::Result<FileFormat> {
    let mut probe = BufReader::new(open()?);
    skip_bom(&mut probe)?;
    if starts_a_collection(probe.take(MAX_ITEM_BYTES as u64)) {
        return Ok(FileFormat::Document);
    }
    let mut r = BufReader::new(open()?);
    let mut buf = Vec::new();
    let mut seen = 0;
    while seen < DETECT_LINES {
        let text = match read_line(&mut r, &mut buf)? {
            LineRead::Eof => break,
            LineRead::TooLong(_) => {
                seen += 1;
                continue;
            }
            LineRead::Line => strip_bom(&buf).trim_ascii(),
        };
        if text.is_empty() {
            continue;
        }
        seen += 1;
        if matches!(serde_json::from_slice::<Value>(text), Ok(Value::Object(_))) {
            return Ok(FileFormat::JsonLines);
        }
    }
    Ok(FileFormat::Document)
}

fn strip_bom(b: &[u8]) -> &[u8] {
    b.strip_prefix(BOM).unwrap_or(b)
}

fn skip_bom<R: BufRead>(r: &mut R) -> std::io::Result<()> {
    if r.fill_buf()?.starts_with(BOM) {
        r.consume(BOM.len());
    }
    Ok(())
}

/// Whether the first JSON value is an object with a top-level `features` key or `"type":
/// "FeatureCollection"` (read as a stream: values of other keys are skipped, not held).
fn starts_a_collection<R: Read>(r: R) -> bool {
    struct Probe {
        found: bool,
    }
    impl<'de> Visitor<'de> for &mut Probe {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(key) = map.next_key::<String>()? {
                let hit = match key.as_str() {
                    "features" => true,
                    "type" => map.next_value::<Value>()? == "FeatureCollection",
                    _ => {
                        map.next_value::<IgnoredAny>()?;
                        false
                    }
                };
                if hit {
                    self.found = true;
                    // Stop reading: the answer is known.
                    return Err(serde::de::Error::custom("found"));
                }
            }
            Ok(())
        }
    }
    let mut probe = Probe { found: false };
    let mut de = serde_json::Deserializer::from_reader(r);
    let _ = serde::Deserializer::deserialize_any(&mut de, &mut probe);
    probe.found
}

enum LineRead {
    Eof,
    /// `buf` holds the line (at most [`MAX_ITEM_BYTES`] and its newline).
    Line,
    /// The line is longer than [`MAX_ITEM_BYTES`]: it was read to its end without holding it.
    TooLong(RawSink),
}

fn read_line<R: BufRead>(r: &mut R, buf: &mut Vec<u8>) -> std::io::Result<LineRead> {
    buf.clear();
    let n = (&mut *r).take(MAX_ITEM_BYTES as u64 + 1).read_until(b'\n', buf)?;
    if n == 0 {
        return Ok(LineRead::Eof);
    }
    if buf.len() <= MAX_ITEM_BYTES || buf.last() == Some(&b'\n') {
        return Ok(LineRead::Line);
    }
    let mut sink = RawSink::default();
    sink.update(buf);
    loop {
        let chunk = r.fill_buf()?;
        if chunk.is_empty() {
            break;
        }
        match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => {
                sink.update(&chunk[..i]);
                r.consume(i + 1);
                break;
            }
            None => {
                let len = chunk.len();
                sink.update(chunk);
                r.consume(len);
            }
        }
    }
    Ok(LineRead::TooLong(sink))
}

/// Reads a whole file, calling `on_item` for each frame or feature in file order.
/// `open` is called once per pass (detection looks at the beginning, then the read starts over).
/// Memory stays bounded: lines and features are read one at a time, each within
/// [`MAX_ITEM_BYTES`].
pub fn read_file<R: Read>(
    mut open: impl FnMut() -> std::io::Result<R>,
    mut on_item: impl FnMut(FileItem),
) -> std::io::Result<(FileFormat, FileSummary)> {
    let format = detect_format(&mut open)?;
    let summary = match format {
        FileFormat::JsonLines => read_json_lines(BufReader::new(open()?), &mut on_item)?,
        FileFormat::Document => read_document(open()?, &mut on_item),
    };
    Ok((format, summary))
}

fn read_json_lines<R: BufRead>(mut r: R, on_item: &mut impl FnMut(FileItem)) -> std::io::Result<FileSummary> {
    let mut summary = FileSummary::default();
    let mut line_no = 0u64;
    let mut buf = Vec::with_capacity(4096);
    loop {
        line_no += 1;
        let bytes = match read_line(&mut r, &mut buf)? {
            LineRead::Eof => break,
            LineRead::TooLong(sink) => {
                summary.items += 1;
                let raw = sink.finish();
                on_item(FileItem {
                    position: Position::Line(line_no),
                    result: Err(RejectReason::TooLarge(raw.len() as usize)),
                    raw,
                });
                continue;
            }
            LineRead::Line if line_no == 1 => strip_bom(&buf).trim_ascii(),
            LineRead::Line => buf.trim_ascii(),
        };
        if bytes.is_empty() {
            continue;
        }
        summary.items += 1;
        let result = match std::str::from_utf8(bytes) {
            Err(e) => Err(RejectReason::Utf8(e.to_string())),
            Ok(text) => match serde_json::from_str::<Value>(text) {
                Err(e) => Err(RejectReason::Json(e.to_string())),
                Ok(v) => parse_value(v),
            },
        };
        let raw = if result.is_err() {
            Raw::of(bytes)
        } else {
            Raw::default()
        };
        on_item(FileItem {
            position: Position::Line(line_no),
            result,
            raw,
        });
    }
    Ok(summary)
}

/// A frame (it has an `action`) or a bare feature (a snapshot).
fn parse_value(v: Value) -> Result<Item, RejectReason> {
    if v.get("action").is_some() {
        parse_frame_value(v)
    } else {
        parse_feature(&v).map(|quake| Item::Event {
            action: Action::Snapshot,
            quake,
        })
    }
}

/// The bytes the document reader has read since the current item began (a feature, or the
/// parts of the document around the features). More than [`MAX_ITEM_BYTES`] of them fails the
/// read, with `over` set: a document or feature of any size costs at most about that much.
#[derive(Default)]
struct Capture {
    since_mark: Vec<u8>,
    over: bool,
}

impl Capture {
    fn mark(&mut self) {
        self.since_mark.clear();
    }
    /// The current item's bytes, without the separators before it.
    fn item(&self) -> &[u8] {
        let b = &self.since_mark;
        let start = b
            .iter()
            .position(|c| !c.is_ascii_whitespace() && *c != b',')
            .unwrap_or(b.len());
        b[start..].trim_ascii_end()
    }
}

type SharedCapture = Rc<RefCell<Capture>>;

/// A reader that records what it reads in the [`Capture`] and refuses to read past the limit.
struct Bounded<R> {
    inner: R,
    cap: SharedCapture,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut cap = self.cap.borrow_mut();
        let room = MAX_ITEM_BYTES.saturating_sub(cap.since_mark.len());
        if room == 0 {
            cap.over = true;
            return Err(std::io::Error::other(format!(
                "item over the {MAX_ITEM_BYTES}-byte limit"
            )));
        }
        let len = buf.len().min(room);
        let n = self.inner.read(&mut buf[..len])?;
        cap.since_mark.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

/// The input from the failed item to the end, as a dead letter keeps it.
fn remainder<R: Read>(cap: &Capture, rest: &mut R) -> Raw {
    let mut sink = RawSink::default();
    sink.update(cap.item());
    let mut chunk = vec![0u8; 64 << 10];
    while let Ok(n) = rest.read(&mut chunk) {
        if n == 0 {
            break;
        }
        sink.update(&chunk[..n]);
    }
    sink.finish()
}

fn read_document<R: Read>(r: R, on_item: &mut impl FnMut(FileItem)) -> FileSummary {
    let mut inner = BufReader::new(r);
    let _ = skip_bom(&mut inner);
    let cap = SharedCapture::default();
    let mut reader = Bounded {
        inner,
        cap: cap.clone(),
    };
    let mut state = DocState {
        on_item,
        summary: FileSummary::default(),
        single: None,
        cap: cap.clone(),
    };
    let outcome = {
        let mut de = serde_json::Deserializer::from_reader(&mut reader);
        (&mut state).deserialize(&mut de).and_then(|()| de.end())
    };
    let DocState {
        on_item,
        mut summary,
        single,
        ..
    } = state;
    match outcome {
        Ok(()) => {
            if let Some(value) = single {
                summary.items += 1;
                let result = parse_value(value);
                let raw = match result {
                    Err(_) => Raw::of(cap.borrow().item()),
                    Ok(_) => Raw::default(),
                };
                on_item(FileItem {
                    position: Position::Document,
                    result,
                    raw,
                });
            }
        }
        Err(e) => {
            let raw = remainder(&cap.borrow(), &mut reader.inner);
            let result = if cap.borrow().over {
                RejectReason::TooLarge(raw.len() as usize)
            } else if e.line() == 1 && e.column() <= 1 {
                RejectReason::Json(format!(
                    "{e}: this is not JSON; expected EMSC websocket frames (JSON lines), an FDSN or USGS GeoJSON FeatureCollection"
                ))
            } else {
                RejectReason::Json(e.to_string())
            };
            on_item(FileItem {
                position: Position::Document,
                result: Err(result),
                raw,
            });
        }
    }
    summary
}

/// Streams a top-level object: a FeatureCollection's `features` one at a time, or, for a
/// single frame or feature, the whole (bounded) object.
struct DocState<'a, F> {
    on_item: &'a mut F,
    summary: FileSummary,
    single: Option<Value>,
    cap: SharedCapture,
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
        loop {
            // Each feature may take up to MAX_ITEM_BYTES of its own.
            self.state.cap.borrow_mut().mark();
            let Some(feature) = seq.next_element::<Value>()? else {
                break;
            };
            self.state.summary.items += 1;
            let position = Position::Feature(self.state.summary.items);
            let result = parse_feature(&feature).map(|quake| Item::Event {
                action: Action::Snapshot,
                quake,
            });
            let raw = match result {
                Err(_) => Raw::of(self.state.cap.borrow().item()),
                Ok(_) => Raw::default(),
            };
            (self.state.on_item)(FileItem { position, result, raw });
        }
        self.state.cap.borrow_mut().mark();
        Ok(())
    }
}

/// Parses an FDSN `format=json` response body (one page of a backfill), with or without a
/// byte-order mark.
pub fn parse_fdsn_page(body: &[u8], mut on_item: impl FnMut(FileItem)) -> FileSummary {
    read_document(body, &mut on_item)
}
