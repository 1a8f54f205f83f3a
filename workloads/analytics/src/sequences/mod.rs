//! Aftershock sequences over `quakes`: the streaming Gardner–Knopoff grouping of
//! [`quakestream_seismo::Grouper`], published on the compacted topic `quake-sequences`
//! (key = sequence id, value = [`quakestream_seismo::SequenceRecord`] JSON, tombstone when a
//! sequence is gone).
//!
//! - [`local`]: per partition of `quakes`, each event change (upsert or retraction, versioned by
//!   the input offset) goes to **one** repartition partition: grouping needs the whole catalogue
//!   in one place (a mainshock's window may claim events of every input partition), so the
//!   global half runs as a single task however many partitions `quakes` has.
//! - [`global`]: feeds the [`quakestream_seismo::Grouper`] and publishes what `take_changes`
//!   says; its changelog holds the current revision of every grouped event, keyed by unid, so
//!   re-applying a record is a no-op and a restore rebuilds the grouper in one pass.

pub mod global;
pub mod local;
pub mod msg;

use crate::processor::{GlobalTask, LocalTask, Processor};
pub use quakestream_seismo::Params;

/// The processor's name: its topics are `{app}-sequences-repartition` and `{app}-sequences-changelog`.
pub const NAME: &str = quakestream_contract::analytics::SEQUENCES_PROCESSOR;
/// The output topic (compacted; key = sequence id).
pub const DEFAULT_SEQUENCES_TOPIC: &str = quakestream_contract::names::DEFAULT_SEQUENCES_TOPIC;
/// The repartition partition every change goes to (the grouping is global).
pub const GLOBAL_PARTITION: i32 = 0;
/// Partitions of the sequences' internal topics and output: one (see the module docs).
pub const PARTITIONS: i32 = quakestream_contract::analytics::SEQUENCES_PARTITIONS;

pub struct SequencesProcessor {
    pub output_topic: String,
    pub params: Params,
}

impl Processor for SequencesProcessor {
    fn name(&self) -> &'static str {
        NAME
    }
    fn output_topic(&self) -> &str {
        &self.output_topic
    }
    fn local(&self, partition: i32) -> Box<dyn LocalTask> {
        Box::new(local::SequencesLocal::new(partition))
    }
    fn global(&self, _partition: i32) -> Box<dyn GlobalTask> {
        Box::new(global::SequencesGlobal::new(self.params))
    }
}
