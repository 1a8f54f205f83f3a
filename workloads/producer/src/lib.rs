//! `quakestream producer`: every input (live frames, FDSN backfill pages, replayed files) goes
//! through one [`Pipeline`] task that deduplicates, publishes to `quakes` with the idempotent
//! producer, and sends what it cannot use to `quakes.dlq`.

pub mod demo;
pub mod inspect;
pub mod live;
pub mod metrics;
pub mod replay;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use quakestream_core::kafka;
use quakestream_core::model::fmt_time;
use quakestream_core::parse::{Item, Raw, RejectReason};
use quakestream_core::wire::{Action, WireRecord};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::collections::{HashSet, VecDeque};
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tracing::{debug, error, info, warn};

pub use metrics::ProducerMetrics;

/// Where an input came from; it decides the log level and the metrics it counts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Live,
    Backfill,
    Replay,
    /// The re-enactment of a recording ([`demo`]).
    Demo,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Live => "live",
            Origin::Backfill => "backfill",
            Origin::Replay => "replay",
            Origin::Demo => "demo",
        }
    }
}

/// One parsed input on its way to Kafka, with the raw bytes of a reject kept for the
/// dead-letter topic (empty for accepted inputs).
#[derive(Debug)]
pub struct Input {
    pub origin: Origin,
    pub result: Result<Item, RejectReason>,
    pub raw: Raw,
    pub received_at: DateTime<Utc>,
}

/// The newest `lastupdate` read from the feed (websocket or backfill), from which the next
/// backfill starts (µs since epoch). Sources update it as they read, before the pipeline runs,
/// so a disconnect right after a burst still knows what the burst held.
#[derive(Clone, Default)]
pub struct Watermark(Arc<AtomicI64>);

impl Watermark {
    /// Moves the watermark to `t` if it is later, unless `t` is an impossible time (before
    /// 1900 or beyond this machine's clock plus [`quakestream_core::model::MAX_CLOCK_SKEW`]):
    /// one such value would otherwise hold the watermark there and stop every later backfill.
    pub fn observe(&self, t: DateTime<Utc>) {
        if quakestream_core::model::check_time("lastupdate", t, Utc::now()).is_err() {
            return;
        }
        self.0.fetch_max(t.timestamp_micros(), Ordering::Relaxed);
    }
    pub fn get(&self) -> Option<DateTime<Utc>> {
        match self.0.load(Ordering::Relaxed) {
            0 => None,
            us => DateTime::from_timestamp_micros(us),
        }
    }
}

/// Remembers the (unid, lastupdate) pairs already sent, up to `cap` of them (oldest forgotten
/// first). A forgotten pair sent again is harmless: the consumer's write is conditional.
/// Pairs are kept as 64-bit SipHash fingerprints with a per-process random key (about 24 bytes
/// each instead of the strings): a false "already sent" needs a collision, about n²/2⁶⁵.
pub struct Dedup {
    seen: HashSet<u64>,
    order: VecDeque<u64>,
    cap: usize,
    hasher: std::hash::RandomState,
}

impl Dedup {
    pub fn new(cap: usize) -> Self {
        Dedup {
            seen: HashSet::new(),
            order: VecDeque::new(),
            cap: cap.max(1),
            hasher: std::hash::RandomState::new(),
        }
    }
    /// True if the pair is new (and now remembered).
    pub fn insert(&mut self, unid: &str, lastupdate: DateTime<Utc>) -> bool {
        let key = self.hasher.hash_one((unid, lastupdate.timestamp_micros()));
        if !self.seen.insert(key) {
            return false;
        }
        if self.order.len() >= self.cap
            && let Some(old) = self.order.pop_front()
        {
            self.seen.remove(&old);
        }
        self.order.push_back(key);
        true
    }
    pub fn len(&self) -> usize {
        self.order.len()
    }
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[derive(Debug, Clone)]
pub struct PipelineConfig {
    pub topic: String,
    pub dlq_topic: String,
    /// Records handed to librdkafka and not yet acknowledged, at most.
    pub max_in_flight: usize,
    pub dedup_capacity: usize,
    /// How long shutdown waits for acknowledgements.
    pub flush_timeout: Duration,
    /// Extra librdkafka settings of the producer (e.g. `linger.ms` for `dev`'s low latency).
    pub kafka_overrides: Vec<(String, String)>,
    /// Encryption and authentication of the Kafka producer.
    pub kafka_security: quakestream_core::kafka_security::KafkaSecurity,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            topic: quakestream_core::wire::DEFAULT_TOPIC.into(),
            dlq_topic: quakestream_core::wire::DEFAULT_DLQ_TOPIC.into(),
            max_in_flight: 8_192,
            dedup_capacity: 200_000,
            flush_timeout: Duration::from_secs(30),
            kafka_overrides: Vec::new(),
            kafka_security: quakestream_core::kafka_security::KafkaSecurity::plaintext(),
        }
    }
}

/// What the pipeline did, returned when its input channel closes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PipelineReport {
    pub published: u64,
    pub duplicates: u64,
    pub dead_lettered: u64,
    pub unknown_actions: u64,
    /// Records that could not be delivered before shutdown gave up (logged with their unid).
    pub undelivered: u64,
}

enum Outcome {
    Published {
        unid: Arc<str>,
        origin: Origin,
        action: Action,
        source: &'static str,
        started: Instant,
    },
    PublishFailed {
        unid: Arc<str>,
        origin: Origin,
        action: Action,
        source: &'static str,
        payload: Vec<u8>,
        error: KafkaError,
    },
    DeadLettered,
    DeadLetterFailed {
        error: KafkaError,
    },
}

pub struct Pipeline {
    producer: FutureProducer,
    cfg: PipelineConfig,
    metrics: ProducerMetrics,
    dedup: Dedup,
    in_flight: FuturesUnordered<BoxFuture<'static, Outcome>>,
    report: PipelineReport,
}

impl Pipeline {
    pub fn new(producer: FutureProducer, cfg: PipelineConfig, metrics: ProducerMetrics) -> Self {
        let dedup = Dedup::new(cfg.dedup_capacity);
        Pipeline {
            producer,
            cfg,
            metrics,
            dedup,
            in_flight: FuturesUnordered::new(),
            report: Default::default(),
        }
    }

    /// Runs until `rx` closes (every source has finished or stopped), then waits for the
    /// acknowledgement of everything sent.
    pub async fn run(mut self, mut rx: mpsc::Receiver<Input>) -> PipelineReport {
        loop {
            tokio::select! {
                Some(outcome) = self.in_flight.next(), if !self.in_flight.is_empty() => self.settle(outcome),
                input = rx.recv(), if self.in_flight.len() < self.cfg.max_in_flight => match input {
                    Some(input) => self.accept(input).await,
                    None => break,
                },
            }
        }
        self.drain().await;
        self.report
    }

    async fn drain(&mut self) {
        let deadline = tokio::time::Instant::now() + self.cfg.flush_timeout;
        let pending = self.in_flight.len();
        if pending > 0 {
            info!(pending, "waiting for Kafka to acknowledge in-flight records");
        }
        while !self.in_flight.is_empty() {
            match tokio::time::timeout_at(deadline, self.in_flight.next()).await {
                Ok(Some(Outcome::PublishFailed { unid, error, .. })) => {
                    // Shutting down: report it rather than retry past the deadline.
                    error!(unid = &*unid, %error, "record not delivered before shutdown");
                    self.report.undelivered += 1;
                    self.metrics.undelivered.inc();
                }
                Ok(Some(outcome)) => self.settle(outcome),
                Ok(None) => break,
                Err(_) => {
                    let n = self.in_flight.len() as u64;
                    error!(undelivered = n, "flush timeout: records not acknowledged by Kafka");
                    self.report.undelivered += n;
                    self.metrics.undelivered.inc_by(n);
                    break;
                }
            }
        }
        let _ = kafka::flush(&self.producer, Duration::from_secs(1));
    }

    async fn accept(&mut self, input: Input) {
        let Input {
            origin,
            result,
            raw,
            received_at,
        } = input;
        match result {
            Ok(Item::Event { action, quake }) => {
                if origin == Origin::Backfill {
                    self.metrics.backfilled.inc();
                }
                if !self.dedup.insert(&quake.unid, quake.lastupdate) {
                    self.report.duplicates += 1;
                    self.metrics.duplicates.inc();
                    debug!(unid = %quake.unid, lastupdate = %fmt_time(&quake.lastupdate), origin = origin.as_str(), "already sent; skipped");
                    return;
                }
                let rec = WireRecord::new(action, quake, received_at);
                let unid: Arc<str> = rec.quake.unid.as_str().into();
                let source = rec.quake.source.as_str();
                if origin == Origin::Replay {
                    debug!(unid = &*unid, action = action.as_str(), source, "publishing");
                } else {
                    info!(unid = &*unid, action = action.as_str(), source, origin = origin.as_str(),
                        mag = rec.quake.mag, region = rec.quake.region.as_deref(),
                        lastupdate = %fmt_time(&rec.quake.lastupdate), "publishing");
                }
                self.send(unid, origin, action, source, rec.to_json()).await;
            }
            Ok(Item::UnknownAction { action, unid }) => {
                self.report.unknown_actions += 1;
                self.metrics.unknown_actions.inc();
                warn!(unid = unid.as_deref().unwrap_or(""), action = %action, origin = origin.as_str(), "unknown action; skipped");
            }
            Err(reason) => {
                self.report.dead_lettered += 1;
                self.metrics.rejected.with_label_values(&[reason.code()]).inc();
                if raw.truncated.is_some() {
                    self.metrics.dlq_truncated.inc();
                }
                warn!(origin = origin.as_str(), reason = reason.code(), error = %reason, bytes = raw.len(),
                    kept = raw.bytes.len(), "input rejected; sent to the dead-letter topic");
                let producer = self.producer.clone();
                let topic = self.cfg.dlq_topic.clone();
                self.in_flight.push(Box::pin(async move {
                    let code = reason.code();
                    match kafka::send_dead_letter(&producer, &topic, "producer", code, &reason.to_string(), None, &raw)
                        .await
                    {
                        Ok(()) => Outcome::DeadLettered,
                        Err(error) => Outcome::DeadLetterFailed { error },
                    }
                }));
            }
        }
    }

    /// Hands a record to librdkafka, waiting for queue space if it is full.
    async fn send(&mut self, unid: Arc<str>, origin: Origin, action: Action, source: &'static str, payload: Vec<u8>) {
        let started = Instant::now();
        self.metrics
            .kafka
            .produced(&self.cfg.topic, Some(unid.as_bytes()), Some(&payload));
        loop {
            let record = FutureRecord::to(&self.cfg.topic)
                .key(unid.as_bytes())
                .payload(&payload)
                .headers(kafka::record_headers(action, source));
            match self.producer.send_result(record) {
                Ok(delivery) => {
                    self.in_flight.push(Box::pin(async move {
                        match delivery.await {
                            Ok(Ok(_)) => Outcome::Published {
                                unid,
                                origin,
                                action,
                                source,
                                started,
                            },
                            Ok(Err((error, _))) => Outcome::PublishFailed {
                                unid,
                                origin,
                                action,
                                source,
                                payload,
                                error,
                            },
                            Err(_) => Outcome::PublishFailed {
                                unid,
                                origin,
                                action,
                                source,
                                payload,
                                error: KafkaError::Canceled,
                            },
                        }
                    }));
                    return;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    // librdkafka's queue is full: let acknowledgements make room.
                    match self.in_flight.next().await {
                        Some(outcome) => self.settle(outcome),
                        None => tokio::time::sleep(Duration::from_millis(10)).await,
                    }
                }
                Err((error, _)) => {
                    error!(unid = &*unid, %error, "cannot enqueue record; retrying");
                    self.metrics.publish_errors.inc();
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }

    fn settle(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Published {
                unid,
                origin,
                action,
                source,
                started,
            } => {
                self.report.published += 1;
                self.metrics
                    .published
                    .with_label_values(&[action.as_str(), source])
                    .inc();
                self.metrics.publish_latency.observe(started.elapsed().as_secs_f64());
                if origin != Origin::Replay {
                    debug!(unid = &*unid, "acknowledged by Kafka");
                }
            }
            Outcome::PublishFailed {
                unid,
                origin,
                action,
                source,
                payload,
                error,
            } => {
                // librdkafka already retried until message.timeout.ms; try again rather than lose it.
                self.metrics.publish_errors.inc();
                error!(unid = &*unid, %error, "delivery failed; re-sending");
                let producer = self.producer.clone();
                let topic = self.cfg.topic.clone();
                self.in_flight.push(Box::pin(async move {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let started = Instant::now();
                    let record = FutureRecord::to(&topic)
                        .key(unid.as_bytes())
                        .payload(&payload)
                        .headers(kafka::record_headers(action, source));
                    match producer.send(record, Duration::from_secs(60)).await {
                        Ok(_) => Outcome::Published {
                            unid,
                            origin,
                            action,
                            source,
                            started,
                        },
                        Err((error, _)) => Outcome::PublishFailed {
                            unid,
                            origin,
                            action,
                            source,
                            payload,
                            error,
                        },
                    }
                }));
            }
            Outcome::DeadLettered => self.metrics.dead_lettered.inc(),
            Outcome::DeadLetterFailed { error } => {
                self.metrics.publish_errors.inc();
                error!(%error, "could not write to the dead-letter topic");
            }
        }
    }
}

/// Where the producer's events come from.
#[derive(Debug, Clone)]
pub enum SourceConfig {
    Live(live::LiveConfig),
    Replay(replay::ReplayConfig),
    /// A recording's history, then a paced re-enactment of it with fresh ids (offline `dev`).
    Demo(demo::DemoConfig),
}

/// Runs the producer until its source ends (a replay) or `shutdown` fires (the live feed), then
/// flushes: every record handed to Kafka is acknowledged or reported before this returns.
pub async fn run(
    bootstrap: &str,
    pipeline: PipelineConfig,
    source: SourceConfig,
    metrics: ProducerMetrics,
    health: quakestream_core::ops::Health,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<PipelineReport> {
    use anyhow::Context;
    let mut kcfg = kafka::producer_config(bootstrap);
    for (k, v) in &pipeline.kafka_overrides {
        kcfg.set(k, v);
    }
    let producer: FutureProducer = pipeline
        .kafka_security
        .apply(&mut kcfg)
        .create()
        .context("creating the Kafka producer")?;
    let (tx, rx) = mpsc::channel(1024);
    let pipeline_task = tokio::spawn(Pipeline::new(producer, pipeline, metrics.clone()).run(rx));
    match source {
        SourceConfig::Live(cfg) => live::run(cfg, tx, Watermark::default(), metrics, health, shutdown).await,
        SourceConfig::Replay(cfg) => {
            health.set_ready(true);
            let res = replay::run(cfg, tx, shutdown).await;
            if let Err(e) = res {
                // Let the pipeline finish what it has before reporting.
                let _ = pipeline_task.await;
                return Err(e.into());
            }
        }
        SourceConfig::Demo(cfg) => {
            health.set_ready(true);
            let res = demo::run(cfg, tx, shutdown).await;
            if let Err(e) = res {
                let _ = pipeline_task.await;
                return Err(e.into());
            }
        }
    }
    Ok(pipeline_task.await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedup_skips_repeats_and_forgets_the_oldest_beyond_its_cap() {
        let t = |s: i64| DateTime::from_timestamp(s, 0).unwrap();
        let mut d = Dedup::new(2);
        assert!(d.insert("a", t(1)));
        assert!(!d.insert("a", t(1)));
        assert!(d.insert("a", t(2)), "a new revision of the same event is new");
        assert!(d.insert("b", t(1)));
        assert_eq!(d.len(), 2);
        assert!(d.insert("a", t(1)), "the oldest pair was forgotten");
        assert!(!d.insert("b", t(1)));
    }

    #[test]
    fn the_watermark_ignores_impossible_times() {
        let w = Watermark::default();
        let real = Utc::now() - chrono::Duration::minutes(5);
        w.observe(real);
        let far = quakestream_core::model::parse_time("lastupdate", "9999-12-31T00:00:00Z").unwrap();
        w.observe(far);
        w.observe(Utc::now() + chrono::Duration::hours(2));
        w.observe(quakestream_core::model::parse_time("lastupdate", "1850-01-01T00:00:00Z").unwrap());
        assert_eq!(w.get(), Some(quakestream_core::model::to_micros(real)));
    }
}
