//! The frontend's side of the analytics: it tails `quake-stats` (here written by the test, as the
//! analytics would), serves `/api/stats`, pushes the windows the page shows as `stats` events, and
//! is ready without a statistics topic (where `/api/stats` answers 503 until the topic appears).
//! Every wait is on an observable condition; timeouts only bound a failure.

use chrono::{DateTime, Utc};
use futures::StreamExt;
use quakestream_analytics::window::{StatsKey, fmt_epoch_s};
use quakestream_core::kafka::create_producer;
use quakestream_core::testkit;
use quakestream_frontend::{Frontend, FrontendConfig, start};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(30);
const HOUR: i64 = 3600;

/// A `quake-stats` value for `key` with `count` events, all in the 2-4 band.
fn record(key: &str, count: u64) -> String {
    let k = StatsKey::parse(key).unwrap();
    json!({
        "v": 1, "kind": "update", "window": k.window.kind.as_str(),
        "start": fmt_epoch_s(k.window.start_s()), "end": fmt_epoch_s(k.window.end_s()),
        "dimension": k.dim.kind(), "key": k.dim.value(), "count": count,
        "bands": {"lt2": 0, "2-4": count, "4-6": 0, "ge6": 0}, "no_magnitude": 0,
        "largest": null, "moment_nm": 0.0, "moment_magnitude": null,
        "moment_basis": {"mw": 0, "converted": 0, "proxy": count}, "mean_depth_km": null,
        "closes_at": "2100-01-01T00:00:00Z", "stream_time": null
    })
    .to_string()
}

/// Window keys relative to now: `hours_ago` hours before the current hour.
fn hour_key(hours_ago: i64, dim: &str) -> String {
    let h = Utc::now().timestamp().div_euclid(HOUR) * HOUR - hours_ago * HOUR;
    format!("1h/{}/{dim}", fmt_epoch_s(h))
}
fn current_day_start() -> i64 {
    Utc::now().timestamp().div_euclid(HOUR) * HOUR - 23 * HOUR
}

struct Fx {
    _fe: Frontend,
    url: String,
    producer: FutureProducer,
    stats_topic: String,
}

impl Fx {
    async fn new(name: &str, stats_topic: String) -> Fx {
        let kafka = testkit::kafka();
        let topic = kafka.topic(&format!("{name}-quakes"), 1);
        let (tx, rx) = quakestream_core::ops::shutdown_channel();
        std::mem::forget(tx);
        let cfg = FrontendConfig {
            rate_limit: 0,
            stats_topic: stats_topic.clone(),
            ..FrontendConfig::new(kafka.bootstrap.clone(), topic)
        };
        let fe = start(cfg, prometheus::Registry::new(), rx).await.unwrap();
        let fx = Fx {
            url: format!("http://{}", fe.addr),
            _fe: fe,
            producer: create_producer(&kafka.bootstrap).unwrap(),
            stats_topic,
        };
        until(
            || async {
                reqwest::get(format!("{}/readyz", fx.url))
                    .await
                    .is_ok_and(|r| r.status() == 200)
            },
            "ready",
        )
        .await;
        fx
    }

    async fn produce(&self, key: &str, value: &str) {
        self.producer
            .send(
                FutureRecord::to(&self.stats_topic).key(key).payload(value),
                Duration::from_secs(30),
            )
            .await
            .map_err(|(e, _)| e)
            .unwrap();
    }

    async fn get(&self, q: &str) -> (u16, Value) {
        let r = reqwest::get(format!("{}/api/stats?{q}", self.url)).await.unwrap();
        let status = r.status().as_u16();
        (status, serde_json::from_str(&r.text().await.unwrap()).unwrap())
    }

    async fn metric(&self, line_start: &str) -> f64 {
        let m = reqwest::get(format!("{}/metrics", self.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        m.lines()
            .find_map(|l| l.strip_prefix(line_start).and_then(|v| v.trim().parse().ok()))
            .unwrap_or(0.0)
    }
}

/// Polls `cond` (each poll is a real request) until it holds; fails after LIMIT.
async fn until<F, Fut>(mut cond: F, what: &str)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + LIMIT;
    while !cond().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        let _ = timeout(Duration::from_millis(20), futures::future::pending::<()>()).await;
    }
}

/// The next SSE event of a stream other than `hello`: (event name, data).
async fn next_event(
    body: &mut (impl futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    buf: &mut String,
) -> (String, String) {
    loop {
        if let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let event = block
                .lines()
                .find_map(|l| l.strip_prefix("event:"))
                .map(|v| v.trim().to_owned());
            let data: String = block
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(str::trim_start)
                .collect();
            match event {
                Some(e) if e != "hello" => return (e, data),
                _ => continue,
            }
        }
        let chunk = timeout(LIMIT, body.next())
            .await
            .expect("an event")
            .expect("stream open")
            .unwrap();
        buf.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_are_served_from_the_topic_and_shown_windows_are_pushed() {
    let kafka = testkit::kafka();
    // One partition: the records arrive in the order they are produced.
    let stats_topic = kafka.topic("stats-api", 1);
    let fx_producer = create_producer(&kafka.bootstrap).unwrap();
    let day = format!("24h/{}/world", fmt_epoch_s(current_day_start()));
    let old = hour_key(72, "world");
    let now_key = hour_key(0, "world");
    for (k, v) in [
        (now_key.clone(), record(&now_key, 2)),
        (old.clone(), record(&old, 7)),
        (day.clone(), record(&day, 9)),
        (now_key.clone(), record(&now_key, 5)), // a later record of the same window wins
        (hour_key(0, "band/2-4"), "{\"v\": 1}".to_owned()),
        ("not a key".to_owned(), record(&old, 1)),
    ] {
        fx_producer
            .send(
                FutureRecord::to(&stats_topic).key(&k).payload(&v),
                Duration::from_secs(30),
            )
            .await
            .map_err(|(e, _)| e)
            .unwrap();
    }
    // Ready = the statistics too have been read up to where the topic was at start.
    let fx = Fx::new("stats-api", stats_topic).await;

    let (status, body) = fx.get("window=1h").await;
    assert_eq!(status, 200, "{body}");
    let counts: Vec<u64> = body["windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["count"].as_u64().unwrap())
        .collect();
    assert_eq!(counts, vec![7, 5], "oldest first, the latest record per window: {body}");
    assert_eq!(body["dimension"], "world");
    assert_eq!(body["truncated"], false);
    // `since`/`until` bound the window starts: [since, until).
    let s = DateTime::<Utc>::from_timestamp(current_day_start(), 0).unwrap();
    let q = format!(
        "window=24h&since={}&until={}",
        fmt_epoch_s(s.timestamp()),
        fmt_epoch_s(s.timestamp() + HOUR)
    );
    let (_, body) = fx.get(&q).await;
    assert_eq!(body["count"], 1);
    assert_eq!(body["windows"][0]["count"], 9);
    let (_, body) = fx
        .get(&format!("window=24h&until={}", fmt_epoch_s(s.timestamp())))
        .await;
    assert_eq!(body["count"], 0);
    // Bad parameters are 400s with the API's error body.
    let (status, body) = fx.get("window=1h&minmag=3").await;
    assert_eq!(
        (status, body["error"].as_str(), body["parameter"].as_str()),
        (400, Some("invalid_parameter"), Some("minmag"))
    );
    let (status, body) = fx.get("window=week").await;
    assert_eq!((status, body["parameter"].as_str()), (400, Some("window")));
    // Undecodable records are counted by reason and skipped.
    assert_eq!(
        fx.metric("quakestream_frontend_stats_records_total{outcome=\"bad_json\"}")
            .await,
        1.0
    );
    assert_eq!(
        fx.metric("quakestream_frontend_stats_records_total{outcome=\"bad_key\"}")
            .await,
        1.0
    );
    assert_eq!(
        fx.metric("quakestream_frontend_stats_records_total{outcome=\"applied\"}")
            .await,
        4.0
    );

    // Live: a window the page does not show (a band's) is not pushed; the world's hour is.
    let r = reqwest::get(format!("{}/api/stream?minmag=7", fx.url)).await.unwrap();
    let mut body = Box::pin(r.bytes_stream());
    let mut buf = String::new();
    // The hello event says the stream is open before anything is produced.
    until(
        || async { fx.metric("quakestream_frontend_sse_clients").await >= 1.0 },
        "the stream open",
    )
    .await;
    let band = hour_key(0, "band/2-4");
    fx.produce(&band, &record(&band, 1)).await;
    fx.produce(&now_key, &record(&now_key, 6)).await;
    let (event, data) = next_event(&mut body, &mut buf).await;
    assert_eq!(event, "stats", "{data}");
    let v: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(v["kind"], "stats");
    assert_eq!(
        v["record"]["key"], "world",
        "the band's window was not pushed first: {data}"
    );
    assert_eq!(v["record"]["count"], 6, "whatever the stream's filters (minmag=7)");
    let (_, body) = fx.get("window=1h").await;
    assert_eq!(body["windows"][1]["count"], 6);
    assert_eq!(fx.metric("quakestream_frontend_stats_pushed_total").await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_statistics_topic_the_map_is_ready_and_stats_follow_when_it_appears() {
    let kafka = testkit::kafka();
    let stats_topic = kafka.unique_name("stats-missing");
    let fx = Fx::new("stats-missing", stats_topic.clone()).await;
    let (status, body) = fx.get("window=1h").await;
    assert_eq!((status, body["error"].as_str()), (503, Some("unavailable")), "{body}");
    // The analytics starts later: its topic appears, and the tail finds and reads it.
    kafka.create_topic(&stats_topic, 1);
    let key = hour_key(1, "world");
    fx.produce(&key, &record(&key, 3)).await;
    until(
        || async {
            let (status, body) = fx.get("window=1h").await;
            status == 200 && body["windows"][0]["count"] == 3
        },
        "the statistics of the new topic",
    )
    .await;
}
