//! The analytics through `quakestream dev`: the bundled EMSC and USGS recordings (what a newcomer
//! sees when the live feed is unreachable) go producer → embedded broker → consumer → store and
//! → analytics → `quake-stats` → frontend. `/api/stats` must agree with counts computed from
//! `/api/quakes` over the same windows: the world's hourly, daily and "last 24 hours" windows
//! (count and count per magnitude band), and one region's "last 24 hours".

use chrono::{DateTime, Utc};
use quakestream_analytics::event::{fe_region, is_earthquake};
use quakestream_analytics::window::Band;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const HOUR: i64 = 3600;
/// How long the pipeline may take to settle after the replay is done.
const SETTLE: Duration = Duration::from_secs(180);

struct Dev {
    child: Child,
    url: String,
    lines: mpsc::Receiver<String>,
}

impl Dev {
    fn start(data_dir: &std::path::Path) -> Dev {
        let mut child = Command::new(env!("CARGO_BIN_EXE_quakestream"))
            .arg("dev")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--listen", "127.0.0.1:0", "--emsc-url", "ws://127.0.0.1:9/unreachable"])
            // The bundled history only: the demo feed that follows it waits its longest pace.
            .args(["--demo-pace", "10m"])
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
        let map = dev.wait_for_line("map ");
        dev.url = map.split_whitespace().last().unwrap().trim_end_matches('/').to_owned();
        dev
    }

    fn wait_for_line(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            match self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(l) if l.contains(needle) => return l,
                Ok(_) => {}
                Err(e) => panic!("no line with {needle:?} from quakestream dev: {e}"),
            }
        }
    }

    /// The body of a GET, or its status when not 2xx.
    fn get(&self, path: &str) -> Result<Value, u16> {
        let r = reqwest::blocking::get(format!("{}{path}", self.url)).unwrap();
        if !r.status().is_success() {
            return Err(r.status().as_u16());
        }
        Ok(serde_json::from_str(&r.text().unwrap()).unwrap())
    }

    /// Every event with an origin time in [since, until], following the page tokens.
    fn events(&self, since: &str, until: &str) -> Vec<Value> {
        let mut out = BTreeMap::new();
        let mut token: Option<String> = None;
        loop {
            let mut q = format!("/api/quakes?since={since}&until={until}&limit=20000");
            if let Some(t) = &token {
                q.push_str("&page_token=");
                q.extend(form_urlencoded_byte_serialize(t));
            }
            let page = self.get(&q).expect("/api/quakes answers");
            for f in page["features"].as_array().unwrap() {
                out.insert(f["id"].as_str().unwrap().to_owned(), f.clone());
            }
            match page["metadata"]["next_page_token"].as_str() {
                Some(t) => token = Some(t.to_owned()),
                None => return out.into_values().collect(),
            }
        }
    }

    fn interrupt(mut self) {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGINT);
        }
        self.wait_for_line("stopped");
        assert!(self.child.wait().unwrap().success());
    }
}

fn form_urlencoded_byte_serialize(s: &str) -> impl Iterator<Item = String> + '_ {
    s.bytes().map(|b| {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            (b as char).to_string()
        } else {
            format!("%{b:02X}")
        }
    })
}

/// Count and count per band of one window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Counts {
    count: u64,
    bands: [u64; 4],
}

/// What the analytics must report, computed from `/api/quakes`: by (window kind, dimension key,
/// window start in s).
fn expected(events: &[Value]) -> BTreeMap<(&'static str, String, i64), Counts> {
    let mut out: BTreeMap<(&'static str, String, i64), Counts> = BTreeMap::new();
    for f in events {
        let p = &f["properties"];
        if !is_earthquake(p["evtype"].as_str()) {
            continue;
        }
        let t = DateTime::parse_from_rfc3339(p["time"].as_str().unwrap())
            .unwrap()
            .timestamp();
        let hour = t.div_euclid(HOUR) * HOUR;
        let region = match (p["source"].as_str(), p["region"].as_str()) {
            (Some(s), Some(r)) if s.eq_ignore_ascii_case("emsc") && !r.trim().is_empty() => {
                r.trim().to_ascii_uppercase()
            }
            _ => fe_region(p["lat"].as_f64().unwrap(), p["lon"].as_f64().unwrap()).to_owned(),
        };
        let band = p["mag"].as_f64().map(|m| Band::of(m).index());
        let mut add = |kind: &'static str, key: &str, start: i64| {
            let c = out.entry((kind, key.to_owned(), start)).or_default();
            c.count += 1;
            if let Some(b) = band {
                c.bands[b] += 1;
            }
        };
        add("1h", "world", hour);
        add("1d", "world", t.div_euclid(24 * HOUR) * 24 * HOUR);
        for start in (hour - 23 * HOUR..=hour).step_by(HOUR as usize) {
            add("24h", "world", start);
            add("24h", &region, start);
        }
    }
    out
}

fn counts_of(w: &Value) -> Counts {
    let b = &w["bands"];
    Counts {
        count: w["count"].as_u64().unwrap(),
        bands: ["lt2", "2-4", "4-6", "ge6"].map(|k| b[k].as_u64().unwrap()),
    }
}

/// Differences between `/api/stats` and `want` for one series (empty: they agree).
fn differences(
    dev: &Dev,
    query: &str,
    kind: &'static str,
    key: &str,
    want: &BTreeMap<(&'static str, String, i64), Counts>,
) -> Vec<String> {
    let body = match dev.get(&format!("/api/stats?window={kind}{query}")) {
        Ok(b) => b,
        Err(status) => return vec![format!("{kind} {key}: /api/stats answered {status}")],
    };
    assert_eq!(body["truncated"], false, "{kind} {key}: the answer holds every window");
    let mut got: BTreeMap<i64, Counts> = BTreeMap::new();
    for w in body["windows"].as_array().unwrap() {
        let start = DateTime::parse_from_rfc3339(w["start"].as_str().unwrap())
            .unwrap()
            .timestamp();
        got.insert(start, counts_of(w));
    }
    let wanted: BTreeMap<i64, Counts> = want
        .iter()
        .filter(|((k, d, _), _)| *k == kind && d == key)
        .map(|((_, _, s), c)| (*s, c.clone()))
        .collect();
    let starts: BTreeSet<i64> = got.keys().chain(wanted.keys()).copied().collect();
    starts
        .into_iter()
        .filter_map(|s| {
            let (g, w) = (
                got.get(&s).cloned().unwrap_or_default(),
                wanted.get(&s).cloned().unwrap_or_default(),
            );
            (g != w).then(|| format!("{kind} {key} {s}: /api/stats {g:?}, /api/quakes {w:?}"))
        })
        .collect()
}

#[test]
fn dev_stats_agree_with_the_events_it_serves() {
    let dir = tempfile::tempdir().unwrap();
    let mut dev = Dev::start(dir.path());
    let done = dev.wait_for_line("history ");
    assert!(done.contains("events sent"), "{done}");
    let now = Utc::now();
    let since = (now - chrono::Duration::days(40))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let until = (now + chrono::Duration::hours(1))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();

    // The consumer and the analytics run on after the producer: poll until the two views agree
    // (a bounded wait; what still differs then fails the test).
    let deadline = Instant::now() + SETTLE;
    let (events, diffs, region) = loop {
        let events = dev.events(&since, &until);
        let want = expected(&events);
        // The region with the most earthquakes in the current "last 24 hours".
        let current = now.timestamp().div_euclid(HOUR) * HOUR - 23 * HOUR;
        let region = want
            .iter()
            .filter(|((k, d, s), _)| *k == "24h" && d != "world" && *s == current)
            .max_by_key(|(_, c)| c.count)
            .map(|((_, d, _), _)| d.clone())
            .unwrap_or_default();
        let mut diffs = Vec::new();
        for kind in ["1h", "1d", "24h"] {
            diffs.extend(differences(&dev, "", kind, "world", &want));
        }
        if region.is_empty() {
            // The bundled recordings end now: the last day has earthquakes, once stored.
            diffs.push("no earthquake in the last 24 hours of /api/quakes yet".into());
        } else {
            let enc: String = form_urlencoded_byte_serialize(&region).collect();
            diffs.extend(differences(&dev, &format!("&region={enc}"), "24h", &region, &want));
        }
        if diffs.is_empty() || Instant::now() > deadline {
            break (events, diffs, region);
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(
        events.len() > 2500,
        "both recordings are served: {} events",
        events.len()
    );
    assert!(
        diffs.is_empty(),
        "{} differences (region {region}), e.g. {:#?}",
        diffs.len(),
        &diffs[..diffs.len().min(10)]
    );

    // The 24-hour figures the page shows: the world's current window through `since`/`until`.
    let current = now.timestamp().div_euclid(HOUR) * HOUR - 23 * HOUR;
    let start = DateTime::<Utc>::from_timestamp(current, 0)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let end = DateTime::<Utc>::from_timestamp(current + HOUR, 0)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let day = dev
        .get(&format!("/api/stats?window=24h&since={start}&until={end}"))
        .unwrap();
    assert_eq!(day["count"], 1, "{day}");
    let in_day = events
        .iter()
        .filter(|f| is_earthquake(f["properties"]["evtype"].as_str()))
        .filter(|f| {
            let t = DateTime::parse_from_rfc3339(f["properties"]["time"].as_str().unwrap())
                .unwrap()
                .timestamp();
            (current..current + 24 * HOUR).contains(&t)
        })
        .count() as u64;
    assert_eq!(day["windows"][0]["count"].as_u64(), Some(in_day));
    assert!(in_day > 0);
    dev.interrupt();
}
