//! The `quakestream` binary as users run it.

use quakestream_core::testkit::{self, testdata};
use quakestream_core::wire::WireRecord;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_quakestream"))
}

#[test]
fn inspect_prints_one_wire_record_per_event_and_a_summary() {
    let out = bin()
        .arg("inspect")
        .arg(testdata("emsc-fdsn-2025-04-turkey-aegean-m2.5.json"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
    assert_eq!(lines.len(), 430);
    for l in &lines {
        let rec = WireRecord::decode(None, Some(l.as_bytes())).unwrap();
        assert_eq!(rec.v, 1);
    }
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("430 inputs, 430 valid events (430 distinct unids), 0 rejected"),
        "{err}"
    );
}

#[test]
fn inspect_reports_each_bad_input_with_its_position_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("feed.jsonl");
    let good = std::fs::read_to_string(testdata("emsc-ws-documented-examples.jsonl")).unwrap();
    let mut f = std::fs::File::create(&path).unwrap();
    writeln!(f, "{}", good.lines().next().unwrap()).unwrap();
    writeln!(
        f,
        "{{\"action\":\"create\",\"data\":{{\"properties\":{{\"unid\":\"A\",\"lat\":91}}}}}}"
    )
    .unwrap();
    writeln!(f, "\u{0}\u{1}binary garbage").unwrap();
    writeln!(
        f,
        "{}",
        good.lines().nth(1).unwrap().replace("\"update\"", "\"teleport\"")
    )
    .unwrap();
    drop(f);
    let out = bin().arg("inspect").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 2: rejected (missing_field)") || err.contains("line 2: rejected (out_of_range)"),
        "{err}"
    );
    assert!(err.contains("line 3: rejected (bad_json)"), "{err}");
    assert!(err.contains("line 4: skipped: unknown action \"teleport\""), "{err}");
    assert!(err.contains("4 inputs, 1 valid events"), "{err}");
}

#[test]
fn an_allocator_the_process_cannot_run_on_stops_it_before_any_work_with_exit_2() {
    let out = bin()
        .env("QS_ALLOCATOR", "jemalloc")
        .arg("inspect")
        .arg(testdata("emsc-ws-documented-examples.jsonl"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("QS_ALLOCATOR=\"jemalloc\" names no allocator; expected one of: system, mimalloc"),
        "{err}"
    );
}

#[test]
fn either_allocator_does_the_same_work() {
    let run = |allocator: &str| {
        let out = bin()
            .env("QS_ALLOCATOR", allocator)
            .arg("inspect")
            .arg(testdata("emsc-fdsn-2025-04-turkey-aegean-m2.5.json"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{allocator}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The records but for when they were read.
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                v.as_object_mut()
                    .unwrap()
                    .remove("received_at")
                    .expect("a receive time");
                v
            })
            .collect::<Vec<serde_json::Value>>()
    };
    let system = run("system");
    assert_eq!(system.len(), 430);
    assert!(run("mimalloc") == system, "the two allocators' records differ");
}

#[test]
fn analytics_refuses_to_start_on_another_allocator_than_its_flag_names() {
    let out = bin()
        .env_remove("QS_ALLOCATOR")
        .args([
            "analytics",
            "--allocator",
            "mimalloc",
            "--bootstrap-servers",
            "127.0.0.1:1",
        ])
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--allocator mimalloc, but this process runs on system")
            && err.contains("set QS_ALLOCATOR=mimalloc"),
        "{err}"
    );
}

#[test]
fn inspect_of_a_missing_file_exits_2_with_a_clear_message() {
    let out = bin().args(["inspect", "/nonexistent/quakes.json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/quakes.json"));
}

#[test]
fn inspect_never_panics_on_any_file_in_testdata() {
    let dirs = [testkit::testdata_dir(), testkit::testdata("malformed")];
    let files = dirs.iter().flat_map(|d| std::fs::read_dir(d).unwrap());
    for entry in files {
        let path = entry.unwrap().path();
        if path.is_dir() {
            continue;
        }
        let out = bin().arg("inspect").arg("-q").arg(&path).output().unwrap();
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{}: {:?}",
            path.display(),
            out.status
        );
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("panicked"),
            "{}",
            path.display()
        );
    }
}

/// SIGTERM in the middle of a paced replay: the producer flushes what it handed to Kafka and
/// exits 0, and the topic holds exactly what it reports as published.
#[test]
fn sigterm_flushes_in_flight_records_then_exits() {
    let kafka = testkit::kafka();
    let topic = kafka.topic("quakes", 3);
    let dlq = kafka.topic("quakes.dlq", 1);
    let mut child = bin()
        .args(["producer", "--replay"])
        .arg(testdata("usgs-all-week-2024-05-04.geojson"))
        // A week in about 60 s: the producer is mid-replay when it is stopped.
        .args([
            "--speed",
            "10000",
            "--bootstrap-servers",
            &kafka.bootstrap,
            "--topic",
            &topic,
            "--dlq-topic",
            &dlq,
        ])
        .args(["--listen", "127.0.0.1:0", "--log", "info"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the first progress line: the replay is under way.
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        if line.unwrap().contains("replay progress") {
            break;
        }
    }
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    assert!(status.success(), "exit {status}: {rest:?}");
    let stopped = rest
        .iter()
        .find(|l| l.contains("producer stopped"))
        .expect("a final report line");
    let report: serde_json::Value = serde_json::from_str(stopped).unwrap();
    let published = report["published"].as_u64().unwrap();
    assert_eq!(report["undelivered"].as_u64(), Some(0));
    assert!(published > 0 && published < 2588, "stopped mid-replay: {published}");
    let records = testkit::read_topic_to_end(&kafka.bootstrap, &topic, Duration::from_secs(30));
    assert_eq!(
        records.len() as u64,
        published,
        "the topic holds exactly what was acknowledged"
    );
}

#[test]
fn every_workload_refuses_a_missing_kafka_ca_file_at_start_up() {
    for sub in ["producer", "consumer", "frontend", "analytics"] {
        let out = bin()
            .args([
                sub,
                "--listen",
                "127.0.0.1:0",
                "--kafka-security-protocol",
                "ssl",
                "--kafka-ca-file",
                "/nonexistent/ca.crt",
            ])
            .env_remove("QS_KAFKA_SECURITY_PROTOCOL")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{sub}: {stderr}");
        assert!(
            stderr.contains("--kafka-ca-file /nonexistent/ca.crt"),
            "{sub} names the flag and the file: {stderr}"
        );
    }
}

#[test]
fn a_tls_file_flag_without_tls_is_refused() {
    let out = bin()
        .args([
            "consumer",
            "--listen",
            "127.0.0.1:0",
            "--kafka-cert-file",
            "/etc/hostname",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("--kafka-cert-file needs --kafka-security-protocol ssl or sasl_ssl"),
        "{stderr}"
    );
}
