//! `quakestream consumer` as a process, killed with SIGKILL mid-batch, then started again in the
//! same group: every record the broker holds ends up in the table exactly once (offsets are
//! committed only after the write, so the restart reads again what was not written). Real parts:
//! librdkafka's mock cluster (or KAFKA_BOOTSTRAP_SERVERS) and dynoxide, both in this process.

use chrono::{Duration as CDuration, TimeZone, Utc};
use quakestream_core::model::{Quake, Source};
use quakestream_core::testkit;
use quakestream_core::wire::{Action, WireRecord};
use quakestream_store::{Store, testkit as dyn_testkit};
use rdkafka::producer::FutureRecord;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A liveness bound for every wait (the mock cluster notices the killed member only after its
/// session timeout, 45 s by default).
const WAIT: Duration = Duration::from_secs(240);
const N: usize = 5000;

fn record(i: usize) -> WireRecord {
    let t = Utc.with_ymd_and_hms(2025, 10, 29, 10, 30, 0).unwrap() + CDuration::seconds(i as i64);
    let quake = Quake {
        unid: format!("kill{i:05}"),
        time: t,
        lastupdate: t + CDuration::minutes(3),
        lat: 38.0,
        lon: 20.0,
        depth_km: 10.0,
        mag: Some(3.0),
        magtype: Some("ml".into()),
        region: Some("GREECE".into()),
        agency: Some("EMSC".into()),
        evtype: Some("ke".into()),
        source: Source::Emsc,
    };
    WireRecord::new(Action::Create, quake, t + CDuration::minutes(4))
}

fn start(topic: &str, dlq: &str, store: &Store) -> Child {
    Command::new(env!("CARGO_BIN_EXE_quakestream"))
        .arg("consumer")
        .args(["--bootstrap-servers", &testkit::kafka().bootstrap])
        .args([
            "--topic",
            topic,
            "--dlq-topic",
            dlq,
            "--group-id",
            &format!("{topic}-group"),
        ])
        .args([
            "--table",
            store.table(),
            "--dynamodb-endpoint",
            &dyn_testkit::dynamo().endpoint(),
        ])
        // Slow enough that the kill lands mid-batch.
        .args(["--concurrency", "2", "--max-in-flight", "16"])
        .args(["--listen", "127.0.0.1:0", "--log", "warn"])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting quakestream consumer")
}

/// Items in the table (a Scan: test-only).
async fn count(store: &Store) -> usize {
    let mut n = 0;
    let mut start = None;
    loop {
        let res = store
            .client()
            .scan()
            .table_name(store.table())
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan");
        n += res.count() as usize;
        match res.last_evaluated_key {
            Some(k) => start = Some(k),
            None => return n,
        }
    }
}

async fn wait_for_count(store: &Store, what: &str, done: impl Fn(usize) -> bool) -> usize {
    let deadline = Instant::now() + WAIT;
    loop {
        let n = count(store).await;
        if done(n) {
            return n;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}: {n} items");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_batch_then_restart_stores_every_record_exactly_once() {
    let kafka = testkit::kafka();
    let topic = kafka.topic("kill", 3);
    let dlq = kafka.topic("kill-dlq", 1);
    let store = dyn_testkit::fresh_store("kill").await;
    let producer = quakestream_core::kafka::create_producer(&kafka.bootstrap).unwrap();
    let records: Vec<WireRecord> = (0..N).map(record).collect();
    let sends = records.iter().map(|r| {
        let payload = r.to_json();
        let producer = producer.clone();
        let key = r.quake.unid.clone();
        let topic = topic.clone();
        async move {
            let rec: FutureRecord<'_, str, [u8]> =
                FutureRecord::to(&topic).key(key.as_str()).payload(payload.as_slice());
            producer
                .send(rec, Duration::from_secs(30))
                .await
                .map(|_| ())
                .map_err(|(e, _)| e)
        }
    });
    for res in futures_join(sends).await {
        res.expect("delivered");
    }

    let mut first = start(&topic, &dlq, &store);
    let before = wait_for_count(&store, "the first writes", |n| n >= 300).await;
    first.kill().expect("SIGKILL");
    let _ = first.wait();
    let at_kill = count(&store).await;
    assert!(
        at_kill < N,
        "killed before the end of the batch ({before}..{at_kill} of {N})"
    );

    let mut second = start(&topic, &dlq, &store);
    wait_for_count(&store, "every record after the restart", |n| n >= N).await;
    unsafe {
        libc::kill(second.id() as i32, libc::SIGTERM);
    }
    let status = second.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(count(&store).await, N, "nothing lost, nothing extra");
    for i in (0..N).step_by(97) {
        let got = store.get(&format!("kill{i:05}")).await.unwrap().expect("present");
        assert_eq!(
            got.revision_count, 1,
            "applied once: a re-read record is not a new revision"
        );
    }
}

/// Awaits every future (the cli crate has no `futures` dependency).
async fn futures_join<T: Send + 'static>(
    futs: impl Iterator<Item = impl std::future::Future<Output = T> + Send + 'static>,
) -> Vec<T> {
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.expect("send task"));
    }
    out
}
