//! Feed-to-browser latency of `quakestream dev`: a local websocket server in the EMSC format
//! sends fresh frames at a steady rate, an SSE client on `/api/stream` timestamps their arrival,
//! and the percentiles of (arrival − send) are printed; then the process's CPU use while idle.
//!
//! `cargo run --example feed_latency -- QUAKESTREAM_BINARY [EVENTS_PER_S] [SECONDS] [IDLE_SECONDS]`
//! (scripts/bench/feed-latency.sh builds the binary and runs this). The FDSN backfill goes to a
//! local responder that answers 204 (no events), so nothing but the frames flows.

use futures::SinkExt;
use serde_json::Value;
use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Message;

/// A real EMSC frame's shape (the first documented example), re-stamped for each send.
const TEMPLATE: &str = include_str!("../../../testdata/emsc-ws-documented-examples.jsonl");

type Sent = Arc<Mutex<HashMap<String, Instant>>>;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let bin = args
        .next()
        .expect("usage: feed_latency QUAKESTREAM_BINARY [EVENTS_PER_S] [SECONDS] [IDLE_SECONDS]");
    let rate: u64 = args.next().map_or(20, |a| a.parse().expect("events per second"));
    let secs: u64 = args.next().map_or(30, |a| a.parse().expect("seconds"));
    let idle: u64 = args.next().map_or(10, |a| a.parse().expect("idle seconds"));

    let (frames_tx, _) = broadcast::channel::<String>(1024);
    let ws = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ws_url = format!("ws://{}/", ws.local_addr().unwrap());
    let tx = frames_tx.clone();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = ws.accept().await.unwrap();
            let mut rx = tx.subscribe();
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                    return;
                };
                while let Ok(f) = rx.recv().await {
                    if ws.send(Message::text(f)).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    let fdsn = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let fdsn_url = format!("http://{}/fdsnws/event/1/query", fdsn.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let (mut tcp, _) = fdsn.accept().await.unwrap();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = tcp.read(&mut buf).await;
                let _ = tcp
                    .write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
            });
        }
    });

    let data_dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(&bin)
        .args([
            "dev",
            "--listen",
            "127.0.0.1:0",
            "--emsc-url",
            &ws_url,
            "--fdsn-url",
            &fdsn_url,
        ])
        .arg("--data-dir")
        .arg(data_dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting quakestream dev");
    let pid = child.id();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut addr = None;
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(url) = line.split("map        http://").nth(1) {
                addr = Some(url.trim_end_matches('/').to_owned());
            }
            if line.contains("ready in") {
                let _ = addr_tx.send(addr.take());
            }
        }
    });
    let addr = addr_rx
        .recv_timeout(Duration::from_secs(120))
        .ok()
        .flatten()
        .expect("dev printed no map URL");

    let sent: Sent = Arc::default();
    let (lat_tx, mut lat_rx) = tokio::sync::mpsc::unbounded_channel::<Duration>();
    let mut sse = open_stream(&addr).await;
    let s = sent.clone();
    tokio::spawn(async move { read_stream(&mut sse, s, lat_tx).await });

    let template: Value = serde_json::from_str(TEMPLATE.lines().next().unwrap()).unwrap();
    let n = rate * secs;
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
    let run = format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    );
    for i in 0..n {
        tick.tick().await;
        let unid = format!("bench{run}x{i}");
        let frame = stamp(&template, &unid);
        sent.lock().unwrap().insert(unid, Instant::now());
        let _ = frames_tx.send(frame);
    }
    let mut lat = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while (lat.len() as u64) < n {
        match tokio::time::timeout_at(deadline, lat_rx.recv()).await {
            Ok(Some(d)) => lat.push(d),
            _ => break,
        }
    }
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3;
    println!("frames sent {n} at {rate}/s, arrived {}", lat.len());
    if !lat.is_empty() {
        println!(
            "feed-to-browser latency ms: p50 {:.1}  p90 {:.1}  p99 {:.1}  max {:.1}",
            pct(0.5),
            pct(0.9),
            pct(0.99),
            pct(1.0)
        );
    }
    let before = cpu_ticks(pid);
    tokio::time::sleep(Duration::from_secs(idle)).await;
    let used = cpu_ticks(pid) - before;
    let hz = 100.0; // USER_HZ on Linux
    println!(
        "idle CPU of dev over {idle} s (no frames, one open stream): {:.1}% of one core",
        used as f64 / hz / idle as f64 * 100.0
    );
    unsafe_sigint(pid);
    let _ = child.wait();
}

/// The template frame with a new unid, origin a minute ago, last update now.
fn stamp(template: &Value, unid: &str) -> String {
    let now = chrono::Utc::now();
    let mut f = template.clone();
    let d = &mut f["data"];
    d["id"] = unid.into();
    let p = &mut d["properties"];
    p["unid"] = unid.into();
    p["time"] = (now - chrono::Duration::minutes(1))
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
        .into();
    p["lastupdate"] = now.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string().into();
    f["action"] = "create".into();
    f.to_string()
}

async fn open_stream(addr: &str) -> BufReader<TcpStream> {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let req = format!("GET /api/stream HTTP/1.1\r\nhost: {addr}\r\naccept: text/event-stream\r\n\r\n");
    tcp.write_all(req.as_bytes()).await.unwrap();
    BufReader::new(tcp)
}

/// Reads the stream's lines; each `data:` line of a quake whose id was sent yields its latency.
/// (The response is chunked: chunk-size lines are skipped, as they are not `data:` lines.)
async fn read_stream(r: &mut BufReader<TcpStream>, sent: Sent, lat: tokio::sync::mpsc::UnboundedSender<Duration>) {
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let Some(data) = line.strip_prefix("data:") else {
            continue;
        };
        let Ok(v) = serde_json::from_str::<Value>(data.trim()) else {
            continue;
        };
        let Some(id) = v["feature"]["id"].as_str() else {
            continue;
        };
        if let Some(t0) = sent.lock().unwrap().remove(id) {
            let _ = lat.send(t0.elapsed());
        }
    }
}

/// utime + stime of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or_default();
    let f: Vec<&str> = after.split_whitespace().collect();
    f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
}

fn unsafe_sigint(pid: u32) {
    unsafe {
        libc::kill(pid as i32, libc::SIGINT);
    }
}
