//! Hostile and broken clients against a running frontend (librdkafka's mock cluster, or
//! KAFKA_BOOTSTRAP_SERVERS): the response cache stays within its byte budget whatever the
//! queries, slow request heads and idle connections are closed, the connection cap refuses
//! cleanly, and every error (down to the ones hyper answers before routing) has the API's body.
//! Every wait is on an observable condition; timeouts only bound a failure.

use chrono::{Duration, Utc};
use quakestream_core::kafka::create_producer;
use quakestream_core::model::{Quake, Source};
use quakestream_core::testkit;
use quakestream_core::wire::{Action, WireRecord};
use quakestream_frontend::{Frontend, FrontendConfig, start};
use rdkafka::producer::FutureRecord;
use serde_json::Value;
use std::time::Duration as StdDuration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// Upper bound for anything to happen; passing tests never wait for it.
const LIMIT: StdDuration = StdDuration::from_secs(60);

fn quake(i: usize) -> Quake {
    let t = Utc::now() - Duration::seconds(60 + i as i64);
    Quake {
        unid: format!("h{i:04}"),
        time: t,
        lastupdate: t,
        lat: 38.0,
        lon: 21.0,
        depth_km: (i % 50) as f64,
        mag: Some(2.0 + (i % 40) as f64 / 10.0),
        magtype: Some("ml".into()),
        region: Some("SOUTHERN GREECE, A REGION NAME OF TYPICAL LENGTH".into()),
        agency: Some("EMSC".into()),
        evtype: Some("ke".into()),
        source: Source::Emsc,
    }
}

/// A frontend (no archive) on a topic holding `events` events, ready when it returns.
async fn frontend(
    name: &str,
    events: usize,
    tweak: impl FnOnce(FrontendConfig) -> FrontendConfig,
) -> (Frontend, String) {
    let kafka = testkit::kafka();
    let topic = kafka.topic(name, 1);
    let p = create_producer(&kafka.bootstrap).unwrap();
    let recs: Vec<WireRecord> = (0..events)
        .map(|i| WireRecord::new(Action::Create, quake(i), Utc::now()))
        .collect();
    let sends = recs.iter().map(|r| {
        let value = r.to_json();
        let p = &p;
        let topic = &topic;
        async move {
            p.send(
                FutureRecord::to(topic).key(r.key()).payload(&value),
                StdDuration::from_secs(30),
            )
            .await
            .map_err(|(e, _)| e)
            .unwrap();
        }
    });
    futures::future::join_all(sends).await;
    let (tx, rx) = quakestream_core::ops::shutdown_channel();
    std::mem::forget(tx);
    let cfg = tweak(FrontendConfig {
        rate_limit: 0,
        dependency_check_interval: StdDuration::from_millis(200),
        ..FrontendConfig::new(kafka.bootstrap.clone(), topic)
    });
    let fe = start(cfg, prometheus::Registry::new(), rx).await.unwrap();
    let url = format!("http://{}", fe.addr);
    until(
        || async {
            reqwest::get(format!("{url}/readyz"))
                .await
                .is_ok_and(|r| r.status() == 200)
        },
        "ready",
    )
    .await;
    (fe, url)
}

async fn until<F, Fut>(mut cond: F, what: &str)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        if cond().await {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::task::yield_now().await;
        let _ = timeout(StdDuration::from_millis(5), futures::future::pending::<()>()).await;
    }
}

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

/// Sends raw bytes on a fresh connection and reads until the server closes it.
async fn raw(addr: std::net::SocketAddr, request: &[u8]) -> (u16, Value) {
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(request).await.unwrap();
    let mut got = Vec::new();
    // The server answers and closes (Connection: close, or an error it cannot continue after).
    let _ = timeout(LIMIT, c.read_to_end(&mut got))
        .await
        .expect("the server answered and closed");
    let text = String::from_utf8_lossy(&got);
    let status: u16 = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let v = serde_json::from_str(body).unwrap_or_else(|e| panic!("no JSON body ({e}) in {text:?}"));
    (status, v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distinct_queries_from_one_client_never_take_the_cache_past_its_byte_budget() {
    const BUDGET: usize = 2 * 1024 * 1024;
    let (fe, url) = frontend("quakes-cache-attack", 600, |c| FrontendConfig {
        cache_bytes: BUDGET,
        // The attack stays inside the default per-client rate limit.
        rate_limit: 500,
        ..c
    })
    .await;
    let client = reqwest::Client::new();
    let bytes = "quakestream_frontend_response_cache_bytes";
    let entries = "quakestream_frontend_response_cache_entries";

    // 500 requests from one client: junk parameters are refused (and never cached), and every
    // valid but distinct query (a new limit each time) is a new entry of ~250 kB plain + gzip.
    let (mut largest, mut body_len) = (0.0f64, 0usize);
    for i in 0..500 {
        let u = if i % 5 == 0 {
            format!("{url}/api/quakes?_junk{i}=x&limit={}", 1000 - i)
        } else {
            format!("{url}/api/quakes?limit={}", 1000 - i)
        };
        // Plain first (its size is the body's), gzip for the rest: both copies are cached.
        let r = if i == 1 {
            client.get(&u).send().await.unwrap()
        } else {
            client.get(&u).header("accept-encoding", "gzip").send().await.unwrap()
        };
        assert_eq!(r.status(), if i % 5 == 0 { 400 } else { 200 }, "{u}");
        let got = r.bytes().await.unwrap().len();
        if i == 1 {
            body_len = got;
        }
        if i % 50 == 49 {
            let b = metric(&url, bytes).await;
            largest = largest.max(b);
            assert!(b <= BUDGET as f64, "after {} requests the cache holds {b} bytes", i + 1);
        }
    }
    // Unbounded, 400 entries of a 600-event body would be ~100 MB; bounded, the cache is full
    // (it did cache) and within budget, and the entries are few.
    assert!(body_len > 200_000, "the body is big enough to matter: {body_len}");
    assert!(largest > (BUDGET / 2) as f64, "the cache was used: {largest}");
    let n = metric(&url, entries).await;
    assert!(n >= 1.0 && n <= (BUDGET / body_len) as f64 + 1.0, "{n} entries");
    assert!(metric(&url, "quakestream_frontend_response_cache_total{outcome=\"evicted\"}").await > 0.0);
    drop(fe);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_request_heads_are_closed_while_normal_clients_are_served() {
    let (fe, url) = frontend("quakes-slowloris", 20, |c| FrontendConfig {
        header_read_timeout: StdDuration::from_millis(500),
        keep_alive_timeout: StdDuration::from_secs(3600),
        ..c
    })
    .await;
    // 200 connections that start a request head and never finish it.
    let mut slow = Vec::new();
    for _ in 0..200 {
        let mut c = TcpStream::connect(fe.addr).await.unwrap();
        c.write_all(b"GET /api/quakes HTTP/1.1\r\nHost: test\r\nX-Slow: ")
            .await
            .unwrap();
        slow.push(c);
    }
    // A normal client keeps working meanwhile.
    let client = reqwest::Client::new();
    for _ in 0..20 {
        assert_eq!(
            client.get(format!("{url}/api/quakes")).send().await.unwrap().status(),
            200
        );
    }
    // Every slow one is closed by the server (EOF or reset), without an answer.
    for mut c in slow {
        let mut buf = Vec::new();
        let r = timeout(LIMIT, c.read_to_end(&mut buf))
            .await
            .expect("the server closed it");
        assert!(r.is_err() || buf.is_empty(), "{:?}", String::from_utf8_lossy(&buf));
    }
    assert!(
        metric(
            &url,
            "quakestream_frontend_connections_closed_total{reason=\"header_timeout\"}"
        )
        .await
            >= 200.0
    );
    // A keep-alive connection between requests is not a slow head: it stays open.
    let mut keep = TcpStream::connect(fe.addr).await.unwrap();
    for _ in 0..2 {
        keep.write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
            .await
            .unwrap();
        let mut buf = vec![0u8; 4096];
        let n = timeout(LIMIT, keep.read(&mut buf)).await.unwrap().unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    }
    // Only the connection asking for the gauge is left once the test's own are closed.
    drop((keep, client));
    until(
        || async { metric(&url, "quakestream_frontend_connections ").await <= 1.0 },
        "the slow connections gone from the gauge",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_after_the_keep_alive_timeout() {
    let (fe, url) = frontend("quakes-idle", 5, |c| FrontendConfig {
        keep_alive_timeout: StdDuration::from_millis(500),
        ..c
    })
    .await;
    // One that never sends anything, one idle after a request.
    let mut silent = TcpStream::connect(fe.addr).await.unwrap();
    let mut after = TcpStream::connect(fe.addr).await.unwrap();
    after
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    for c in [&mut silent, &mut after] {
        let mut buf = Vec::new();
        let _ = timeout(LIMIT, c.read_to_end(&mut buf))
            .await
            .expect("closed by the server");
    }
    assert!(
        metric(
            &url,
            "quakestream_frontend_connections_closed_total{reason=\"idle_timeout\"}"
        )
        .await
            >= 2.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_connection_cap_new_connections_get_a_503_and_probes_still_answer() {
    const CAP: usize = 10;
    let (fe, url) = frontend("quakes-cap", 5, |c| FrontendConfig {
        max_connections: CAP,
        header_read_timeout: StdDuration::from_secs(3600),
        keep_alive_timeout: StdDuration::from_secs(3600),
        ..c
    })
    .await;
    let hold = |n: usize| async move {
        let mut held = Vec::new();
        for _ in 0..n {
            let mut c = TcpStream::connect(fe.addr).await.unwrap();
            c.write_all(b"GET /api/quakes HTTP/1.1\r\n").await.unwrap();
            held.push(c);
        }
        held
    };
    let gauge = |want: usize| {
        let url = url.clone();
        async move {
            let r = reqwest::get(format!("{url}/metrics")).await.unwrap();
            let t = r.text().await.unwrap_or_default();
            t.lines()
                .any(|l| l == format!("quakestream_frontend_connections {want}"))
        }
    };
    // Fill the cap with connections that hold a half-sent head; the gauge counts them and the
    // connection asking for it.
    let held = hold(CAP).await;
    until(|| gauge(CAP + 1), "the cap is full").await;
    // Over the cap: requests are answered 503 and the connection closed; probes still answer.
    let (status, body) = raw(fe.addr, b"GET /api/quakes HTTP/1.1\r\nHost: test\r\n\r\n").await;
    assert_eq!(status, 503);
    assert_eq!(body["error"], "too_many_connections");
    let mut probe = TcpStream::connect(fe.addr).await.unwrap();
    probe
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 1024];
    let n = timeout(LIMIT, probe.read(&mut buf)).await.unwrap().unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"),
        "the liveness probe answers"
    );
    drop(probe);
    // Far over it (the probes' reserve full too), connections are answered 503 at once and closed.
    let more = hold(quakestream_frontend::conn::PROBE_RESERVE).await;
    until(
        || async {
            reqwest::get(format!("{url}/metrics"))
                .await
                .is_ok_and(|r| r.status() == 503)
        },
        "the reserve is full",
    )
    .await;
    let (status, body) = raw(fe.addr, b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n").await;
    assert_eq!((status, body["error"].as_str()), (503, Some("too_many_connections")));
    // Once they go, clients are served again.
    drop((held, more));
    until(
        || async {
            reqwest::get(format!("{url}/api/quakes"))
                .await
                .is_ok_and(|r| r.status() == 200)
        },
        "served again after the held connections closed",
    )
    .await;
    assert!(
        metric(
            &url,
            "quakestream_frontend_connections_closed_total{reason=\"over_capacity\"}"
        )
        .await
            >= 2.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_client_error_has_the_json_error_body() {
    let (fe, _url) = frontend("quakes-errors", 5, |c| c).await;
    let long_uri = format!(
        "GET /api/quakes?bbox={} HTTP/1.1\r\nHost: t\r\n\r\n",
        "1".repeat(10 * 1024)
    );
    let big_header = format!(
        "GET /api/quakes HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
        "a".repeat(20 * 1024)
    );
    let many_headers = format!(
        "GET /api/quakes HTTP/1.1\r\nHost: t\r\n{}\r\n",
        (0..80).map(|i| format!("X-H{i}: v\r\n")).collect::<String>()
    );
    for (req, status, code) in [
        (
            b"GET /api/quakes HTTP/1.1\r\nHost: t\r\nBad Header\r\n\r\n".to_vec(),
            400,
            "bad_request",
        ),
        (b"GARBAGE\r\n\r\n".to_vec(), 400, "bad_request"),
        (
            long_uri
                .replace("Host: t\r\n", "Host: t\r\nConnection: close\r\n")
                .into_bytes(),
            414,
            "uri_too_long",
        ),
        (big_header.into_bytes(), 431, "headers_too_large"),
        (many_headers.into_bytes(), 431, "headers_too_large"),
        (
            b"GET /api/quakes/%FF%FE HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".to_vec(),
            400,
            "invalid_parameter",
        ),
        (
            b"GET /api/quakes?minmag=%FF HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".to_vec(),
            400,
            "invalid_parameter",
        ),
        (
            b"POST /api/quakes HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
            405,
            "method_not_allowed",
        ),
        (
            b"GET /nowhere HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".to_vec(),
            404,
            "not_found",
        ),
    ] {
        let shown = String::from_utf8_lossy(&req[..req.len().min(60)]).into_owned();
        eprintln!("sending {shown:?}");
        let (got, body) = raw(fe.addr, &req).await;
        assert_eq!(got, status, "{shown}: {body}");
        assert_eq!(body["error"], code, "{shown}: {body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{shown}: {body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_addresses_count_only_from_a_trusted_proxy_and_every_response_has_security_headers() {
    // The test client connects from 127.0.0.1, one of the default trusted proxy ranges: here it
    // plays the ingress, one hop in front.
    let (_fe, url) = frontend("quakes-edge", 5, |c| FrontendConfig {
        rate_limit: 3,
        client_ip_header: Some("X-Forwarded-For".into()),
        ..c
    })
    .await;
    let client = reqwest::Client::new();
    let get = |xff: &'static str| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let r = client
                .get(format!("{url}/api/quakes"))
                .header("x-forwarded-for", xff)
                .send()
                .await
                .unwrap();
            r.status().as_u16()
        }
    };
    for _ in 0..3 {
        assert_eq!(get("203.0.113.1").await, 200);
    }
    assert_eq!(get("203.0.113.1").await, 429, "the forwarded client is limited");
    assert_eq!(get("203.0.113.2").await, 200, "another client is not");
    // A client cannot choose its key by writing its own entry before the proxy's.
    assert_eq!(get("203.0.113.2, 203.0.113.1").await, 429);

    let page = client.get(format!("{url}/")).send().await.unwrap();
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("script-src 'self';"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("'unsafe-eval'"), "{csp}");
    assert!(!csp.contains("'unsafe-inline'"), "no inline script or style: {csp}");
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    assert!(page.headers().contains_key("referrer-policy"));
    assert!(
        page.headers().get("strict-transport-security").is_none(),
        "plain HTTP: no HSTS"
    );
    let api = client
        .get(format!("{url}/healthz"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert_eq!(
        api.headers()["content-security-policy"],
        "default-src 'none'; frame-ancestors 'none'"
    );
    assert!(
        api.headers()["strict-transport-security"]
            .to_str()
            .unwrap()
            .starts_with("max-age=")
    );
}
