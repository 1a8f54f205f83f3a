//! Kafka clients as QuakeStream configures them, and the embedded broker used by
//! `quakestream dev` and the tests (librdkafka's own mock cluster, real Kafka protocol on loopback).

use rdkafka::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::kafka_security::KafkaSecurity;
use crate::parse::Raw;
use crate::wire::{Action, headers};
pub use quakestream_contract::limits::MAX_MESSAGE_BYTES;

/// Idempotent producer: acks=all, ordered per partition, retried by librdkafka until
/// `message.timeout.ms`; lz4 keeps the JSON small on the wire.
pub fn producer_config(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("compression.type", "lz4")
        .set("linger.ms", "5")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "100000")
        .set("queue.buffering.max.kbytes", "8192")
        .set("message.timeout.ms", "120000")
        // A whole dead letter of MAX_ITEM_BYTES with its headers fits; the topics the operator
        // renders allow as much (`max.message.bytes`), the consumer fetches as much.
        .set("message.max.bytes", MAX_MESSAGE_BYTES.to_string())
        .set("client.id", "quakestream-producer");
    c
}

/// A producer on a plaintext connection (`quakestream dev`, tests, benchmarks).
pub fn create_producer(bootstrap: &str) -> Result<FutureProducer, KafkaError> {
    create_secured_producer(bootstrap, &KafkaSecurity::plaintext())
}

/// A producer with the workload's encryption and authentication.
pub fn create_secured_producer(bootstrap: &str, security: &KafkaSecurity) -> Result<FutureProducer, KafkaError> {
    security.apply(&mut producer_config(bootstrap)).create()
}

/// Headers of a record on `quakes`, so consumers can route without decoding the value.
pub fn record_headers(action: Action, source: &str) -> OwnedHeaders {
    OwnedHeaders::new_with_capacity(2)
        .insert(Header {
            key: headers::ACTION,
            value: Some(action.as_str()),
        })
        .insert(Header {
            key: headers::SOURCE,
            value: Some(source),
        })
}

/// The longest `qs-error` header of a dead letter, in characters.
pub const MAX_ERROR_CHARS: usize = 1024;

/// Sends a rejected input to the dead-letter topic: the raw bytes as the value (whole up to
/// [`crate::parse::MAX_ITEM_BYTES`], beyond that a prefix with `qs-original-length` and
/// `qs-original-sha256` headers), the reason in headers, so the input can be inspected and
/// replayed once the bug is fixed.
pub async fn send_dead_letter(
    producer: &FutureProducer,
    topic: &str,
    stage: &str,
    reason_code: &str,
    error: &str,
    key: Option<&[u8]>,
    raw: &Raw,
) -> Result<(), KafkaError> {
    let now = crate::model::fmt_time(&chrono::Utc::now());
    let error: String = error.chars().take(MAX_ERROR_CHARS).collect();
    let len = raw.truncated.as_ref().map(|t| t.len.to_string());
    let mut hdrs = OwnedHeaders::new_with_capacity(6)
        .insert(Header {
            key: headers::STAGE,
            value: Some(stage),
        })
        .insert(Header {
            key: headers::REASON,
            value: Some(reason_code),
        })
        .insert(Header {
            key: headers::ERROR,
            value: Some(error.as_str()),
        })
        .insert(Header {
            key: headers::RECEIVED_AT,
            value: Some(now.as_str()),
        });
    if let (Some(t), Some(len)) = (&raw.truncated, &len) {
        hdrs = hdrs
            .insert(Header {
                key: headers::ORIGINAL_LENGTH,
                value: Some(len.as_str()),
            })
            .insert(Header {
                key: headers::ORIGINAL_SHA256,
                value: Some(t.sha256.as_str()),
            });
    }
    let mut rec: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic).payload(raw.bytes.as_slice()).headers(hdrs);
    if let Some(k) = key {
        rec = rec.key(k);
    }
    producer
        .send(rec, Duration::from_secs(30))
        .await
        .map(|_| ())
        .map_err(|(e, _)| e)
}

/// Flushes whatever is queued, waiting at most `timeout`.
pub fn flush(producer: &FutureProducer, timeout: Duration) -> Result<(), KafkaError> {
    producer.flush(timeout)
}

enum BrokerCmd {
    CreateTopic {
        name: String,
        partitions: i32,
        reply: mpsc::Sender<Result<(), KafkaError>>,
    },
    /// Takes a broker down (`up: false`: its connections fail) or back up.
    SetBroker {
        id: i32,
        up: bool,
        reply: mpsc::Sender<Result<(), KafkaError>>,
    },
    Stop,
}

/// librdkafka's mock cluster on loopback, kept on a thread of its own (the handle is not `Send`).
/// It speaks the real Kafka protocol: kcat and any client can use `bootstrap_servers()`.
/// In memory only; it stops when dropped.
pub struct EmbeddedBroker {
    bootstrap: String,
    cmd: mpsc::Sender<BrokerCmd>,
    thread: Option<JoinHandle<()>>,
}

impl EmbeddedBroker {
    pub fn start(brokers: i32) -> Result<Self, KafkaError> {
        let (ready_tx, ready_rx) = mpsc::channel();
        let (cmd_tx, cmd_rx) = mpsc::channel::<BrokerCmd>();
        let thread = std::thread::Builder::new()
            .name("embedded-kafka".into())
            .spawn(move || {
                let cluster = match MockCluster::new(brokers) {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(cluster.bootstrap_servers()));
                while let Ok(cmd) = cmd_rx.recv() {
                    match cmd {
                        BrokerCmd::CreateTopic {
                            name,
                            partitions,
                            reply,
                        } => {
                            let _ = reply.send(cluster.create_topic(&name, partitions, 1));
                        }
                        BrokerCmd::SetBroker { id, up, reply } => {
                            let res = if up {
                                cluster.broker_up(id)
                            } else {
                                cluster.broker_down(id)
                            };
                            let _ = reply.send(res);
                        }
                        BrokerCmd::Stop => break,
                    }
                }
            })
            .expect("spawning the broker thread");
        let bootstrap = ready_rx.recv().map_err(|_| KafkaError::Canceled)??;
        Ok(EmbeddedBroker {
            bootstrap,
            cmd: cmd_tx,
            thread: Some(thread),
        })
    }

    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap
    }

    /// Creates a topic (the mock cluster has no CreateTopics admin call).
    pub fn create_topic(&self, name: &str, partitions: i32) -> Result<(), KafkaError> {
        let (reply, rx) = mpsc::channel();
        self.cmd
            .send(BrokerCmd::CreateTopic {
                name: name.to_owned(),
                partitions,
                reply,
            })
            .map_err(|_| KafkaError::Canceled)?;
        rx.recv().map_err(|_| KafkaError::Canceled)?
    }

    /// Takes broker `id` (1-based) down or back up, to test a broker outage.
    pub fn set_broker_up(&self, id: i32, up: bool) -> Result<(), KafkaError> {
        let (reply, rx) = mpsc::channel();
        self.cmd
            .send(BrokerCmd::SetBroker { id, up, reply })
            .map_err(|_| KafkaError::Canceled)?;
        rx.recv().map_err(|_| KafkaError::Canceled)?
    }
}

impl Drop for EmbeddedBroker {
    fn drop(&mut self) {
        let _ = self.cmd.send(BrokerCmd::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
