//! Tails the `quakes` topic without a consumer group: every partition is assigned by hand, so
//! every replica sees every record and no offsets are committed. The tail starts at the offsets
//! for a timestamp a little before the warm-up (or the beginning, where the broker cannot look
//! timestamps up), and the index merges by `lastupdate`, so nothing falls between warm-up and tail.

use crate::State;
use chrono::Utc;
use quakestream_core::wire::WireRecord;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Consumer settings: no group, nothing committed, records read as soon as they exist.
pub fn consumer_config(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        // librdkafka wants a group id even for manual assignment; assign() never joins the
        // group and nothing is committed, so replicas do not share or split partitions.
        .set("group.id", quakestream_contract::frontend::TAIL_GROUP_ID)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .set("fetch.wait.max.ms", "50")
        .set("client.id", "quakestream-frontend");
    c
}

/// How the tail reaches Kafka: the brokers, extra librdkafka settings (`dev`'s low-latency
/// fetches), encryption and authentication.
#[derive(Clone)]
pub struct TailClient {
    pub bootstrap: String,
    pub overrides: Vec<(String, String)>,
    pub security: quakestream_core::kafka_security::KafkaSecurity,
}

impl TailClient {
    /// [`consumer_config`] with the overrides and the security settings applied.
    pub fn config(&self) -> ClientConfig {
        let mut config = consumer_config(&self.bootstrap);
        for (k, v) in &self.overrides {
            config.set(k, v);
        }
        self.security.apply(&mut config);
        config
    }
}

/// Runs until `shutdown`. Sends `true` on `caught_up` once every partition has been read up to
/// the high watermark it had when the tail started.
pub async fn run(
    state: State,
    client: TailClient,
    topic: String,
    start_ms: i64,
    caught_up: watch::Sender<bool>,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let consumer: Arc<StreamConsumer> = Arc::new(client.config().create()?);
    // The topic may not exist yet (first start of a cluster): wait for it.
    let mut backoff = Duration::from_millis(200);
    let partitions: Vec<i32> = loop {
        match partitions_of(&consumer, &topic).await {
            Ok(ps) if !ps.is_empty() => break ps,
            Ok(_) => tracing::warn!(%topic, "topic has no partitions yet; waiting"),
            Err(e) => tracing::warn!(%topic, error = %e, "cannot read topic metadata; retrying"),
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.wait_for(|s| *s) => return Ok(()),
        }
        backoff = (backoff * 2).min(Duration::from_secs(10));
    };

    // Where each partition starts, and where "caught up" is.
    let mut by_time = TopicPartitionList::new();
    for p in &partitions {
        by_time.add_partition_offset(&topic, *p, Offset::Offset(start_ms))?;
    }
    let resolved = blocking(&consumer, move |c| {
        c.offsets_for_times(by_time, Duration::from_secs(10))
    })
    .await;
    let mut assign = TopicPartitionList::new();
    let mut pending: HashMap<i32, i64> = HashMap::new();
    for p in &partitions {
        let (low, high) = blocking(&consumer, {
            let (t, p) = (topic.clone(), *p);
            move |c| c.fetch_watermarks(&t, p, Duration::from_secs(10))
        })
        .await?;
        let start = match resolved
            .as_ref()
            .ok()
            .and_then(|r| r.find_partition(&topic, *p))
            .map(|e| e.offset())
        {
            Some(Offset::Offset(o)) if o >= low => o,
            // No record at or after the timestamp (or the broker cannot say): read from the
            // beginning; the merge makes re-reading harmless.
            _ => low,
        };
        assign.add_partition_offset(&topic, *p, Offset::Offset(start))?;
        if start < high {
            pending.insert(*p, high);
        }
        tracing::info!(%topic, partition = p, start, low, high, "tailing partition");
    }
    consumer.assign(&assign)?;
    if pending.is_empty() {
        let _ = caught_up.send(true);
    }

    loop {
        let msg = tokio::select! {
            m = consumer.recv() => m,
            _ = shutdown.wait_for(|s| *s) => break,
        };
        let msg = match msg {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "kafka consume error");
                continue;
            }
        };
        let (partition, offset) = (msg.partition(), msg.offset());
        state.metrics.kafka.fetched(&topic, msg.key(), msg.payload());
        match WireRecord::decode(msg.key(), msg.payload()) {
            Ok(rec) => state.ingest(&rec, Utc::now()),
            Err(e) => {
                state.metrics.records.with_label_values(&["kafka", e.reason()]).inc();
                let key = msg
                    .key()
                    .map(|k| String::from_utf8_lossy(k).into_owned())
                    .unwrap_or_default();
                tracing::warn!(unid = %key, partition, offset, error = %e, "undecodable record skipped");
            }
        }
        if let Some(high) = pending.get(&partition)
            && offset + 1 >= *high
        {
            pending.remove(&partition);
            if pending.is_empty() {
                tracing::info!(%topic, "tail caught up");
                let _ = caught_up.send(true);
            }
        }
    }
    Ok(())
}

/// Runs a blocking librdkafka call off the async threads.
/// One metadata lookup: the partitions of `topic` (none while it does not exist).
pub(crate) async fn partitions_of(consumer: &Arc<StreamConsumer>, topic: &str) -> Result<Vec<i32>, KafkaError> {
    let t = topic.to_owned();
    let md = blocking(consumer, move |c| c.fetch_metadata(Some(&t), Duration::from_secs(5))).await?;
    Ok(md
        .topics()
        .iter()
        .filter(|m| m.name() == topic && m.error().is_none())
        .flat_map(|m| m.partitions().iter().map(|p| p.id()))
        .collect())
}

/// Runs a blocking librdkafka call off the async runtime.
pub(crate) async fn blocking<T: Send + 'static>(
    c: &Arc<StreamConsumer>,
    f: impl FnOnce(&StreamConsumer) -> Result<T, rdkafka::error::KafkaError> + Send + 'static,
) -> Result<T, rdkafka::error::KafkaError> {
    let c = c.clone();
    tokio::task::spawn_blocking(move || f(&c))
        .await
        .unwrap_or(Err(rdkafka::error::KafkaError::Canceled))
}
