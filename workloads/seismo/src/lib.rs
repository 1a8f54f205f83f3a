//! QuakeStream's seismology: earthquake sequences, grouped as the stream arrives, and the
//! statistics seismologists read from them. A pure library (no I/O); the analytics workload
//! feeds it the `quakes` changelog and publishes what it returns on `quake-sequences`.
//!
//! - [`Grouper`]: streaming Gardner–Knopoff (1974) grouping. `upsert` an event revision or
//!   `retract` an event in any order; the sequences always equal those of the batch algorithm
//!   ([`batch::group`]) run over the latest revision of every event. `take_changes` says which
//!   sequences to publish or delete; `snapshot`/`from_snapshot` serialise the state.
//! - [`SequenceRecord`]: one sequence as published (versioned JSON, `schemas/quake-sequences.v1.json`).
//! - [`stats`]: magnitude of completeness (maximum curvature), b-value (Aki–Utsu, Shi & Bolt),
//!   modified Omori law (Ogata's maximum likelihood), Båth's law.
//!
//! The method, its references and its limits are in `docs/sequences.md`.

pub mod batch;
pub mod error;
pub mod event;
pub mod geo;
mod grouper;
mod index;
pub mod record;
pub mod snapshot;
pub mod stats;
pub mod time;
pub mod windows;

pub use error::{InvalidEvent, RestoreError};
pub use event::Event;
pub use grouper::{Applied, Changes, Cluster, Counters, Grouper, ID_MAG_DROP, SEQ_ID_PREFIX};
pub use record::SequenceRecord;
pub use snapshot::Snapshot;
pub use windows::Params;
