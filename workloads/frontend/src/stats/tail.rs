//! Tails `quake-stats` like `tail` tails `quakes`: every partition assigned by hand (no group,
//! nothing committed), but from the beginning (the topic is compacted: its latest record per key
//! is the current statistics) and read-committed (only results of committed transactions).
//!
//! Caught up = each partition's position has reached the high watermark it had when the tail
//! started. The position, not the last record's offset: on a real broker a transaction ends with
//! a commit marker that no consumer receives, so the last record is not at `high - 1`.

use super::{Stats, TailState, event_data};
use crate::State;
use crate::tail::{blocking, partitions_of};
use chrono::Utc;
use quakestream_core::kafka_security::KafkaSecurity;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How often positions are compared with the start's high watermarks while catching up.
const CATCH_UP_CHECK: Duration = Duration::from_millis(200);
/// Longest wait between two looks for a missing topic, and between two restarts of the tail.
const TOPIC_BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Runs the tail until `shutdown`, starting it again (with backoff) when it fails: the map does
/// not depend on the statistics, so a failing tail makes `/api/stats` a 503, not the replica dead.
pub async fn supervise(
    state: State,
    bootstrap: String,
    security: KafkaSecurity,
    topic: String,
    settled: watch::Sender<bool>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(500);
    loop {
        match run(&state, &bootstrap, &security, &topic, &settled, shutdown.clone()).await {
            Ok(()) => return,
            Err(e) => {
                state.stats.set_state(TailState::Loading);
                tracing::error!(%topic, error = format!("{e:#}"), "statistics tail failed; starting it again");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        backoff = (backoff * 2).min(TOPIC_BACKOFF_MAX);
    }
}

/// Runs until `shutdown`. Sends `true` on `settled` once the tail is caught up, or has found that
/// the topic does not exist (a cluster without analytics still serves the map; `/api/stats`
/// answers 503 until the topic appears and is read).
pub async fn run(
    state: &State,
    bootstrap: &str,
    security: &KafkaSecurity,
    topic: &str,
    settled: &watch::Sender<bool>,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let topic = topic.to_owned();
    let stats = state.stats.clone();
    let mut cfg = quakestream_analytics::reader::consumer_config(bootstrap);
    cfg.set("fetch.wait.max.ms", "50")
        .set("client.id", "quakestream-frontend-stats");
    let consumer: Arc<StreamConsumer> = Arc::new(security.apply(&mut cfg).create()?);
    let mut backoff = Duration::from_millis(200);
    let partitions = loop {
        let md = partitions_of(&consumer, &topic).await;
        let found: Vec<i32> = md.as_ref().cloned().unwrap_or_default();
        if !found.is_empty() {
            break found;
        }
        if md.is_ok() && stats.state() != TailState::NoTopic {
            tracing::warn!(%topic, "no statistics topic (is the analytics running?); /api/stats answers 503 until it exists");
            stats.set_state(TailState::NoTopic);
            let _ = settled.send(true);
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.wait_for(|s| *s) => return Ok(()),
        }
        backoff = (backoff * 2).min(TOPIC_BACKOFF_MAX);
    };
    stats.set_state(TailState::Loading);

    let mut assign = TopicPartitionList::new();
    let mut pending: HashMap<i32, i64> = HashMap::new();
    for p in &partitions {
        let (low, high) = blocking(&consumer, {
            let (t, p) = (topic.clone(), *p);
            move |c| c.fetch_watermarks(&t, p, Duration::from_secs(10))
        })
        .await?;
        assign.add_partition_offset(&topic, *p, Offset::Beginning)?;
        if low < high {
            pending.insert(*p, high);
        }
        tracing::info!(%topic, partition = p, low, high, "tailing statistics partition");
    }
    consumer.assign(&assign)?;
    let mut check = tokio::time::interval(CATCH_UP_CHECK);
    if pending.is_empty() {
        go_live(&stats, &topic, settled);
    }
    loop {
        tokio::select! {
            m = consumer.recv() => match m {
                Ok(msg) => {
                    state.metrics.kafka.fetched(&topic, msg.key(), msg.payload());
                    handle(state, &stats, msg.key(), msg.payload(), msg.partition(), msg.offset());
                }
                Err(e) => tracing::warn!(error = %e, "kafka consume error (statistics)"),
            },
            _ = check.tick(), if !pending.is_empty() => {
                if caught_up(&consumer, &topic, &mut pending) {
                    go_live(&stats, &topic, settled);
                }
            }
            _ = shutdown.wait_for(|s| *s) => break,
        }
    }
    Ok(())
}

fn go_live(stats: &Stats, topic: &str, settled: &watch::Sender<bool>) {
    stats.set_state(TailState::Live);
    stats.prune(Utc::now());
    tracing::info!(%topic, windows = stats.len(), "statistics tail caught up");
    let _ = settled.send(true);
}

/// Applies one record; once live, pushes the windows the page shows.
fn handle(state: &State, stats: &Stats, key: Option<&[u8]>, value: Option<&[u8]>, partition: i32, offset: i64) {
    match stats.apply(key, value) {
        Ok(held) => {
            stats.metrics.records.with_label_values(&["applied"]).inc();
            if stats.state() == TailState::Live && stats.is_shown(&held.key, Utc::now()) {
                state.hub.publish_other("stats", event_data(&held));
                stats.metrics.pushed.inc();
            }
        }
        Err(e) => {
            stats.metrics.records.with_label_values(&[e.reason()]).inc();
            let key = key.map(|k| String::from_utf8_lossy(k).into_owned()).unwrap_or_default();
            tracing::warn!(%key, partition, offset, error = %e, "undecodable statistics record skipped");
        }
    }
}

/// Drops the partitions whose position reached their mark; true when none is left.
fn caught_up(consumer: &StreamConsumer, topic: &str, pending: &mut HashMap<i32, i64>) -> bool {
    if let Ok(pos) = consumer.position() {
        for e in pos.elements_for_topic(topic) {
            if let (Offset::Offset(o), Some(high)) = (e.offset(), pending.get(&e.partition()))
                && o >= *high
            {
                pending.remove(&e.partition());
            }
        }
    }
    pending.is_empty()
}
