//! The dead letters of a `dev` run, kept: the dead-letter topic lives in the in-memory broker, so
//! this tails it from the start and appends every dead letter as one JSON line to
//! `<data dir>/dead-letters.jsonl`, with its headers (stage, reason, error, received-at), key and
//! raw value:
//!
//! `{"offset":0,"partition":0,"headers":{"qs-stage":"producer","qs-reason":"bad_json",…},"key":null,"value":"{not json"}`
//!
//! A value that is not UTF-8 is kept as `value_hex` instead. The file is appended to across runs
//! and grows to [`DEAD_LETTERS_MAX_BYTES`] at most; past that, dead letters are counted, not
//! written, and the count is reported (at the first one and at the stop). On stop, the tail reads
//! to the end the topic had then, so what was dead-lettered before the stop is in the file.

use anyhow::Context;
use quakestream_contract::dev::DEAD_LETTERS_MAX_BYTES;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

use super::say;

/// On stop, reading the rest of the topic takes at most this long.
const STOP_READ_BOUND: Duration = Duration::from_secs(5);
/// A metadata or watermark request waits at most this long.
const KAFKA_CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// The file, its size, and what did not fit.
pub struct DeadLetterFile {
    path: PathBuf,
    file: std::fs::File,
    size: u64,
    max_bytes: u64,
    written: u64,
    skipped: u64,
}

impl DeadLetterFile {
    pub fn open(path: &Path, max_bytes: u64) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(DeadLetterFile {
            path: path.to_owned(),
            file,
            size,
            max_bytes,
            written: 0,
            skipped: 0,
        })
    }

    /// Appends one line, unless the file would grow past its limit (then counts it).
    pub fn append(&mut self, line: &Value) -> std::io::Result<()> {
        let mut bytes = serde_json::to_vec(line).expect("a JSON value serialises");
        bytes.push(b'\n');
        if self.size + bytes.len() as u64 > self.max_bytes {
            if self.skipped == 0 {
                say!(
                    "dead letters: {} reached its {} MiB limit; further dead letters are counted, not written",
                    self.path.display(),
                    self.max_bytes >> 20
                );
            }
            self.skipped += 1;
            tracing::warn!(skipped = self.skipped, path = %self.path.display(), "dead-letter file full; dead letter not written");
            return Ok(());
        }
        self.file.write_all(&bytes)?;
        self.size += bytes.len() as u64;
        self.written += 1;
        Ok(())
    }
}

/// One dead letter as a JSON line.
pub fn to_line(msg: &BorrowedMessage<'_>) -> Value {
    let mut headers = Map::new();
    if let Some(hs) = msg.headers() {
        for h in hs.iter() {
            let v = h.value.map(|v| String::from_utf8_lossy(v).into_owned());
            headers.insert(h.key.to_owned(), v.map_or(Value::Null, Value::String));
        }
    }
    let mut line = json!({
        "partition": msg.partition(),
        "offset": msg.offset(),
        "headers": headers,
        "key": msg.key().map(|k| String::from_utf8_lossy(k).into_owned()),
    });
    let value = msg.payload().unwrap_or_default();
    match std::str::from_utf8(value) {
        Ok(s) => line["value"] = s.into(),
        Err(_) => line["value_hex"] = value.iter().map(|b| format!("{b:02x}")).collect::<String>().into(),
    }
    line
}

/// Tails `topic` into the file until `stop`, then reads to the end the topic had at the stop.
pub async fn run(
    bootstrap: String,
    topic: String,
    mut file: DeadLetterFile,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let consumer: Arc<StreamConsumer> = Arc::new(
        ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("group.id", "quakestream-dev-dead-letters")
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "false")
            .set("client.id", "quakestream-dev-dead-letters")
            .create()
            .context("creating the dead-letter tail")?,
    );
    let partitions = blocking(&consumer, {
        let t = topic.clone();
        move |c| {
            let md = c.fetch_metadata(Some(&t), KAFKA_CALL_TIMEOUT)?;
            Ok(md
                .topics()
                .iter()
                .flat_map(|t| t.partitions().iter().map(|p| p.id()))
                .collect::<Vec<i32>>())
        }
    })
    .await
    .context("reading the dead-letter topic's partitions")?;
    let mut tpl = TopicPartitionList::new();
    for p in &partitions {
        tpl.add_partition_offset(&topic, *p, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    // The next offset to read per partition.
    let mut next: HashMap<i32, i64> = partitions.iter().map(|p| (*p, 0)).collect();
    loop {
        tokio::select! {
            m = consumer.recv() => take(m, &mut file, &mut next)?,
            _ = quakestream_core::ops::stopped(&mut stop) => break,
        }
    }
    // What was dead-lettered before the stop is kept too.
    let mut ends = HashMap::new();
    for p in &partitions {
        let (t, p) = (topic.clone(), *p);
        let (_, high) = blocking(&consumer, move |c| c.fetch_watermarks(&t, p, KAFKA_CALL_TIMEOUT)).await?;
        ends.insert(p, high);
    }
    let read_rest = async {
        while ends.iter().any(|(p, high)| next.get(p).copied().unwrap_or(0) < *high) {
            take(consumer.recv().await, &mut file, &mut next)?;
        }
        anyhow::Ok(())
    };
    let outcome = tokio::time::timeout(STOP_READ_BOUND, read_rest).await;
    match outcome {
        Ok(r) => r?,
        Err(_) => {
            let missing: i64 = ends.iter().map(|(p, h)| h - next.get(p).copied().unwrap_or(0)).sum();
            anyhow::bail!(
                "{missing} dead letters were not read into {} before the stop",
                file.path.display()
            );
        }
    }
    if file.written > 0 || file.skipped > 0 {
        say!(
            "dead letters: {} written to {}{}",
            file.written,
            file.path.display(),
            if file.skipped > 0 {
                format!(", {} not written (the file is full)", file.skipped)
            } else {
                String::new()
            }
        );
    }
    Ok(())
}

fn take(
    m: Result<BorrowedMessage<'_>, rdkafka::error::KafkaError>,
    file: &mut DeadLetterFile,
    next: &mut HashMap<i32, i64>,
) -> anyhow::Result<()> {
    match m {
        Ok(msg) => {
            file.append(&to_line(&msg))
                .with_context(|| format!("appending to {}", file.path.display()))?;
            next.insert(msg.partition(), msg.offset() + 1);
        }
        Err(e) => tracing::warn!(error = %e, "dead-letter tail: Kafka error"),
    }
    Ok(())
}

/// Runs a blocking librdkafka call off the async threads (awaited: the clone is gone after).
async fn blocking<T: Send + 'static>(
    c: &Arc<StreamConsumer>,
    f: impl FnOnce(&StreamConsumer) -> Result<T, rdkafka::error::KafkaError> + Send + 'static,
) -> Result<T, rdkafka::error::KafkaError> {
    let c = c.clone();
    tokio::task::spawn_blocking(move || f(&c))
        .await
        .unwrap_or(Err(rdkafka::error::KafkaError::Canceled))
}

/// The file's default size limit, for `dev`.
pub const MAX_BYTES: u64 = DEAD_LETTERS_MAX_BYTES;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_stops_at_its_limit_counts_what_did_not_fit_and_keeps_its_size_across_runs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dead-letters.jsonl");
        let line = json!({"value": "x".repeat(40)});
        let len = serde_json::to_vec(&line).unwrap().len() as u64 + 1;
        let mut f = DeadLetterFile::open(&path, 2 * len + len / 2).unwrap();
        for _ in 0..3 {
            f.append(&line).unwrap();
        }
        assert_eq!((f.written, f.skipped), (2, 1));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 2 * len);
        let mut again = DeadLetterFile::open(&path, 2 * len + len / 2).unwrap();
        again.append(&line).unwrap();
        assert_eq!(
            (again.written, again.skipped),
            (0, 1),
            "a restart counts what is already there"
        );
        let kept: Vec<Value> = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(kept, vec![line.clone(), line]);
    }
}
