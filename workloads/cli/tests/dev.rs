//! `quakestream dev` as a newcomer runs it: a subprocess on a fresh data dir, checked through
//! its HTTP API. Replay → every event queryable; restart with `--no-ingest` → still there;
//! the same replay again → nothing changes. Offline: the bundled history, then the demo feed's
//! new events and revisions; a restart keeps the stored history true. Ctrl-C with streams open
//! and a replay in flight: a prompt exit, everything acknowledged stored. Dead letters persist.

use quakestream_core::testkit::testdata;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const FILE: &str = "emsc-fdsn-2025-04-turkey-aegean-m2.5.json";
const EVENTS: usize = 430;
// The whole recording (origin times 2025-04-01 → 04-26), far older than the in-memory window,
// so the answers come from the store.
const WINDOW: &str = "since=2025-03-31T00:00:00Z&until=2025-04-27T00:00:00Z";

struct Dev {
    child: Child,
    url: String,
    lines: mpsc::Receiver<String>,
    /// Every stderr line read so far.
    seen: Vec<String>,
}

impl Dev {
    fn start(data_dir: &Path, extra: &[&str]) -> Dev {
        let mut child = Command::new(env!("CARGO_BIN_EXE_quakestream"))
            .arg("dev")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--listen", "127.0.0.1:0", "--emsc-url", "ws://127.0.0.1:9/unreachable"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut dev = Dev {
            child,
            url: String::new(),
            lines,
            seen: Vec::new(),
        };
        let map_line = dev.wait_for_line("map ");
        dev.url = map_line
            .split_whitespace()
            .last()
            .unwrap()
            .trim_end_matches('/')
            .to_owned();
        dev
    }

    /// The next stderr line containing `needle` (bounded wait; a missing line fails the test).
    fn wait_for_line(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if l.contains(needle) {
                        return l;
                    }
                }
                Err(e) => panic!(
                    "no line with {needle:?} from quakestream dev: {e}; saw {:#?}",
                    self.seen
                ),
            }
        }
    }

    /// A line containing `needle`, already printed or the next one.
    fn line(&mut self, needle: &str) -> String {
        match self.seen.iter().find(|l| l.contains(needle)) {
            Some(l) => l.clone(),
            None => self.wait_for_line(needle),
        }
    }

    fn get(&self, path: &str) -> Value {
        let body = reqwest::blocking::get(format!("{}{path}", self.url))
            .unwrap()
            .error_for_status()
            .unwrap()
            .text()
            .unwrap();
        serde_json::from_str(&body).unwrap()
    }

    /// The `source` the stream's `hello` event announces (what the page shows in its header).
    fn announced_source(&self) -> Value {
        use std::io::Read;
        let mut resp = reqwest::blocking::get(format!("{}/api/stream", self.url)).unwrap();
        let mut text = String::new();
        let mut buf = [0u8; 1024];
        // The hello event's complete `data:` line, once it has arrived.
        let data_line = |text: &str| -> Option<String> {
            let after = &text[text.find("event: hello")?..];
            let start = after.find("\ndata:")? + "\ndata:".len();
            let len = after[start..].find('\n')?;
            Some(after[start..start + len].to_owned())
        };
        let data = loop {
            if let Some(d) = data_line(&text) {
                break d;
            }
            let n = resp.read(&mut buf).unwrap();
            assert!(n > 0, "stream closed before its hello: {text:?}");
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
        };
        serde_json::from_str::<Value>(data.trim()).unwrap()["source"].clone()
    }

    /// Every event in the window, following the page tokens.
    fn all_events(&self) -> Vec<Value> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = match &token {
                None => self.get(&format!("/api/quakes?{WINDOW}&limit=200")),
                Some(t) => {
                    let t: String = t
                        .bytes()
                        .map(|b| {
                            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                                (b as char).to_string()
                            } else {
                                format!("%{b:02X}")
                            }
                        })
                        .collect();
                    self.get(&format!("/api/quakes?{WINDOW}&limit=200&page_token={t}"))
                }
            };
            out.extend(page["features"].as_array().unwrap().iter().cloned());
            match page["metadata"]["next_page_token"].as_str() {
                Some(t) => token = Some(t.to_owned()),
                None => return out,
            }
        }
    }

    /// Polls the API until it reports `n` events: the consumer writes after the producer sends.
    fn wait_for_events(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let events = self.all_events();
            if events.len() >= n || Instant::now() > deadline {
                return events;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if reqwest::blocking::get(format!("{}/readyz", self.url)).is_ok_and(|r| r.status().is_success()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("{} never became ready", self.url);
    }

    /// Ctrl-C, as a user stops it; it must exit cleanly.
    fn interrupt(self) {
        let (status, lines) = self.interrupt_and_wait();
        assert!(status.success(), "quakestream dev exited with {status}: {lines:#?}");
    }

    /// Ctrl-C; waits (a liveness bound, not a timing assertion) for the exit and every line.
    fn interrupt_and_wait(mut self) -> (std::process::ExitStatus, Vec<String>) {
        self.signal(libc::SIGINT);
        let deadline = Instant::now() + EXIT_BOUND;
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "quakestream dev did not exit within {EXIT_BOUND:?} of Ctrl-C; saw {:#?}",
                    self.seen
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        // The reader thread ends at EOF: collect the rest of stderr.
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(10)) {
            self.seen.push(l);
        }
        (status, self.seen)
    }

    fn signal(&self, sig: i32) {
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }
}

/// How long `dev` may take to exit after Ctrl-C before the test calls it hung.
const EXIT_BOUND: Duration = Duration::from_secs(90);

/// What must not change between runs: each event's fields and its number of revisions.
fn snapshot(dev: &Dev, events: &[Value]) -> Vec<(String, String, usize)> {
    let mut out: Vec<(String, String, usize)> = events
        .iter()
        .map(|f| {
            let unid = f["id"].as_str().unwrap().to_owned();
            (unid, f["properties"].to_string(), 0)
        })
        .collect();
    out.sort();
    // The revision history of a sample of events, through the detail endpoint.
    for item in out.iter_mut().step_by(43) {
        let detail = dev.get(&format!("/api/quakes/{}", item.0));
        item.2 = detail["revisions"].as_array().map(Vec::len).unwrap_or(0);
    }
    out
}

/// Keeps the real `/metrics` of a running pipeline (producer, consumer and frontend share one
/// registry in `dev`) for the dashboard check in scripts/check-cluster-files.sh.
fn save_metrics(dev: &Dev) {
    // Lag gauges appear once the consumer has measured its assigned partitions.
    let deadline = Instant::now() + Duration::from_secs(60);
    let text = loop {
        let text = reqwest::blocking::get(format!("{}/metrics", dev.url))
            .unwrap()
            .text()
            .unwrap();
        if text.contains("quakestream_consumer_lag_messages{") || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    for name in [
        "quakestream_producer_published_total",
        "quakestream_consumer_written_total",
        "quakestream_frontend_http_requests_total",
    ] {
        assert!(text.contains(name), "{name} missing from /metrics");
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../artifacts/metrics");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("dev.prom"), text).unwrap();
}

#[test]
fn dev_replays_persists_and_replays_idempotently() {
    let dir = tempfile::tempdir().unwrap();
    let file = testdata(FILE);
    let replay = ["--replay", file.to_str().unwrap(), "--speed", "max"];

    let dev = Dev::start(dir.path(), &replay);
    let events = dev.wait_for_events(EVENTS);
    assert_eq!(events.len(), EVENTS, "every unique event of the file is queryable");
    let source = dev.announced_source();
    assert!(
        source
            .as_str()
            .is_some_and(|s| s.starts_with("Replay of") && s.contains(FILE)),
        "{source}"
    );
    let first = snapshot(&dev, &events);
    assert!(
        first.iter().filter(|s| s.2 > 0).all(|s| s.2 == 1),
        "one revision each: {first:?}"
    );
    save_metrics(&dev);
    dev.interrupt();

    let dev = Dev::start(dir.path(), &["--no-ingest"]);
    dev.wait_ready();
    let events = dev.all_events();
    assert_eq!(
        events.len(),
        EVENTS,
        "a restart on the same data dir serves them all again"
    );
    assert_eq!(snapshot(&dev, &events), first);
    dev.interrupt();

    let mut dev = Dev::start(dir.path(), &replay);
    dev.wait_for_line("replay done");
    // Stopping waits for the consumer to store everything the broker acknowledged.
    dev.interrupt();
    let dev = Dev::start(dir.path(), &["--no-ingest"]);
    dev.wait_ready();
    let events = dev.all_events();
    assert_eq!(
        snapshot(&dev, &events),
        first,
        "a second replay of the same file changes nothing"
    );
    dev.interrupt();
}

/// Offline (the live feed unreachable), with the demo feed at test speed.
const OFFLINE: [&str; 2] = ["--demo-pace", "50ms"];

/// Reads server-sent events off `/api/stream`: (event name, data) pairs.
struct Sse {
    url: String,
    resp: reqwest::blocking::Response,
    buf: String,
}

impl Sse {
    fn open(dev: &Dev) -> Sse {
        Sse::connect(&dev.url)
    }

    fn connect(url: &str) -> Sse {
        let resp = reqwest::blocking::Client::builder()
            .timeout(None)
            .build()
            .unwrap()
            .get(format!("{url}/api/stream"))
            .send()
            .unwrap()
            .error_for_status()
            .unwrap();
        Sse {
            url: url.to_owned(),
            resp,
            buf: String::new(),
        }
    }

    /// The next event; `None` once the server closed the stream.
    fn try_next(&mut self) -> Option<(String, Value)> {
        use std::io::Read;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let field = |name: &str| {
                    block
                        .lines()
                        .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
                };
                if let (Some(event), Some(data)) = (field("event:"), field("data:")) {
                    return Some((event, serde_json::from_str(&data).unwrap_or(Value::Null)));
                }
                continue;
            }
            let mut chunk = [0u8; 4096];
            match self.resp.read(&mut chunk) {
                Ok(n) if n > 0 => self.buf.push_str(&String::from_utf8_lossy(&chunk[..n])),
                _ => return None,
            }
        }
    }

    /// The first demo event that is pushed new and then revised: its unid.
    fn demo_event_revised(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut new = std::collections::HashSet::new();
        while Instant::now() < deadline {
            // A client that falls behind (the history arrives in a burst) is told `lagged` and
            // dropped, as a browser would be: reconnect, as the page does.
            let Some((event, data)) = self.try_next().filter(|(e, _)| e != "lagged") else {
                *self = Sse::connect(&self.url);
                continue;
            };
            let id = data["feature"]["id"].as_str().unwrap_or_default().to_owned();
            if event != "quake" || !id.contains("-demo") {
                continue;
            }
            match data["kind"].as_str() {
                Some("new") => {
                    new.insert(id);
                }
                Some("update") if new.contains(&id) => return id,
                _ => {}
            }
        }
        panic!("no demo event was pushed new and then revised");
    }
}

/// The unids of every 50th event of the bundled recordings (the history `dev` loads offline).
fn bundled_sample() -> Vec<String> {
    let mut out = Vec::new();
    for name in [FILE, "usgs-all-week-2024-05-04.geojson"] {
        let doc: Value = serde_json::from_slice(&std::fs::read(testdata(name)).unwrap()).unwrap();
        let unids = doc["features"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|f| quakestream_core::parse::parse_feature(f).ok())
            .map(|q| q.unid);
        out.extend(unids.step_by(50));
    }
    out
}

/// Each unid's number of revisions, as the detail endpoint reports them (0: not found).
fn revision_counts(dev: &Dev, unids: &[String]) -> Vec<(String, usize)> {
    unids
        .iter()
        .map(|u| {
            let resp = reqwest::blocking::get(format!("{}/api/quakes/{u}", dev.url)).unwrap();
            let n = if resp.status().is_success() {
                let v: Value = serde_json::from_str(&resp.text().unwrap()).unwrap();
                v["revisions"].as_array().map_or(0, Vec::len)
            } else {
                0
            };
            (u.clone(), n)
        })
        .collect()
}

/// Polls the detail of `unid` until it has at least `n` revisions (the consumer writes after
/// the stream pushes); returns the count.
fn wait_for_revisions(dev: &Dev, unid: &str, n: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = revision_counts(dev, &[unid.to_owned()])[0].1;
        if got >= n || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn offline_the_demo_feed_brings_new_events_and_revisions_that_update_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let mut dev = Dev::start(dir.path(), &OFFLINE);
    let source = dev.announced_source();
    assert!(
        source
            .as_str()
            .is_some_and(|s| s.starts_with("Demo replay of the bundled")),
        "the page says it is a replay: {source}"
    );
    dev.wait_for_line("history    ");
    let mut stream = Sse::open(&dev);
    let unid = stream.demo_event_revised();
    assert!(
        wait_for_revisions(&dev, &unid, 2) >= 2,
        "{unid}: the revision is stored"
    );
    // In place: one event with that id in the list, at its revised state.
    let list = dev.get("/api/quakes?limit=20000");
    let hits = list["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == unid.as_str())
        .count();
    assert_eq!(hits, 1, "{unid} listed once");
    drop(stream);
    dev.interrupt();
    // The store kept it (a restart serves what is stored).
    let dev = Dev::start(dir.path(), &["--no-ingest"]);
    dev.wait_ready();
    assert!(
        revision_counts(&dev, std::slice::from_ref(&unid))[0].1 >= 2,
        "{unid} kept its revisions"
    );
    dev.interrupt();
}

#[test]
fn offline_a_restart_on_the_same_data_dir_adds_no_revision_to_stored_events() {
    let dir = tempfile::tempdir().unwrap();
    let sample = bundled_sample();
    let mut dev = Dev::start(dir.path(), &OFFLINE);
    dev.wait_for_line("history    ");
    let first_demo = Sse::open(&dev).demo_event_revised();
    dev.interrupt();

    let mut watched = sample.clone();
    watched.push(first_demo.clone());
    let dev = Dev::start(dir.path(), &["--no-ingest"]);
    dev.wait_ready();
    let before = revision_counts(&dev, &watched);
    assert!(
        before.iter().all(|(_, n)| *n >= 1),
        "the history and the demo event are stored: {before:?}"
    );
    dev.interrupt();

    let mut dev = Dev::start(dir.path(), &OFFLINE);
    let line = dev.line("history    ");
    assert!(line.contains("already stored"), "{line}");
    let second_demo = Sse::open(&dev).demo_event_revised();
    assert_ne!(first_demo, second_demo);
    assert!(wait_for_revisions(&dev, &second_demo, 2) >= 2);
    dev.interrupt();

    let dev = Dev::start(dir.path(), &["--no-ingest"]);
    dev.wait_ready();
    assert_eq!(
        revision_counts(&dev, &watched),
        before,
        "stored events keep their history"
    );
    dev.interrupt();
}

/// "stored N of M" from the last progress line of a stop.
fn stored_of(lines: &[String]) -> Option<(u64, u64)> {
    let l = lines.iter().rev().find(|l| l.contains("stopping: stored "))?;
    let mut words = l.split("stopping: stored ").nth(1)?.split_whitespace();
    let n = words.next()?.parse().ok()?;
    let m = words.nth(1)?.parse().ok()?;
    Some((n, m))
}

#[test]
fn ctrl_c_with_open_streams_and_a_replay_in_flight_exits_promptly_having_stored_everything() {
    for round in 0..10 {
        let dir = tempfile::tempdir().unwrap();
        let dev = Dev::start(dir.path(), &OFFLINE);
        // A page session: the page and its first list request, and two open streams.
        let page = reqwest::blocking::get(format!("{}/", dev.url)).unwrap();
        assert!(page.status().is_success());
        let _ = dev.get("/api/quakes?limit=100");
        let streams = [Sse::open(&dev), Sse::open(&dev)];
        // The history (3,000 events at full speed) is in flight now.
        let (status, lines) = dev.interrupt_and_wait();
        drop(streams);
        assert!(status.success(), "round {round}: exited with {status}: {lines:#?}");
        let (n, m) = stored_of(&lines).unwrap_or_else(|| panic!("round {round}: no stored line: {lines:#?}"));
        assert_eq!(n, m, "round {round}: every acknowledged record is stored: {lines:#?}");
        let published = lines
            .iter()
            .find_map(|l| {
                l.split("producer stopped: ")
                    .nth(1)?
                    .split_whitespace()
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .unwrap_or_else(|| panic!("round {round}: no producer line: {lines:#?}"));
        assert_eq!(
            m, published,
            "round {round}: what the broker holds is what was published"
        );
        assert!(
            lines.last().is_some_and(|l| l.ends_with("stopped")),
            "round {round}: {lines:#?}"
        );
    }
}

/// A JSON-lines file of `n` distinct events (the EMSC recording's first event under new ids).
fn many_events(path: &Path, n: usize) {
    let doc: Value = serde_json::from_slice(&std::fs::read(testdata(FILE)).unwrap()).unwrap();
    let mut feature = doc["features"][0].clone();
    let mut body = String::new();
    for i in 0..n {
        feature["id"] = format!("bulk{i:06}").into();
        feature["properties"]["unid"] = format!("bulk{i:06}").into();
        body.push_str(&feature.to_string());
        body.push('\n');
    }
    std::fs::write(path, body).unwrap();
}

#[test]
fn while_stopping_dev_shows_progress_and_a_second_ctrl_c_exits_at_once_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bulk.jsonl");
    many_events(&file, 30_000);
    let mut dev = Dev::start(dir.path(), &["--replay", file.to_str().unwrap()]);
    dev.wait_for_line("replay done");
    // The broker holds 30,000 records the consumer is still storing.
    dev.signal(libc::SIGINT);
    let first = dev.wait_for_line("stopping: stored ");
    let (n, m) = stored_of(std::slice::from_ref(&first)).unwrap();
    assert!(n < m && m == 30_000, "{first}");
    let (status, lines) = dev.interrupt_and_wait();
    assert_eq!(status.code(), Some(130), "{lines:#?}");
    let last = lines.last().unwrap();
    assert!(
        last.contains("second signal: exiting now") && last.contains("acknowledged records not stored are lost"),
        "{lines:#?}"
    );
    assert!(
        !lines.iter().any(|l| l.ends_with("stopped")),
        "no success claimed: {lines:#?}"
    );
}

#[test]
fn dead_letters_of_a_run_are_kept_in_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mixed.jsonl");
    let frames = std::fs::read_to_string(testdata("emsc-ws-documented-examples.jsonl")).unwrap();
    let good = frames.lines().next().unwrap();
    std::fs::write(
        &file,
        format!("{good}\n{{not json\n{{\"action\":\"create\",\"data\":{{}}}}\n"),
    )
    .unwrap();
    let mut dev = Dev::start(dir.path(), &["--replay", file.to_str().unwrap()]);
    let line = dev.wait_for_line("dead letters ");
    let path = dir.path().join("dead-letters.jsonl");
    assert!(
        line.contains(path.to_str().unwrap()),
        "the path is printed at start-up: {line}"
    );
    dev.wait_for_line("replay done");
    let (status, lines) = dev.interrupt_and_wait();
    assert!(status.success(), "{status}: {lines:#?}");
    let kept: Vec<Value> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(kept.len(), 2, "{kept:#?}");
    assert_eq!(kept[0]["value"], "{not json");
    assert_eq!(kept[0]["headers"]["qs-reason"], "bad_json");
    assert_eq!(kept[0]["headers"]["qs-stage"], "producer");
    assert!(kept[0]["headers"]["qs-error"].as_str().is_some_and(|e| !e.is_empty()));
    assert!(kept[1]["headers"]["qs-reason"].as_str().is_some());
    // A second run appends (the file is the history of every run's dead letters).
    let mut dev = Dev::start(dir.path(), &["--replay", file.to_str().unwrap()]);
    dev.wait_for_line("replay done");
    dev.interrupt();
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 4);
}
