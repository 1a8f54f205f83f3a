//! `quakestream analytics`: a stateful stream processor over `quakes`.
//!
//! - [`table`]: per partition of `quakes`, each event's current revision (the input is a
//!   changelog: a revision replaces the event's previous version), backed by a compacted
//!   changelog topic co-partitioned with `quakes`.
//! - [`processor`]: what runs on the table's changes; [`stats`] is the windowed statistics
//!   (`quake-stats`); [`sequences`] is the aftershock sequences (`quake-sequences`).
//! - [`engine`]: the consumer group, restore on assignment, and exactly-once commits (outputs,
//!   changelogs and consumed offsets in one Kafka transaction); `topics` resolves the topics it
//!   uses and `txn` sends each commit's transaction while the engine goes on.
//! - [`reader`]: a small reader of `quake-stats` for the frontend.
//! - [`config`], [`cli`], [`metrics`]: settings, flags and the process around the engine.

pub mod agg;
pub mod cli;
pub mod config;
pub mod engine;
pub mod event;
pub mod metrics;
pub mod moment;
pub mod processor;
pub mod reader;
pub mod sequences;
pub mod stats;
pub mod table;
pub mod testing;
mod topics;
mod txn;
pub mod window;

pub use config::AnalyticsConfig;
pub use engine::{AnalyticsError, AnalyticsReport, processors, run, run_with};
pub use metrics::AnalyticsMetrics;
