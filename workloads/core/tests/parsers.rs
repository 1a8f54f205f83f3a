//! Parsers and the wire record, checked against the real EMSC and USGS samples in testdata/.

use quakestream_core::model::{InvalidQuake, Source, fmt_time};
use quakestream_core::parse::{self, FileFormat, FileItem, Item, RejectReason};
use quakestream_core::testkit::testdata;
use quakestream_core::wire::{Action, WireRecord};
use std::collections::HashSet;
use std::path::Path;

fn read_all(path: &Path) -> (FileFormat, parse::FileSummary, Vec<FileItem>) {
    let mut items = Vec::new();
    let (format, summary) = parse::read_file(|| std::fs::File::open(path), |it| items.push(it)).unwrap();
    (format, summary, items)
}

fn events(items: &[FileItem]) -> Vec<(Action, quakestream_core::model::Quake)> {
    items
        .iter()
        .filter_map(|it| match &it.result {
            Ok(Item::Event { action, quake }) => Some((*action, quake.clone())),
            _ => None,
        })
        .collect()
}

fn schema() -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/wire-record.v1.json");
    let schema: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the schema compiles")
}

const SAMPLES: [(&str, FileFormat, usize); 3] = [
    ("usgs-all-week-2024-05-04.geojson", FileFormat::Document, 2588),
    ("emsc-fdsn-2025-04-turkey-aegean-m2.5.json", FileFormat::Document, 430),
    ("emsc-ws-documented-examples.jsonl", FileFormat::JsonLines, 2),
];

#[test]
fn every_real_sample_parses_completely() {
    for (name, format, count) in SAMPLES {
        let (f, summary, items) = read_all(&testdata(name));
        assert_eq!(f, format, "{name}");
        let rejected: Vec<_> = items
            .iter()
            .filter(|i| i.result.is_err())
            .map(|i| format!("{}: {:?}", i.position, i.result))
            .collect();
        assert!(rejected.is_empty(), "{name}: {rejected:?}");
        assert_eq!(events(&items).len(), count, "{name}");
        if format == FileFormat::Document {
            assert_eq!(summary.declared_count, Some(count as u64), "{name}: metadata.count");
        }
    }
}

#[test]
fn every_wire_record_from_the_samples_matches_the_schema_and_round_trips() {
    let validator = schema();
    let now = chrono::Utc::now();
    let mut checked = 0;
    for (name, _, _) in SAMPLES {
        let (_, _, items) = read_all(&testdata(name));
        for (action, quake) in events(&items) {
            let rec = WireRecord::new(action, quake, now);
            let bytes = rec.to_json();
            let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            let errors: Vec<String> = validator
                .iter_errors(&json)
                .map(|e| format!("{} at {}", e, e.instance_path()))
                .collect();
            assert!(errors.is_empty(), "{name} {}: {errors:?}", rec.quake.unid);
            let back = WireRecord::decode(Some(rec.quake.unid.as_bytes()), Some(&bytes)).unwrap();
            assert_eq!(back, rec);
            checked += 1;
        }
    }
    assert_eq!(checked, 2588 + 430 + 2);
}

#[test]
fn emsc_fields_are_normalised() {
    let (_, _, items) = read_all(&testdata("emsc-fdsn-2025-04-turkey-aegean-m2.5.json"));
    let evs = events(&items);
    let (action, q) = &evs[0];
    assert_eq!(*action, Action::Snapshot);
    assert_eq!(q.unid, "20250426_0000198");
    assert_eq!(fmt_time(&q.time), "2025-04-26T12:59:28.000000Z");
    assert_eq!(fmt_time(&q.lastupdate), "2025-04-26T13:48:47.302931Z");
    assert_eq!((q.lat, q.lon, q.depth_km), (35.07, 25.29, 15.0));
    assert_eq!(q.mag, Some(2.6));
    assert_eq!(q.magtype.as_deref(), Some("ml"));
    assert_eq!(q.region.as_deref(), Some("CRETE, GREECE"));
    assert_eq!(q.agency.as_deref(), Some("THE"));
    assert_eq!(q.evtype.as_deref(), Some("ke"));
    assert_eq!(q.source, Source::Emsc);
    // Depth is positive down for every EMSC event (the geometry carries -depth).
    assert!(evs.iter().all(|(_, q)| q.depth_km >= 0.0));
}

#[test]
fn usgs_fields_are_normalised() {
    let (_, _, items) = read_all(&testdata("usgs-all-week-2024-05-04.geojson"));
    let evs = events(&items);
    let (_, q) = &evs[0];
    assert_eq!(q.unid, "nc75000901");
    assert_eq!(q.time.timestamp_millis(), 1714806005430);
    assert_eq!(q.lastupdate.timestamp_millis(), 1714806103445);
    assert_eq!(q.depth_km, 2.33999991416931);
    assert_eq!(q.region.as_deref(), Some("7 km NW of The Geysers, CA"));
    assert_eq!(q.agency.as_deref(), Some("nc"));
    assert_eq!(q.evtype.as_deref(), Some("earthquake"));
    assert_eq!(q.magtype.as_deref(), Some("md"));
    assert_eq!(q.source, Source::Usgs);
    // The README counts 122 events above sea level and 173 negative magnitudes.
    assert_eq!(evs.iter().filter(|(_, q)| q.depth_km < 0.0).count(), 122);
    assert_eq!(evs.iter().filter(|(_, q)| q.mag.is_some_and(|m| m < 0.0)).count(), 173);
    assert_eq!(evs.iter().map(|(_, q)| &q.unid).collect::<HashSet<_>>().len(), 2588);
}

#[test]
fn websocket_frames_keep_their_action() {
    let (_, _, items) = read_all(&testdata("emsc-ws-documented-examples.jsonl"));
    let evs = events(&items);
    assert_eq!(evs[0].0, Action::Create);
    assert_eq!(evs[0].1.unid, "20250305_0000090");
    assert_eq!(evs[1].0, Action::Update);
    assert_eq!(evs[1].1.region.as_deref(), Some("CENTRAL CALIFORNIA"));
}

/// The real wire layout: a compact envelope around a pretty-printed feature.
#[test]
fn pretty_printed_frame_parses_as_one_document() {
    let frame = "{\"action\":\"create\",\"data\":{\n  \"type\": \"Feature\",\n  \"geometry\": {\n    \"type\": \"Point\",\n    \"coordinates\": [\n      -155.5280,\n      19.2000,\n      -32.0\n    ]\n  },\n  \"id\": \"20210101_0000001\",\n  \"properties\": {\n    \"lastupdate\": \"2021-01-01T00:10:00Z\",\n    \"time\": \"2021-01-01T00:00:00.1Z\",\n    \"lat\": 19.2000,\n    \"lon\": -155.5280,\n    \"depth\": 32.0,\n    \"mag\": null,\n    \"unid\": \"20210101_0000001\"\n  }\n}}";
    let Item::Event { action, quake } = parse::parse_frame(frame).unwrap() else {
        panic!()
    };
    assert_eq!(action, Action::Create);
    assert_eq!(quake.depth_km, 32.0);
    assert_eq!(quake.mag, None);
    assert_eq!(quake.magtype, None);
}

fn frame_with(props: &str) -> String {
    format!(
        r#"{{"action":"update","data":{{"type":"Feature","geometry":{{"type":"Point","coordinates":[1,2,-3]}},"id":"X1","properties":{{{props}}}}}}}"#
    )
}

const GOOD: &str = r#""unid":"U1","time":"2025-01-01T00:00:00Z","lastupdate":"2025-01-01T00:01:00.123456Z","lat":10,"lon":20,"depth":5,"mag":3.1"#;

fn reject(props: &str) -> RejectReason {
    parse::parse_frame(&frame_with(props)).expect_err(props)
}

#[test]
fn good_frame_is_accepted() {
    assert!(matches!(parse::parse_frame(&frame_with(GOOD)), Ok(Item::Event { .. })));
}

#[test]
fn out_of_range_values_name_the_field_and_value() {
    let cases = [
        ("lat", r#""lat":90.5"#, 90.5),
        ("lat", r#""lat":-91"#, -91.0),
        ("lon", r#""lon":180.01"#, 180.01),
        ("lon", r#""lon":-200"#, -200.0),
        ("depth_km", r#""depth":800.5"#, 800.5),
        ("depth_km", r#""depth":-15.1"#, -15.1),
        ("mag", r#""mag":10.6"#, 10.6),
        ("mag", r#""mag":-3.5"#, -3.5),
    ];
    for (field, bad, value) in cases {
        let key = bad.split(':').next().unwrap();
        let props: Vec<&str> = GOOD.split(',').filter(|p| !p.starts_with(key)).collect();
        let props = format!("{},{bad}", props.join(","));
        let e = reject(&props);
        assert_eq!(
            e,
            RejectReason::Invalid(InvalidQuake::OutOfRange {
                field,
                value,
                min: e_min(field),
                max: e_max(field)
            }),
            "{bad}"
        );
        let msg = e.to_string();
        assert!(msg.contains(field) && msg.contains(&value.to_string()), "{msg}");
        assert_eq!(e.code(), "out_of_range");
    }
}

fn e_min(field: &str) -> f64 {
    match field {
        "lat" => -90.0,
        "lon" => -180.0,
        "depth_km" => -15.0,
        _ => -3.0,
    }
}

fn e_max(field: &str) -> f64 {
    match field {
        "lat" => 90.0,
        "lon" => 180.0,
        "depth_km" => 800.0,
        _ => 10.5,
    }
}

#[test]
fn range_bounds_are_inclusive() {
    let props = r#""unid":"U1","time":"2025-01-01T00:00:00Z","lastupdate":"2025-01-01T00:00:00Z","lat":-90,"lon":180,"depth":800,"mag":10.5"#;
    assert!(parse::parse_frame(&frame_with(props)).is_ok());
    let props = r#""unid":"U1","time":"2025-01-01T00:00:00Z","lastupdate":"2025-01-01T00:00:00Z","lat":90,"lon":-180,"depth":-15,"mag":-3"#;
    assert!(parse::parse_frame(&frame_with(props)).is_ok());
}

#[test]
fn empty_or_missing_unid_is_rejected() {
    let without: Vec<&str> = GOOD.split(',').filter(|p| !p.starts_with("\"unid\"")).collect();
    // The feature id stands in for a missing unid...
    let ok = parse::parse_frame(&frame_with(&without.join(","))).unwrap();
    assert!(matches!(ok, Item::Event { quake, .. } if quake.unid == "X1"));
    // ...but an empty one is an error, and so is having neither.
    assert_eq!(
        reject(&format!(r#"{},"unid":"  ""#, without.join(","))),
        RejectReason::Invalid(InvalidQuake::EmptyUnid)
    );
    let frame = frame_with(&without.join(",")).replace(r#""id":"X1","#, "");
    assert_eq!(
        parse::parse_frame(&frame).unwrap_err(),
        RejectReason::Invalid(InvalidQuake::Missing("unid"))
    );
    let e = reject(&format!(r#"{},"unid":"a b""#, without.join(",")));
    assert_eq!(e.code(), "bad_unid");
}

#[test]
fn unparsable_times_are_rejected_with_the_field() {
    for (field, bad) in [
        ("time", r#""time":"2025-02-30T00:00:00Z""#),
        ("lastupdate", r#""lastupdate":"soon""#),
        ("time", r#""time":12"#),
    ] {
        let key = bad.split(':').next().unwrap();
        let props: Vec<&str> = GOOD.split(',').filter(|p| !p.starts_with(key)).collect();
        let e = reject(&format!("{},{bad}", props.join(",")));
        assert!(e.to_string().contains(field), "{bad}: {e}");
        assert!(matches!(e.code(), "bad_time" | "bad_type"), "{bad}: {e}");
    }
}

#[test]
fn missing_time_is_rejected() {
    let props: Vec<&str> = GOOD.split(',').filter(|p| !p.starts_with("\"lastupdate\"")).collect();
    assert_eq!(
        reject(&props.join(",")),
        RejectReason::Invalid(InvalidQuake::Missing("lastupdate"))
    );
}

#[test]
fn wrong_types_are_rejected_not_coerced() {
    let props: Vec<&str> = GOOD.split(',').filter(|p| !p.starts_with("\"lat\"")).collect();
    let e = reject(&format!(r#"{},"lat":"north""#, props.join(",")));
    assert_eq!(e.code(), "bad_type");
    assert!(e.to_string().contains("lat"));
    let e = reject(&format!(r#"{},"lat":[1]"#, props.join(",")));
    assert_eq!(e.code(), "bad_type");
}

#[test]
fn unknown_actions_are_skipped_not_fatal() {
    let frame = frame_with(GOOD).replace("\"update\"", "\"delete\"");
    assert_eq!(
        parse::parse_frame(&frame).unwrap(),
        Item::UnknownAction {
            action: "delete".into(),
            unid: Some("U1".into())
        }
    );
}

#[test]
fn malformed_envelopes_are_rejected() {
    for (bad, code) in [
        ("", "bad_json"),
        ("{", "bad_json"),
        ("[]", "bad_shape"),
        ("null", "bad_shape"),
        (r#"{"data":{}}"#, "bad_shape"),
        (r#"{"action":1,"data":{}}"#, "bad_shape"),
        (r#"{"action":"create"}"#, "bad_shape"),
        (r#"{"action":"create","data":[]}"#, "bad_shape"),
        (r#"{"action":"create","data":{"properties":7}}"#, "bad_shape"),
    ] {
        assert_eq!(parse::parse_frame(bad).unwrap_err().code(), code, "{bad:?}");
    }
}

#[test]
fn deep_nesting_and_huge_inputs_do_not_crash() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(parse::parse_frame(&deep).unwrap_err().code(), "bad_json");
    let deep_obj = format!(
        r#"{{"action":"create","data":{}1{}}}"#,
        r#"{"a":"#.repeat(50_000),
        "}".repeat(50_000)
    );
    assert_eq!(parse::parse_frame(&deep_obj).unwrap_err().code(), "bad_json");
    let huge = format!(
        r#"{{"action":"create","data":"{}"}}"#,
        "x".repeat(parse::MAX_ITEM_BYTES + 1)
    );
    assert_eq!(
        parse::parse_frame(&huge).unwrap_err(),
        RejectReason::TooLarge(huge.len())
    );
}

#[test]
fn json_lines_file_reports_each_bad_line_and_keeps_going() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mixed.jsonl");
    let long_line = format!(
        r#"{{"action":"create","data":"{}"}}"#,
        "y".repeat(parse::MAX_ITEM_BYTES * 2)
    );
    let good = frame_with(GOOD);
    let content = format!(
        "{good}\nnot json\n\n{long_line}\n{}\n{good}\n",
        frame_with(r#""unid":"U2""#)
    );
    std::fs::write(&path, content).unwrap();
    let (format, summary, items) = read_all(&path);
    assert_eq!(format, FileFormat::JsonLines);
    assert_eq!(summary.items, 5);
    let positions: Vec<String> = items
        .iter()
        .map(|i| {
            format!(
                "{}={}",
                i.position,
                i.result.as_ref().map(|_| "ok").unwrap_or_else(|e| e.code())
            )
        })
        .collect();
    assert_eq!(
        positions,
        [
            "line 1=ok",
            "line 2=bad_json",
            "line 4=too_large",
            "line 5=missing_field",
            "line 6=ok"
        ]
    );
}

#[test]
fn truncated_document_is_reported_after_the_features_before_it() {
    let text = std::fs::read_to_string(testdata("emsc-fdsn-2025-04-turkey-aegean-m2.5.json")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.json");
    std::fs::write(&path, &text[..text.len() / 2]).unwrap();
    let (_, _, items) = read_all(&path);
    let last = items.last().unwrap();
    assert_eq!(last.position, parse::Position::Document);
    assert_eq!(last.result.as_ref().unwrap_err().code(), "bad_json");
    let n = events(&items).len();
    assert!(n > 100 && n < 430, "{n} features before the cut");
}

#[test]
fn metadata_total_count_is_read_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.json");
    let frame: serde_json::Value = serde_json::from_str(&frame_with(GOOD)).unwrap();
    std::fs::write(
        &path,
        format!(
            r#"{{"type":"FeatureCollection","metadata":{{"totalCount":1}},"features":[{}]}}"#,
            frame["data"]
        ),
    )
    .unwrap();
    let (_, summary, items) = read_all(&path);
    assert_eq!(summary.declared_count, Some(1));
    assert_eq!(events(&items).len(), 1, "{items:?}");
}

#[test]
fn decode_rejects_foreign_records() {
    assert_eq!(WireRecord::decode(None, None).unwrap_err().reason(), "empty");
    assert_eq!(
        WireRecord::decode(None, Some(b"garbage")).unwrap_err().reason(),
        "bad_json"
    );
    assert_eq!(
        WireRecord::decode(None, Some(br#"{"v":2}"#)).unwrap_err().reason(),
        "unsupported_version"
    );
    assert_eq!(
        WireRecord::decode(None, Some(br#"{"x":1}"#)).unwrap_err().reason(),
        "unsupported_version"
    );
    let Item::Event { action, quake } = parse::parse_frame(&frame_with(GOOD)).unwrap() else {
        panic!()
    };
    let bytes = WireRecord::new(action, quake, chrono::Utc::now()).to_json();
    assert_eq!(
        WireRecord::decode(Some(b"other"), Some(&bytes)).unwrap_err().reason(),
        "key_mismatch"
    );
    let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    v["quake"]["lat"] = 95.into();
    assert_eq!(
        WireRecord::decode(None, Some(v.to_string().as_bytes()))
            .unwrap_err()
            .reason(),
        "out_of_range"
    );
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_text_never_panics(s in ".{0,400}") {
            let _ = parse::parse_frame(&s);
        }

        #[test]
        fn arbitrary_bytes_in_a_file_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let mut items = 0;
            let _ = parse::read_file(|| Ok::<_, std::io::Error>(&bytes[..]), |_| items += 1);
        }

        /// Any mutation of one property of a real frame yields an event or a typed rejection.
        #[test]
        fn mutated_real_frames_never_panic(
            field in prop::sample::select(vec!["unid", "time", "lastupdate", "lat", "lon", "depth", "mag", "magtype", "flynn_region", "auth"]),
            value in prop_oneof![
                Just(serde_json::Value::Null),
                any::<f64>().prop_map(|f| serde_json::json!(f)),
                any::<i64>().prop_map(|i| serde_json::json!(i)),
                ".{0,40}".prop_map(serde_json::Value::String),
                Just(serde_json::json!([1, 2])),
                Just(serde_json::json!({"a": {}})),
            ],
        ) {
            let text = std::fs::read_to_string(testdata("emsc-ws-documented-examples.jsonl")).unwrap();
            let mut frame: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
            frame["data"]["properties"][field] = value;
            match parse::parse_frame(&frame.to_string()) {
                Ok(Item::Event { quake, .. }) => prop_assert!(quake.validate().is_ok()),
                Ok(other) => prop_assert!(false, "unexpected {other:?}"),
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }

        /// Valid quakes survive the wire unchanged.
        #[test]
        fn valid_quakes_round_trip(
            lat in -90.0f64..=90.0, lon in -180.0f64..=180.0, depth in -15.0f64..=800.0,
            mag in proptest::option::of(-3.0f64..=10.5), secs in 0i64..4_000_000_000, micros in 0u32..1_000_000,
            unid in "[A-Za-z0-9_]{1,40}",
        ) {
            let t = chrono::DateTime::from_timestamp(secs, micros * 1000).unwrap();
            let quake = quakestream_core::model::Quake {
                unid, time: t, lastupdate: t, lat, lon, depth_km: depth, mag,
                magtype: None, region: Some("A, B".into()), agency: None, evtype: None, source: Source::Emsc,
            };
            let rec = WireRecord::new(Action::Update, quake, t);
            let back = WireRecord::decode(None, Some(&rec.to_json())).unwrap();
            prop_assert_eq!(back, rec);
        }
    }
}

/// Reads `bytes` as a file.
fn read_bytes(bytes: &[u8]) -> (FileFormat, Vec<FileItem>) {
    let mut items = Vec::new();
    let (format, _) = parse::read_file(|| Ok::<_, std::io::Error>(bytes), |it| items.push(it)).unwrap();
    (format, items)
}

fn good_frames(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| frame_with(&GOOD.replace(r#""unid":"U1""#, &format!(r#""unid":"U{i}""#))))
        .collect()
}

#[test]
fn a_bad_first_line_never_loses_the_rest_of_a_json_lines_file() {
    let frames = good_frames(3).join("\n");
    let huge = format!(
        r#"{{"action":"create","data":"{}"}}"#,
        "z".repeat(parse::MAX_ITEM_BYTES + 10)
    );
    let cases: [(&str, Vec<u8>, Option<&str>); 6] = [
        ("blank first line", format!("\n   \n{frames}\n").into_bytes(), None),
        (
            "truncated first line",
            format!("{{\"action\":\"create\",\"data\":{{\"type\":\"Fea\n{frames}\n").into_bytes(),
            Some("bad_json"),
        ),
        ("byte-order mark", [b"\xEF\xBB\xBF", frames.as_bytes()].concat(), None),
        (
            "first line over 1 MiB",
            format!("{huge}\n{frames}\n").into_bytes(),
            Some("too_large"),
        ),
        (
            "[] first line",
            format!("[]\n{frames}\n").into_bytes(),
            Some("bad_shape"),
        ),
        (
            "invalid UTF-8 first line",
            [b"{\"action\":\"create\",\"data\":\"\xFF\xFE\"}\n", frames.as_bytes()].concat(),
            Some("bad_utf8"),
        ),
    ];
    for (what, bytes, reject) in cases {
        let (format, items) = read_bytes(&bytes);
        assert_eq!(format, FileFormat::JsonLines, "{what}");
        assert_eq!(events(&items).len(), 3, "{what}: every valid event after it is read");
        let rejects: Vec<&FileItem> = items.iter().filter(|i| i.result.is_err()).collect();
        match reject {
            None => assert!(rejects.is_empty(), "{what}: {rejects:?}"),
            Some(code) => {
                assert_eq!(rejects.len(), 1, "{what}");
                assert_eq!(rejects[0].result.as_ref().unwrap_err().code(), code, "{what}");
                assert!(!rejects[0].raw.is_empty(), "{what}: the dead letter keeps the line");
            }
        }
    }
}

#[test]
fn rejected_lines_keep_their_bytes_and_oversize_lines_their_length_and_hash() {
    use sha2::Digest;
    let bad = b"{\"action\":\"create\",\"data\":\"\xFF\"}".to_vec();
    let huge = format!(r#"{{"action":"create","data":"{}"}}"#, "q".repeat(3 << 20)).into_bytes();
    let near = format!(
        r#"{{"action":"create","data":"{}"}}"#,
        "n".repeat(parse::MAX_ITEM_BYTES - 64)
    )
    .into_bytes();
    let text = [
        &bad[..],
        b"\n",
        &huge,
        b"\n",
        &near,
        b"\n",
        good_frames(1)[0].as_bytes(),
        b"\n",
    ]
    .concat();
    let (_, items) = read_bytes(&text);
    assert_eq!(items.len(), 4);
    assert_eq!(items[0].raw.bytes, bad, "invalid UTF-8 is kept as bytes");
    assert!(items[0].raw.truncated.is_none());
    let t = items[1]
        .raw
        .truncated
        .as_ref()
        .expect("an oversize line keeps a prefix");
    assert_eq!(items[1].raw.bytes, huge[..parse::DLQ_PREFIX_BYTES]);
    assert_eq!(t.len, huge.len() as u64);
    let sha: String = sha2::Sha256::digest(&huge).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(t.sha256, sha);
    assert_eq!(items[2].result.as_ref().unwrap_err().code(), "bad_shape");
    assert_eq!(items[2].raw.bytes, near, "a reject up to the item limit is kept whole");
    assert!(items[3].result.is_ok());
}

#[test]
fn feature_collections_with_a_bom_or_on_one_line_are_documents() {
    let text = std::fs::read(testdata("emsc-fdsn-2025-04-turkey-aegean-m2.5.json")).unwrap();
    let with_bom = [b"\xEF\xBB\xBF", &text[..]].concat();
    let (format, items) = read_bytes(&with_bom);
    assert_eq!(format, FileFormat::Document);
    assert_eq!(events(&items).len(), 430);
    let mut page = Vec::new();
    parse::parse_fdsn_page(&with_bom, |it| page.push(it));
    assert_eq!(events(&page).len(), 430, "an FDSN page with a BOM");
    // Compact, one feature per line: the last feature line is an object by itself.
    let doc: serde_json::Value = serde_json::from_slice(&text).unwrap();
    let feats: Vec<String> = doc["features"].as_array().unwrap()[..3]
        .iter()
        .map(|f| f.to_string())
        .collect();
    let lines = format!(
        "{{\"type\":\"FeatureCollection\",\"features\":[\n{}\n]}}\n",
        feats.join(",\n")
    );
    let (format, items) = read_bytes(lines.as_bytes());
    assert_eq!(format, FileFormat::Document);
    assert_eq!(events(&items).len(), 3);
}

#[test]
fn document_level_rejects_keep_their_payload() {
    let text = r#"{"action": "create",
  "data": {"type": "Feature", "properties": {"unid": 5}}}
"#;
    let (format, items) = read_bytes(text.as_bytes());
    assert_eq!(format, FileFormat::Document);
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].raw.bytes, text.trim().as_bytes());
    let broken = "{\n  \"action\": \"create\",\n  \"data\": {\"type\": \n";
    let (_, items) = read_bytes(broken.as_bytes());
    assert_eq!(items[0].position, parse::Position::Document);
    assert_eq!(items[0].result.as_ref().unwrap_err().code(), "bad_json");
    assert_eq!(items[0].raw.bytes, broken.trim().as_bytes());
}

#[test]
fn impossible_times_and_invisible_unids_are_rejected_at_the_edge() {
    assert_eq!(
        reject(&GOOD.replace("2025-01-01T00:01:00.123456Z", "9999-12-31T00:00:00Z")).code(),
        "impossible_time"
    );
    assert_eq!(
        reject(&GOOD.replace("\"time\":\"2025-01-01T00:00:00Z\"", "\"time\":\"1850-01-01T00:00:00Z\"")).code(),
        "impossible_time"
    );
    assert_eq!(reject(&GOOD.replace("\"U1\"", "\"U\u{200B}1\"")).code(), "bad_unid");
    assert_eq!(reject(&GOOD.replace("\"U1\"", "\"\u{202E}U1\"")).code(), "bad_unid");
    let usgs = |time: i64| {
        serde_json::json!({"type": "Feature", "id": "us1", "geometry": {"coordinates": [1.0, 2.0, 3.0]},
            "properties": {"time": time, "updated": time, "mag": 2.0}})
    };
    for t in [999_999_999_999_999_i64, -62_000_000_000_000] {
        assert_eq!(
            parse::parse_feature(&usgs(t)).unwrap_err().code(),
            "impossible_time",
            "{t}"
        );
    }
    assert!(parse::parse_feature(&usgs(1_714_000_000_000)).is_ok());
}
