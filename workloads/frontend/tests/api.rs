//! API tests on real parts: librdkafka's mock cluster (or KAFKA_BOOTSTRAP_SERVERS) and dynoxide.

use chrono::{Duration, Utc};
use quakestream_core::kafka::create_producer;
use quakestream_core::model::{Quake, Source};
use quakestream_core::testkit;
use quakestream_core::wire::{Action, WireRecord};
use quakestream_frontend::{Frontend, FrontendConfig, start};
use rdkafka::producer::FutureRecord;
use serde_json::Value;
use std::sync::Arc;

fn quake(unid: &str, mins_ago: i64, mag: f64, depth: f64, lon: f64) -> Quake {
    let t = Utc::now() - Duration::minutes(mins_ago);
    Quake {
        unid: unid.into(),
        time: t,
        lastupdate: t + Duration::seconds(30),
        lat: 10.0,
        lon,
        depth_km: depth,
        mag: Some(mag),
        magtype: Some("ml".into()),
        region: Some(format!("REGION, {unid}")),
        agency: Some("EMSC".into()),
        evtype: Some("ke".into()),
        source: Source::Emsc,
    }
}

async fn produce(bootstrap: &str, topic: &str, quakes: &[Quake]) {
    let p = create_producer(bootstrap).unwrap();
    for q in quakes {
        let rec = WireRecord::new(Action::Create, q.clone(), Utc::now());
        p.send(
            FutureRecord::to(topic).key(rec.key()).payload(&rec.to_json()),
            std::time::Duration::from_secs(30),
        )
        .await
        .map_err(|(e, _)| e)
        .unwrap();
    }
}

/// 30 recent events on Kafka (mag 2.0..4.9, depth 0..290 km, lon -145..145) and 3 old ones in
/// the archive only; the frontend is ready when it returns.
async fn setup(rate_limit: u32) -> (Frontend, String, Vec<Quake>, String) {
    let kafka = testkit::kafka();
    let topic = kafka.topic("quakes-api", 2);
    let recent: Vec<Quake> = (0..30)
        .map(|i| {
            quake(
                &format!("r{i:02}"),
                i64::from(i) * 10,
                2.0 + f64::from(i) * 0.1,
                f64::from(i) * 10.0,
                -145.0 + f64::from(i) * 10.0,
            )
        })
        .collect();
    produce(&kafka.bootstrap, &topic, &recent).await;
    let store = quakestream_store::testkit::fresh_store("fe-api").await;
    for i in 0..3 {
        let q = quake(&format!("old{i}"), 30 * 86400 / 60 + i64::from(i) * 60, 5.0, 10.0, 0.0);
        store
            .upsert(&WireRecord::new(Action::Snapshot, q, Utc::now()))
            .await
            .unwrap();
    }
    // An old, heavily revised event: 120 revisions in the store, none in memory.
    let base = quake("heavy-old", 60 * 86400 / 60, 4.0, 10.0, 0.0);
    for i in 0..120 {
        let q = Quake {
            lastupdate: base.lastupdate + Duration::seconds(i),
            mag: Some(4.0 + i as f64 / 1000.0),
            ..base.clone()
        };
        store
            .upsert(&WireRecord::new(Action::Update, q, Utc::now()))
            .await
            .unwrap();
    }
    let (_tx, rx) = quakestream_core::ops::shutdown_channel();
    std::mem::forget(_tx);
    let cfg = FrontendConfig {
        rate_limit,
        archive: Some(Arc::new(store)),
        ..FrontendConfig::new(kafka.bootstrap.clone(), topic.clone())
    };
    let fe = start(cfg, prometheus::Registry::new(), rx).await.unwrap();
    let url = format!("http://{}", fe.addr);
    let client = reqwest::Client::new();
    // Readiness is the contract: wait on /readyz (a bounded loop of requests, no sleeps).
    let mut ready = false;
    for _ in 0..2000 {
        if client.get(format!("{url}/readyz")).send().await.unwrap().status() == 200 {
            ready = true;
            break;
        }
        tokio::task::yield_now().await;
        let _ = tokio::time::timeout(std::time::Duration::from_millis(10), futures::future::pending::<()>()).await;
    }
    assert!(ready, "frontend never became ready");
    (fe, url, recent, topic)
}

async fn get_json(url: &str) -> (u16, Value, reqwest::header::HeaderMap) {
    let r = reqwest::get(url).await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    (status, body, headers)
}

fn unids(fc: &Value) -> Vec<String> {
    fc["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_formats_errors_paging_etag() {
    let (_fe, url, recent, _) = setup(0).await;

    // Default: GeoJSON, last 24 h, newest first, every field.
    let (s, fc, h) = get_json(&format!("{url}/api/quakes")).await;
    assert_eq!(s, 200);
    assert_eq!(h["content-type"], "application/geo+json");
    assert_eq!(unids(&fc), recent.iter().map(|q| q.unid.clone()).collect::<Vec<_>>());
    let f0 = &fc["features"][0];
    assert_eq!(f0["id"], "r00");
    for k in [
        "unid",
        "time",
        "lastupdate",
        "lat",
        "lon",
        "depth_km",
        "mag",
        "magtype",
        "region",
        "agency",
        "evtype",
        "source",
    ] {
        assert!(f0["properties"].get(k).is_some(), "missing {k}");
    }
    assert_eq!(fc["metadata"]["source"], "memory");

    // Filters: magnitude, depth, bbox, time.
    let (_, fc, _) = get_json(&format!(
        "{url}/api/quakes?minmag=3.0&maxmag=3.45&mindepth=100&maxdepth=130"
    ))
    .await;
    assert_eq!(unids(&fc), vec!["r10", "r11", "r12", "r13"]);
    let (_, fc, _) = get_json(&format!("{url}/api/quakes?bbox=-150,0,-110,20")).await;
    assert_eq!(unids(&fc), vec!["r00", "r01", "r02", "r03"]);
    let since = (Utc::now() - Duration::minutes(45)).to_rfc3339();
    let (_, fc, _) = get_json(&format!("{url}/api/quakes?since={}", urlencode(&since))).await;
    assert_eq!(unids(&fc), vec!["r00", "r01", "r02", "r03", "r04"]);

    // Paging: no gaps, no repeats, in order.
    let mut seen = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let u = match &next {
            None => format!("{url}/api/quakes?limit=7"),
            Some(t) => format!("{url}/api/quakes?limit=7&page_token={}", urlencode(t)),
        };
        let (s, fc, _) = get_json(&u).await;
        assert_eq!(s, 200, "{fc}");
        seen.extend(unids(&fc));
        match fc["metadata"]["next_page_token"].as_str() {
            Some(t) => next = Some(t.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, recent.iter().map(|q| q.unid.clone()).collect::<Vec<_>>());

    // CSV.
    let r = reqwest::get(format!("{url}/api/quakes?format=csv&minmag=4.85"))
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = r.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "unid,time,lastupdate,lat,lon,depth_km,mag,magtype,region,agency,evtype,source"
    );
    assert_eq!(lines.len(), 2);
    assert!(
        lines[1].starts_with("r29,") && lines[1].contains("\"REGION, r29\""),
        "{}",
        lines[1]
    );

    // Errors name the parameter, on the memory path and on the store path alike (a bad token or
    // a `since` older than any event used to be a "503 try again" from the store).
    let old_since = urlencode(&(Utc::now() - Duration::days(40)).to_rfc3339());
    for (q, param) in [
        ("minmag=x".to_owned(), "minmag"),
        ("minmag=11".to_owned(), "minmag"),
        ("minmag=".to_owned(), "minmag"),
        ("min_mag=3".to_owned(), "min_mag"),
        ("since=yesterday".to_owned(), "since"),
        ("since=1850-01-01T00:00:00Z".to_owned(), "since"),
        ("limit=0".to_owned(), "limit"),
        ("format=xml".to_owned(), "format"),
        ("bbox=1,2".to_owned(), "bbox"),
        ("page_token=zzz".to_owned(), "page_token"),
        (format!("since={old_since}&page_token=zzz"), "page_token"),
        (format!("since={old_since}&maxdepth=900"), "maxdepth"),
    ] {
        let (s, e, _) = get_json(&format!("{url}/api/quakes?{q}")).await;
        assert_eq!(s, 400, "{q}: {e}");
        assert_eq!(e["parameter"], param, "{q}: {e}");
        assert_eq!(e["error"], "invalid_parameter");
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{q}: {e}");
    }

    // ETag: same body, same tag; If-None-Match gives 304; a new record changes it.
    let client = reqwest::Client::new();
    let u = format!("{url}/api/quakes?minmag=4");
    let r1 = client.get(&u).send().await.unwrap();
    let tag = r1.headers()["etag"].clone();
    let r304 = client
        .get(&u)
        .header("if-none-match", tag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r304.status(), 304);
    // Compression when asked for: the gzipped body (cached with the plain one) decompresses to the
    // plain body, carries the same ETag and Vary: Accept-Encoding, and revalidates to 304 too.
    let raw = reqwest::Client::builder().no_gzip().build().unwrap();
    let plain = raw.get(&u).send().await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    assert_eq!(plain.headers()["vary"], "Accept-Encoding");
    let plain_tag = plain.headers()["etag"].clone();
    let plain_body = plain.bytes().await.unwrap();
    let gz = raw
        .get(&u)
        .header("accept-encoding", "br;q=1.0, gzip;q=0.8")
        .send()
        .await
        .unwrap();
    assert_eq!(
        gz.headers().get("content-encoding").map(|v| v.to_str().unwrap()),
        Some("gzip")
    );
    assert_eq!(gz.headers()["vary"], "Accept-Encoding");
    assert_eq!(gz.headers()["etag"], plain_tag);
    let gz_body = gz.bytes().await.unwrap();
    assert!(gz_body.len() < plain_body.len());
    let mut unzipped = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz_body[..]), &mut unzipped).unwrap();
    assert_eq!(unzipped, plain_body, "gzip body is the plain body");
    let again = raw
        .get(&u)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(again, gz_body, "served from the cache, byte for byte");
    let gz304 = raw
        .get(&u)
        .header("accept-encoding", "gzip")
        .header("if-none-match", plain_tag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(gz304.status(), 304);
    let refused = raw
        .get(&u)
        .header("accept-encoding", "gzip;q=0, identity")
        .send()
        .await
        .unwrap();
    assert!(refused.headers().get("content-encoding").is_none(), "q=0 refuses gzip");
    assert_eq!(refused.bytes().await.unwrap(), plain_body);

    // Older windows come from the archive (DynamoDB), with its own paging.
    let since = (Utc::now() - Duration::days(40)).to_rfc3339();
    let until = (Utc::now() - Duration::days(20)).to_rfc3339();
    let (s, fc, _) = get_json(&format!(
        "{url}/api/quakes?since={}&until={}&limit=2",
        urlencode(&since),
        urlencode(&until)
    ))
    .await;
    assert_eq!(s, 200, "{fc}");
    assert_eq!(fc["metadata"]["source"], "store");
    assert_eq!(unids(&fc), vec!["old0", "old1"]);
    let t = fc["metadata"]["next_page_token"]
        .as_str()
        .expect("a second page")
        .to_owned();
    let (_, fc, _) = get_json(&format!(
        "{url}/api/quakes?since={}&until={}&limit=2&page_token={}",
        urlencode(&since),
        urlencode(&until),
        urlencode(&t)
    ))
    .await;
    assert_eq!(unids(&fc), vec!["old2"]);

    // One event: from memory, and from the archive with its revisions.
    let (s, f, _) = get_json(&format!("{url}/api/quakes/r05")).await;
    assert_eq!(s, 200);
    assert_eq!(f["revisions"].as_array().unwrap().len(), 1);
    let (s, f, _) = get_json(&format!("{url}/api/quakes/old1")).await;
    assert_eq!(s, 200, "{f}");
    assert_eq!(f["properties"]["revision_count"], 1);
    let (s, _, _) = get_json(&format!("{url}/api/quakes/nope")).await;
    assert_eq!(s, 404);
    // A heavily revised event: the count is the store's (every revision ever stored), the list
    // the store's rule (the first and the newest), the same constant for memory and store.
    let (s, f, _) = get_json(&format!("{url}/api/quakes/heavy-old")).await;
    assert_eq!(s, 200, "{f}");
    assert_eq!(f["properties"]["revision_count"], 120);
    let revs = f["revisions"].as_array().unwrap();
    assert_eq!(revs.len(), quakestream_store::MAX_REVISIONS);
    assert_eq!(revs[0]["mag"], 4.0, "the first revision is kept");
    assert_eq!(revs.last().unwrap()["mag"], 4.119, "and the newest");
    assert_eq!(f["properties"]["mag"], 4.119);

    // OpenAPI and metrics.
    let (s, spec, _) = get_json(&format!("{url}/api/openapi.json")).await;
    assert_eq!(s, 200);
    assert!(spec["paths"]["/api/quakes"].is_object());
    let m = reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        m.contains("quakestream_frontend_http_requests_total{route=\"/api/quakes\",status=\"400\"}"),
        "{m}"
    );
    assert!(m.contains("quakestream_frontend_index_events 30"), "{m}");
    assert!(m.contains("quakestream_frontend_http_request_duration_seconds_bucket"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_answers_429_with_retry_after() {
    let (_fe, url, _, _) = setup(5).await;
    let client = reqwest::Client::new();
    for i in 0..5 {
        assert_eq!(
            client.get(format!("{url}/api/quakes")).send().await.unwrap().status(),
            200,
            "request {i}"
        );
    }
    let r = client.get(format!("{url}/api/quakes")).send().await.unwrap();
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    // Probes are never limited.
    assert_eq!(client.get(format!("{url}/readyz")).send().await.unwrap().status(), 200);
}

/// The value of the first sample of `name` (with labels, as printed) on `/metrics`, or 0.
async fn metric(url: &str, name: &str) -> f64 {
    let m = reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    m.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0.0)
}

const WINDOW_CALLS_OK: &str = "quakestream_frontend_store_queries_total{kind=\"window\",outcome=\"ok\"}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_views_share_one_answer_and_seven_days_come_from_memory() {
    let (fe, url, _, topic) = setup(0).await;
    // An event just inside the 7-day window, sent live (so only memory has it).
    let kafka = testkit::kafka();
    let edge = quake("edge-7d", 7 * 24 * 60 - 2, 3.3, 5.0, 0.0);
    produce(&kafka.bootstrap, &topic, std::slice::from_ref(&edge)).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while fe.state.index.get("edge-7d").is_none() {
        assert!(std::time::Instant::now() < deadline, "the edge event never arrived");
        tokio::task::yield_now().await;
        let _ = tokio::time::timeout(std::time::Duration::from_millis(10), futures::future::pending::<()>()).await;
    }

    // What the page asks for: since = now - 7 d rounded down to the minute, limit 20000.
    let minute = |t: chrono::DateTime<Utc>| {
        t - Duration::seconds(t.timestamp() % 60) - Duration::nanoseconds(i64::from(t.timestamp_subsec_nanos()))
    };
    let since = minute(Utc::now() - Duration::days(7));
    let calls_before = metric(&url, WINDOW_CALLS_OK).await;
    let (s, fc, h1) = get_json(&format!(
        "{url}/api/quakes?since={}&limit=20000",
        urlencode(&since.to_rfc3339())
    ))
    .await;
    assert_eq!(s, 200, "{fc}");
    assert_eq!(fc["metadata"]["source"], "memory");
    assert!(unids(&fc).contains(&"edge-7d".to_owned()));
    assert_eq!(
        metric(&url, WINDOW_CALLS_OK).await,
        calls_before,
        "no store query for a 7-day view"
    );

    // Another view of the same window, spelt differently, is the same cached answer.
    let hits = "quakestream_frontend_response_cache_total{outcome=\"hit\"}";
    let hits_before = metric(&url, hits).await;
    let other = since
        .with_timezone(&chrono::FixedOffset::east_opt(3600).unwrap())
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, false);
    let (s, _, h2) = get_json(&format!("{url}/api/quakes?limit=20000&since={}", urlencode(&other))).await;
    assert_eq!(s, 200);
    assert_eq!(h1["etag"], h2["etag"]);
    assert!(metric(&url, hits).await > hits_before, "served from the cache");

    // A two-year window with a magnitude no event has: each request reads at most
    // MAX_QUERIES_PER_CALL days (every Query counted) and says where to go on.
    let since = urlencode(&(Utc::now() - Duration::days(731)).to_rfc3339());
    let before = metric(&url, WINDOW_CALLS_OK).await;
    let (s, fc, _) = get_json(&format!("{url}/api/quakes?since={since}&minmag=10.4")).await;
    assert_eq!(s, 200, "{fc}");
    assert_eq!(fc["metadata"]["count"], 0);
    let token = fc["metadata"]["next_page_token"]
        .as_str()
        .expect("more to read")
        .to_owned();
    let per_call = f64::from(quakestream_store::MAX_QUERIES_PER_CALL);
    assert_eq!(metric(&url, WINDOW_CALLS_OK).await - before, per_call);
    let (s, fc, _) = get_json(&format!(
        "{url}/api/quakes?since={since}&minmag=10.4&page_token={}",
        urlencode(&token)
    ))
    .await;
    assert_eq!(s, 200, "{fc}");
    assert_eq!(metric(&url, WINDOW_CALLS_OK).await - before, 2.0 * per_call);
    assert_ne!(
        fc["metadata"]["next_page_token"].as_str(),
        Some(token.as_str()),
        "the next page moved on"
    );
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
