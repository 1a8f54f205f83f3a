//! Replays a recording (any format `inspect` reads) through the same pipeline as the live feed,
//! keeping the original spacing between revisions divided by the speed.

use super::{Input, Origin};
use chrono::{DateTime, Utc};
use quakestream_core::parse::{self, FileFormat, FileItem, Item};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tracing::info;

/// How fast to replay: `max` (no pauses) or a factor (`60` = an hour of recording a minute).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    Max,
    Factor(f64),
}

impl FromStr for Speed {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("max") {
            return Ok(Speed::Max);
        }
        match s.parse::<f64>() {
            Ok(f) if f.is_finite() && f > 0.0 => Ok(Speed::Factor(f)),
            _ => Err(format!(
                "invalid speed {s:?}: use a positive number (60 = an hour a minute) or `max`"
            )),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ReplayConfig {
    pub path: PathBuf,
    pub speed: Speed,
    /// Shift every time so the recording's newest revision is now.
    pub retime: bool,
    /// Never pause longer than this between two events (a recording may have long quiet gaps).
    pub max_pause: Duration,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    pub items: u64,
    pub events: u64,
    pub rejected: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: std::io::Error },
}

/// Reads the whole recording, in the order it is to be replayed: a JSON-lines recording keeps its
/// order (it is the order the frames arrived); a FeatureCollection is sorted by `lastupdate`,
/// oldest first, since catalogues list newest first.
pub fn load(path: &Path) -> Result<(FileFormat, Vec<FileItem>), ReplayError> {
    let io = |source| ReplayError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut items = Vec::new();
    let (format, _) = parse::read_file(|| std::fs::File::open(path), |it| items.push(it)).map_err(io)?;
    if format == FileFormat::Document {
        items.sort_by_key(|it| match &it.result {
            Ok(Item::Event { quake, .. }) => Some(quake.lastupdate),
            _ => None,
        });
    }
    Ok((format, items))
}

/// Shifts `time` and `lastupdate` of every event by the same amount, so the newest is `now`.
pub fn retime(items: &mut [FileItem], now: DateTime<Utc>) {
    let newest = items
        .iter()
        .filter_map(|it| match &it.result {
            Ok(Item::Event { quake, .. }) => Some(quake.lastupdate),
            _ => None,
        })
        .max();
    let Some(newest) = newest else { return };
    let shift = now - newest;
    for it in items.iter_mut() {
        if let Ok(Item::Event { quake, .. }) = &mut it.result {
            quake.time += shift;
            quake.lastupdate += shift;
        }
    }
}

/// Reads the recording on a blocking thread and hands its items over in replay order, through a
/// small channel: a JSON-lines recording streams from disk (any length, bounded memory); a
/// FeatureCollection is loaded and sorted first. Returns the detected format.
fn spawn_loader(
    path: PathBuf,
    retime_to: Option<DateTime<Utc>>,
    tx: mpsc::Sender<FileItem>,
) -> tokio::task::JoinHandle<Result<FileFormat, ReplayError>> {
    tokio::task::spawn_blocking(move || {
        let io = |source| ReplayError::Io {
            path: path.display().to_string(),
            source,
        };
        let open = || std::fs::File::open(&path);
        let send = |it: FileItem| {
            let _ = tx.blocking_send(it);
        };
        match parse::detect_format(open).map_err(io)? {
            FileFormat::Document => {
                let (format, mut items) = load(&path)?;
                if let Some(now) = retime_to {
                    retime(&mut items, now);
                }
                items.into_iter().for_each(send);
                Ok(format)
            }
            FileFormat::JsonLines => {
                let shift = match retime_to {
                    None => chrono::Duration::zero(),
                    Some(now) => {
                        let mut newest: Option<DateTime<Utc>> = None;
                        parse::read_file(open, |it| {
                            if let Ok(Item::Event { quake, .. }) = &it.result {
                                newest = newest.max(Some(quake.lastupdate));
                            }
                        })
                        .map_err(io)?;
                        newest.map(|n| now - n).unwrap_or_else(chrono::Duration::zero)
                    }
                };
                let (format, _) = parse::read_file(open, |mut it| {
                    if let Ok(Item::Event { quake, .. }) = &mut it.result {
                        quake.time += shift;
                        quake.lastupdate += shift;
                    }
                    send(it)
                })
                .map_err(io)?;
                Ok(format)
            }
        }
    })
}

/// Sends the recording into the pipeline. Returns early (with what was sent) on shutdown.
pub async fn run(
    cfg: ReplayConfig,
    tx: mpsc::Sender<Input>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<ReplayReport, ReplayError> {
    let (item_tx, mut items) = mpsc::channel(1024);
    let loader = spawn_loader(cfg.path.clone(), cfg.retime.then(Utc::now), item_tx);
    info!(path = %cfg.path.display(), speed = ?cfg.speed, retime = cfg.retime, "replay starting");
    let mut report = ReplayReport::default();
    let mut prev: Option<DateTime<Utc>> = None;
    let mut last_progress = tokio::time::Instant::now();
    while let Some(it) = items.recv().await {
        if *shutdown.borrow() {
            break;
        }
        if let (Speed::Factor(f), Ok(Item::Event { quake, .. })) = (cfg.speed, &it.result) {
            if let Some(p) = prev {
                let gap = (quake.lastupdate - p)
                    .to_std()
                    .unwrap_or_default()
                    .div_f64(f)
                    .min(cfg.max_pause);
                if !gap.is_zero() {
                    tokio::select! {
                        _ = tokio::time::sleep(gap) => {}
                        _ = quakestream_core::ops::stopped(&mut shutdown) => break,
                    }
                }
            }
            prev = Some(quake.lastupdate);
        }
        report.items += 1;
        match &it.result {
            Ok(Item::Event { .. }) => report.events += 1,
            Ok(Item::UnknownAction { .. }) => {}
            Err(_) => report.rejected += 1,
        }
        let input = Input {
            origin: Origin::Replay,
            result: it.result,
            raw: it.raw,
            received_at: Utc::now(),
        };
        if tx.send(input).await.is_err() {
            break;
        }
        if last_progress.elapsed() >= Duration::from_secs(2) {
            last_progress = tokio::time::Instant::now();
            info!(sent = report.items, "replay progress");
        }
    }
    drop(items);
    let format = loader.await.expect("replay loader panicked")?;
    info!(
        ?format,
        items = report.items,
        events = report.events,
        rejected = report.rejected,
        "replay finished"
    );
    Ok(report)
}
