//! The flags of `quakestream dev`.

use clap::Args;
use quakestream_contract::{dev as defaults, env};
use quakestream_producer::{live, replay};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args, Debug, Clone)]
pub struct DevArgs {
    /// Address of the map and the API (port 0: any free port; the map's URL is printed).
    #[arg(long, env = env::LISTEN, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Where the embedded store keeps its data and the dead letters (kept across restarts).
    /// Default: the user's data directory, e.g. ~/.local/share/quakestream.
    #[arg(long, env = env::DATA_DIR)]
    pub data_dir: Option<PathBuf>,
    /// Replay this file instead of the live feed (any format `inspect` reads).
    #[arg(long, conflicts_with = "no_ingest")]
    pub replay: Option<PathBuf>,
    /// Replay speed: a factor (60 = an hour a minute) or `max`.
    #[arg(long, default_value = "max")]
    pub speed: replay::Speed,
    /// Shift replayed times so the recording ends now (always on for the bundled recording).
    #[arg(long)]
    pub retime: bool,
    /// Serve only what is stored: no feed, no replay.
    #[arg(long)]
    pub no_ingest: bool,
    /// Offline demo feed (when the live feed is unreachable): time between two steps, each a new
    /// event or the revision of the one before (e.g. 4s, 250ms).
    #[arg(long, env = env::DEMO_PACE, default_value = defaults::DEFAULT_DEMO_PACE,
        value_parser = defaults::DEMO_PACE.parser())]
    pub demo_pace: Duration,
    /// On Ctrl-C, give up (exit non-zero, naming what was not stored) once storing has made no
    /// progress for this long.
    #[arg(long, env = env::DRAIN_STALL, default_value = defaults::DEFAULT_DRAIN_STALL,
        value_parser = defaults::DRAIN_STALL.parser())]
    pub drain_stall: Duration,
    /// EMSC websocket URL (the live feed).
    #[arg(long, env = env::EMSC_URL, default_value = live::DEFAULT_EMSC_URL)]
    pub emsc_url: String,
    /// EMSC FDSN event service (backfill after gaps).
    #[arg(long, env = env::FDSN_URL, default_value = live::DEFAULT_FDSN_URL)]
    pub fdsn_url: String,
    /// Address of the embedded DynamoDB-API store (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub store_listen: SocketAddr,
    /// Log filter; `dev` logs as JSON lines on stdout like every workload.
    #[arg(long = "log", env = env::LOG, default_value = "info")]
    pub log: String,
}

pub fn default_data_dir() -> PathBuf {
    dirs::data_dir().unwrap_or_else(std::env::temp_dir).join("quakestream")
}
