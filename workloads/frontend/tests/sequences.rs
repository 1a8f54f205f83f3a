//! `/api/sequences`, `/api/sequences/{id}` and SSE `sequence` events against a running frontend
//! on librdkafka's mock cluster: sequence records (made by the real grouper) are produced to a
//! `quake-sequences` topic and their events to `quakes`, as the analytics and the producer do.
//! Every wait is on an observable condition; timeouts only bound a failure.

use chrono::{DateTime, Duration, Utc};
use futures::StreamExt;
use quakestream_core::kafka::create_producer;
use quakestream_core::model::{Quake, Source};
use quakestream_core::testkit;
use quakestream_core::wire::{Action, WireRecord};
use quakestream_frontend::{FrontendConfig, start};
use quakestream_seismo::{Event, Grouper, Params};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::Value;
use std::time::Duration as StdDuration;
use tokio::time::timeout;

const LIMIT: StdDuration = StdDuration::from_secs(30);

fn quake(unid: &str, t: DateTime<Utc>, lat: f64, lon: f64, mag: f64, region: &str) -> Quake {
    Quake {
        unid: unid.into(),
        time: t,
        lastupdate: t,
        lat,
        lon,
        depth_km: 10.0,
        mag: Some(mag),
        magtype: Some("ml".into()),
        region: Some(region.into()),
        agency: Some("EMSC".into()),
        evtype: Some("ke".into()),
        source: Source::Emsc,
    }
}

fn event(q: &Quake) -> Event {
    serde_json::from_value(serde_json::to_value(q).unwrap()).unwrap()
}

async fn send(p: &FutureProducer, topic: &str, key: &str, value: Option<&[u8]>) {
    let mut r = FutureRecord::<str, [u8]>::to(topic).key(key);
    if let Some(v) = value {
        r = r.payload(v);
    }
    p.send(r, StdDuration::from_secs(30)).await.map_err(|(e, _)| e).unwrap();
}

async fn get(url: &str) -> (u16, Value) {
    let r = reqwest::get(url).await.unwrap();
    let status = r.status().as_u16();
    (status, serde_json::from_str(&r.text().await.unwrap()).unwrap())
}

async fn until<F, Fut>(mut cond: F, what: &str)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + LIMIT;
    while !cond().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        let _ = timeout(StdDuration::from_millis(10), futures::future::pending::<()>()).await;
    }
}

/// The `sequence` events of one SSE connection.
struct Stream<S> {
    inner: S,
    buf: String,
}

impl<S: futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin> Stream<S> {
    async fn next_event(&mut self, name: &str) -> Value {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let event = block.lines().find_map(|l| l.strip_prefix("event:")).map(str::trim);
                let data: String = block
                    .lines()
                    .filter_map(|l| l.strip_prefix("data:"))
                    .map(str::trim_start)
                    .collect();
                if event == Some(name) {
                    return serde_json::from_str(&data).unwrap();
                }
                continue;
            }
            let chunk = timeout(LIMIT, self.inner.next()).await.expect("an SSE event in time");
            self.buf.push_str(&String::from_utf8_lossy(&chunk.unwrap().unwrap()));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequences_are_listed_filtered_detailed_and_pushed() {
    let kafka = testkit::kafka();
    let topic = kafka.topic("seq-quakes", 1);
    let seq_topic = kafka.topic("seq-sequences", 1);
    let producer = create_producer(&kafka.bootstrap).unwrap();
    let now = Utc::now();
    let t0 = now - Duration::hours(6);
    // A mainshock with four aftershocks off Greece, and a pair of events in Japan.
    let mut quakes = vec![quake("gr-main", t0, 38.0, 21.0, 5.5, "SOUTHERN GREECE")];
    for i in 0..4 {
        let t = t0 + Duration::minutes(10 * (i + 1));
        quakes.push(quake(
            &format!("gr-a{i}"),
            t,
            38.02,
            21.01 + 0.01 * i as f64,
            3.0,
            "SOUTHERN GREECE",
        ));
    }
    quakes.push(quake(
        "jp-main",
        t0,
        36.0,
        140.0,
        4.5,
        "NEAR EAST COAST OF HONSHU, JAPAN",
    ));
    quakes.push(quake(
        "jp-a0",
        t0 + Duration::hours(1),
        36.01,
        140.0,
        3.1,
        "NEAR EAST COAST OF HONSHU, JAPAN",
    ));
    quakes.push(quake(
        "jp-a1",
        t0 + Duration::hours(2),
        36.0,
        140.01,
        3.0,
        "NEAR EAST COAST OF HONSHU, JAPAN",
    ));
    for q in &quakes {
        let rec = WireRecord::new(Action::Create, q.clone(), now);
        send(&producer, &topic, &q.unid, Some(&rec.to_json())).await;
    }
    let mut g = Grouper::from_events(Params::default(), quakes.iter().map(event)).unwrap();
    let publish = |g: &Grouper, id: &str| serde_json::to_vec(&g.record(id, now).unwrap()).unwrap();
    let (gr, jp) = (g.sequence_of("gr-main").unwrap(), g.sequence_of("jp-main").unwrap());
    for id in [&gr, &jp] {
        send(&producer, &seq_topic, id, Some(&publish(&g, id))).await;
    }

    let (_tx, rx) = quakestream_core::ops::shutdown_channel();
    let cfg = FrontendConfig {
        rate_limit: 0,
        sequences_topic: Some(seq_topic.clone()),
        ..FrontendConfig::new(kafka.bootstrap.clone(), topic.clone())
    };
    let fe = start(cfg, prometheus::Registry::new(), rx).await.unwrap();
    let url = format!("http://{}", fe.addr);
    until(
        || async { get(&format!("{url}/api/sequences")).await.1["metadata"]["live"] == true },
        "the sequences read",
    )
    .await;
    until(|| async { fe.state.index.len() == quakes.len() }, "the events indexed").await;

    // The list: both, latest activity first, without member lists; filters narrow it.
    let (s, all) = get(&format!("{url}/api/sequences")).await;
    assert_eq!(s, 200);
    let ids: Vec<&str> = all["sequences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [jp.as_str(), gr.as_str()], "Japan's last event is later");
    assert!(all["sequences"][0].get("member_unids").is_none());
    assert!(all["sequences"][1]["stats"].get("fmd").is_none());
    for (q, want) in [
        ("region=greece", vec![gr.as_str()]),
        ("region=HONSHU", vec![jp.as_str()]),
        ("minmag=5", vec![gr.as_str()]),
        ("minmembers=4", vec![gr.as_str()]),
        ("event=jp-a1", vec![jp.as_str()]),
        ("event=nowhere", vec![]),
        ("until=2020-01-01T00:00:00Z", vec![]),
        ("limit=1", vec![jp.as_str()]),
    ] {
        let (s, v) = get(&format!("{url}/api/sequences?{q}")).await;
        assert_eq!(s, 200, "{q}");
        let got: Vec<&str> = v["sequences"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap())
            .collect();
        assert_eq!(got, want, "{q}");
    }
    let (_, one) = get(&format!("{url}/api/sequences?limit=1")).await;
    assert_eq!(
        (
            one["metadata"]["matched"].as_u64(),
            one["metadata"]["truncated"].as_bool()
        ),
        (Some(2), Some(true))
    );
    for (q, param) in [
        ("since=2025-01-02T00:00:00Z&until=2025-01-01T00:00:00Z", "since"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("minmembers=1", "minmembers"),
        ("minmag=11", "minmag"),
        ("bbox=1,2,3,4", "bbox"),
        ("region=", "region"),
    ] {
        let (s, v) = get(&format!("{url}/api/sequences?{q}")).await;
        assert_eq!(
            (s, v["error"].as_str(), v["parameter"].as_str()),
            (400, Some("invalid_parameter"), Some(param)),
            "{q}"
        );
    }

    // The detail: the record with its statistics and every member, by origin time.
    let (s, d) = get(&format!("{url}/api/sequences/{gr}")).await;
    assert_eq!(s, 200);
    assert_eq!(d["sequence"]["members"], 5);
    assert_eq!(d["members_missing"], 0);
    let members: Vec<&str> = d["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["unid"].as_str().unwrap())
        .collect();
    assert_eq!(members, ["gr-main", "gr-a0", "gr-a1", "gr-a2", "gr-a3"]);
    assert_eq!(d["sequence"]["stats"]["b_value"]["status"], "not_enough_events");
    let (s, nf) = get(&format!("{url}/api/sequences/seq-nowhere")).await;
    assert_eq!(
        (s, nf["error"].as_str(), nf["parameter"].clone()),
        (404, Some("not_found"), Value::Null)
    );
    assert!(nf["message"].as_str().unwrap().contains("seq-nowhere"));

    // Live: a sequence that grows, one that ends, one that starts.
    let r = reqwest::Client::new()
        .get(format!("{url}/api/stream"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    let mut sse = Stream {
        inner: Box::pin(r.bytes_stream()),
        buf: String::new(),
    };
    sse.next_event("hello").await;
    g.upsert(event(&quake(
        "gr-a4",
        t0 + Duration::hours(1),
        38.01,
        21.0,
        3.2,
        "SOUTHERN GREECE",
    )))
    .unwrap();
    g.take_changes();
    send(&producer, &seq_topic, &gr, Some(&publish(&g, &gr))).await;
    let e = sse.next_event("sequence").await;
    assert_eq!(
        (e["change"].as_str(), e["id"].as_str()),
        (Some("grow"), Some(gr.as_str()))
    );
    assert_eq!(e["sequence"]["members"], 6);
    send(&producer, &seq_topic, &jp, None).await;
    let e = sse.next_event("sequence").await;
    assert_eq!(
        (e["change"].as_str(), e["id"].as_str()),
        (Some("end"), Some(jp.as_str()))
    );
    // An unchanged record again is no news: the next event is the start that follows it.
    send(&producer, &seq_topic, &gr, Some(&publish(&g, &gr))).await;
    let mut nz = Grouper::new(Params::default());
    for (i, mag) in [4.8, 3.0, 3.1].into_iter().enumerate() {
        let t = t0 + Duration::minutes(5 * i as i64);
        nz.upsert(event(&quake(
            &format!("nz-{i}"),
            t,
            -41.0,
            174.0,
            mag,
            "COOK STRAIT, NEW ZEALAND",
        )))
        .unwrap();
    }
    let nz_id = nz.sequence_of("nz-0").unwrap();
    send(&producer, &seq_topic, &nz_id, Some(&publish(&nz, &nz_id))).await;
    let e = sse.next_event("sequence").await;
    assert_eq!(
        (e["change"].as_str(), e["id"].as_str()),
        (Some("start"), Some(nz_id.as_str()))
    );
    let (_, after) = get(&format!("{url}/api/sequences")).await;
    assert_eq!(
        after["metadata"]["count"], 2,
        "Japan's sequence is gone, New Zealand's came"
    );
    let (s, _) = get(&format!("{url}/api/sequences/{jp}")).await;
    assert_eq!(s, 404);
}
