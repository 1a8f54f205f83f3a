//! A believable live feed from a recording, for a map without internet (`quakestream dev`
//! offline): optionally the recording's history first (retimed to end now, as fast as possible),
//! then, every `pace`, one step of a re-enactment. A step is either a new event (a preliminary
//! first report: origin a few minutes ago, magnitude and location a little off) or the revision
//! of the event before it (the recorded values), both stamped now. When the recording runs out it
//! starts over with fresh ids: every id the demo sends carries its run's tag and a cycle number,
//! so it never rewrites a stored event (the history's or an earlier run's).

use super::{Input, Origin};
use crate::replay::{self, ReplayConfig, ReplayError};
use chrono::{DateTime, Utc};
use quakestream_core::model::{MAG_RANGE, MAX_UNID_LEN, Quake};
use quakestream_core::parse::Item;
use quakestream_core::wire::Action;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tracing::info;

/// A first report's origin time lies this far before it at least...
const MIN_REPORT_DELAY: Duration = Duration::from_secs(90);
/// ... plus up to this much more (varied per event).
const REPORT_DELAY_SPREAD_S: u64 = 8 * 60;
/// A first report's magnitude is off by up to this much (the revision gives the recorded value).
const PRELIMINARY_MAG_ERROR: f64 = 0.3;
/// A first report's epicentre is off by up to this many degrees.
const PRELIMINARY_LOCATION_ERROR_DEG: f64 = 0.05;

#[derive(Debug, Clone)]
pub struct DemoConfig {
    /// Replayed first, as the history (`None`: the store already holds it).
    pub history: Option<ReplayConfig>,
    /// Told what the history's replay did, once it is done.
    pub history_done: Option<mpsc::UnboundedSender<replay::ReplayReport>>,
    /// The recording the demo re-enacts (any format `inspect` reads).
    pub recording: PathBuf,
    /// Time between two steps (a new event, or the revision of the one before).
    pub pace: Duration,
    /// Makes this run's ids fresh; e.g. the start time in base 36.
    pub run_tag: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DemoReport {
    pub history: replay::ReplayReport,
    pub new_events: u64,
    pub revisions: u64,
    /// Times the recording was started over (with fresh ids).
    pub cycles: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Replay(#[from] ReplayError),
    #[error("the demo recording {0} holds no valid event")]
    Empty(String),
}

/// A tag unique to this moment (milliseconds since the epoch, base 36), for [`DemoConfig::run_tag`].
pub fn run_tag(now: DateTime<Utc>) -> String {
    let mut n = now.timestamp_millis().max(0) as u64;
    let mut out = Vec::new();
    loop {
        out.push(b"0123456789abcdefghijklmnopqrstuvwxyz"[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).expect("ASCII")
}

/// The id an event of the recording has in cycle `cycle` of the run tagged `tag`.
pub fn demo_unid(recorded: &str, tag: &str, cycle: u64) -> String {
    let suffix = format!("-demo{tag}.{cycle}");
    let keep = MAX_UNID_LEN.saturating_sub(suffix.len());
    let head: String = recorded.chars().take(keep).collect();
    head + &suffix
}

/// A small deterministic number in [-1, 1] for step `i` (so runs are reproducible).
fn wobble(i: u64, salt: u64) -> f64 {
    let x = i
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(salt.wrapping_mul(0xBF58_476D_1CE4_E5B9));
    let x = (x ^ (x >> 31)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((x >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
}

/// The first report of `recorded`, as if it arrived `now`.
pub fn first_report(recorded: &Quake, unid: String, step: u64, now: DateTime<Utc>) -> Quake {
    let delay = MIN_REPORT_DELAY + Duration::from_secs(step.wrapping_mul(137) % REPORT_DELAY_SPREAD_S);
    let mut q = recorded.clone();
    q.unid = unid;
    q.time = now - chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::zero());
    q.lastupdate = now;
    q.mag = recorded.mag.map(|m| {
        (((m + PRELIMINARY_MAG_ERROR * wobble(step, 1)) * 10.0).round() / 10.0).clamp(MAG_RANGE.0, MAG_RANGE.1)
    });
    let round4 = |x: f64| (x * 1e4).round() / 1e4;
    q.lat = round4(q.lat + PRELIMINARY_LOCATION_ERROR_DEG * wobble(step, 2)).clamp(-90.0, 90.0);
    q.lon = round4(q.lon + PRELIMINARY_LOCATION_ERROR_DEG * wobble(step, 3)).clamp(-180.0, 180.0);
    q
}

/// The revision of `first`: the recorded values, stamped `now` (at least a microsecond later).
pub fn revision(recorded: &Quake, first: &Quake, now: DateTime<Utc>) -> Quake {
    let mut q = recorded.clone();
    q.unid = first.unid.clone();
    q.time = first.time;
    q.lastupdate = now.max(first.lastupdate + chrono::Duration::microseconds(1));
    q
}

/// Runs the history (if any), then the re-enactment until `shutdown`.
pub async fn run(
    cfg: DemoConfig,
    tx: mpsc::Sender<Input>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<DemoReport, DemoError> {
    let mut report = DemoReport::default();
    if let Some(history) = cfg.history.clone() {
        report.history = replay::run(history, tx.clone(), shutdown.clone()).await?;
        if *shutdown.borrow() {
            return Ok(report);
        }
        if let Some(done) = &cfg.history_done {
            let _ = done.send(report.history.clone());
        }
    }
    let path = cfg.recording.clone();
    let (_, items) = tokio::task::spawn_blocking(move || replay::load(&path))
        .await
        .expect("demo loader panicked")?;
    let recorded: Vec<Quake> = items
        .into_iter()
        .filter_map(|it| match it.result {
            Ok(Item::Event { quake, .. }) => Some(quake),
            _ => None,
        })
        .collect();
    if recorded.is_empty() {
        return Err(DemoError::Empty(cfg.recording.display().to_string()));
    }
    info!(events = recorded.len(), pace_ms = cfg.pace.as_millis() as u64, tag = %cfg.run_tag, "demo feed starting");
    let mut tick = tokio::time::interval(cfg.pace);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // the first tick is immediate; the first step follows the history at once
    let mut step: u64 = 0;
    // The event waiting for its revision: (index in the recording, its first report).
    let mut pending: Option<(usize, Quake)> = None;
    loop {
        let now = Utc::now();
        let (action, quake) = match pending.take() {
            Some((i, first)) => {
                report.revisions += 1;
                (Action::Update, revision(&recorded[i], &first, now))
            }
            None => {
                let i = (step as usize) % recorded.len();
                let cycle = step / recorded.len() as u64;
                if i == 0 && cycle > 0 {
                    report.cycles += 1;
                    info!(cycle, "demo recording starts over with fresh ids");
                }
                let unid = demo_unid(&recorded[i].unid, &cfg.run_tag, cycle);
                let first = first_report(&recorded[i], unid, step, now);
                pending = Some((i, first.clone()));
                step += 1;
                report.new_events += 1;
                (Action::Create, first)
            }
        };
        let input = Input {
            origin: Origin::Demo,
            result: Ok(Item::Event { action, quake }),
            raw: quakestream_core::parse::Raw::default(),
            received_at: now,
        };
        if tx.send(input).await.is_err() {
            break;
        }
        tokio::select! {
            _ = tick.tick() => {}
            _ = quakestream_core::ops::stopped(&mut shutdown) => break,
        }
    }
    info!(
        new_events = report.new_events,
        revisions = report.revisions,
        cycles = report.cycles,
        "demo feed stopped"
    );
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use quakestream_core::model::Source;

    fn quake() -> Quake {
        Quake {
            unid: "20250423_0000157".into(),
            time: DateTime::from_timestamp(1_745_400_000, 0).unwrap(),
            lastupdate: DateTime::from_timestamp(1_745_500_000, 0).unwrap(),
            lat: 40.8,
            lon: 28.2,
            depth_km: 10.0,
            mag: Some(6.2),
            magtype: Some("mw".into()),
            region: Some("WESTERN TURKEY".into()),
            agency: Some("EMSC".into()),
            evtype: Some("ke".into()),
            source: Source::Emsc,
        }
    }

    #[test]
    fn ids_are_fresh_per_run_and_cycle_and_stay_valid() {
        let a = demo_unid("20250423_0000157", "m1", 0);
        assert_ne!(a, demo_unid("20250423_0000157", "m2", 0));
        assert_ne!(a, demo_unid("20250423_0000157", "m1", 1));
        assert_ne!(a, "20250423_0000157");
        let long = demo_unid(&"x".repeat(200), "m1", 7);
        assert!(long.chars().count() <= MAX_UNID_LEN);
        quakestream_core::model::validate_unid(&long).unwrap();
        let t = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        assert_ne!(run_tag(t), run_tag(t + chrono::Duration::milliseconds(1)));
    }

    #[test]
    fn a_first_report_is_recent_and_preliminary_and_its_revision_is_the_recording() {
        let rec = quake();
        let now = Utc::now();
        let first = first_report(&rec, "x-demo".into(), 3, now);
        assert_eq!(first.lastupdate, now);
        assert!(first.time < now && now - first.time <= chrono::Duration::minutes(10));
        assert!((first.mag.unwrap() - 6.2).abs() <= PRELIMINARY_MAG_ERROR + 0.05);
        first.validate().unwrap();
        let rev = revision(&rec, &first, now);
        assert!(
            rev.lastupdate > first.lastupdate,
            "a revision is newer even within one microsecond"
        );
        assert_eq!(
            (rev.unid.as_str(), rev.time, rev.mag),
            ("x-demo", first.time, Some(6.2))
        );
    }
}
