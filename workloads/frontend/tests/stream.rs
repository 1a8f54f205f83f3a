//! `GET /api/stream` (Server-Sent Events) against a running frontend on librdkafka's mock cluster
//! (or KAFKA_BOOTSTRAP_SERVERS): live delivery of a record produced to Kafka, `Last-Event-ID`
//! resume from the ring, and a client that stops reading being dropped without holding back a
//! fast one. Every wait is on an observable condition; timeouts only bound a failure.

use chrono::{Duration, Utc};
use futures::StreamExt;
use quakestream_core::kafka::create_producer;
use quakestream_core::model::{Quake, Source};
use quakestream_core::testkit;
use quakestream_core::wire::{Action, WireRecord};
use quakestream_frontend::{Frontend, FrontendConfig, start};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::Value;
use std::time::Duration as StdDuration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

/// Upper bound for anything to happen; passing tests never wait for it.
const LIMIT: StdDuration = StdDuration::from_secs(30);

fn quake(unid: &str, mag: f64) -> Quake {
    let t = Utc::now() - Duration::minutes(1);
    Quake {
        unid: unid.into(),
        time: t,
        lastupdate: t,
        lat: 38.0,
        lon: 21.0,
        depth_km: 10.0,
        mag: Some(mag),
        magtype: Some("ml".into()),
        region: Some("GREECE".into()),
        agency: Some("EMSC".into()),
        evtype: Some("ke".into()),
        source: Source::Emsc,
    }
}

struct Fx {
    _fe: Frontend,
    url: String,
    producer: FutureProducer,
    topic: String,
}

impl Fx {
    async fn new(name: &str, tweak: impl FnOnce(FrontendConfig) -> FrontendConfig) -> Fx {
        let kafka = testkit::kafka();
        let topic = kafka.topic(name, 1);
        let (tx, rx) = quakestream_core::ops::shutdown_channel();
        std::mem::forget(tx);
        let cfg = tweak(FrontendConfig {
            rate_limit: 0,
            ..FrontendConfig::new(kafka.bootstrap.clone(), topic.clone())
        });
        let fe = start(cfg, prometheus::Registry::new(), rx).await.unwrap();
        let url = format!("http://{}", fe.addr);
        let producer = create_producer(&kafka.bootstrap).unwrap();
        let fx = Fx {
            _fe: fe,
            url,
            producer,
            topic,
        };
        fx.until(
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

    async fn produce(&self, q: &Quake) {
        let rec = WireRecord::new(Action::Create, q.clone(), Utc::now());
        self.producer
            .send(
                FutureRecord::to(&self.topic).key(rec.key()).payload(&rec.to_json()),
                StdDuration::from_secs(30),
            )
            .await
            .map_err(|(e, _)| e)
            .unwrap();
    }

    async fn metric(&self, name: &str) -> f64 {
        let m = reqwest::get(format!("{}/metrics", self.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        m.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
            .unwrap_or(0.0)
    }

    /// Polls `cond` (each poll is a real request or a channel read) until it holds; fails after LIMIT.
    async fn until<F, Fut>(&self, mut cond: F, what: &str)
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
            // Pace the polling of /metrics without making it the synchronisation.
            let _ = timeout(StdDuration::from_millis(5), futures::future::pending::<()>()).await;
        }
    }
}

#[derive(Debug, Clone)]
struct Sse {
    event: String,
    id: Option<String>,
    data: String,
}

/// Splits a byte stream into SSE events (comments and heartbeats are skipped).
struct SseReader<S> {
    inner: S,
    buf: String,
}

impl<S: futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin> SseReader<S> {
    async fn next(&mut self) -> Option<Sse> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut ev = Sse {
                    event: "message".into(),
                    id: None,
                    data: String::new(),
                };
                let mut any = false;
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        ev.event = v.trim().into();
                        any = true;
                    } else if let Some(v) = line.strip_prefix("id:") {
                        ev.id = Some(v.trim().into());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        ev.data.push_str(v.trim_start());
                        any = true;
                    }
                }
                if any {
                    return Some(ev);
                }
                continue;
            }
            match self.inner.next().await {
                Some(Ok(b)) => self.buf.push_str(&String::from_utf8_lossy(&b)),
                _ => return None,
            }
        }
    }

    /// The next `quake` event (skipping hello, heartbeats and the like).
    async fn quake(&mut self) -> Option<(String, String)> {
        loop {
            let e = self.next().await?;
            if e.event == "quake" {
                let v: Value = serde_json::from_str(&e.data).unwrap();
                return Some((e.id.unwrap(), v["feature"]["id"].as_str().unwrap().to_owned()));
            }
        }
    }
}

async fn connect(
    url: &str,
    last_event_id: Option<&str>,
) -> SseReader<impl futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin + use<>> {
    let client = reqwest::Client::new();
    let mut req = client
        .get(format!("{url}/api/stream"))
        .header("accept", "text/event-stream");
    if let Some(id) = last_event_id {
        req = req.header("last-event-id", id);
    }
    let r = timeout(LIMIT, req.send()).await.expect("connect").unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut rd = SseReader {
        inner: Box::pin(r.bytes_stream()),
        buf: String::new(),
    };
    let hello = timeout(LIMIT, rd.next()).await.expect("hello").expect("stream open");
    assert_eq!(hello.event, "hello");
    rd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_receives_a_record_produced_to_kafka() {
    let fx = Fx::new("quakes-sse-live", |c| c).await;
    let mut small = {
        let client = reqwest::Client::new();
        let r = client
            .get(format!("{}/api/stream?minmag=5", fx.url))
            .send()
            .await
            .unwrap();
        let mut rd = SseReader {
            inner: Box::pin(r.bytes_stream()),
            buf: String::new(),
        };
        assert_eq!(timeout(LIMIT, rd.next()).await.unwrap().unwrap().event, "hello");
        rd
    };
    let mut all = connect(&fx.url, None).await;
    fx.produce(&quake("sse-live-small", 2.1)).await;
    fx.produce(&quake("sse-live-big", 5.7)).await;
    let (id1, u1) = timeout(LIMIT, all.quake()).await.expect("first event").unwrap();
    let (id2, u2) = timeout(LIMIT, all.quake()).await.expect("second event").unwrap();
    assert_eq!((u1.as_str(), u2.as_str()), ("sse-live-small", "sse-live-big"));
    assert_ne!(id1, id2);
    // The magnitude filter applies to the stream: the minmag=5 client gets only the big one.
    let (_, only) = timeout(LIMIT, small.quake()).await.expect("filtered event").unwrap();
    assert_eq!(only, "sse-live-big");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_event_id_replays_what_was_missed_from_the_ring() {
    let fx = Fx::new("quakes-sse-resume", |c| c).await;
    // An observer stays connected throughout, to know when the frontend has published each event.
    let mut observer = connect(&fx.url, None).await;
    let mut client = connect(&fx.url, None).await;
    fx.produce(&quake("resume-1", 3.0)).await;
    let (seen_id, u) = timeout(LIMIT, client.quake()).await.unwrap().unwrap();
    assert_eq!(u, "resume-1");
    assert_eq!(timeout(LIMIT, observer.quake()).await.unwrap().unwrap().1, "resume-1");
    drop(client); // the browser goes away (tab asleep, network drop)

    for u in ["resume-2", "resume-3"] {
        fx.produce(&quake(u, 3.0)).await;
    }
    for want in ["resume-2", "resume-3"] {
        assert_eq!(timeout(LIMIT, observer.quake()).await.unwrap().unwrap().1, want);
    }

    // Back with the id of the last event it saw: the missed ones come first, in order, then live ones.
    let mut back = connect(&fx.url, Some(&seen_id)).await;
    assert_eq!(timeout(LIMIT, back.quake()).await.unwrap().unwrap().1, "resume-2");
    assert_eq!(timeout(LIMIT, back.quake()).await.unwrap().unwrap().1, "resume-3");
    fx.produce(&quake("resume-4", 3.0)).await;
    assert_eq!(timeout(LIMIT, back.quake()).await.unwrap().unwrap().1, "resume-4");

    // An id from another process (or too old for the ring) cannot be resumed: the client is told
    // to reload its list.
    let client = reqwest::Client::new();
    let r = client
        .get(format!("{}/api/stream", fx.url))
        .header("last-event-id", "0abc-7")
        .send()
        .await
        .unwrap();
    let mut rd = SseReader {
        inner: Box::pin(r.bytes_stream()),
        buf: String::new(),
    };
    assert_eq!(timeout(LIMIT, rd.next()).await.unwrap().unwrap().event, "hello");
    assert_eq!(timeout(LIMIT, rd.next()).await.unwrap().unwrap().event, "reset");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_dropped_without_holding_back_a_fast_one() {
    let fx = Fx::new("quakes-sse-slow", |c| FrontendConfig {
        // The fast client must never lag in this test, whatever the machine's load.
        sse_channel: 200_000,
        write_stall_timeout: StdDuration::from_millis(300),
        ..c
    })
    .await;

    // The slow client: a real socket with a small receive buffer that sends the request and then
    // never reads (a frozen phone).
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let mut slow = sock.connect(fx._fe.addr).await.unwrap();
    slow.write_all(b"GET /api/stream HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\n\r\n")
        .await
        .unwrap();

    // The fast client reads everything, on its own task.
    let mut fast = connect(&fx.url, None).await;
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel::<(String, String)>();
    let reader = tokio::spawn(async move {
        while let Some(e) = fast.quake().await {
            if seen_tx.send(e).is_err() {
                break;
            }
        }
    });
    fx.until(
        || async { fx.metric("quakestream_frontend_sse_clients").await == 2.0 },
        "both clients connected",
    )
    .await;

    // Produce in batches until the server gives up on the slow client; the fast one must have
    // every event of every batch, in order, each time.
    let mut produced = 0usize;
    let mut fast_seen: Vec<(String, String)> = Vec::new();
    let mut dropped = false;
    for batch in 0..40 {
        // Sent concurrently; librdkafka keeps the order of one partition.
        let qs: Vec<Quake> = (0..500)
            .map(|i| quake(&format!("slow-{batch:02}-{i:03}"), 3.0))
            .collect();
        futures::future::join_all(qs.iter().map(|q| fx.produce(q))).await;
        produced += 500;
        while fast_seen.len() < produced {
            let e = timeout(LIMIT, seen_rx.recv())
                .await
                .expect("the fast client is not held back")
                .expect("fast stream open");
            fast_seen.push(e);
        }
        if fx.metric("quakestream_frontend_write_stalls_total").await >= 1.0 {
            dropped = true;
            break;
        }
    }
    assert!(dropped, "the slow client was never dropped after {produced} events");
    eprintln!("slow client dropped after {produced} events");
    fx.until(
        || async { fx.metric("quakestream_frontend_sse_clients").await == 1.0 },
        "only the fast client left",
    )
    .await;

    // The fast client got all of them, once each, in production order.
    let want: Vec<String> = (0..produced / 500)
        .flat_map(|b| (0..500).map(move |i| format!("slow-{b:02}-{i:03}")))
        .collect();
    assert_eq!(fast_seen.iter().map(|(_, u)| u.clone()).collect::<Vec<_>>(), want);
    // And it is still live.
    fx.produce(&quake("after-drop", 4.0)).await;
    assert_eq!(timeout(LIMIT, seen_rx.recv()).await.unwrap().unwrap().1, "after-drop");

    // The slow client's connection was closed by the server: draining it reaches EOF, having
    // received only part of the events.
    let mut got = Vec::new();
    timeout(LIMIT, slow.read_to_end(&mut got))
        .await
        .expect("the server closed the slow connection")
        .ok();
    let text = String::from_utf8_lossy(&got);
    let slow_events = text.matches("event: quake").count() + text.matches("event:quake").count();
    assert!(slow_events < produced, "slow client got {slow_events} of {produced}");
    assert!(text.starts_with("HTTP/1.1 200"), "{}", &text[..text.len().min(200)]);
    reader.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_open_streams_and_stops_the_server() {
    let kafka = testkit::kafka();
    let topic = kafka.topic("quakes-sse-shutdown", 1);
    let (tx, rx) = quakestream_core::ops::shutdown_channel();
    let cfg = FrontendConfig {
        rate_limit: 0,
        ..FrontendConfig::new(kafka.bootstrap.clone(), topic)
    };
    let fe = start(cfg, prometheus::Registry::new(), rx).await.unwrap();
    let url = format!("http://{}", fe.addr);
    let mut a = connect(&url, None).await;
    let mut b = connect(&url, None).await;
    // A keep-alive connection that is idle between requests.
    let client = reqwest::Client::new();
    assert_eq!(client.get(format!("{url}/healthz")).send().await.unwrap().status(), 200);

    tx.send_replace(true);
    // An SSE stream never finishes by itself; shutdown ends it (the browser then reconnects).
    assert!(timeout(LIMIT, a.next()).await.expect("stream a ended").is_none());
    assert!(timeout(LIMIT, b.next()).await.expect("stream b ended").is_none());
    let addr = fe.addr;
    timeout(LIMIT, fe.task)
        .await
        .expect("the server stopped")
        .unwrap()
        .unwrap();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "the listener is closed"
    );
}
