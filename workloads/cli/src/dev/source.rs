//! What feeds a `dev` run: the live EMSC feed, a replay the user asked for, or (offline) the
//! bundled history followed by the demo feed.
//!
//! The bundled history is retimed once, when it is first loaded, and kept in the data dir
//! ([`HISTORY_FILE`]); a restart never retimes it again, so the events a store holds keep their
//! true history:
//! - the store holds the history's newest event: it is all stored, nothing is replayed;
//! - it holds the oldest but not the newest (a first run stopped while loading): the same file is
//!   replayed (same times: what is stored is unchanged, the rest is added);
//! - it holds neither (a new or emptied store): the history is retimed to end now and loaded.
//!
//! The demo feed that follows gives every event an id fresh to this run
//! ([`quakestream_producer::demo::demo_unid`]), so it never rewrites a stored event either.

use anyhow::Context;
use quakestream_core::model::{Source as Agency, fmt_time};
use quakestream_producer::demo::{self, DemoConfig};
use quakestream_producer::{SourceConfig, live, replay};
use quakestream_store::Store;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc;

use super::args::DevArgs;
use super::say;

/// Real recordings shipped in the binary, replayed when the live feed is unreachable.
const BUNDLED: [(&str, &[u8]); 2] = [
    (
        "emsc-fdsn-2025-04-turkey-aegean-m2.5.json",
        include_bytes!("../../../../testdata/emsc-fdsn-2025-04-turkey-aegean-m2.5.json"),
    ),
    (
        "usgs-all-week-2024-05-04.geojson",
        include_bytes!("../../../../testdata/usgs-all-week-2024-05-04.geojson"),
    ),
];

/// The bundled recordings as retimed on their first load (JSON lines, oldest revision first).
pub const HISTORY_FILE: &str = "bundled-history.jsonl";
/// How long the live feed may take to answer before `dev` goes offline.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// A replay never pauses longer than this between two events.
const MAX_REPLAY_PAUSE: Duration = Duration::from_secs(60);

/// What feeds this `dev` run, and how the terminal, the log and the page describe it.
pub struct Source {
    pub run: Option<SourceConfig>,
    pub note: String,
    /// Reports the history's replay once it is done (offline only).
    pub history_done: Option<mpsc::UnboundedReceiver<replay::ReplayReport>>,
}

impl Source {
    fn plain(run: Option<SourceConfig>, note: String) -> Self {
        Source {
            run,
            note,
            history_done: None,
        }
    }
}

pub async fn choose(args: &DevArgs, data_dir: &Path, store: &Store) -> anyhow::Result<Source> {
    if args.no_ingest {
        return Ok(Source::plain(None, "Stored events only (no feed: --no-ingest)".into()));
    }
    if let Some(path) = &args.replay {
        anyhow::ensure!(path.is_file(), "--replay {}: no such file", path.display());
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let speed = match args.speed {
            replay::Speed::Max => "as fast as possible".to_owned(),
            replay::Speed::Factor(f) => format!("{f}× real time"),
        };
        let retimed = if args.retime { ", retimed to end now" } else { "" };
        let cfg = replay_of(path.clone(), args.speed, args.retime);
        return Ok(Source::plain(
            Some(SourceConfig::Replay(cfg)),
            format!("Replay of {name} ({speed}{retimed})"),
        ));
    }
    match live::probe(&args.emsc_url, PROBE_TIMEOUT).await {
        Ok(()) => Ok(Source::plain(
            Some(SourceConfig::Live(live::LiveConfig {
                emsc_url: args.emsc_url.clone(),
                fdsn_url: args.fdsn_url.clone(),
                ..Default::default()
            })),
            "Live EMSC feed".into(),
        )),
        Err(e) => {
            say!("the live EMSC feed is unreachable ({e})");
            offline(args, data_dir, store).await
        }
    }
}

fn replay_of(path: PathBuf, speed: replay::Speed, retime: bool) -> replay::ReplayConfig {
    replay::ReplayConfig {
        path,
        speed,
        retime,
        max_pause: MAX_REPLAY_PAUSE,
    }
}

/// The bundled history (unless the store holds it), then the demo feed.
async fn offline(args: &DevArgs, data_dir: &Path, store: &Store) -> anyhow::Result<Source> {
    let path = data_dir.join(HISTORY_FILE);
    let mut ends = if path.is_file() { history_ends(&path)? } else { None };
    let stored = |unid: Option<String>| async move {
        match unid {
            Some(u) => store.get(&u).await.map(|q| q.is_some()).context("reading the store"),
            None => Ok(false),
        }
    };
    let (oldest, newest) = ends.clone().unzip();
    let load = if stored(newest).await? {
        say!("history    already stored (from {HISTORY_FILE}); not loaded again");
        false
    } else if stored(oldest).await? {
        say!("history    completing an interrupted load of {HISTORY_FILE} (same times)");
        true
    } else {
        ends = Some(write_history(&path)?);
        true
    };
    anyhow::ensure!(ends.is_some(), "the bundled recordings hold no valid event");
    let (history, history_done) = if load {
        let (tx, rx) = mpsc::unbounded_channel();
        (Some((replay_of(path.clone(), replay::Speed::Max, false), tx)), Some(rx))
    } else {
        (None, None)
    };
    let pace = args.demo_pace;
    say!(
        "demo       a new event or a revision every {} (--demo-pace)",
        quakestream_contract::duration::format(pace)
    );
    let cfg = DemoConfig {
        history: history.as_ref().map(|(c, _)| c.clone()),
        history_done: history.map(|(_, tx)| tx),
        recording: path,
        pace,
        run_tag: demo::run_tag(chrono::Utc::now()),
    };
    Ok(Source {
        run: Some(SourceConfig::Demo(cfg)),
        // Short: the page shows it in its header, on a phone too.
        note: "Demo replay of the bundled EMSC + USGS recordings, retimed to now: the live feed is unreachable".into(),
        history_done,
    })
}

/// The unids of the first and last event of a history file, if it has any.
fn history_ends(path: &Path) -> anyhow::Result<Option<(String, String)>> {
    let (_, items) = replay::load(path).with_context(|| format!("reading {}", path.display()))?;
    let mut unids = items.iter().filter_map(|it| match &it.result {
        Ok(quakestream_core::parse::Item::Event { quake, .. }) => Some(quake.unid.clone()),
        _ => None,
    });
    let first = unids.next();
    let last = unids.next_back().or_else(|| first.clone());
    Ok(first.zip(last))
}

/// Writes the bundled recordings as one JSON-lines file of features, each recording shifted so
/// that its newest revision is now (so the default 24-hour view is alive), oldest revision first.
/// Returns the unids of its first and last event.
fn write_history(path: &Path) -> anyhow::Result<(String, String)> {
    let now = chrono::Utc::now();
    let mut lines: Vec<(chrono::DateTime<chrono::Utc>, String, String)> = Vec::new();
    for (name, bytes) in BUNDLED {
        let doc: serde_json::Value = serde_json::from_slice(bytes).with_context(|| format!("bundled {name}"))?;
        let mut features = doc["features"].as_array().cloned().unwrap_or_default();
        let quakes: Vec<_> = features
            .iter()
            .map(|f| quakestream_core::parse::parse_feature(f).ok())
            .collect();
        let Some(newest) = quakes.iter().flatten().map(|q| q.lastupdate).max() else {
            continue;
        };
        let shift = now - newest;
        for (f, q) in features.iter_mut().zip(quakes) {
            let Some(q) = q else { continue };
            let (time, lastupdate) = (q.time + shift, q.lastupdate + shift);
            let props = &mut f["properties"];
            match q.source {
                Agency::Usgs => {
                    props["time"] = time.timestamp_millis().into();
                    props["updated"] = lastupdate.timestamp_millis().into();
                }
                Agency::Emsc => {
                    props["time"] = fmt_time(&time).into();
                    props["lastupdate"] = fmt_time(&lastupdate).into();
                }
            }
            lines.push((lastupdate, q.unid, f.to_string()));
        }
    }
    lines.sort_by_key(|(t, _, _)| *t);
    let ends = match (lines.first(), lines.last()) {
        (Some(a), Some(b)) => (a.1.clone(), b.1.clone()),
        _ => anyhow::bail!("the bundled recordings hold no valid event"),
    };
    let body: String = lines.into_iter().map(|(_, _, l)| l + "\n").collect();
    // Written whole, then renamed: a stop half-way never leaves a half history behind.
    let tmp = path.with_extension("jsonl.tmp");
    std::fs::write(&tmp, body).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(ends)
}
