//! `quakestream dev` as a newcomer runs it: a subprocess on a fresh data dir, checked through
//! its HTTP API. Replay → every event queryable; restart with `--no-ingest` → still there;
//! the same replay again → nothing changes.

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
                Ok(l) if l.contains(needle) => return l,
                Ok(_) => {}
                Err(e) => panic!("no line with {needle:?} from quakestream dev: {e}"),
            }
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
    fn interrupt(mut self) {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGINT);
        }
        self.wait_for_line("stopped");
        let status = self.child.wait().unwrap();
        assert!(status.success(), "quakestream dev exited with {status}");
    }
}

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
