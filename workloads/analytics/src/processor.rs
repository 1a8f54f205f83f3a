//! What the engine runs: processors. Each processor has two halves, the way a Kafka Streams table
//! aggregation has two sub-topologies around a repartition topic:
//!
//! - a **local task** per partition of `quakes`, told every time an event's current revision
//!   changes (old → new, from the event table the engine keeps), which sends records to the
//!   processor's repartition topic, partitioned by what must be aggregated together;
//! - a **global task** per partition of that repartition topic, with its own state, backed by its
//!   own changelog topic (co-partitioned with the repartition topic), which writes the
//!   processor's output topic.
//!
//! The engine commits everything a commit interval produced (changelogs, repartition records,
//! outputs) together with the consumed offsets of both input topics in one Kafka transaction. The
//! windowed statistics ([`crate::stats`]) are one processor; aftershock sequences
//! ([`crate::sequences`], `quake-sequences`) are another, with the same engine and topics of
//! their own.

use crate::event::Event;

/// A record for a processor's repartition topic.
#[derive(Debug, Clone, PartialEq)]
pub struct Routed {
    pub partition: i32,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

/// What a local task is told when it flushes.
#[derive(Debug, Clone, Copy)]
pub struct LocalFlush {
    /// The offset of the last `quakes` record of this partition applied so far (the version of
    /// what this flush sends: later flushes send higher or equal versions).
    pub version: i64,
    /// The partition's stream time (µs): the largest origin time seen, bounded (see
    /// [`crate::table::EventTable`]); `i64::MIN` before the first event.
    pub stream_time_us: i64,
    /// Partitions of the repartition topic.
    pub repartitions: i32,
    /// Whether this partition of `quakes` has been read to its end: nothing older waits in it,
    /// so its stream time need not hold a window open (see [`crate::stats::global`]).
    pub caught_up: bool,
    /// Partitions of `quakes` (every one of them reports its stream time to the global tasks).
    pub sources: i32,
}

pub trait LocalTask: Send {
    /// The current revision of `unid` changed from `old` to `new` (`None`: the event is gone or
    /// was never there).
    fn on_change(&mut self, unid: &str, old: Option<&Event>, new: Option<&Event>);
    /// The event left the table because it is beyond retention: forget it without telling the
    /// global tasks (they drop the same windows by their own stream time).
    fn on_evict(&mut self, unid: &str, old: &Event);
    /// Appends what must go to the repartition topic since the last flush.
    fn flush(&mut self, f: &LocalFlush, out: &mut Vec<Routed>);
    /// Entries held (for the state-size metric).
    fn entries(&self) -> usize;
}

/// What a global task hands the engine at a commit.
#[derive(Debug, Default)]
pub struct GlobalOut {
    /// Changelog writes: value `None` is a tombstone.
    pub changelog: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    /// Output-topic records (key, value).
    pub output: Vec<(Vec<u8>, Vec<u8>)>,
    /// Output-topic tombstones (keys whose result is gone), written after `output`.
    pub output_deletes: Vec<Vec<u8>>,
    pub updates: u64,
    pub finals: u64,
    pub corrections: u64,
    /// Inputs for results already dropped (beyond retention).
    pub expired: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error("undecodable {what}: {detail}")]
    Decode { what: &'static str, detail: String },
}

impl TaskError {
    /// The dead-letter reason of an undecodable internal record.
    pub const BAD_INTERNAL_RECORD: &'static str = "bad_internal_record";

    pub fn reason(&self) -> &'static str {
        match self {
            TaskError::Decode { .. } => Self::BAD_INTERNAL_RECORD,
        }
    }
}

pub trait GlobalTask: Send {
    /// Applies one record of its changelog (value `None`: a tombstone) while restoring.
    fn restore(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<(), TaskError>;
    /// Called once the changelog has been read to its end.
    fn restored(&mut self);
    /// Applies one record of the repartition topic.
    fn apply(&mut self, key: &[u8], value: &[u8]) -> Result<(), TaskError>;
    /// Appends the changelog writes and outputs since the last flush.
    fn flush(&mut self, out: &mut GlobalOut);
    /// Entries held (for the state-size metric).
    fn entries(&self) -> usize;
    /// Windows (or other units of result) still open.
    fn open(&self) -> usize;
}

/// A processor: its name (the topic names derive from it), its output topic, and its tasks.
pub trait Processor: Send + Sync {
    fn name(&self) -> &'static str;
    fn output_topic(&self) -> &str;
    fn local(&self, partition: i32) -> Box<dyn LocalTask>;
    fn global(&self, partition: i32) -> Box<dyn GlobalTask>;
}

/// FNV-1a, 64 bit: the stable hash that routes repartition records (the same on every
/// instance, version and platform, unlike `std`'s hasher).
pub fn route(key: &[u8], partitions: i32) -> i32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h % partitions.max(1) as u64) as i32
}

#[cfg(test)]
mod tests {
    #[test]
    fn routing_is_stable_and_in_range() {
        // Pinned: a change here would move every key to another partition on upgrade.
        assert_eq!(super::route(b"world", 6), super::route(b"world", 6));
        assert_eq!(super::route(b"", 1), 0);
        let spread: std::collections::BTreeSet<i32> = (0..200)
            .map(|i| super::route(format!("region/R{i}").as_bytes(), 6))
            .collect();
        assert_eq!(spread.len(), 6);
        assert_eq!(super::route(b"world", 6), 5, "FNV-1a(\"world\") = 5717881983045765875");
    }
}
