//! `quakestream consumer`: the `quakes` topic into DynamoDB. Nothing lost, nothing duplicated,
//! the newest revision wins.
//!
//! - An rdkafka consumer group. Each record is a conditional upsert ([`quakestream_store::Store::upsert`]):
//!   duplicates, replays and out-of-order revisions are harmless; stale ones are counted.
//! - Parallel writes within partition ordering: records are spread over `concurrency` lanes by a
//!   hash of their key, each lane writes in order, so the revisions of one event are applied in
//!   the order of the partition while different events are written concurrently.
//! - Offsets are stored (and auto-committed) only up to the first record not yet written
//!   (`enable.auto.offset.store=false`): at-least-once delivery, an exactly-once effect.
//! - Store failures (throttling, 5xx, timeouts, connection errors, also a missing table or
//!   credentials) are retried with capped exponential backoff and never dropped; while the store
//!   fails, every partition is paused (the group membership is kept alive) and it resumes by itself.
//! - Records that cannot be decoded (or that DynamoDB rejects as invalid) go to the dead-letter
//!   topic with the reason, and the consumer goes on.

pub mod cli;
pub mod metrics;

pub use metrics::ConsumerMetrics;

use backon::{BackoffBuilder, ExponentialBuilder};
use quakestream_core::kafka::send_dead_letter;
use quakestream_core::ops::Health;
use quakestream_core::wire::WireRecord;
use quakestream_store::{Store, UpsertOutcome};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::FutureProducer;
use rdkafka::{ClientConfig, ClientContext, Offset, TopicPartitionList};
use std::collections::{BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

/// The stage name written in the `qs-stage` header of dead letters.
pub const DLQ_STAGE: &str = "consumer";

#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    pub bootstrap_servers: String,
    pub topic: String,
    pub dlq_topic: String,
    pub group_id: String,
    /// Parallel writers (lanes). Records with the same key always use the same lane.
    pub concurrency: usize,
    /// Records accepted from Kafka and not yet written, at most.
    pub max_in_flight: usize,
    /// How often stored offsets are committed (`auto.commit.interval.ms`).
    pub commit_interval: Duration,
    /// How often the lag gauges are refreshed.
    pub lag_interval: Duration,
    /// Backoff of store retries: first delay, and the cap.
    pub retry_min: Duration,
    pub retry_max: Duration,
    /// On shutdown, how long in-flight writes may take before they are abandoned (not committed).
    pub drain_timeout: Duration,
    /// Extra librdkafka settings (e.g. `session.timeout.ms`).
    pub kafka_overrides: Vec<(String, String)>,
    /// Encryption and authentication of the consumer and the dead-letter producer.
    pub kafka_security: quakestream_core::kafka_security::KafkaSecurity,
}

impl ConsumerConfig {
    pub fn new(bootstrap_servers: &str, topic: &str, dlq_topic: &str, group_id: &str) -> Self {
        ConsumerConfig {
            bootstrap_servers: bootstrap_servers.to_owned(),
            topic: topic.to_owned(),
            dlq_topic: dlq_topic.to_owned(),
            group_id: group_id.to_owned(),
            concurrency: 64,
            max_in_flight: 4096,
            commit_interval: Duration::from_secs(1),
            lag_interval: Duration::from_secs(5),
            retry_min: Duration::from_millis(100),
            retry_max: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(15),
            kafka_overrides: Vec::new(),
            kafka_security: quakestream_core::kafka_security::KafkaSecurity::plaintext(),
        }
    }
}

/// Totals of one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConsumerReport {
    pub consumed: u64,
    pub written: u64,
    pub stale: u64,
    pub dead_lettered: u64,
    /// In-flight records abandoned at shutdown (not committed; they are read again next time).
    pub abandoned: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    #[error("Kafka: {0}")]
    Kafka(#[from] KafkaError),
}

/// Per-partition bookkeeping: which offsets are in flight, what may be committed.
#[derive(Debug, Default)]
struct Tracker {
    in_flight: BTreeSet<i64>,
    /// One past the highest offset dispatched.
    next: i64,
    /// The offset last handed to `store_offsets`.
    stored: i64,
}

impl Tracker {
    fn committable(&self) -> i64 {
        self.in_flight.first().copied().unwrap_or(self.next)
    }
}

type Trackers = Arc<Mutex<HashMap<i32, Tracker>>>;

/// Rebalance hooks: before partitions are revoked, store how far they were written (librdkafka
/// then commits that), and forget them.
struct Ctx {
    topic: String,
    trackers: Trackers,
    assignment_changes: Arc<AtomicU64>,
}

impl ClientContext for Ctx {}

impl ConsumerContext for Ctx {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            let mut trackers = self.trackers.lock().unwrap();
            let mut store = TopicPartitionList::new();
            for e in tpl.elements() {
                if let Some(t) = trackers.remove(&e.partition())
                    && t.committable() > t.stored
                {
                    let _ = store.add_partition_offset(&self.topic, e.partition(), Offset::Offset(t.committable()));
                }
            }
            if store.count() > 0 {
                let _ = consumer.store_offsets(&store);
            }
            tracing::info!(partitions = tpl.count(), "partitions revoked");
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                let parts: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
                tracing::info!(?parts, "partitions assigned");
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(e) => tracing::warn!(error = %e, "rebalance error"),
        }
        self.assignment_changes.fetch_add(1, Ordering::Relaxed);
    }

    fn commit_callback(&self, result: rdkafka::error::KafkaResult<()>, _offsets: &TopicPartitionList) {
        if let Err(e) = result {
            // "No offset stored" is routine when nothing new was written.
            if !matches!(
                e,
                KafkaError::ConsumerCommit(rdkafka::types::RDKafkaErrorCode::NoOffset)
            ) {
                tracing::warn!(error = %e, "offset commit failed");
            }
        }
    }
}

type KConsumer = StreamConsumer<Ctx>;

struct Job {
    partition: i32,
    offset: i64,
    key: Option<Vec<u8>>,
    payload: Option<Vec<u8>>,
}

struct Shared {
    store: Store,
    metrics: ConsumerMetrics,
    dlq: FutureProducer,
    dlq_topic: String,
    /// Set by a lane whose store call failed (not record-specific), cleared by the next success.
    store_down: AtomicBool,
    retry_min: Duration,
    retry_max: Duration,
    dead_lettered: AtomicU64,
}

impl Shared {
    fn backoff(&self) -> impl Iterator<Item = Duration> {
        ExponentialBuilder::default()
            .with_min_delay(self.retry_min)
            .with_max_delay(self.retry_max)
            .with_jitter()
            .without_max_times()
            .build()
    }

    /// Writes one record, retrying until it is written, stale, or dead-lettered.
    async fn process(&self, job: &Job) {
        let rec = match WireRecord::decode(job.key.as_deref(), job.payload.as_deref()) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(partition = job.partition, offset = job.offset, reason = e.reason(), error = %e,
                    "undecodable record; sending it to the dead-letter topic");
                return self.dead_letter(job, e.reason(), &e.to_string()).await;
            }
        };
        let unid = rec.quake.unid.as_str();
        let mut backoff = self.backoff();
        loop {
            let t0 = Instant::now();
            match self.store.upsert(&rec).await {
                Ok(outcome) => {
                    self.metrics.write_latency.observe(t0.elapsed().as_secs_f64());
                    if self.store_down.swap(false, Ordering::Relaxed) {
                        tracing::info!(unid, "store reachable again");
                    }
                    match outcome {
                        UpsertOutcome::Applied => self.metrics.written.inc(),
                        UpsertOutcome::Stale => self.metrics.stale.inc(),
                    }
                    tracing::debug!(unid, lastupdate = %rec.quake.lastupdate, ?outcome, "upserted");
                    return;
                }
                Err(e) if e.is_record_specific() => {
                    tracing::warn!(unid, error = %e, "the store rejected the record; sending it to the dead-letter topic");
                    return self.dead_letter(job, "store_rejected", &e.to_string()).await;
                }
                Err(e) => {
                    self.metrics.retries.with_label_values(&[e.label()]).inc();
                    if !self.store_down.swap(true, Ordering::Relaxed) {
                        tracing::warn!(unid, error = %e, transient = e.is_transient(), "store write failed; pausing and retrying");
                    } else {
                        tracing::debug!(unid, error = %e, "store write failed again");
                    }
                    tokio::time::sleep(backoff.next().unwrap_or(self.retry_max)).await;
                }
            }
        }
    }

    async fn dead_letter(&self, job: &Job, reason: &str, error: &str) {
        let mut backoff = self.backoff();
        // Whole up to MAX_ITEM_BYTES, a prefix with length and SHA-256 beyond (a record on the
        // topic is at most MAX_MESSAGE_BYTES, so it always fits the dead-letter topic).
        let raw = quakestream_core::parse::Raw::of(job.payload.as_deref().unwrap_or_default());
        loop {
            match send_dead_letter(
                &self.dlq,
                &self.dlq_topic,
                DLQ_STAGE,
                reason,
                error,
                job.key.as_deref(),
                &raw,
            )
            .await
            {
                Ok(()) => {
                    self.metrics.dlq.with_label_values(&[reason]).inc();
                    self.dead_lettered.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Err(e) => {
                    self.metrics.retries.with_label_values(&["dlq"]).inc();
                    tracing::warn!(error = %e, "dead-letter send failed; retrying");
                    tokio::time::sleep(backoff.next().unwrap_or(self.retry_max)).await;
                }
            }
        }
    }
}

fn lane_of(job: &Job, lanes: usize) -> usize {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    match &job.key {
        Some(k) => k.hash(&mut h),
        None => (job.partition, job.offset).hash(&mut h),
    }
    (h.finish() % lanes as u64) as usize
}

fn create_consumer(cfg: &ConsumerConfig, ctx: Ctx) -> Result<KConsumer, KafkaError> {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &cfg.bootstrap_servers)
        .set("group.id", &cfg.group_id)
        .set("client.id", "quakestream-consumer")
        .set("enable.auto.commit", "true")
        .set("enable.auto.offset.store", "false")
        .set(
            "auto.commit.interval.ms",
            cfg.commit_interval.as_millis().max(1).to_string(),
        )
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        // At least one whole record of the largest size the topics allow per partition fetch.
        .set(
            "max.partition.fetch.bytes",
            quakestream_core::kafka::MAX_MESSAGE_BYTES.to_string(),
        );
    cfg.kafka_security.apply(&mut c);
    for (k, v) in &cfg.kafka_overrides {
        c.set(k, v);
    }
    c.create_with_context(ctx)
}

/// Consumes until `stop` turns true, then finishes (or, after `drain_timeout`, abandons) the
/// in-flight writes and commits how far it got.
pub async fn run(
    cfg: ConsumerConfig,
    store: Store,
    metrics: ConsumerMetrics,
    health: Health,
    mut stop: watch::Receiver<bool>,
) -> Result<ConsumerReport, ConsumerError> {
    let trackers: Trackers = Arc::default();
    let assignment_changes = Arc::new(AtomicU64::new(0));
    let ctx = Ctx {
        topic: cfg.topic.clone(),
        trackers: trackers.clone(),
        assignment_changes: assignment_changes.clone(),
    };
    let consumer = Arc::new(create_consumer(&cfg, ctx)?);
    consumer.subscribe(&[&cfg.topic])?;
    let shared = Arc::new(Shared {
        store,
        metrics: metrics.clone(),
        dlq: quakestream_core::kafka::create_secured_producer(&cfg.bootstrap_servers, &cfg.kafka_security)?,
        dlq_topic: cfg.dlq_topic.clone(),
        store_down: AtomicBool::new(false),
        retry_min: cfg.retry_min,
        retry_max: cfg.retry_max,
        dead_lettered: AtomicU64::new(0),
    });

    // Lanes: each writes its records in order and reports them done.
    let lanes = cfg.concurrency.max(1);
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(i32, i64)>();
    let mut workers = JoinSet::new();
    let mut lane_tx = Vec::with_capacity(lanes);
    for _ in 0..lanes {
        let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
        lane_tx.push(tx);
        let shared = shared.clone();
        let done_tx = done_tx.clone();
        workers.spawn(async move {
            while let Some(job) = rx.recv().await {
                shared.process(&job).await;
                let _ = done_tx.send((job.partition, job.offset));
            }
        });
    }
    drop(done_tx);

    // Lag: high watermark minus the committable offset, per assigned partition. Stopped and
    // awaited before this returns, so no clone of the consumer outlives the run (a group
    // consumer dropped after its broker is gone polls forever while closing).
    let (lag_stop, lag_stopped) = watch::channel(false);
    let lag_task = tokio::spawn(lag_loop(
        consumer.clone(),
        trackers.clone(),
        metrics.clone(),
        cfg.topic.clone(),
        cfg.lag_interval,
        lag_stopped,
    ));

    let mut report = ConsumerReport::default();
    let mut in_flight: usize = 0;
    let mut paused = false;
    let mut paused_at_change = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    health.set_ready(true);
    tracing::info!(topic = %cfg.topic, group = %cfg.group_id, lanes, "consumer started");

    let on_done = |p: i32, o: i64, in_flight: &mut usize, trackers: &Trackers| {
        *in_flight -= 1;
        if let Some(t) = trackers.lock().unwrap().get_mut(&p) {
            t.in_flight.remove(&o);
        }
    };

    loop {
        let down = shared.store_down.load(Ordering::Relaxed);
        if down && !paused {
            set_paused(&consumer, true);
            paused = true;
            paused_at_change = assignment_changes.load(Ordering::Relaxed);
            metrics.paused.set(1);
            health.set_ready(false);
        } else if down && paused && assignment_changes.load(Ordering::Relaxed) != paused_at_change {
            // New partitions arrived while paused: pause them too.
            set_paused(&consumer, true);
            paused_at_change = assignment_changes.load(Ordering::Relaxed);
        } else if !down && paused {
            set_paused(&consumer, false);
            paused = false;
            metrics.paused.set(0);
            health.set_ready(true);
            tracing::info!("consumption resumed");
        }
        tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => break,
            Some((p, o)) = done_rx.recv() => {
                on_done(p, o, &mut in_flight, &trackers);
                while let Ok((p, o)) = done_rx.try_recv() {
                    on_done(p, o, &mut in_flight, &trackers);
                }
                store_offsets(&consumer, &cfg.topic, &trackers);
            }
            // Keep polling while paused (group membership, rebalances); stop taking records when full.
            msg = consumer.recv(), if paused || in_flight < cfg.max_in_flight => {
                let msg = match msg {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::warn!(error = %e, "Kafka consumer error");
                        continue;
                    }
                };
                metrics.consumed.inc();
                metrics.kafka.fetched(&cfg.topic, msg.key(), msg.payload());
                report.consumed += 1;
                let job = Job {
                    partition: msg.partition(),
                    offset: msg.offset(),
                    key: msg.key().map(<[u8]>::to_vec),
                    payload: msg.payload().map(<[u8]>::to_vec),
                };
                drop(msg);
                {
                    let mut tr = trackers.lock().unwrap();
                    let t = tr.entry(job.partition).or_insert_with(|| Tracker { stored: job.offset, ..Default::default() });
                    t.in_flight.insert(job.offset);
                    t.next = t.next.max(job.offset + 1);
                }
                in_flight += 1;
                let lane = lane_of(&job, lanes);
                let _ = lane_tx[lane].send(job);
            }
            _ = tick.tick() => {}
        }
        metrics.in_flight.set(in_flight as i64);
    }

    // Shutdown: finish what is in flight (bounded), then commit exactly how far it got.
    health.set_ready(false);
    tracing::info!(in_flight, "consumer stopping; draining in-flight writes");
    drop(lane_tx);
    let deadline = tokio::time::Instant::now() + cfg.drain_timeout;
    while in_flight > 0 {
        match tokio::time::timeout_at(deadline, done_rx.recv()).await {
            Ok(Some((p, o))) => on_done(p, o, &mut in_flight, &trackers),
            Ok(None) | Err(_) => break,
        }
    }
    workers.abort_all();
    while workers.join_next().await.is_some() {}
    report.abandoned = in_flight as u64;
    metrics.in_flight.set(0);
    let _ = lag_stop.send(true);
    let _ = lag_task.await;
    store_offsets(&consumer, &cfg.topic, &trackers);
    let final_tpl = committable_tpl(&cfg.topic, &trackers);
    if final_tpl.count() > 0 {
        let c = consumer.clone();
        let res = tokio::task::spawn_blocking(move || c.commit(&final_tpl, CommitMode::Sync)).await;
        if let Ok(Err(e)) = res {
            tracing::warn!(error = %e, "final offset commit failed (the records will be read again)");
        }
    }
    report.written = metrics.written.get();
    report.stale = metrics.stale.get();
    report.dead_lettered = shared.dead_lettered.load(Ordering::Relaxed);
    tracing::info!(
        consumed = report.consumed,
        abandoned = report.abandoned,
        "consumer stopped"
    );
    Ok(report)
}

fn set_paused(consumer: &KConsumer, pause: bool) {
    let Ok(assignment) = consumer.assignment() else { return };
    if assignment.count() == 0 {
        return;
    }
    let res = if pause {
        consumer.pause(&assignment)
    } else {
        consumer.resume(&assignment)
    };
    match res {
        Ok(()) if pause => tracing::warn!(partitions = assignment.count(), "store failing: consumption paused"),
        Ok(()) => {}
        Err(e) => tracing::warn!(error = %e, pause, "pause/resume failed"),
    }
}

fn committable_tpl(topic: &str, trackers: &Trackers) -> TopicPartitionList {
    let tr = trackers.lock().unwrap();
    let mut tpl = TopicPartitionList::new();
    for (p, t) in tr.iter() {
        if t.next > 0 {
            let _ = tpl.add_partition_offset(topic, *p, Offset::Offset(t.committable()));
        }
    }
    tpl
}

/// Hands librdkafka the offsets up to which every record is written (it commits them).
fn store_offsets(consumer: &KConsumer, topic: &str, trackers: &Trackers) {
    let mut tr = trackers.lock().unwrap();
    let mut tpl = TopicPartitionList::new();
    for (p, t) in tr.iter_mut() {
        let c = t.committable();
        if c > t.stored {
            let _ = tpl.add_partition_offset(topic, *p, Offset::Offset(c));
            t.stored = c;
        }
    }
    drop(tr);
    if tpl.count() > 0
        && let Err(e) = consumer.store_offsets(&tpl)
    {
        // A partition revoked meanwhile: its new owner reads those records again (harmless).
        tracing::debug!(error = %e, "storing offsets failed");
    }
}

async fn lag_loop(
    consumer: Arc<KConsumer>,
    trackers: Trackers,
    metrics: ConsumerMetrics,
    topic: String,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        // Awaited whole (a blocking call cannot be cancelled): the clone it holds is dropped
        // before the next stop check.
        let c = consumer.clone();
        let tr = trackers.clone();
        let topic2 = topic.clone();
        let lags = tokio::task::spawn_blocking(move || compute_lag(&c, &tr, &topic2)).await;
        if let Ok(Ok(lags)) = lags {
            metrics.lag.reset();
            for (p, lag) in lags {
                metrics
                    .lag
                    .with_label_values(&[topic.as_str(), &p.to_string()])
                    .set(lag);
            }
        }
    }
}

fn compute_lag(consumer: &KConsumer, trackers: &Trackers, topic: &str) -> Result<Vec<(i32, i64)>, KafkaError> {
    let assignment = consumer.assignment()?;
    let mut untracked = TopicPartitionList::new();
    let mut out = Vec::new();
    let mut highs = HashMap::new();
    for e in assignment.elements() {
        let (low, high) = consumer.fetch_watermarks(topic, e.partition(), Duration::from_secs(5))?;
        highs.insert(e.partition(), (low, high));
        let pos = trackers.lock().unwrap().get(&e.partition()).map(Tracker::committable);
        match pos {
            Some(pos) => out.push((e.partition(), (high - pos).max(0))),
            None => {
                let _ = untracked.add_partition(topic, e.partition());
            }
        }
    }
    if untracked.count() > 0 {
        let committed = consumer.committed_offsets(untracked, Duration::from_secs(5))?;
        for e in committed.elements() {
            let (low, high) = highs[&e.partition()];
            let base = match e.offset() {
                Offset::Offset(o) => o,
                _ => low,
            };
            out.push((e.partition(), (high - base).max(0)));
        }
    }
    Ok(out)
}
