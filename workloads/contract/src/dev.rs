//! `quakestream dev`: the whole pipeline on one machine. Only people run it (the operator never
//! renders it), so this holds its defaults and bounds, not a `Config`.

use crate::duration::DurationRange;

/// The subcommand.
pub const SUBCOMMAND: &str = "dev";

/// Offline demo feed: time between two steps (a new event, or the revision of the one before).
pub const DEFAULT_DEMO_PACE: &str = "4s";
/// Bounds of the demo pace (tests run it at milliseconds; slower than 10 minutes is not alive).
pub const DEMO_PACE: DurationRange = DurationRange::millis(1, 600_000);

/// On Ctrl-C, how long the consumer may make no progress storing what the broker acknowledged
/// before `dev` gives up and exits non-zero, naming what was not stored.
pub const DEFAULT_DRAIN_STALL: &str = "30s";
/// Bounds of the drain stall timeout (above the consumer's 1 s commit interval, with room).
pub const DRAIN_STALL: DurationRange = DurationRange::secs(5, 3_600);

/// The dead letters of a `dev` run are appended to this file in the data directory.
pub const DEAD_LETTERS_FILE: &str = "dead-letters.jsonl";
/// The file stops growing at this size; further dead letters are counted and reported instead.
pub const DEAD_LETTERS_MAX_BYTES: u64 = 64 << 20;
