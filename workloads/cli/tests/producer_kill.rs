//! `quakestream producer` on the live feed, killed with SIGKILL and started again: whatever the
//! killed process had not delivered, and everything EMSC published while it was down, reaches
//! the topic through the restart's backfill. Real parts: a websocket server and an FDSN server
//! on loopback serving real EMSC events (retimed to the last hours), and librdkafka's mock
//! cluster (or KAFKA_BOOTSTRAP_SERVERS).

use axum::extract::{Query, State};
use axum::response::IntoResponse;
use futures::{SinkExt, StreamExt};
use quakestream_core::model::{fmt_time, parse_time};
use quakestream_core::testkit::{self, testdata};
use quakestream_core::wire::WireRecord;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(120);

/// 40 real EMSC features, retimed to the last 100 minutes, oldest first.
fn events() -> Vec<Value> {
    let doc: Value =
        serde_json::from_slice(&std::fs::read(testdata("emsc-fdsn-2025-04-turkey-aegean-m2.5.json")).unwrap()).unwrap();
    let now = chrono::Utc::now();
    doc["features"].as_array().unwrap()[..40]
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let mut f = f.clone();
            let t = fmt_time(&(now - chrono::Duration::minutes(100 - i as i64)));
            f["properties"]["time"] = t.clone().into();
            f["properties"]["lastupdate"] = t.into();
            f
        })
        .collect()
}

fn frame(f: &Value) -> String {
    serde_json::json!({"action": "create", "data": f}).to_string()
}

/// Serves `per_connection[n]` on the n-th connection, then keeps it open answering pings.
async fn ws_server(per_connection: Vec<Vec<String>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/standing_order/websocket", listener.local_addr().unwrap());
    tokio::spawn(async move {
        for frames in per_connection {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
            tokio::spawn(async move {
                for f in frames {
                    if ws.send(Message::text(f)).await.is_err() {
                        return;
                    }
                }
                while let Some(Ok(_)) = ws.next().await {}
            });
        }
    });
    url
}

/// An FDSN event service over `catalogue`: `updatedafter`, `limit`, 1-based `offset`, 204 if empty.
async fn fdsn_server(catalogue: Vec<Value>) -> String {
    async fn query(
        State(catalogue): State<Arc<Vec<Value>>>,
        Query(q): Query<HashMap<String, String>>,
    ) -> axum::response::Response {
        let since = parse_time("updatedafter", &q["updatedafter"]).unwrap();
        let limit: usize = q["limit"].parse().unwrap();
        let offset: usize = q["offset"].parse().unwrap();
        let page: Vec<&Value> = catalogue
            .iter()
            .filter(|f| parse_time("lastupdate", f["properties"]["lastupdate"].as_str().unwrap()).unwrap() > since)
            .skip(offset - 1)
            .take(limit)
            .collect();
        if page.is_empty() {
            return axum::http::StatusCode::NO_CONTENT.into_response();
        }
        let body = serde_json::json!({"type": "FeatureCollection", "features": page});
        ([("content-type", "application/json")], body.to_string()).into_response()
    }
    let app = axum::Router::new()
        .route("/fdsnws/event/1/query", axum::routing::get(query))
        .with_state(Arc::new(catalogue));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/fdsnws/event/1/query")
}

fn start(emsc: &str, fdsn: &str, topic: &str, dlq: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_quakestream"))
        .arg("producer")
        .args(["--emsc-url", emsc, "--fdsn-url", fdsn, "--backfill-limit", "7"])
        .args([
            "--bootstrap-servers",
            &testkit::kafka().bootstrap,
            "--topic",
            topic,
            "--dlq-topic",
            dlq,
        ])
        .args(["--reconnect-min", "10ms", "--reconnect-max", "100ms"])
        .args(["--listen", "127.0.0.1:0", "--log", "warn"])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting quakestream producer")
}

/// The distinct unids on `topic`, once at least `n` are there (or WAIT passes).
async fn unids_on(topic: &str, n: usize) -> HashSet<String> {
    let (bootstrap, topic) = (testkit::kafka().bootstrap.clone(), topic.to_owned());
    let records = tokio::task::spawn_blocking(move || {
        testkit::read_topic(&bootstrap, &topic, WAIT, |got| {
            got.iter().filter_map(|r| r.key.clone()).collect::<HashSet<_>>().len() >= n
        })
    })
    .await
    .unwrap();
    records
        .iter()
        .map(|r| {
            WireRecord::decode(r.key.as_deref(), r.value.as_deref())
                .unwrap()
                .quake
                .unid
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_then_restart_backfills_what_was_missed() {
    let kafka = testkit::kafka();
    let topic = kafka.topic("pkill", 3);
    let dlq = kafka.topic("pkill-dlq", 1);
    let events = events();
    let frames: Vec<String> = events.iter().map(frame).collect();
    // The killed process sees frames 0..20; 20..30 are published while no producer runs (only
    // FDSN has them); the restarted one sees 30..40.
    let emsc = ws_server(vec![frames[..20].to_vec(), frames[30..].to_vec()]).await;
    // FDSN has nothing for the first start's backfill, everything for the restart's.
    let fdsn_first = fdsn_server(Vec::new()).await;
    let fdsn = fdsn_server(events.clone()).await;

    let mut first = start(&emsc, &fdsn_first, &topic, &dlq);
    assert_eq!(
        unids_on(&topic, 20).await.len(),
        20,
        "the first process published frames 0..20"
    );
    first.kill().expect("SIGKILL");
    let _ = first.wait();

    let mut second = start(&emsc, &fdsn, &topic, &dlq);
    let got = unids_on(&topic, 40).await;
    unsafe {
        libc::kill(second.id() as i32, libc::SIGTERM);
    }
    let status = second.wait().unwrap();
    let want: HashSet<String> = events
        .iter()
        .map(|f| f["properties"]["unid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        got, want,
        "every event reached the topic: the restart backfilled the gap"
    );
    assert!(status.success(), "{status:?}");
}
