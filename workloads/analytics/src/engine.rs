//! The engine: one consumer-group member reading `quakes` and every processor's repartition
//! topic, one transactional producer, and the tasks of the partitions it is assigned.
//!
//! - **Restore before processing.** Partitions are assigned inside the consumer's rebalance
//!   callback, which runs within `poll` on the engine thread: each new partition's state is read
//!   from its changelog to the end (read-committed) before the callback returns, so no record of
//!   it can be processed first.
//! - **Exactly once.** Every commit interval, one Kafka transaction carries everything the
//!   interval produced (changelog writes, repartition records, `quake-stats` records, dead
//!   letters) and the consumed offsets of both input topics (`send_offsets_to_transaction` with
//!   the consumer's group metadata, so a zombie of an older generation is fenced). The
//!   transaction is sent from a thread of its own while the engine handles the next interval
//!   (`txn`); the next commit, a revocation and the stop wait for it first.
//! - **Revocation** commits, then drops the revoked partitions' state.
//! - **Crash only.** A failed transaction is aborted and the engine stops with an error; a new
//!   start restores from the changelogs and re-reads from the committed offsets, which is the
//!   one recovery path there is, and the one the tests kill the process to exercise.

use crate::config::AnalyticsConfig;
use crate::event::Event;
use crate::metrics::AnalyticsMetrics;
use crate::processor::{GlobalOut, GlobalTask, LocalFlush, LocalTask, Processor, Routed};
use crate::stats::StatsProcessor;
use crate::table::{Applied, EventTable};
use crate::topics::{Dest, Topics, resolve_topics};
use crate::txn::{Commit, Out, Transactions};
use prometheus::IntCounter;
use quakestream_core::ops::Health;
use quakestream_core::wire::{WireRecord, headers};
use rayon::prelude::*;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, Producer};
use rdkafka::{ClientConfig, ClientContext, Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The `qs-stage` header of the analytics' dead letters.
pub const DLQ_STAGE: &str = "analytics";
/// Longest single wait in `poll`, so a stop request is seen promptly.
const POLL_SLICE: Duration = Duration::from_millis(100);
/// At most this many records are taken from the consumer's queue before they are handled (the
/// input records of a batch are decoded in parallel).
const POLL_BATCH: usize = 2048;
/// Input records per unit of parallel decoding.
const DECODE_CHUNK: usize = 128;

#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    #[error("configuration: {0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("Kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("topic {topic}: {problem}")]
    Topic { topic: String, problem: String },
    #[error("transaction failed (aborted; restart to recover from the changelogs): {0}")]
    Transaction(String),
    #[error("restoring {topic}[{partition}]: {problem}")]
    Restore {
        topic: String,
        partition: i32,
        problem: String,
    },
}

impl AnalyticsError {
    /// A short, stable label (logs, metrics).
    pub fn code(&self) -> &'static str {
        match self {
            AnalyticsError::Config(_) => "config",
            AnalyticsError::Kafka(_) => "kafka",
            AnalyticsError::Topic { .. } => "topic",
            AnalyticsError::Transaction(_) => "transaction",
            AnalyticsError::Restore { .. } => "restore",
        }
    }
}

/// Totals of one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AnalyticsReport {
    pub input_records: u64,
    pub repartition_records: u64,
    pub restored_records: u64,
    pub transactions: u64,
    pub dead_lettered: u64,
}

struct InputTask {
    table: EventTable,
    locals: Vec<Box<dyn LocalTask>>,
    /// Offset of the last record applied (the version of the partials sent).
    version: i64,
    /// Offset to commit, if it moved since the last commit.
    next_offset: Option<i64>,
}

struct GlobalSlot {
    task: Box<dyn GlobalTask>,
    next_offset: Option<i64>,
}

struct DeadLetter {
    key: Option<Vec<u8>>,
    value: Vec<u8>,
    reason: &'static str,
    error: String,
}

struct Core {
    cfg: AnalyticsConfig,
    processors: Vec<Box<dyn Processor>>,
    topics: Topics,
    txns: Transactions,
    restorer: BaseConsumer,
    inputs: BTreeMap<i32, InputTask>,
    globals: BTreeMap<(usize, i32), GlobalSlot>,
    dlq: Vec<DeadLetter>,
    metrics: AnalyticsMetrics,
    health: Health,
    fatal: Option<AnalyticsError>,
    report: AnalyticsReport,
    records_in_txn: usize,
    counters: RecordCounters,
}

/// The per-record counters, looked up once (a labelled lookup per record showed in profiles).
struct RecordCounters {
    input_applied: IntCounter,
    input_stale: IntCounter,
    input_expired: IntCounter,
    input_dlq: IntCounter,
    repartition_applied: IntCounter,
    repartition_dlq: IntCounter,
}

impl RecordCounters {
    fn new(m: &AnalyticsMetrics) -> Self {
        let c = |role: &str, outcome: &str| m.records.with_label_values(&[role, outcome]);
        RecordCounters {
            input_applied: c("input", "applied"),
            input_stale: c("input", "stale"),
            input_expired: c("input", "expired"),
            input_dlq: c("input", "dlq"),
            repartition_applied: c("repartition", "applied"),
            repartition_dlq: c("repartition", "dlq"),
        }
    }
}

struct Ctx {
    core: Arc<Mutex<Option<Core>>>,
}

impl ClientContext for Ctx {}

impl ConsumerContext for Ctx {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            let mut guard = lock(&self.core);
            let Some(core) = guard.as_mut() else { return };
            if let Err(e) = core.commit_and_wait(consumer) {
                core.fatal.get_or_insert(e);
            }
            core.drop_partitions(tpl);
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                let mut guard = lock(&self.core);
                let Some(core) = guard.as_mut() else { return };
                if let Err(e) = core.assign(consumer, tpl) {
                    core.fatal.get_or_insert(e);
                }
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(e) => tracing::warn!(error = %e, "rebalance error"),
        }
    }
}

fn lock(core: &Mutex<Option<Core>>) -> MutexGuard<'_, Option<Core>> {
    core.lock().unwrap_or_else(|p| p.into_inner())
}

type KConsumer = BaseConsumer<Ctx>;

/// The processors of this build: the windowed statistics and the aftershock sequences.
pub fn processors(cfg: &AnalyticsConfig) -> Vec<Box<dyn Processor>> {
    vec![
        Box::new(StatsProcessor {
            output_topic: cfg.stats_topic.clone(),
            windows: crate::stats::WindowSettings {
                grace_us: cfg.grace.as_micros() as i64,
                retention_us: cfg.retention.as_micros() as i64,
            },
        }),
        Box::new(crate::sequences::SequencesProcessor {
            output_topic: cfg.sequences_topic.clone(),
            params: crate::sequences::Params::default(),
        }),
    ]
}

/// Runs the engine with this build's [`processors`] until `stop` turns true (then commits and
/// leaves the group), or until a fatal error. The engine runs on a thread of its own (librdkafka
/// calls block).
pub async fn run(
    cfg: AnalyticsConfig,
    metrics: AnalyticsMetrics,
    health: Health,
    stop: watch::Receiver<bool>,
) -> Result<AnalyticsReport, AnalyticsError> {
    let processors = processors(&cfg);
    run_with(cfg, processors, metrics, health, stop).await
}

/// [`run`] with the given processors (the benchmark measures them one at a time).
pub async fn run_with(
    cfg: AnalyticsConfig,
    processors: Vec<Box<dyn Processor>>,
    metrics: AnalyticsMetrics,
    health: Health,
    mut stop: watch::Receiver<bool>,
) -> Result<AnalyticsReport, AnalyticsError> {
    cfg.validate()?;
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    let watcher = tokio::spawn(async move {
        let _ = stop.wait_for(|s| *s).await;
        f.store(true, Ordering::Relaxed);
    });
    let res = tokio::task::spawn_blocking(move || run_blocking(cfg, processors, metrics, health, &flag))
        .await
        .unwrap_or_else(|e| Err(AnalyticsError::Transaction(format!("engine thread panicked: {e}"))));
    watcher.abort();
    res
}

fn client_config(cfg: &AnalyticsConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &cfg.bootstrap_servers);
    cfg.kafka_security.apply(&mut c);
    for (k, v) in &cfg.kafka_overrides {
        c.set(k, v);
    }
    c
}

pub(crate) fn create_producer(cfg: &AnalyticsConfig) -> Result<BaseProducer, KafkaError> {
    let mut c = quakestream_core::kafka::producer_config(&cfg.bootstrap_servers);
    c.set("client.id", "quakestream-analytics")
        .set("transactional.id", cfg.transactional_id())
        .set(
            "transaction.timeout.ms",
            crate::config::TRANSACTION_TIMEOUT.as_millis().to_string(),
        )
        // librdkafka requires message.timeout.ms <= transaction.timeout.ms.
        .set(
            "message.timeout.ms",
            crate::config::TRANSACTION_TIMEOUT.as_millis().to_string(),
        )
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "262144");
    cfg.kafka_security.apply(&mut c);
    for (k, v) in &cfg.kafka_overrides {
        c.set(k, v);
    }
    c.create()
}

fn create_restorer(cfg: &AnalyticsConfig) -> Result<BaseConsumer, KafkaError> {
    let mut c = client_config(cfg);
    c.set("group.id", format!("{}-restore", cfg.app_id))
        .set("client.id", "quakestream-analytics-restore")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("isolation.level", "read_committed")
        .set("auto.offset.reset", "earliest")
        // An empty changelog partition is "read to the end" only when a fetch comes back empty:
        // do not let the broker hold each of those fetches for the default 500 ms.
        .set("fetch.wait.max.ms", "10")
        .set("fetch.max.bytes", "104857600")
        .set("max.partition.fetch.bytes", "52428800")
        .set("queued.max.messages.kbytes", "262144")
        .set("fetch.queue.backoff.ms", FETCH_QUEUE_BACKOFF_MS);
    c.create()
}

/// librdkafka postpones the next fetch of a partition by `fetch.queue.backoff.ms` (1 s by default)
/// whenever its local queue holds more than `queued.min.messages`: a restore or a backlog then
/// came in bursts with a second of nothing between them (the restore of a million events spent
/// 7 of its 12 s waiting so). The queue stays bounded by `queued.max.messages.kbytes`.
const FETCH_QUEUE_BACKOFF_MS: &str = "10";

fn create_consumer(cfg: &AnalyticsConfig, ctx: Ctx) -> Result<KConsumer, KafkaError> {
    let mut c = client_config(cfg);
    c.set("group.id", &cfg.app_id)
        .set("client.id", "quakestream-analytics")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "false")
        .set("partition.assignment.strategy", "cooperative-sticky")
        .set("queued.max.messages.kbytes", "262144")
        .set("fetch.queue.backoff.ms", FETCH_QUEUE_BACKOFF_MS);
    for (k, v) in &cfg.kafka_overrides {
        c.set(k, v);
    }
    c.create_with_context(ctx)
}

fn run_blocking(
    cfg: AnalyticsConfig,
    processors: Vec<Box<dyn Processor>>,
    metrics: AnalyticsMetrics,
    health: Health,
    stop: &AtomicBool,
) -> Result<AnalyticsReport, AnalyticsError> {
    let restorer = create_restorer(&cfg)?;
    let topics = resolve_topics(&cfg, &processors, &restorer)?;
    let producer = create_producer(&cfg)?;
    producer.init_transactions(crate::config::TRANSACTION_TIMEOUT)?;
    let core = Arc::new(Mutex::new(Some(Core {
        cfg: cfg.clone(),
        processors,
        topics: topics.clone(),
        txns: Transactions::new(producer, topics.clone()),
        restorer,
        inputs: BTreeMap::new(),
        globals: BTreeMap::new(),
        dlq: Vec::new(),
        health: health.clone(),
        fatal: None,
        report: AnalyticsReport::default(),
        records_in_txn: 0,
        counters: RecordCounters::new(&metrics),
        metrics,
    })));
    let consumer = create_consumer(&cfg, Ctx { core: core.clone() })?;
    let mut subscribed: Vec<&str> = vec![&topics.input];
    subscribed.extend(topics.repartition.iter().map(String::as_str));
    consumer.subscribe(&subscribed)?;
    tracing::info!(input = %topics.input, group = %cfg.app_id, transactional_id = %cfg.transactional_id(),
        repartition = ?topics.repartition, outputs = ?topics.output, "analytics started");

    let result = event_loop(&consumer, &core, &cfg, stop);
    health.set_ready(false);
    let final_commit = lock(&core)
        .as_mut()
        .map(|c| c.commit_and_wait(&consumer))
        .unwrap_or(Ok(()));
    // Leaving the group revokes everything (the callback commits nothing more and drops state).
    consumer.unsubscribe();
    let _ = consumer.poll(Duration::from_millis(10));
    drop(consumer);
    let core = lock(&core).take();
    result?;
    final_commit?;
    let report = core.map(|c| c.report).unwrap_or_default();
    tracing::info!(
        input = report.input_records,
        repartition = report.repartition_records,
        restored = report.restored_records,
        transactions = report.transactions,
        "analytics stopped"
    );
    Ok(report)
}

fn event_loop(
    consumer: &KConsumer,
    core: &Mutex<Option<Core>>,
    cfg: &AnalyticsConfig,
    stop: &AtomicBool,
) -> Result<(), AnalyticsError> {
    let mut interval_start = Instant::now();
    let mut batch: Vec<BorrowedMessage<'_>> = Vec::with_capacity(POLL_BATCH);
    // Records in the open transaction as of the last look (a rebalance inside `poll` may commit
    // and so lower it; never raise it): a batch never takes the transaction past its cap.
    let mut in_txn = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let left = cfg.commit_interval.saturating_sub(interval_start.elapsed());
        // Wait for one record, then take what is already queued. The core is not locked while
        // polling: the rebalance callbacks, which run inside `poll`, lock it.
        let mut wait = left.min(POLL_SLICE);
        let room = cfg.max_records_per_transaction.saturating_sub(in_txn).max(1);
        while batch.len() < POLL_BATCH.min(room) {
            match consumer.poll(wait) {
                Some(Ok(msg)) => batch.push(msg),
                Some(Err(e)) => tracing::warn!(error = %e, "Kafka consumer error"),
                None => break,
            }
            wait = Duration::ZERO;
        }
        let mut guard = lock(core);
        let c = guard.as_mut().expect("core present while running");
        if let Some(e) = c.fatal.take() {
            return Err(e);
        }
        c.handle_batch(&batch);
        batch.clear();
        if interval_start.elapsed() >= cfg.commit_interval || c.records_in_txn >= cfg.max_records_per_transaction {
            c.commit(consumer)?;
            interval_start = Instant::now();
        }
        in_txn = c.records_in_txn;
    }
    Ok(())
}

/// Whether `topic[partition]`, whose last applied record is at offset `last`, has been read to its
/// end, by the high watermark of the consumer's last fetch (cached: no request). One record of
/// slack: after a transactional producer's last record comes its commit marker, which takes an
/// offset and is never delivered.
fn read_to_end_of(consumer: &KConsumer, topic: &str, partition: i32, last: i64) -> bool {
    cached_high_watermark(consumer, topic, partition).is_some_and(|high| high - (last + 1) <= 1)
}

/// librdkafka's `rd_kafka_get_watermark_offsets`: the high watermark of the last fetch response
/// for the partition, without a request (rust-rdkafka wraps only the querying variant).
fn cached_high_watermark(consumer: &KConsumer, topic: &str, partition: i32) -> Option<i64> {
    let topic = std::ffi::CString::new(topic).ok()?;
    let (mut low, mut high) = (-1i64, -1i64);
    // SAFETY: the client pointer is valid while `consumer` is borrowed; the topic is a
    // NUL-terminated string that outlives the call; both out-pointers point to live i64s.
    let err = unsafe {
        rdkafka::bindings::rd_kafka_get_watermark_offsets(
            consumer.client().native_ptr(),
            topic.as_ptr(),
            partition,
            &mut low,
            &mut high,
        )
    };
    (err == rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0).then_some(high)
}

/// One input task's flush: evictions, then each processor's repartition records, then the
/// event table's changelog writes.
fn flush_input(topics: &Topics, p: i32, task: &mut InputTask, caught_up: bool) -> Vec<Out> {
    let mut outs = Vec::new();
    let mut routed: Vec<Routed> = Vec::new();
    for (unid, ev) in task.table.evict() {
        for l in &mut task.locals {
            l.on_evict(&unid, &ev);
        }
    }
    for (i, l) in task.locals.iter_mut().enumerate() {
        let f = LocalFlush {
            version: task.version,
            stream_time_us: task.table.stream_time(),
            repartitions: topics.repartitions[i],
            caught_up,
            sources: topics.input_partitions,
        };
        l.flush(&f, &mut routed);
        outs.extend(
            routed
                .drain(..)
                .map(|r| Out::new(Dest::Repartition(i), Some(r.partition), r.key, Some(r.value))),
        );
    }
    outs.extend(
        task.table
            .drain_changelog()
            .into_iter()
            .map(|(key, value)| Out::new(Dest::EventsChangelog, Some(p), key, value)),
    );
    outs
}

/// An input record decoded (and its event derived), or why it could not be.
type Decoded = Result<(WireRecord, Event), quakestream_core::wire::DecodeError>;

fn decode_input(key: Option<&[u8]>, payload: Option<&[u8]>) -> Decoded {
    let rec = WireRecord::decode(key, payload)?;
    let ev = Event::from_quake(&rec.quake);
    Ok((rec, ev))
}

fn micros(d: chrono::DateTime<chrono::Utc>) -> i64 {
    d.timestamp_micros()
}

impl Core {
    /// Handles polled records in order; the input records are decoded first, in parallel.
    fn handle_batch(&mut self, msgs: &[BorrowedMessage<'_>]) {
        let input = self.topics.input.as_str();
        let mut decoded: Vec<Option<Decoded>> = msgs
            .par_iter()
            .with_min_len(DECODE_CHUNK)
            .map(|m| (m.topic() == input).then(|| decode_input(m.key(), m.payload())))
            .collect();
        for (msg, d) in msgs.iter().zip(decoded.iter_mut()) {
            self.handle(msg, d.take());
        }
    }

    fn handle(&mut self, msg: &BorrowedMessage<'_>, decoded: Option<Decoded>) {
        self.records_in_txn += 1;
        let (topic, partition, offset) = (msg.topic(), msg.partition(), msg.offset());
        if let Some(decoded) = decoded {
            self.report.input_records += 1;
            self.handle_input(partition, offset, msg.key(), msg.payload(), decoded);
        } else if let Some(i) = self.topics.repartition.iter().position(|t| t == topic) {
            self.report.repartition_records += 1;
            let Some(slot) = self.globals.get_mut(&(i, partition)) else {
                tracing::warn!(topic, partition, offset, "record of a partition with no task; ignored");
                return;
            };
            slot.next_offset = Some(offset + 1);
            let res = slot
                .task
                .apply(msg.key().unwrap_or_default(), msg.payload().unwrap_or_default());
            match res {
                Ok(()) => self.counters.repartition_applied.inc(),
                Err(e) => {
                    self.counters.repartition_dlq.inc();
                    tracing::warn!(topic, partition, offset, error = %e, "undecodable internal record; dead-lettered");
                    self.dead_letter(msg.key(), msg.payload(), e.reason(), e.to_string());
                }
            }
        }
    }

    fn handle_input(
        &mut self,
        partition: i32,
        offset: i64,
        key: Option<&[u8]>,
        payload: Option<&[u8]>,
        decoded: Decoded,
    ) {
        let Some(task) = self.inputs.get_mut(&partition) else {
            tracing::warn!(partition, offset, "input record of a partition with no task; ignored");
            return;
        };
        task.version = offset;
        task.next_offset = Some(offset + 1);
        let (rec, ev) = match decoded {
            Ok(r) => r,
            Err(e) => {
                let unid = key.map(|k| String::from_utf8_lossy(k).into_owned()).unwrap_or_default();
                tracing::warn!(unid, partition, offset, reason = e.reason(), error = %e,
                    "undecodable record; sending it to the dead-letter topic");
                self.counters.input_dlq.inc();
                return self.dead_letter(key, payload, e.reason(), e.to_string());
            }
        };
        let unid = rec.quake.unid.as_str();
        match task.table.apply(unid, ev, micros(rec.received_at)) {
            Applied::Changed { old } => {
                let new = task.table.get(unid);
                for l in &mut task.locals {
                    l.on_change(unid, old.as_ref(), new);
                }
                self.counters.input_applied.inc();
                tracing::debug!(unid, lastupdate = %rec.quake.lastupdate, "applied");
            }
            Applied::Stale => {
                self.counters.input_stale.inc();
            }
            Applied::Expired => {
                self.counters.input_expired.inc();
                self.metrics.expired.inc();
                tracing::warn!(unid, time = %rec.quake.time, "revision of an event beyond retention; dead-lettered");
                let retention = crate::config::show(self.cfg.retention);
                self.dead_letter(
                    key,
                    payload,
                    "beyond_retention",
                    format!(
                        "origin time {} is more than {retention} behind stream time",
                        rec.quake.time
                    ),
                );
            }
        }
    }

    fn dead_letter(&mut self, key: Option<&[u8]>, payload: Option<&[u8]>, reason: &'static str, error: String) {
        self.metrics.dlq.with_label_values(&[reason]).inc();
        self.report.dead_lettered += 1;
        self.dlq.push(DeadLetter {
            key: key.map(<[u8]>::to_vec),
            value: payload.unwrap_or_default().to_vec(),
            reason,
            error: error.chars().take(1024).collect(),
        });
    }

    /// Finishes the transaction in flight, then starts one with everything produced since and
    /// the consumed offsets (see [`crate::txn`]).
    fn commit(&mut self, consumer: &KConsumer) -> Result<(), AnalyticsError> {
        self.finish_commit(consumer)?;
        let started = Instant::now();
        let mut outs = self.flush_tasks(consumer);
        outs.extend(self.dead_letter_outs());
        let offsets = self.offsets()?;
        self.records_in_txn = 0;
        self.update_gauges();
        if outs.is_empty() && offsets.count() == 0 {
            return Ok(());
        }
        // From here the offsets belong to this transaction: a later commit carries only what is
        // handled after it.
        for t in self.inputs.values_mut() {
            t.next_offset = None;
        }
        for g in self.globals.values_mut() {
            g.next_offset = None;
        }
        let group = if offsets.count() > 0 {
            consumer.group_metadata()
        } else {
            None
        };
        let commit = Commit {
            outs,
            offsets,
            group,
            started,
        };
        self.txns.start(commit).map_err(AnalyticsError::Transaction)
    }

    /// [`Core::commit`], then waiting for that transaction (revocation, stop).
    fn commit_and_wait(&mut self, consumer: &KConsumer) -> Result<(), AnalyticsError> {
        self.commit(consumer)?;
        self.finish_commit(consumer)
    }

    /// Waits for the transaction in flight, if any, and books its outcome.
    fn finish_commit(&mut self, consumer: &KConsumer) -> Result<(), AnalyticsError> {
        match self.txns.finish() {
            Ok(None) => Ok(()),
            Ok(Some(c)) => {
                // The transaction committed these offsets atomically with the outputs. The same
                // offsets are committed once more, plainly: redundant on a real broker, but
                // librdkafka's mock cluster accepts TxnOffsetCommit without storing the offsets,
                // and without this a restart there would re-read the input from the start (which
                // the state makes harmless, but slow). A crash between the two commits only
                // re-reads records whose revisions the restored table already holds.
                if c.offsets.count() > 0
                    && let Err(e) = consumer.commit(&c.offsets, CommitMode::Async)
                {
                    tracing::debug!(error = %e, "plain offset commit after the transaction failed");
                }
                self.metrics.transactions.with_label_values(&["commit"]).inc();
                self.metrics.commit_seconds.observe(c.latency.as_secs_f64());
                self.report.transactions += 1;
                tracing::debug!(
                    records = c.records,
                    offsets = c.offsets.count(),
                    ms = c.latency.as_millis() as u64,
                    build_ms = c.built.as_millis() as u64,
                    "committed"
                );
                Ok(())
            }
            Err(e) => {
                self.metrics.transactions.with_label_values(&["abort"]).inc();
                tracing::error!(error = %e, "transaction failed and was aborted");
                Err(AnalyticsError::Transaction(e))
            }
        }
    }

    /// Every task's flush: the input tasks' (in parallel, in the order of the partitions and,
    /// within one, the order its task gave them), then the global tasks'.
    fn flush_tasks(&mut self, consumer: &KConsumer) -> Vec<Out> {
        let topics = &self.topics;
        let caught_up: BTreeMap<i32, bool> = self
            .inputs
            .iter()
            .map(|(p, t)| (*p, read_to_end_of(consumer, &topics.input, *p, t.version)))
            .collect();
        let per_input: Vec<Vec<Out>> = self
            .inputs
            .par_iter_mut()
            .map(|(p, task)| flush_input(topics, *p, task, caught_up[p]))
            .collect();
        let mut outs: Vec<Out> = per_input.into_iter().flatten().collect();
        let per_global: Vec<((usize, i32), GlobalOut)> = self
            .globals
            .par_iter_mut()
            .map(|(key, slot)| {
                let mut g = GlobalOut::default();
                slot.task.flush(&mut g);
                (*key, g)
            })
            .collect();
        for ((i, q), g) in per_global {
            self.count_emitted(&g);
            outs.extend(
                g.changelog
                    .into_iter()
                    .map(|(k, v)| Out::new(Dest::Changelog(i), Some(q), k, v)),
            );
            outs.extend(
                g.output
                    .into_iter()
                    .map(|(k, v)| Out::new(Dest::Output(i), None, k, Some(v))),
            );
            outs.extend(
                g.output_deletes
                    .into_iter()
                    .map(|k| Out::new(Dest::Output(i), None, k, None)),
            );
        }
        outs
    }

    fn count_emitted(&self, g: &GlobalOut) {
        let m = &self.metrics;
        m.emitted.with_label_values(&["update"]).inc_by(g.updates);
        m.emitted.with_label_values(&["final"]).inc_by(g.finals);
        m.emitted.with_label_values(&["correction"]).inc_by(g.corrections);
        m.late_corrections.inc_by(g.corrections);
        m.expired.inc_by(g.expired);
    }

    /// The dead letters since the last commit, with their headers.
    fn dead_letter_outs(&mut self) -> Vec<Out> {
        let now = quakestream_core::model::fmt_time(&chrono::Utc::now());
        std::mem::take(&mut self.dlq)
            .into_iter()
            .map(|d| {
                let h = OwnedHeaders::new_with_capacity(4)
                    .insert(Header {
                        key: headers::STAGE,
                        value: Some(DLQ_STAGE),
                    })
                    .insert(Header {
                        key: headers::REASON,
                        value: Some(d.reason),
                    })
                    .insert(Header {
                        key: headers::ERROR,
                        value: Some(d.error.as_str()),
                    })
                    .insert(Header {
                        key: headers::RECEIVED_AT,
                        value: Some(now.as_str()),
                    });
                Out {
                    headers: Some(h),
                    ..Out::new(Dest::Dlq, None, d.key.unwrap_or_default(), Some(d.value))
                }
            })
            .collect()
    }

    fn offsets(&self) -> Result<TopicPartitionList, AnalyticsError> {
        let mut tpl = TopicPartitionList::new();
        for (p, t) in &self.inputs {
            if let Some(o) = t.next_offset {
                tpl.add_partition_offset(&self.topics.input, *p, Offset::Offset(o))?;
            }
        }
        for ((i, q), g) in &self.globals {
            if let Some(o) = g.next_offset {
                tpl.add_partition_offset(&self.topics.repartition[*i], *q, Offset::Offset(o))?;
            }
        }
        Ok(tpl)
    }

    fn update_gauges(&self) {
        let m = &self.metrics;
        m.state_entries
            .with_label_values(&["events"])
            .set(self.inputs.values().map(|t| t.table.len() as i64).sum());
        m.state_entries.with_label_values(&["stats_panes"]).set(
            self.inputs
                .values()
                .flat_map(|t| t.locals.iter().map(|l| l.entries() as i64))
                .sum(),
        );
        m.state_entries
            .with_label_values(&["stats_windows"])
            .set(self.globals.values().map(|g| g.task.entries() as i64).sum());
        m.windows_open
            .set(self.globals.values().map(|g| g.task.open() as i64).sum());
        m.assigned.with_label_values(&["input"]).set(self.inputs.len() as i64);
        m.assigned
            .with_label_values(&["repartition"])
            .set(self.globals.len() as i64);
        if let Some(st) = self.inputs.values().map(|t| t.table.stream_time()).max()
            && st != i64::MIN
        {
            m.stream_time.set(st.div_euclid(1_000_000));
        }
    }

    fn drop_partitions(&mut self, tpl: &TopicPartitionList) {
        for e in tpl.elements() {
            if e.topic() == self.topics.input {
                self.inputs.remove(&e.partition());
            } else if let Some(i) = self.topics.repartition.iter().position(|t| t == e.topic()) {
                self.globals.remove(&(i, e.partition()));
            }
        }
        tracing::info!(partitions = tpl.count(), "partitions revoked: committed and dropped");
        self.update_gauges();
    }

    /// Restores every newly assigned partition's state before any of its records is processed.
    fn assign(&mut self, consumer: &KConsumer, tpl: &TopicPartitionList) -> Result<(), AnalyticsError> {
        // Nothing is restored while a transaction of this member is still open.
        self.finish_commit(consumer)?;
        // The committed offsets of the input partitions (read-committed consumers wait here for
        // a previous owner's pending transactional offsets to settle): the version the restored
        // state is re-announced at.
        let mut inputs = TopicPartitionList::new();
        for e in tpl.elements().iter().filter(|e| e.topic() == self.topics.input) {
            inputs.add_partition(&self.topics.input, e.partition());
        }
        let committed: BTreeMap<i32, i64> = if inputs.count() > 0 {
            consumer
                .committed_offsets(inputs, Duration::from_secs(30))?
                .elements()
                .iter()
                .filter_map(|e| match e.offset() {
                    Offset::Offset(o) => Some((e.partition(), o)),
                    _ => None,
                })
                .collect()
        } else {
            BTreeMap::new()
        };
        let of = |topic: &str| -> Vec<i32> {
            tpl.elements()
                .iter()
                .filter(|e| e.topic() == topic)
                .map(|e| e.partition())
                .collect()
        };
        let versions: Vec<(i32, i64)> = of(&self.topics.input)
            .into_iter()
            .map(|p| (p, committed.get(&p).map_or(-1, |o| o - 1)))
            .collect();
        self.restore_inputs(&versions)?;
        for i in 0..self.topics.repartition.len() {
            let parts = of(&self.topics.repartition[i]);
            self.restore_globals(i, &parts)?;
        }
        let parts: Vec<String> = tpl
            .elements()
            .iter()
            .map(|e| format!("{}[{}]", e.topic(), e.partition()))
            .collect();
        tracing::info!(?parts, "partitions assigned and restored");
        self.update_gauges();
        self.health.set_ready(true);
        Ok(())
    }

    /// Restores the event tables of these input partitions (with the version each is
    /// re-announced at) from the events' changelog: all partitions in one read, each partition's
    /// records applied (and its state re-announced) in parallel with the others'.
    fn restore_inputs(&mut self, versions: &[(i32, i64)]) -> Result<(), AnalyticsError> {
        if versions.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let retention_us = self.cfg.retention.as_micros() as i64;
        let mut tables: BTreeMap<i32, EventTable> = versions
            .iter()
            .map(|(p, _)| (*p, EventTable::new(retention_us)))
            .collect();
        let topic = self.topics.events_changelog.clone();
        let n = read_to_end(
            &self.restorer,
            &topic,
            &mut tables,
            self.cfg.restore_timeout,
            |t, k, v| t.restore(k, v).map_err(|e| e.to_string()),
        )?;
        let processors = &self.processors;
        let restored: Vec<(i32, i64, EventTable)> = versions
            .iter()
            .filter_map(|&(p, version)| tables.remove(&p).map(|t| (p, version, t)))
            .collect();
        let tasks: Vec<(i32, InputTask)> = restored
            .into_par_iter()
            .map(|(p, version, table)| {
                let mut locals: Vec<Box<dyn LocalTask>> = processors.iter().map(|pr| pr.local(p)).collect();
                // Re-announce the whole restored state: the global tasks keep the latest share
                // per source and version, so this is harmless if they had it, and repairs them
                // if a transaction they saw (on a broker that does not hide aborted ones) was
                // never committed.
                for (unid, ev) in table.iter() {
                    for l in &mut locals {
                        l.on_change(unid, None, Some(ev));
                    }
                }
                let task = InputTask {
                    table,
                    locals,
                    version,
                    next_offset: None,
                };
                (p, task)
            })
            .collect();
        for (p, task) in tasks {
            tracing::info!(topic = %topic, partition = p, events = task.table.len(), version = task.version,
                "event table restored");
            self.inputs.insert(p, task);
        }
        let elapsed = started.elapsed();
        self.metrics.restored.with_label_values(&["events"]).inc_by(n);
        self.metrics.restore_seconds.observe(elapsed.as_secs_f64());
        self.report.restored_records += n;
        tracing::info!(topic = %topic, partitions = versions.len(), records = n,
            ms = elapsed.as_millis() as u64, "event tables restored");
        Ok(())
    }

    /// Restores processor `i`'s global tasks of these repartition partitions from its
    /// changelog: all partitions in one read, each partition's records applied in parallel with
    /// the others'.
    fn restore_globals(&mut self, i: usize, partitions: &[i32]) -> Result<(), AnalyticsError> {
        if partitions.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let mut tasks: BTreeMap<i32, Box<dyn GlobalTask>> =
            partitions.iter().map(|q| (*q, self.processors[i].global(*q))).collect();
        let topic = self.topics.changelog[i].clone();
        let n = read_to_end(
            &self.restorer,
            &topic,
            &mut tasks,
            self.cfg.restore_timeout,
            |t, k, v| t.restore(k, v).map_err(|e| e.to_string()),
        )?;
        tasks.par_iter_mut().for_each(|(_, t)| t.restored());
        for (q, task) in tasks {
            tracing::info!(topic = %topic, partition = q, entries = task.entries(), "processor state restored");
            self.globals.insert(
                (i, q),
                GlobalSlot {
                    task,
                    next_offset: None,
                },
            );
        }
        let elapsed = started.elapsed();
        let name = self.processors[i].name();
        self.metrics.restored.with_label_values(&[name]).inc_by(n);
        self.metrics.restore_seconds.observe(elapsed.as_secs_f64());
        self.report.restored_records += n;
        tracing::info!(topic = %topic, partitions = partitions.len(), records = n,
            ms = elapsed.as_millis() as u64, "processor states restored");
        Ok(())
    }
}

/// Records taken from the restore consumer's queue before they are applied.
const RESTORE_BATCH: usize = 16_384;

/// Reads the partitions of `topic` that `states` holds from the beginning to their ends
/// (read-committed: to the last stable offset), all at once, applying each record to its
/// partition's state; the partitions of a batch are applied in parallel, each in offset order.
/// Returns how many records were applied.
fn read_to_end<T: Send>(
    restorer: &BaseConsumer,
    topic: &str,
    states: &mut BTreeMap<i32, T>,
    timeout: Duration,
    apply: impl Fn(&mut T, &[u8], Option<&[u8]>) -> Result<(), String> + Sync,
) -> Result<u64, AnalyticsError> {
    let fail = |partition: i32, problem: String| AnalyticsError::Restore {
        topic: topic.to_owned(),
        partition,
        problem,
    };
    let mut tpl = TopicPartitionList::new();
    for &p in states.keys() {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .map_err(|e| fail(p, e.to_string()))?;
    }
    let first = states.keys().next().copied().unwrap_or(-1);
    restorer.assign(&tpl).map_err(|e| fail(first, e.to_string()))?;
    let res = read_assigned(restorer, topic, states, timeout, &apply, &fail);
    let _ = restorer.unassign();
    res
}

fn read_assigned<T: Send>(
    restorer: &BaseConsumer,
    topic: &str,
    states: &mut BTreeMap<i32, T>,
    timeout: Duration,
    apply: &(impl Fn(&mut T, &[u8], Option<&[u8]>) -> Result<(), String> + Sync),
    fail: &(impl Fn(i32, String) -> AnalyticsError + Sync),
) -> Result<u64, AnalyticsError> {
    let mut open: std::collections::BTreeSet<i32> = states.keys().copied().collect();
    let deadline = Instant::now() + timeout;
    let mut n = 0u64;
    let mut batch: Vec<BorrowedMessage<'_>> = Vec::with_capacity(RESTORE_BATCH);
    while let Some(&waiting) = open.first() {
        if Instant::now() >= deadline {
            let left = open.len();
            return Err(fail(
                waiting,
                format!("not read to its end within {timeout:?} ({left} partitions left)"),
            ));
        }
        let mut wait = POLL_SLICE;
        while batch.len() < RESTORE_BATCH && !open.is_empty() {
            match restorer.poll(wait) {
                Some(Ok(m)) if m.topic() == topic && open.contains(&m.partition()) => batch.push(m),
                Some(Ok(_)) => {}
                Some(Err(KafkaError::PartitionEOF(p))) => {
                    open.remove(&p);
                }
                Some(Err(e)) => tracing::warn!(topic, error = %e, "restore consumer error"),
                None => break,
            }
            wait = Duration::ZERO;
        }
        n += apply_batch(topic, states, &batch, apply, fail)?;
        batch.clear();
    }
    Ok(n)
}

/// Applies a batch of changelog records to their partitions' states: the partitions in
/// parallel, each in offset order. Returns how many were applied (records without a key are
/// skipped, with a warning).
fn apply_batch<T: Send>(
    topic: &str,
    states: &mut BTreeMap<i32, T>,
    batch: &[BorrowedMessage<'_>],
    apply: &(impl Fn(&mut T, &[u8], Option<&[u8]>) -> Result<(), String> + Sync),
    fail: &(impl Fn(i32, String) -> AnalyticsError + Sync),
) -> Result<u64, AnalyticsError> {
    let mut by_partition: BTreeMap<i32, Vec<&BorrowedMessage<'_>>> = BTreeMap::new();
    for m in batch {
        by_partition.entry(m.partition()).or_default().push(m);
    }
    let applied: Vec<u64> = states
        .par_iter_mut()
        .filter_map(|(p, state)| by_partition.get(p).map(|ms| (*p, state, ms)))
        .map(|(p, state, ms)| {
            let mut k = 0u64;
            for m in ms {
                let Some(key) = m.key() else {
                    tracing::warn!(
                        topic,
                        partition = p,
                        offset = m.offset(),
                        "changelog record without a key; skipped"
                    );
                    continue;
                };
                apply(state, key, m.payload())
                    .map_err(|problem| fail(p, format!("offset {}: {problem}", m.offset())))?;
                k += 1;
            }
            Ok(k)
        })
        .collect::<Result<_, AnalyticsError>>()?;
    Ok(applied.iter().sum())
}
