//! SSE fan-out benchmark (not a test): many concurrent `/api/stream` clients on one frontend
//! instance; the time from producing each record to Kafka to its delivery at every client, and the
//! frontend's memory.
//!
//! The driver (this process) runs librdkafka's mock cluster (or uses KAFKA_BOOTSTRAP_SERVERS),
//! starts the frontend as a child process (this same binary with `--serve`, so the child's
//! /proc/<pid>/status is the frontend alone: HTTP server, index, hub and its Kafka tail), opens
//! QS_FANOUT_CLIENTS raw HTTP/1.1 connections to /api/stream from 127.0.0.1, waits until every
//! one has its `hello`, then produces QS_FANOUT_RECORDS records QS_FANOUT_GAP_MS apart and
//! timestamps every delivery at every client (one clock: the driver's). Bounded in time
//! throughout. Prints a summary and one JSON line.
//!
//!   cargo build --release -p quakestream-frontend --example sse_fanout
//!   scripts/bench-sse-fanout.sh            # raises `ulimit -n`, runs 10,000 clients
//!
//! Knobs: QS_FANOUT_CLIENTS (10000), QS_FANOUT_RECORDS (20), QS_FANOUT_GAP_MS (500), and
//! QS_FANOUT_WRAP, a command the frontend child runs under (e.g. `heaptrack`, to see where its
//! memory goes).

use chrono::Utc;
use quakestream_core::kafka::create_producer;
use quakestream_core::model::{Quake, Source};
use quakestream_core::testkit;
use quakestream_core::wire::{Action, WireRecord};
use quakestream_frontend::{FrontendConfig, start};
use rdkafka::producer::FutureRecord;
use std::io::{BufRead, Write as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PATTERN: &[u8] = b"\"unid\":\"fan-";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Raises the soft RLIMIT_NOFILE to the hard limit; returns (soft, hard) after.
fn raise_nofile() -> (u64, u64) {
    unsafe {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
        }
        (r.rlim_cur, r.rlim_max)
    }
}

fn proc_status_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn quake(i: usize) -> Quake {
    let now = Utc::now();
    Quake {
        unid: format!("fan-{i:05}"),
        time: now,
        lastupdate: now,
        lat: 38.0,
        lon: 21.0,
        depth_km: 10.0,
        mag: Some(4.2),
        magtype: Some("mw".into()),
        region: Some("SOUTHERN GREECE".into()),
        agency: Some("EMSC".into()),
        evtype: Some("ke".into()),
        source: Source::Emsc,
    }
}

/// `--serve BOOTSTRAP TOPIC`: the frontend alone, until stdin closes.
async fn serve(bootstrap: String, topic: String) -> anyhow::Result<()> {
    raise_nofile();
    let (tx, rx) = quakestream_core::ops::shutdown_channel();
    let cfg = FrontendConfig {
        rate_limit: 0, // every client is 127.0.0.1
        sse_channel: 1024,
        // The benchmark decides how many connections there are, not the production cap.
        max_connections: env_usize("QS_FANOUT_CLIENTS", 10_000) + 1024,
        ..FrontendConfig::new(bootstrap, topic)
    };
    let fe = start(cfg, prometheus::Registry::new(), rx).await?;
    println!(
        "{}",
        serde_json::json!({"addr": fe.addr.to_string(), "pid": std::process::id()})
    );
    std::io::stdout().flush()?;
    tokio::task::spawn_blocking(|| {
        let mut s = String::new();
        while std::io::stdin().read_line(&mut s).map(|n| n > 0).unwrap_or(false) {}
    })
    .await?;
    let _ = tx.send(true);
    Ok(())
}

/// One client: connect, ask for the stream, report `hello`, then timestamp each record it gets.
async fn client(
    addr: std::net::SocketAddr,
    records: usize,
    connected: Arc<AtomicUsize>,
    ready: Arc<tokio::sync::Notify>,
    total: usize,
    permit: tokio::sync::OwnedSemaphorePermit,
) -> Result<(Vec<(u32, Instant)>, TcpStream), String> {
    // The permit (one of the handshakes in flight) is released with the hello, or on failure.
    let mut permit = Some(permit);
    let mut s = TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
    s.write_all(b"GET /api/stream HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n")
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 8192];
    let mut hello = false;
    let mut got: Vec<(u32, Instant)> = Vec::with_capacity(records);
    while got.len() < records {
        let n = s.read(&mut chunk).await.map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err(format!("closed after {} records", got.len()));
        }
        let at = Instant::now();
        buf.extend_from_slice(&chunk[..n]);
        if !hello && buf.windows(12).any(|w| w == b"event: hello") {
            hello = true;
            permit.take();
            if connected.fetch_add(1, Ordering::SeqCst) + 1 == total {
                ready.notify_one();
            }
        }
        let mut i = 0;
        while let Some(p) = buf[i..].windows(PATTERN.len()).position(|w| w == PATTERN) {
            let start = i + p + PATTERN.len();
            if buf.len() < start + 5 {
                break;
            }
            if let Some(idx) = std::str::from_utf8(&buf[start..start + 5])
                .ok()
                .and_then(|d| d.parse::<u32>().ok())
            {
                got.push((idx, at));
            }
            i = start + 5;
        }
        // Keep only what may hold a split pattern.
        let keep = buf.len().saturating_sub(PATTERN.len() + 5).max(i.min(buf.len()));
        buf.drain(..keep);
    }
    // The connection goes back open: closing 10,000 sockets while others still wait for the
    // last record would time the teardown, not the fan-out.
    Ok((got, s))
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn drive() -> anyhow::Result<()> {
    let clients = env_usize("QS_FANOUT_CLIENTS", 10_000);
    let records = env_usize("QS_FANOUT_RECORDS", 20);
    let gap = Duration::from_millis(env_usize("QS_FANOUT_GAP_MS", 500) as u64);
    let (soft, hard) = raise_nofile();
    eprintln!("RLIMIT_NOFILE {soft}/{hard}; {clients} clients, {records} records {gap:?} apart");

    let kafka = testkit::kafka();
    let topic = kafka.topic("quakes-fanout", 1);
    let exe = std::env::current_exe()?;
    let wrap = std::env::var("QS_FANOUT_WRAP").unwrap_or_default();
    let mut argv: Vec<std::ffi::OsString> = wrap.split_whitespace().map(Into::into).collect();
    argv.push(exe.into());
    let mut child = std::process::Command::new(&argv[0])
        .args(&argv[1..])
        .args(["--serve", &kafka.bootstrap, &topic])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    // The first JSON line (a wrapper may print its own lines first).
    let mut out = std::io::BufReader::new(child.stdout.take().expect("piped"));
    let info: serde_json::Value = loop {
        let mut line = String::new();
        anyhow::ensure!(out.read_line(&mut line)? > 0, "the frontend exited before it listened");
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
            break v;
        }
        eprint!("frontend: {line}");
    };
    let addr: std::net::SocketAddr = info["addr"].as_str().expect("addr").parse()?;
    // The frontend's own pid (not a wrapper's).
    let pid = info["pid"].as_u64().map_or(child.id(), |p| p as u32);
    let url = format!("http://{addr}");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while http
        .get(format!("{url}/readyz"))
        .send()
        .await
        .map(|r| r.status() != 200)
        .unwrap_or(true)
    {
        anyhow::ensure!(Instant::now() < deadline, "frontend not ready in 60 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rss_idle = proc_status_kb(pid, "VmRSS:");

    // Connect everyone (at most 512 handshakes in flight, under the listen backlog).
    let connected = Arc::new(AtomicUsize::new(0));
    let ready = Arc::new(tokio::sync::Notify::new());
    let gate = Arc::new(tokio::sync::Semaphore::new(512));
    let t_connect = Instant::now();
    let mut tasks = Vec::with_capacity(clients);
    for _ in 0..clients {
        let (c, r, g) = (connected.clone(), ready.clone(), gate.clone());
        tasks.push(tokio::spawn(async move {
            let permit = g.acquire_owned().await.expect("open");
            client(addr, records, c, r, clients, permit).await
        }));
        if tasks.len() % 512 == 0 {
            tokio::task::yield_now().await;
        }
    }
    let all_in = tokio::time::timeout(Duration::from_secs(180), ready.notified())
        .await
        .is_ok();
    let n_connected = connected.load(Ordering::SeqCst);
    let connect_s = t_connect.elapsed().as_secs_f64();
    let m = http.get(format!("{url}/metrics")).send().await?.text().await?;
    let server_clients = m
        .lines()
        .find_map(|l| l.strip_prefix("quakestream_frontend_sse_clients "))
        .unwrap_or("?")
        .to_owned();
    let rss_connected = proc_status_kb(pid, "VmRSS:");
    eprintln!(
        "{n_connected}/{clients} clients have their hello after {connect_s:.1} s (server counts {server_clients}); frontend RSS {} MB",
        rss_connected / 1024
    );
    if !all_in {
        eprintln!("not every client connected in 180 s; measuring with {n_connected}");
    }

    // Produce, paced; t0 is taken just before each send.
    let producer = create_producer(&kafka.bootstrap)?;
    // Warm-up record (not measured, and not matched by the clients): the producer's first send
    // waits for metadata and a broker connection, which is the driver's start-up, not fan-out.
    let warm = WireRecord::new(
        Action::Create,
        Quake {
            unid: "warm-up".into(),
            ..quake(0)
        },
        Utc::now(),
    );
    producer
        .send(
            FutureRecord::to(&topic).key(warm.key()).payload(&warm.to_json()),
            Duration::from_secs(30),
        )
        .await
        .map_err(|(e, _)| anyhow::anyhow!("produce: {e}"))?;
    tokio::time::sleep(gap).await;
    let mut t0 = Vec::with_capacity(records);
    for i in 0..records {
        let rec = WireRecord::new(Action::Create, quake(i), Utc::now());
        let payload = rec.to_json();
        t0.push(Instant::now());
        producer
            .send(
                FutureRecord::to(&topic).key(rec.key()).payload(&payload),
                Duration::from_secs(30),
            )
            .await
            .map_err(|(e, _)| anyhow::anyhow!("produce: {e}"))?;
        tokio::time::sleep(gap).await;
    }

    // Collect (bounded).
    let mut lat_ms: Vec<f64> = Vec::with_capacity(clients * records);
    let mut last_per_record = vec![0f64; records];
    let mut failed = 0usize;
    let mut errors: std::collections::BTreeMap<String, usize> = Default::default();
    let mut open = Vec::with_capacity(clients);
    let collect_deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    for t in tasks {
        match tokio::time::timeout_at(collect_deadline, t).await {
            Ok(Ok(Ok((got, conn)))) => {
                open.push(conn);
                for (idx, at) in got {
                    let i = idx as usize;
                    if i < records {
                        let ms = at.duration_since(t0[i]).as_secs_f64() * 1e3;
                        lat_ms.push(ms);
                        last_per_record[i] = last_per_record[i].max(ms);
                    }
                }
            }
            Ok(Ok(Err(e))) => {
                failed += 1;
                *errors.entry(e.split(':').next().unwrap_or("").to_owned()).or_default() += 1;
            }
            _ => failed += 1,
        }
    }
    drop(open);
    let hwm = proc_status_kb(pid, "VmHWM:");
    let rss_end = proc_status_kb(pid, "VmRSS:");
    let m = http.get(format!("{url}/metrics")).send().await?.text().await?;
    let dropped: f64 = m
        .lines()
        .filter(|l| {
            l.starts_with("quakestream_frontend_sse_dropped_total")
                || l.starts_with("quakestream_frontend_write_stalls_total")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    drop(child.stdin.take());
    let _ = child.wait();

    eprintln!(
        "ms to the last client, record by record: {:?}",
        last_per_record.iter().map(|ms| ms.round() as u64).collect::<Vec<_>>()
    );
    lat_ms.sort_by(f64::total_cmp);
    let mut last_sorted = last_per_record.clone();
    last_sorted.sort_by(f64::total_cmp);
    let expected = n_connected * records;
    println!("clients connected        {n_connected} / {clients} (in {connect_s:.1} s)");
    println!(
        "deliveries               {} / {expected} expected ({failed} clients failed: {errors:?}; server drops {dropped})",
        lat_ms.len()
    );
    println!(
        "produce -> delivery      p50 {:.1} ms   p99 {:.1} ms   max {:.1} ms",
        pct(&lat_ms, 0.5),
        pct(&lat_ms, 0.99),
        pct(&lat_ms, 1.0)
    );
    println!(
        "time to the last client  p50 {:.1} ms   max {:.1} ms   (per record)",
        pct(&last_sorted, 0.5),
        pct(&last_sorted, 1.0)
    );
    println!(
        "frontend RSS             idle {} MB, {n_connected} clients {} MB, end {} MB, VmHWM {} MB",
        rss_idle / 1024,
        rss_connected / 1024,
        rss_end / 1024,
        hwm / 1024
    );
    println!(
        "{}",
        serde_json::json!({
            "clients": clients, "connected": n_connected, "records": records, "deliveries": lat_ms.len(), "expected": expected,
            "failed_clients": failed, "p50_ms": pct(&lat_ms, 0.5), "p99_ms": pct(&lat_ms, 0.99), "max_ms": pct(&lat_ms, 1.0),
            "last_client_p50_ms": pct(&last_sorted, 0.5), "last_client_max_ms": pct(&last_sorted, 1.0),
            "rss_idle_kb": rss_idle, "rss_connected_kb": rss_connected, "vmhwm_kb": hwm,
        })
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--serve") {
        return serve(args[1].clone(), args[2].clone()).await;
    }
    drive().await
}
