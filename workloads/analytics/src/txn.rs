//! Commits: one Kafka transaction per commit interval, sent from a thread of its own, so that the
//! engine goes on consuming and aggregating while the broker acknowledges the last interval.
//!
//! - A [`Commit`]'s contents (every output, the consumed offsets, the consumer's group metadata)
//!   are fixed when the engine builds it; [`Transactions::start`] sends it on a `qs-commit` thread
//!   and returns at once. Records handled meanwhile belong to the next commit.
//! - [`Transactions::finish`] waits for the one in flight. The engine calls it before the next
//!   commit (a transactional producer has one open transaction at a time), before a revocation
//!   completes (a partition is handed over only once what was done with it has committed) and at
//!   the stop.
//! - A failed transaction is aborted and every later commit is refused: committing the next
//!   interval's offsets without the failed interval's changelog writes would lose them. The
//!   engine stops with the error and a restart recovers from the changelogs.

use crate::config::TRANSACTION_TIMEOUT;
use crate::topics::{Dest, Topics};
use rdkafka::TopicPartitionList;
use rdkafka::consumer::ConsumerGroupMetadata;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, PurgeConfig};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One record of a commit: where to, explicit partition (None: by key), key, value (None: a
/// tombstone), headers.
pub(crate) struct Out {
    pub(crate) dest: Dest,
    pub(crate) partition: Option<i32>,
    pub(crate) key: Vec<u8>,
    pub(crate) value: Option<Vec<u8>>,
    pub(crate) headers: Option<OwnedHeaders>,
}

impl Out {
    pub(crate) fn new(dest: Dest, partition: Option<i32>, key: Vec<u8>, value: Option<Vec<u8>>) -> Self {
        Out {
            dest,
            partition,
            key,
            value,
            headers: None,
        }
    }
}

/// Everything one transaction carries, as the engine built it.
pub(crate) struct Commit {
    pub(crate) outs: Vec<Out>,
    pub(crate) offsets: TopicPartitionList,
    /// The consumer's group metadata, needed when there are offsets (it fences zombies).
    pub(crate) group: Option<ConsumerGroupMetadata>,
    /// When the engine began to build it: the commit latency counts from here.
    pub(crate) started: Instant,
}

/// A transaction that committed.
#[derive(Debug)]
pub(crate) struct Committed {
    pub(crate) offsets: TopicPartitionList,
    pub(crate) records: usize,
    /// From the start of building to the broker's acknowledgement of the commit.
    pub(crate) latency: Duration,
    /// Of which building it (on the engine thread).
    pub(crate) built: Duration,
}

struct InFlight {
    handle: JoinHandle<Result<(), String>>,
    offsets: TopicPartitionList,
    records: usize,
    started: Instant,
    built: Duration,
}

/// The engine's transactional producer and the transaction in flight, if any.
pub(crate) struct Transactions {
    producer: Arc<BaseProducer>,
    topics: Arc<Topics>,
    in_flight: Option<InFlight>,
    failed: Option<String>,
}

impl Transactions {
    /// `producer` has had `init_transactions`.
    pub(crate) fn new(producer: BaseProducer, topics: Topics) -> Self {
        Transactions {
            producer: Arc::new(producer),
            topics: Arc::new(topics),
            in_flight: None,
            failed: None,
        }
    }

    /// Sends `commit` as one transaction on a thread of its own. The one before must have been
    /// finished; after a failure every commit is refused.
    pub(crate) fn start(&mut self, commit: Commit) -> Result<(), String> {
        if let Some(e) = &self.failed {
            return Err(format!("refused after an earlier transaction failed ({e})"));
        }
        assert!(self.in_flight.is_none(), "a transaction is still in flight");
        let (records, offsets, started) = (commit.outs.len(), commit.offsets.clone(), commit.started);
        let built = started.elapsed();
        let (producer, topics) = (self.producer.clone(), self.topics.clone());
        let handle = std::thread::Builder::new()
            .name("qs-commit".into())
            .spawn(move || transact(&producer, &topics, commit))
            .map_err(|e| format!("starting the commit thread: {e}"))?;
        self.in_flight = Some(InFlight {
            handle,
            offsets,
            records,
            started,
            built,
        });
        Ok(())
    }

    /// Waits for the transaction in flight: `None` if there was none, its figures if it
    /// committed; if it failed, it is aborted and the error returned.
    pub(crate) fn finish(&mut self) -> Result<Option<Committed>, String> {
        let Some(f) = self.in_flight.take() else {
            return Ok(None);
        };
        let res = f
            .handle
            .join()
            .unwrap_or_else(|_| Err("the commit thread panicked".to_owned()));
        match res {
            Ok(()) => Ok(Some(Committed {
                offsets: f.offsets,
                records: f.records,
                latency: f.started.elapsed(),
                built: f.built,
            })),
            Err(e) => {
                let e = match abort(&self.producer) {
                    Ok(()) => e,
                    Err(ae) => format!("{e}; aborting it failed too: {ae}"),
                };
                self.failed = Some(e.clone());
                Err(e)
            }
        }
    }
}

/// One transaction: every output, then the offsets, then commit.
fn transact(producer: &BaseProducer, topics: &Topics, commit: Commit) -> Result<(), String> {
    let Commit {
        outs, offsets, group, ..
    } = commit;
    producer.begin_transaction().map_err(|e| format!("begin: {e}"))?;
    for o in outs {
        send(producer, topics.name(o.dest), o)?;
    }
    if offsets.count() > 0 {
        let group = group.ok_or_else(|| "the consumer has no group metadata".to_owned())?;
        producer
            .send_offsets_to_transaction(&offsets, &group, TRANSACTION_TIMEOUT)
            .map_err(|e| format!("send offsets: {e}"))?;
    }
    flush(producer, TRANSACTION_TIMEOUT)?;
    producer
        .commit_transaction(TRANSACTION_TIMEOUT)
        .map_err(|e| format!("commit: {e}"))
}

/// Aborts the open transaction. Its messages are purged first and their delivery reports
/// served here: `abort_transaction` waits for the producer's queue to empty, and with the event
/// API rust-rdkafka uses, nothing serves that queue while it waits, so a transaction that failed
/// with messages still queued held the abort (and the engine's stop) for the whole timeout.
fn abort(producer: &BaseProducer) -> Result<(), String> {
    producer.purge(PurgeConfig::default().queue().inflight());
    flush(producer, TRANSACTION_TIMEOUT)?;
    producer
        .abort_transaction(TRANSACTION_TIMEOUT)
        .map_err(|e| format!("abort: {e}"))
}

/// How long to serve delivery reports before retrying a send the full local queue refused.
const QUEUE_FULL_WAIT: Duration = Duration::from_millis(10);

fn send(producer: &BaseProducer, topic: &str, o: Out) -> Result<(), String> {
    let mut rec: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic).key(o.key.as_slice());
    if let Some(v) = &o.value {
        rec = rec.payload(v.as_slice());
    }
    if let Some(p) = o.partition {
        rec = rec.partition(p);
    }
    if let Some(h) = o.headers {
        rec = rec.headers(h);
    }
    loop {
        match producer.send(rec) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                rec = back;
                producer.poll(QUEUE_FULL_WAIT);
            }
            Err((e, _)) => return Err(format!("produce to {topic}: {e}")),
        }
    }
}

/// Longest wait for delivery reports in one slice of [`flush`].
const FLUSH_SLICE: Duration = Duration::from_millis(1);

/// Waits until every message sent has been acknowledged. rust-rdkafka's own `flush`, which
/// `commit_transaction` calls first, polls in slices of 100 ms that each last their whole 100 ms,
/// so every transaction took at least 100 ms longer than its messages did; after this one
/// returns, that `flush` finds nothing in flight and returns at once.
fn flush(producer: &BaseProducer, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        match producer.flush(Duration::ZERO) {
            Ok(()) => return Ok(()),
            Err(KafkaError::Flush(_)) if Instant::now() < deadline => producer.poll(FLUSH_SLICE),
            Err(e) => return Err(format!("flush: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quakestream_core::testkit;

    const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

    /// A `Transactions` on the engine's own producer settings, writing its records to a fresh
    /// one-partition dead-letter topic.
    fn transactions(name: &str) -> Transactions {
        let kafka = testkit::kafka();
        let mut cfg = crate::AnalyticsConfig::new(&kafka.bootstrap, &kafka.topic(&format!("{name}-in"), 1));
        cfg.app_id = kafka.unique_name(name);
        let producer = crate::engine::create_producer(&cfg).expect("producer");
        producer
            .init_transactions(TRANSACTION_TIMEOUT)
            .expect("init_transactions");
        Transactions::new(producer, topics(kafka.topic(&format!("{name}-dlq"), 1)))
    }

    fn commit_of(records: usize) -> Commit {
        Commit {
            outs: (0..records)
                .map(|i| Out::new(Dest::Dlq, Some(0), format!("k{i}").into_bytes(), Some(b"v".to_vec())))
                .collect(),
            offsets: TopicPartitionList::new(),
            group: None,
            started: Instant::now(),
        }
    }

    fn topics(dlq: String) -> Topics {
        Topics {
            input: String::new(),
            events_changelog: String::new(),
            dlq,
            repartition: Vec::new(),
            changelog: Vec::new(),
            output: Vec::new(),
            repartitions: Vec::new(),
            input_partitions: 1,
        }
    }

    #[test]
    fn a_commit_is_finished_with_its_figures_and_the_next_can_start() {
        let mut txns = transactions("txn-ok");
        assert!(txns.finish().expect("nothing in flight").is_none());
        txns.start(commit_of(3)).expect("start");
        let done = txns.finish().expect("committed").expect("one was in flight");
        assert_eq!(done.records, 3);
        assert!(done.latency >= done.built);
        txns.start(commit_of(1)).expect("the next starts");
        assert_eq!(txns.finish().expect("committed").expect("in flight").records, 1);
    }

    #[test]
    fn after_a_failed_transaction_every_later_commit_is_refused() {
        let mut txns = transactions("txn-failed");
        // With the topic's metadata known, the record for a partition the topic does not have
        // is refused at once, while the record before it is still queued (without it, it fails
        // at delivery): the abort must not wait for that queue.
        let dlq = txns.topics.dlq.clone();
        txns.producer
            .client()
            .fetch_metadata(Some(&dlq), METADATA_TIMEOUT)
            .expect("metadata");
        let mut bad = commit_of(2);
        bad.outs[1].partition = Some(7);
        txns.start(bad).expect("start");
        let err = txns
            .finish()
            .expect_err("the transaction with an undeliverable record fails");
        assert!(err.contains("Unknown partition"), "{err}");
        assert!(!err.contains("aborting it failed"), "{err}");
        let refused = txns.start(commit_of(1)).expect_err("refused");
        assert!(
            refused.contains("refused after an earlier transaction failed"),
            "{refused}"
        );
        assert!(txns.finish().expect("nothing in flight").is_none());
    }
}
