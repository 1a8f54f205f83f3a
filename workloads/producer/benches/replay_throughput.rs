//! Benchmark (not a test): `quakestream producer --replay FILE --speed max` into librdkafka's
//! mock cluster. Reports events/s and the producer process's peak RSS.
//!
//!     cargo build --release -p quakestream
//!     cargo bench -p quakestream-producer --bench replay_throughput
//!
//! The recording is made of real EMSC events (the FDSN sample), repeated with distinct unids
//! until it holds `QS_BENCH_EVENTS` frames (default 300,000), one websocket frame per line.

use quakestream_core::kafka::EmbeddedBroker;
use quakestream_core::testkit::{self, testdata};
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

fn main() {
    let n: usize = std::env::var("QS_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300_000);
    let bin = std::env::var("QUAKESTREAM_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/release/quakestream"));
    assert!(
        bin.exists(),
        "{} not found: run `cargo build --release -p quakestream` first",
        bin.display()
    );

    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(testdata("emsc-fdsn-2025-04-turkey-aegean-m2.5.json")).unwrap())
            .unwrap();
    let features = doc["features"].as_array().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("recording.jsonl");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    for i in 0..n {
        let mut f = features[i % features.len()].clone();
        let unid = format!("{}_{}", f["properties"]["unid"].as_str().unwrap(), i / features.len());
        f["properties"]["unid"] = unid.clone().into();
        f["id"] = unid.into();
        writeln!(out, "{}", serde_json::json!({"action": "create", "data": f})).unwrap();
    }
    out.flush().unwrap();
    drop(out);
    let bytes = std::fs::metadata(&path).unwrap().len();

    let broker = EmbeddedBroker::start(1).unwrap();
    broker.create_topic("quakes", 6).unwrap();
    broker.create_topic("quakes.dlq", 1).unwrap();

    let started = Instant::now();
    let status = Command::new(&bin)
        .args(["producer", "--replay"])
        .arg(&path)
        .args([
            "--speed",
            "max",
            "--bootstrap-servers",
            broker.bootstrap_servers(),
            "--listen",
            "127.0.0.1:0",
            "--log",
            "warn",
        ])
        .status()
        .unwrap();
    let elapsed = started.elapsed();
    assert!(status.success(), "producer failed: {status}");
    // SAFETY: getrusage only writes into the struct we pass.
    let peak_rss_kib = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage.ru_maxrss
    };
    let records = testkit::read_topic_to_end(broker.bootstrap_servers(), "quakes", Duration::from_secs(120));
    assert_eq!(records.len(), n, "every event reached the topic");

    let rate = n as f64 / elapsed.as_secs_f64();
    println!("producer --replay --speed max into the mock cluster (6 partitions)");
    println!("| events | input | wall time | events/s | peak RSS |");
    println!("|---:|---:|---:|---:|---:|");
    println!(
        "| {n} | {:.1} MB | {:.2} s | {:.0} | {:.1} MB |",
        bytes as f64 / 1e6,
        elapsed.as_secs_f64(),
        rate,
        peak_rss_kib as f64 / 1024.0
    );
}
