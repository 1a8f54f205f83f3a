//! Shared test fixtures: one Kafka per test binary (librdkafka's mock cluster, or the real
//! broker named by `KAFKA_BOOTSTRAP_SERVERS`), unique topics, and a reader that collects what a
//! topic holds. Used by the integration tests and the benchmarks; not part of the product.
#![doc(hidden)]

use crate::kafka::EmbeddedBroker;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub struct TestKafka {
    pub bootstrap: String,
    embedded: Option<EmbeddedBroker>,
}

static KAFKA: OnceLock<TestKafka> = OnceLock::new();
static TOPIC_SEQ: AtomicU32 = AtomicU32::new(0);

/// The Kafka of this test process, started on first use and shared by every test in it.
pub fn kafka() -> &'static TestKafka {
    KAFKA.get_or_init(|| match std::env::var("KAFKA_BOOTSTRAP_SERVERS") {
        Ok(b) if !b.trim().is_empty() => TestKafka {
            bootstrap: b,
            embedded: None,
        },
        _ => {
            let broker = EmbeddedBroker::start(1).expect("starting librdkafka's mock cluster");
            TestKafka {
                bootstrap: broker.bootstrap_servers().to_owned(),
                embedded: Some(broker),
            }
        }
    })
}

impl TestKafka {
    pub fn is_embedded(&self) -> bool {
        self.embedded.is_some()
    }

    /// Creates a topic with a name no other test uses.
    pub fn topic(&self, prefix: &str, partitions: i32) -> String {
        let name = self.unique_name(prefix);
        self.create_topic(&name, partitions);
        name
    }

    /// A name no other test uses (nothing is created).
    pub fn unique_name(&self, prefix: &str) -> String {
        format!(
            "{prefix}-{}-{}-{}",
            std::process::id(),
            TOPIC_SEQ.fetch_add(1, Ordering::Relaxed),
            chrono::Utc::now().timestamp_micros() % 1_000_000
        )
    }

    /// Creates a topic with exactly this name (for workloads whose topic names derive from a
    /// prefix, like the analytics' internal topics).
    pub fn create_topic(&self, name: &str, partitions: i32) {
        let name = name.to_owned();
        match &self.embedded {
            Some(b) => b.create_topic(&name, partitions).expect("creating a mock topic"),
            None => {
                let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
                    .set("bootstrap.servers", &self.bootstrap)
                    .create()
                    .expect("admin client");
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                let topic = NewTopic::new(&name, partitions, TopicReplication::Fixed(1));
                let res = rt
                    .block_on(admin.create_topics(
                        [&topic],
                        &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
                    ))
                    .expect("CreateTopics");
                for r in res {
                    r.map_err(|(t, e)| format!("{t}: {e}")).expect("topic created");
                }
            }
        }
    }
}

/// One record as read back from a topic.
#[derive(Debug, Clone)]
pub struct Record {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: HashMap<String, String>,
}

impl Record {
    pub fn value_str(&self) -> &str {
        std::str::from_utf8(self.value.as_deref().unwrap_or_default()).unwrap_or("")
    }
}

/// Reads `topic` from the beginning of every partition until `done` says the records so far are
/// enough, or `limit` passes (then it returns what it has, and the caller's assertion fails).
pub fn read_topic(bootstrap: &str, topic: &str, limit: Duration, done: impl Fn(&[Record]) -> bool) -> Vec<Record> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "quakestream-testkit-reader")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .create()
        .expect("test consumer");
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let mut tpl = TopicPartitionList::new();
    for p in md.topics()[0].partitions() {
        tpl.add_partition_offset(topic, p.id(), Offset::Beginning).unwrap();
    }
    consumer.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    let deadline = Instant::now() + limit;
    while !done(&out) && Instant::now() < deadline {
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            let m = m.expect("consume");
            let headers = m
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|h| {
                            (
                                h.key.to_owned(),
                                String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            out.push(Record {
                partition: m.partition(),
                offset: m.offset(),
                key: m.key().map(<[u8]>::to_vec),
                value: m.payload().map(<[u8]>::to_vec),
                headers,
            });
        }
    }
    out
}

/// `testdata/` at the repository root (or `$QUAKESTREAM_DATA`): the real EMSC and USGS samples
/// the tests use, with their README, licences and checksums. The repository stands alone: nothing
/// outside it is read.
pub fn testdata_dir() -> PathBuf {
    if let Ok(d) = std::env::var("QUAKESTREAM_DATA") {
        return PathBuf::from(d);
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata");
    assert!(
        dir.join("SHA256SUMS").exists(),
        "test data not found at {}",
        dir.display()
    );
    dir
}

pub fn testdata(name: &str) -> PathBuf {
    testdata_dir().join(name)
}

/// Whether `path` is one of the data samples (not the README, SAMPLES.md or SHA256SUMS).
pub fn is_sample(path: &std::path::Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("json" | "geojson" | "jsonl" | "csv")
    )
}

/// Reads every record `topic` holds right now: the high watermarks are taken first, then records
/// are read until each partition reaches its mark (or `limit` passes, and the caller's assertion fails).
pub fn read_topic_to_end(bootstrap: &str, topic: &str, limit: Duration) -> Vec<Record> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "quakestream-testkit-reader")
        .create()
        .expect("test consumer");
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let mut expected = 0i64;
    for p in md.topics()[0].partitions() {
        let (low, high) = consumer
            .fetch_watermarks(topic, p.id(), Duration::from_secs(10))
            .expect("watermarks");
        expected += high - low;
    }
    drop(consumer);
    read_topic(bootstrap, topic, limit, |got| got.len() as i64 >= expected)
}
