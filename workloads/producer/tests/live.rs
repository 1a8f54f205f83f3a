//! The producer against real parts: a websocket server on loopback replaying real EMSC events
//! (as the real server frames them), an FDSN server answering the backfill from the same
//! catalogue, and Kafka (librdkafka's mock cluster, or KAFKA_BOOTSTRAP_SERVERS).

use axum::extract::{Query, State};
use axum::response::IntoResponse;
use futures::{SinkExt, StreamExt};
use quakestream_core::ops::{Health, render_metrics};
use quakestream_core::parse;
use quakestream_core::testkit::{self, Record, testdata};
use quakestream_core::wire::{WireRecord, headers};
use quakestream_producer::live::LiveConfig;
use quakestream_producer::{PipelineConfig, ProducerMetrics, SourceConfig};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

/// Real EMSC features (the FDSN sample plus the two documented websocket messages), oldest
/// revision first, each with the action it is pushed with.
fn real_events() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for line in std::fs::read_to_string(testdata("emsc-ws-documented-examples.jsonl"))
        .unwrap()
        .lines()
    {
        let v: Value = serde_json::from_str(line).unwrap();
        out.push((v["action"].as_str().unwrap().to_owned(), v["data"].clone()));
    }
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(testdata("emsc-fdsn-2025-04-turkey-aegean-m2.5.json")).unwrap())
            .unwrap();
    for f in doc["features"].as_array().unwrap() {
        out.push(("create".to_owned(), f.clone()));
    }
    out.sort_by(|a, b| {
        a.1["properties"]["lastupdate"]
            .as_str()
            .cmp(&b.1["properties"]["lastupdate"].as_str())
    });
    out
}

/// The wire layout EMSC uses: a compact envelope around a pretty-printed feature.
fn frame(action: &str, feature: &Value) -> String {
    format!(
        "{{\"action\":\"{action}\",\"data\":{}}}",
        serde_json::to_string_pretty(feature).unwrap()
    )
}

/// What the websocket server does on its n-th connection, after sending the frames.
#[derive(Clone)]
enum Script {
    /// Send these frames, then drop the TCP connection without a close handshake.
    Drop(Vec<String>),
    /// Send these frames, then stop reading and writing (no pongs): a silent, dead peer.
    GoSilent(Vec<String>),
    /// Send these frames and keep the connection open, answering pings, until the test ends.
    Stay(Vec<String>),
    /// Send these frames, keep the connection (answering pings) until the [`Pace`] says a page
    /// was answered during it (the receiver is `Pace::paged`), then drop it without a close
    /// handshake.
    DropAfterPage(Vec<String>, watch::Receiver<u32>),
}

struct WsServer {
    url: String,
    /// Connections accepted so far.
    connections: watch::Receiver<u32>,
}

async fn ws_server(scripts: Vec<Script>, stop: watch::Receiver<bool>) -> WsServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/standing_order/websocket", listener.local_addr().unwrap());
    let (count, connections) = watch::channel(0u32);
    tokio::spawn(async move {
        for script in scripts {
            let (tcp, _) = listener.accept().await.unwrap();
            count.send_modify(|c| *c += 1);
            let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
            let mut stop = stop.clone();
            match script {
                Script::Drop(frames) => {
                    for f in frames {
                        ws.send(Message::text(f)).await.unwrap();
                    }
                    ws.flush().await.unwrap();
                    drop(ws);
                }
                Script::DropAfterPage(frames, mut paged) => {
                    for f in frames {
                        ws.send(Message::text(f)).await.unwrap();
                    }
                    ws.flush().await.unwrap();
                    let this = *count.borrow();
                    loop {
                        tokio::select! {
                            _ = async { let _ = paged.wait_for(|p| *p >= this).await; } => break,
                            _ = stop.wait_for(|s| *s) => break,
                            m = ws.next() => if !matches!(m, Some(Ok(_))) { break },
                        }
                    }
                    drop(ws);
                }
                Script::GoSilent(frames) => {
                    for f in frames {
                        ws.send(Message::text(f)).await.unwrap();
                    }
                    ws.flush().await.unwrap();
                    // Hold the socket open but never read it, so pings go unanswered.
                    tokio::spawn(async move {
                        let _ = stop.wait_for(|s| *s).await;
                        drop(ws);
                    });
                }
                Script::Stay(frames) => {
                    tokio::spawn(async move {
                        for f in frames {
                            ws.send(Message::text(f)).await.unwrap();
                        }
                        loop {
                            tokio::select! {
                                _ = stop.wait_for(|s| *s) => break,
                                m = ws.next() => if m.is_none() { break },
                            }
                        }
                    });
                }
            }
        }
        // No more connections; the count stays readable (a Pace waits on it) until the test ends.
        drop(listener);
        let mut stop = stop;
        let _ = stop.wait_for(|s| *s).await;
        drop(count);
    });
    WsServer { url, connections }
}

#[derive(serde::Deserialize)]
struct FdsnQuery {
    format: String,
    updatedafter: String,
    limit: usize,
    offset: usize,
}

/// The catalogue the FDSN server answers from, the query strings it was asked, and its pace.
#[derive(Clone)]
struct FdsnState {
    catalogue: Arc<Vec<Value>>,
    requests: Arc<Mutex<Vec<String>>>,
    pace: Option<Pace>,
}

/// Paces the first backfill (the first `updatedafter` the FDSN server is asked) against the
/// websocket connections: each of its pages after the first is answered only during a later
/// connection than the page before it, and a [`Script::DropAfterPage`] connection ends once a
/// page was answered during it. So that backfill spans one connection a page, however fast or
/// slow the machine is.
#[derive(Clone)]
struct Pace {
    connections: watch::Receiver<u32>,
    /// The connection during which the latest page was answered; `u32::MAX` once the backfill
    /// is done (a short page), so that later connections need not wait for it.
    paged: Arc<watch::Sender<u32>>,
    first: Arc<Mutex<Option<String>>>,
    /// (offset, connection) of each page of the first backfill answered.
    answered: Arc<Mutex<Vec<(usize, u32)>>>,
    stop: watch::Receiver<bool>,
}

impl Pace {
    fn new(connections: watch::Receiver<u32>, paged: watch::Sender<u32>, stop: watch::Receiver<bool>) -> Pace {
        Pace {
            connections,
            paged: Arc::new(paged),
            first: Arc::default(),
            answered: Arc::default(),
            stop,
        }
    }

    fn is_first_backfill(&self, updatedafter: &str) -> bool {
        self.first
            .lock()
            .unwrap()
            .get_or_insert_with(|| updatedafter.to_owned())
            == updatedafter
    }

    /// Waits (or until the test stops) for a connection later than the previous page's.
    async fn turn(&self) {
        let previous = *self.paged.borrow();
        if previous == u32::MAX {
            return;
        }
        let (mut connections, mut stop) = (self.connections.clone(), self.stop.clone());
        tokio::select! {
            _ = async { let _ = connections.wait_for(|c| *c > previous).await; } => {}
            _ = async { let _ = stop.wait_for(|s| *s).await; } => {}
        }
    }

    fn answered(&self, offset: usize, last_page: bool) {
        let connection = *self.connections.borrow();
        self.answered.lock().unwrap().push((offset, connection));
        self.paged.send_replace(if last_page { u32::MAX } else { connection });
    }
}

/// An FDSN event service over the catalogue: `updatedafter`, `limit`, 1-based `offset`, 204 when empty.
async fn fdsn_server(catalogue: Vec<Value>, requests: Arc<Mutex<Vec<String>>>) -> String {
    paced_fdsn_server(catalogue, requests, None).await
}

/// [`fdsn_server`], answering the first backfill at the `pace` if there is one.
async fn paced_fdsn_server(catalogue: Vec<Value>, requests: Arc<Mutex<Vec<String>>>, pace: Option<Pace>) -> String {
    async fn query(State(state): State<FdsnState>, Query(q): Query<FdsnQuery>) -> axum::response::Response {
        assert_eq!(q.format, "json");
        state.requests.lock().unwrap().push(format!(
            "updatedafter={}&limit={}&offset={}",
            q.updatedafter, q.limit, q.offset
        ));
        let pace = state.pace.as_ref().filter(|p| p.is_first_backfill(&q.updatedafter));
        if let Some(pace) = pace
            && q.offset > 1
        {
            pace.turn().await;
        }
        let since = quakestream_core::model::parse_time("updatedafter", &q.updatedafter).unwrap();
        let matching: Vec<&Value> = state
            .catalogue
            .iter()
            .filter(|f| {
                quakestream_core::model::parse_time("lastupdate", f["properties"]["lastupdate"].as_str().unwrap())
                    .unwrap()
                    > since
            })
            .collect();
        let page: Vec<&Value> = matching.into_iter().skip(q.offset - 1).take(q.limit).collect();
        if let Some(pace) = pace {
            pace.answered(q.offset, page.len() < q.limit);
        }
        if page.is_empty() {
            return axum::http::StatusCode::NO_CONTENT.into_response();
        }
        let body =
            serde_json::json!({"type": "FeatureCollection", "metadata": {"count": page.len()}, "features": page});
        (
            [("content-type", "application/json")],
            serde_json::to_string_pretty(&body).unwrap(),
        )
            .into_response()
    }
    let state = FdsnState {
        catalogue: Arc::new(catalogue),
        requests,
        pace,
    };
    let app = axum::Router::new()
        .route("/fdsnws/event/1/query", axum::routing::get(query))
        .with_state(state);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/fdsnws/event/1/query")
}

fn test_live_config(emsc_url: String, fdsn_url: String) -> LiveConfig {
    LiveConfig {
        emsc_url,
        fdsn_url,
        backfill_limit: 50,
        ping_interval: Duration::from_millis(100),
        // Long enough that a loaded machine's late pong does not end a connection: several tests
        // count connections. (A backfill would survive it: it goes on across reconnections.)
        silence_timeout: Duration::from_secs(3),
        reconnect_min: Duration::from_millis(10),
        reconnect_max: Duration::from_millis(50),
        ..LiveConfig::default()
    }
}

struct Run {
    records: Vec<Record>,
    dlq: Vec<Record>,
    metrics: String,
    report: quakestream_producer::PipelineReport,
}

/// Runs the live producer until `done` is satisfied by what reached the topic, then shuts it
/// down (flushing) and reads both topics to the end.
async fn run_live(cfg: LiveConfig, expect_unids: usize) -> Run {
    let kafka = testkit::kafka();
    let topic = kafka.topic("quakes", 3);
    let dlq = kafka.topic("quakes.dlq", 1);
    let registry = prometheus::Registry::new();
    let metrics = ProducerMetrics::new(&registry).unwrap();
    let (stop_tx, stop_rx) = watch::channel(false);
    let pipeline = PipelineConfig {
        topic: topic.clone(),
        dlq_topic: dlq.clone(),
        ..Default::default()
    };
    let producer = tokio::spawn(quakestream_producer::run(
        &kafka.bootstrap,
        pipeline,
        SourceConfig::Live(cfg),
        metrics.clone(),
        Health::new(),
        stop_rx,
    ));
    // Wait (bounded) until every expected event is on the topic, then stop the producer.
    let (bootstrap, t) = (kafka.bootstrap.clone(), topic.clone());
    tokio::task::spawn_blocking(move || {
        testkit::read_topic(&bootstrap, &t, Duration::from_secs(60), |got| {
            got.iter().filter_map(|r| r.key.clone()).collect::<HashSet<_>>().len() >= expect_unids
        })
    })
    .await
    .unwrap();
    let _ = stop_tx.send(true);
    let report = producer.await.unwrap().unwrap();
    let (bootstrap, t) = (kafka.bootstrap.clone(), topic.clone());
    let records =
        tokio::task::spawn_blocking(move || testkit::read_topic_to_end(&bootstrap, &t, Duration::from_secs(30)))
            .await
            .unwrap();
    let bootstrap = kafka.bootstrap.clone();
    let dlq =
        tokio::task::spawn_blocking(move || testkit::read_topic_to_end(&bootstrap, &dlq, Duration::from_secs(30)))
            .await
            .unwrap();
    metrics.refresh();
    Run {
        records,
        dlq,
        metrics: render_metrics(&registry),
        report,
    }
}

fn versions(records: &[Record]) -> Vec<(String, String)> {
    records
        .iter()
        .map(|r| {
            let rec = WireRecord::decode(r.key.as_deref(), r.value.as_deref()).expect("every record decodes");
            assert_eq!(
                r.headers.get(headers::ACTION).map(String::as_str),
                Some(rec.action.as_str())
            );
            assert_eq!(r.headers.get(headers::SOURCE).map(String::as_str), Some("emsc"));
            (
                rec.quake.unid.clone(),
                quakestream_core::model::fmt_time(&rec.quake.lastupdate),
            )
        })
        .collect()
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_is_backfilled_and_nothing_is_lost_or_sent_twice() {
    let events = real_events();
    let n = events.len();
    assert_eq!(n, 432);
    let frames: Vec<String> = events.iter().map(|(a, f)| frame(a, f)).collect();
    // Frames 200..260 are published while the producer is disconnected: only FDSN has them.
    let (stop_tx, stop_rx) = watch::channel(false);
    let ws = ws_server(
        vec![
            Script::Drop(frames[..200].to_vec()),
            Script::Stay(frames[260..].to_vec()),
        ],
        stop_rx,
    )
    .await;
    let requests = Arc::new(Mutex::new(Vec::new()));
    let fdsn = fdsn_server(events.iter().map(|(_, f)| f.clone()).collect(), requests.clone()).await;

    let run = run_live(test_live_config(ws.url.clone(), fdsn), n).await;
    let _ = stop_tx.send(true);

    let got = versions(&run.records);
    let unique: HashSet<_> = got.iter().cloned().collect();
    assert_eq!(got.len(), unique.len(), "a (unid, lastupdate) reached Kafka twice");
    let expected: HashSet<(String, String)> = events
        .iter()
        .map(|(_, f)| {
            let q = parse::parse_feature(f).unwrap();
            (q.unid, quakestream_core::model::fmt_time(&q.lastupdate))
        })
        .collect();
    assert_eq!(unique, expected, "every event reaches Kafka");
    assert_eq!(*ws.connections.borrow(), 2);
    assert!(run.dlq.is_empty());
    // The gap was filled by paged FDSN requests starting at the newest revision seen.
    let reqs = requests.lock().unwrap().clone();
    let newest_seen = parse::parse_feature(&events[199].1).unwrap().lastupdate;
    assert!(
        reqs.iter().any(|r| r.ends_with("&offset=51")),
        "paged with limit/offset: {reqs:?}"
    );
    let last = reqs
        .last()
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .strip_prefix("updatedafter=")
        .unwrap();
    let from = quakestream_core::model::parse_time("t", last).unwrap();
    assert!(
        from <= newest_seen && newest_seen - from <= chrono::Duration::minutes(5),
        "backfill from {from}, newest seen {newest_seen}: {reqs:?}"
    );
    assert!(metric(&run.metrics, "quakestream_producer_reconnects_total") >= 1.0);
    assert!(metric(&run.metrics, "quakestream_producer_backfilled_total") >= 60.0);
    assert_eq!(metric(&run.metrics, "quakestream_producer_published_total"), n as f64);
    assert_eq!(run.report.published, n as u64);
    assert_eq!(run.report.undelivered, 0);
}

/// A feed whose connections each live shorter than a backfill takes: the backfill goes on
/// across the reconnections (one page a connection, see [`Pace`]) instead of starting again on
/// each one, so it completes, and the gaps that opened meanwhile are backfilled after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_backfill_outlives_a_flapping_feed_and_nothing_is_lost_or_sent_twice() {
    const EVENTS: usize = 120;
    const ON_WEBSOCKET: usize = 20;
    const DROPS: usize = 15;
    const LIMIT: usize = 10;
    // Real features, retimed to the last few hours (inside the first backfill's reach), a
    // minute apart.
    let now = chrono::Utc::now();
    let catalogue: Vec<Value> = real_events()
        .into_iter()
        .take(EVENTS)
        .enumerate()
        .map(|(i, (_, mut f))| {
            let t = quakestream_core::model::fmt_time(&(now - chrono::Duration::minutes(200 - i as i64)));
            f["properties"]["time"] = t.clone().into();
            f["properties"]["lastupdate"] = t.into();
            f
        })
        .collect();
    // Only the newest 20 are also sent on the websocket, one per dropped connection, the rest
    // on the connection that stays; the other 100 only FDSN has.
    let tail: Vec<String> = catalogue[EVENTS - ON_WEBSOCKET..]
        .iter()
        .map(|f| frame("create", f))
        .collect();
    let (stop_tx, stop_rx) = watch::channel(false);
    let (paged_tx, paged_rx) = watch::channel(0u32);
    let mut scripts: Vec<Script> = (0..DROPS)
        .map(|i| Script::DropAfterPage(vec![tail[i].clone()], paged_rx.clone()))
        .collect();
    scripts.push(Script::Stay(tail[DROPS..].to_vec()));
    let ws = ws_server(scripts, stop_rx.clone()).await;
    let pace = Pace::new(ws.connections.clone(), paged_tx, stop_rx);
    let requests = Arc::new(Mutex::new(Vec::new()));
    let fdsn = paced_fdsn_server(catalogue.clone(), requests.clone(), Some(pace.clone())).await;

    let cfg = LiveConfig {
        backfill_limit: LIMIT as u32,
        ..test_live_config(ws.url.clone(), fdsn)
    };
    let run = run_live(cfg, EVENTS).await;
    let _ = stop_tx.send(true);

    let got = versions(&run.records);
    let unique: HashSet<_> = got.iter().cloned().collect();
    assert_eq!(got.len(), unique.len(), "a (unid, lastupdate) reached Kafka twice");
    let expected: HashSet<(String, String)> = catalogue
        .iter()
        .map(|f| {
            let q = parse::parse_feature(f).unwrap();
            (q.unid, quakestream_core::model::fmt_time(&q.lastupdate))
        })
        .collect();
    let lost = expected.difference(&unique).count();
    assert_eq!(lost, 0, "{lost} of {} versions lost", expected.len());
    assert_eq!(unique, expected);
    assert!(run.dlq.is_empty());
    let connections = *ws.connections.borrow();
    assert!(connections >= 3, "{connections} connections");
    assert_eq!(
        metric(&run.metrics, "quakestream_producer_published_total"),
        EVENTS as f64
    );
    assert_eq!(run.report.published, EVENTS as u64);
    assert_eq!(run.report.undelivered, 0);
    assert!(metric(&run.metrics, "quakestream_producer_reconnects_total") >= 2.0);
    // The first backfill paged on across the connections: its offsets only went forward, from
    // 1 to past the end, one page a connection.
    let reqs = requests.lock().unwrap().clone();
    let first = pace.first.lock().unwrap().clone().unwrap();
    let offsets: Vec<usize> = reqs
        .iter()
        .filter(|r| r.starts_with(&format!("updatedafter={first}&")))
        .map(|r| r.rsplit("&offset=").next().unwrap().parse().unwrap())
        .collect();
    assert!(
        offsets.windows(2).all(|w| w[0] <= w[1]),
        "the first backfill started again: {offsets:?}"
    );
    assert_eq!(offsets.first(), Some(&1), "{offsets:?}");
    assert_eq!(offsets.last(), Some(&(EVENTS + 1)), "{offsets:?}");
    let answered = pace.answered.lock().unwrap().clone();
    let pages: Vec<usize> = answered.iter().map(|&(o, _)| o).collect();
    assert_eq!(pages, (0..=EVENTS / LIMIT).map(|k| 1 + LIMIT * k).collect::<Vec<_>>());
    assert!(
        answered.windows(2).all(|w| w[0].1 < w[1].1),
        "one page a connection: {answered:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_replaced() {
    let events = real_events();
    let frames: Vec<String> = events.iter().take(40).map(|(a, f)| frame(a, f)).collect();
    let (stop_tx, stop_rx) = watch::channel(false);
    let ws = ws_server(
        vec![
            Script::GoSilent(frames[..20].to_vec()),
            Script::Stay(frames[20..].to_vec()),
        ],
        stop_rx,
    )
    .await;
    let fdsn = fdsn_server(Vec::new(), Arc::new(Mutex::new(Vec::new()))).await;
    let run = run_live(test_live_config(ws.url.clone(), fdsn), 40).await;
    let _ = stop_tx.send(true);
    assert_eq!(
        *ws.connections.borrow(),
        2,
        "the silent connection was given up and replaced"
    );
    assert_eq!(versions(&run.records).len(), 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_frames_go_to_the_dead_letter_topic_and_the_feed_goes_on() {
    let events = real_events();
    let good: Vec<String> = events.iter().take(5).map(|(a, f)| frame(a, f)).collect();
    let mut bad_lat = events[5].1.clone();
    bad_lat["properties"]["lat"] = 123.0.into();
    let garbage = [
        "this is not json".to_owned(),
        frame("create", &bad_lat),
        r#"{"action":"create"}"#.to_owned(),
        frame("delete", &events[6].1),
    ];
    let mut frames = good[..2].to_vec();
    frames.extend(garbage.iter().cloned());
    frames.extend(good[2..].iter().cloned());
    let (stop_tx, stop_rx) = watch::channel(false);
    let ws = ws_server(vec![Script::Stay(frames)], stop_rx).await;
    let fdsn = fdsn_server(Vec::new(), Arc::new(Mutex::new(Vec::new()))).await;
    let run = run_live(test_live_config(ws.url, fdsn), 5).await;
    let _ = stop_tx.send(true);

    assert_eq!(
        versions(&run.records).len(),
        5,
        "the good frames after the garbage still arrive"
    );
    let dlq: HashMap<String, (String, String)> = run
        .dlq
        .iter()
        .map(|r| {
            (
                r.value_str().to_owned(),
                (r.headers[headers::REASON].clone(), r.headers[headers::ERROR].clone()),
            )
        })
        .collect();
    assert_eq!(dlq.len(), 3, "{dlq:?}");
    assert_eq!(dlq["this is not json"].0, "bad_json");
    let (reason, error) = &dlq[&garbage[1]];
    assert_eq!(reason, "out_of_range");
    assert!(error.contains("lat") && error.contains("123"), "{error}");
    assert_eq!(dlq[&garbage[2]].0, "bad_shape");
    assert!(run.dlq.iter().all(|r| r.headers[headers::STAGE] == "producer"));
    // The unknown action is counted and skipped, not dead-lettered.
    assert_eq!(run.report.unknown_actions, 1);
    assert_eq!(
        metric(&run.metrics, "quakestream_producer_frames_total{action=\"unknown\"}"),
        1.0
    );
    assert_eq!(
        metric(&run.metrics, "quakestream_producer_frames_total{action=\"invalid\"}"),
        3.0
    );
    assert_eq!(metric(&run.metrics, "quakestream_producer_dlq_total"), 3.0);
    assert_eq!(
        metric(
            &run.metrics,
            "quakestream_producer_rejected_total{reason=\"out_of_range\"}"
        ),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_publishes_every_unique_event_once_and_metrics_pass_promtool() {
    let kafka = testkit::kafka();
    let topic = kafka.topic("quakes", 3);
    let dlq = kafka.topic("quakes.dlq", 1);
    let registry = prometheus::Registry::new();
    let metrics = ProducerMetrics::new(&registry).unwrap();
    let (_stop_tx, stop_rx) = watch::channel(false);
    let path = testdata("usgs-all-week-2024-05-04.geojson");
    let cfg = quakestream_producer::replay::ReplayConfig {
        path,
        speed: quakestream_producer::replay::Speed::Max,
        retime: false,
        max_pause: Duration::from_secs(1),
    };
    let report = quakestream_producer::run(
        &kafka.bootstrap,
        PipelineConfig {
            topic: topic.clone(),
            dlq_topic: dlq,
            ..Default::default()
        },
        SourceConfig::Replay(cfg),
        metrics,
        Health::new(),
        stop_rx,
    )
    .await
    .unwrap();
    assert_eq!(report.published, 2588);
    let bootstrap = kafka.bootstrap.clone();
    let records =
        tokio::task::spawn_blocking(move || testkit::read_topic_to_end(&bootstrap, &topic, Duration::from_secs(30)))
            .await
            .unwrap();
    let keys: HashSet<Vec<u8>> = records.iter().filter_map(|r| r.key.clone()).collect();
    assert_eq!(records.len(), 2588);
    assert_eq!(keys.len(), 2588);
    // Replayed oldest revision first, per partition.
    let mut last: HashMap<i32, String> = HashMap::new();
    for r in &records {
        let rec = WireRecord::decode(r.key.as_deref(), r.value.as_deref()).unwrap();
        let t = quakestream_core::model::fmt_time(&rec.quake.lastupdate);
        if let Some(prev) = last.insert(r.partition, t.clone()) {
            assert!(
                prev <= t,
                "partition {} went back in time: {prev} then {t}",
                r.partition
            );
        }
    }
    promtool_accepts(&render_metrics(&registry));
}

/// `promtool check metrics` (Debian's prometheus package; installed by scripts/setup.sh).
pub fn promtool_accepts(text: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool not found: run scripts/setup.sh (it installs Debian's prometheus package)");
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool rejected the metrics:\n{}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_answers_pings_but_sends_no_frames_is_replaced_and_backfilled() {
    let events = real_events();
    let frames: Vec<String> = events.iter().take(40).map(|(a, f)| frame(a, f)).collect();
    let (stop_tx, stop_rx) = watch::channel(false);
    // The first connection sends 20 frames, then stays open answering pings (Stay reads, so
    // tungstenite answers each ping) but never sends another frame; frames 20..30 exist only
    // in FDSN (published meanwhile); the second connection sends 30..40.
    let ws = ws_server(
        vec![Script::Stay(frames[..20].to_vec()), Script::Stay(frames[30..].to_vec())],
        stop_rx,
    )
    .await;
    let requests = Arc::new(Mutex::new(Vec::new()));
    let catalogue: Vec<Value> = events.iter().take(40).map(|(_, f)| f.clone()).collect();
    let fdsn = fdsn_server(catalogue[20..30].to_vec(), requests.clone()).await;
    let cfg = LiveConfig {
        silence_timeout: Duration::from_secs(30),
        feed_silence_timeout: Duration::from_millis(500),
        ..test_live_config(ws.url.clone(), fdsn)
    };
    let run = run_live(cfg, 40).await;
    let _ = stop_tx.send(true);
    assert_eq!(
        *ws.connections.borrow(),
        2,
        "the connection that only answered pings was replaced"
    );
    assert_eq!(versions(&run.records).len(), 40, "the gap was backfilled");
    assert!(metric(&run.metrics, "quakestream_producer_feed_silences_total") >= 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_2_mib_frame_is_dead_lettered_as_too_large_and_the_connection_stays_up() {
    use sha2::Digest;
    let events = real_events();
    let big = format!(
        r#"{{"action":"create","data":{{"type":"Feature","properties":{{"note":"{}"}}}}}}"#,
        "w".repeat(2 << 20)
    );
    let frames = vec![
        frame("create", &events[0].1),
        big.clone(),
        frame("create", &events[1].1),
    ];
    let (stop_tx, stop_rx) = watch::channel(false);
    let ws = ws_server(vec![Script::Stay(frames)], stop_rx).await;
    let fdsn = fdsn_server(Vec::new(), Arc::new(Mutex::new(Vec::new()))).await;
    let run = run_live(test_live_config(ws.url.clone(), fdsn), 2).await;
    let _ = stop_tx.send(true);
    assert_eq!(
        versions(&run.records).len(),
        2,
        "the valid frame after the big one arrives"
    );
    assert_eq!(*ws.connections.borrow(), 1, "the connection stayed up");
    assert_eq!(run.dlq.len(), 1);
    let d = &run.dlq[0];
    assert_eq!(d.headers[headers::REASON], "too_large");
    assert_eq!(d.headers[headers::ORIGINAL_LENGTH], big.len().to_string());
    let sha: String = sha2::Sha256::digest(big.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(d.headers[headers::ORIGINAL_SHA256], sha);
    assert_eq!(
        d.value.as_deref().unwrap(),
        &big.as_bytes()[..quakestream_contract::limits::DLQ_PREFIX_BYTES]
    );
    assert_eq!(metric(&run.metrics, "quakestream_producer_dlq_truncated_total"), 1.0);
}

/// The broker goes away while the producer has records in flight and comes back: every record
/// arrives, once. Uses a broker of its own (the shared one serves the other tests meanwhile).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_down_mid_replay_then_up_every_record_arrives_once() {
    let broker = quakestream_core::kafka::EmbeddedBroker::start(1).unwrap();
    let bootstrap = broker.bootstrap_servers().to_owned();
    broker.create_topic("quakes", 3).unwrap();
    broker.create_topic("quakes.dlq", 1).unwrap();
    let registry = prometheus::Registry::new();
    let metrics = ProducerMetrics::new(&registry).unwrap();
    let (_stop_tx, stop_rx) = watch::channel(false);
    let cfg = quakestream_producer::replay::ReplayConfig {
        path: testdata("usgs-all-week-2024-05-04.geojson"),
        speed: quakestream_producer::replay::Speed::Max,
        retime: false,
        max_pause: Duration::from_secs(1),
    };
    broker.set_broker_up(1, false).unwrap();
    let leaked: &'static str = Box::leak(bootstrap.clone().into_boxed_str());
    let producer = tokio::spawn(quakestream_producer::run(
        leaked,
        PipelineConfig::default(),
        SourceConfig::Replay(cfg),
        metrics.clone(),
        Health::new(),
        stop_rx,
    ));
    // Wait (bounded) until records are handed to librdkafka with the broker down.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while metrics.kafka.bytes("quakes", "produced") < 100_000 {
        assert!(std::time::Instant::now() < deadline, "nothing handed to librdkafka");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        metrics.published.with_label_values(&["snapshot", "usgs"]).get(),
        0,
        "the broker is down"
    );
    broker.set_broker_up(1, true).unwrap();
    let report = producer.await.unwrap().unwrap();
    assert_eq!(report.published, 2588);
    assert_eq!(report.undelivered, 0);
    let records =
        tokio::task::spawn_blocking(move || testkit::read_topic_to_end(&bootstrap, "quakes", Duration::from_secs(60)))
            .await
            .unwrap();
    let keys: HashSet<Vec<u8>> = records.iter().filter_map(|r| r.key.clone()).collect();
    assert_eq!(keys.len(), 2588, "every record arrived");
    assert_eq!(records.len(), 2588, "each once (idempotent producer)");
    drop(broker);
}

/// An FDSN page with a feature over the item limit: the features before it are published, it is
/// dead-lettered as `too_large`, and the backfill goes on right after it (not stuck retrying).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_page_with_a_feature_over_the_limit_goes_on_after_it() {
    let now = chrono::Utc::now();
    let mut catalogue: Vec<Value> = real_events().into_iter().take(5).map(|(_, f)| f).collect();
    for (i, f) in catalogue.iter_mut().enumerate() {
        let t = quakestream_core::model::fmt_time(&(now - chrono::Duration::minutes(60 - i as i64)));
        f["properties"]["time"] = t.clone().into();
        f["properties"]["lastupdate"] = t.into();
    }
    catalogue[2]["properties"]["note"] = "h".repeat(2 << 20).into();
    let (stop_tx, stop_rx) = watch::channel(false);
    let ws = ws_server(vec![Script::Stay(Vec::new())], stop_rx).await;
    let requests = Arc::new(Mutex::new(Vec::new()));
    let fdsn = fdsn_server(catalogue, requests.clone()).await;
    let run = run_live(test_live_config(ws.url.clone(), fdsn), 4).await;
    let _ = stop_tx.send(true);
    assert_eq!(
        versions(&run.records).len(),
        4,
        "the features before and after the big one"
    );
    assert_eq!(run.dlq.len(), 1);
    assert_eq!(run.dlq[0].headers[headers::REASON], "too_large");
    let reqs = requests.lock().unwrap().clone();
    assert!(
        reqs.iter().any(|r| r.ends_with("&offset=4")),
        "went on after it: {reqs:?}"
    );
}

/// An FDSN page over MAX_FDSN_PAGE_BYTES (32 MiB) is not read on: the same events are asked
/// again in pages of half the size, and all arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_fdsn_page_over_the_byte_limit_is_asked_again_in_smaller_pages() {
    let now = chrono::Utc::now();
    let base = real_events();
    // 40 valid features of about 0.9 MiB each: a page of 50 is about 36 MiB.
    let catalogue: Vec<Value> = (0..40)
        .map(|i| {
            let mut f = base[i].1.clone();
            let t = quakestream_core::model::fmt_time(&(now - chrono::Duration::minutes(100 - i as i64)));
            f["properties"]["time"] = t.clone().into();
            f["properties"]["lastupdate"] = t.into();
            f["properties"]["note"] = "p".repeat(900 << 10).into();
            f
        })
        .collect();
    let (stop_tx, stop_rx) = watch::channel(false);
    let ws = ws_server(vec![Script::Stay(Vec::new())], stop_rx).await;
    let requests = Arc::new(Mutex::new(Vec::new()));
    let fdsn = fdsn_server(catalogue, requests.clone()).await;
    let run = run_live(test_live_config(ws.url.clone(), fdsn), 40).await;
    let _ = stop_tx.send(true);
    assert_eq!(versions(&run.records).len(), 40);
    assert!(run.dlq.is_empty());
    let reqs = requests.lock().unwrap().clone();
    assert!(
        reqs.iter().any(|r| r.contains("&limit=25&")),
        "halved the page size: {reqs:?}"
    );
    assert_eq!(
        metric(
            &run.metrics,
            "quakestream_producer_backfill_requests_total{outcome=\"too_large\"}"
        ),
        1.0
    );
}
