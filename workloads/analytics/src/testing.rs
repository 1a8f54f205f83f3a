//! Shared fixtures of the analytics tests (in-process and subprocess) and its benchmark: real
//! samples as wire records with revisions, the expected (batch) statistics, the topics, and the
//! output reduced to the latest value per key. Not part of the product.
#![doc(hidden)]

use crate::config::AnalyticsConfig;
use crate::event::Event;
use crate::reader::StatsView;
use crate::stats::{StatsRecord, batch};
use chrono::Duration as CDuration;
use quakestream_core::parse::{self, Item};
use quakestream_core::testkit::{self, Record, TestKafka};
use quakestream_core::wire::{Action, WireRecord};
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// Every valid event of a sample file as a wire record, in file order.
pub fn sample_records(path: &Path) -> Vec<WireRecord> {
    let mut out = Vec::new();
    parse::read_file(
        || std::fs::File::open(path),
        |item| {
            if let Ok(Item::Event { action, quake }) = item.result {
                let at = quake.lastupdate + CDuration::seconds(5);
                out.push(WireRecord::new(action, quake, at));
            }
        },
    )
    .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    out
}

/// One revision for every `every`-th record: an hour later, magnitude up 0.4 (and every third
/// one moved 0.5° east, every fifth one turned into a quarry blast), as EMSC and USGS revise.
pub fn revisions(records: &[WireRecord], every: usize) -> Vec<WireRecord> {
    records
        .iter()
        .enumerate()
        .filter(|(i, _)| i % every.max(1) == 0)
        .map(|(i, r)| {
            let mut q = r.quake.clone();
            q.lastupdate += CDuration::hours(1);
            q.mag = q.mag.map(|m| (m + 0.4).min(9.5));
            if i % 3 == 0 {
                q.lon = (q.lon + 0.5).min(180.0);
            }
            if i % 5 == 0 {
                q.evtype = Some("qb".into());
            }
            WireRecord::new(Action::Update, q.clone(), q.lastupdate + CDuration::seconds(5))
        })
        .collect()
}

/// What the windows must come to: the batch computation over the latest revision of each event.
pub fn expected(records: &[WireRecord], grace: Duration) -> BTreeMap<String, StatsRecord> {
    let events: Vec<(String, Event)> = records
        .iter()
        .map(|r| (r.quake.unid.clone(), Event::from_quake(&r.quake)))
        .collect();
    batch::compute(events.iter().map(|(u, e)| (u.as_str(), e)), grace.as_micros() as i64)
}

/// The latest record per key of `quake-stats` records.
pub fn reduce(records: &[Record]) -> BTreeMap<String, StatsRecord> {
    let mut view = StatsView::new();
    for r in records {
        view.apply(r.key.as_deref(), r.value.as_deref())
            .unwrap_or_else(|e| panic!("undecodable quake-stats record at {}: {e}", r.offset));
    }
    view.iter().map(|(k, r)| (k.to_string(), r.clone())).collect()
}

/// Differences between what was emitted (latest per key) and the batch result (at most `max`).
pub fn differences(
    got: &BTreeMap<String, StatsRecord>,
    want: &BTreeMap<String, StatsRecord>,
    max: usize,
) -> Vec<String> {
    let mut out = Vec::new();
    for (k, w) in want {
        match got.get(k) {
            None => out.push(format!("{k}: missing (want count {})", w.count)),
            Some(g) if !g.same_measures(w) => out.push(format!("{k}: got {g:?}, want {w:?}")),
            _ => {}
        }
    }
    for (k, g) in got {
        if !want.contains_key(k) && g.count != 0 {
            out.push(format!(
                "{k}: emitted with count {} but not in the batch result",
                g.count
            ));
        }
    }
    out.truncate(max);
    out
}

/// A config whose topics are new: a unique app id, its internal topics, an input and an output,
/// all with `partitions` partitions.
pub fn fresh_topics(kafka: &TestKafka, name: &str, partitions: i32) -> AnalyticsConfig {
    let input = kafka.topic(&format!("{name}-quakes"), partitions);
    let mut cfg = AnalyticsConfig::new(&kafka.bootstrap, &input);
    cfg.app_id = kafka.unique_name(&format!("{name}-app"));
    cfg.stats_topic = kafka.unique_name(&format!("{name}-stats"));
    cfg.sequences_topic = kafka.unique_name(&format!("{name}-sequences"));
    cfg.dlq_topic = kafka.topic(&format!("{name}-dlq"), 1);
    cfg.instance_id = "test-0".into();
    cfg.commit_interval = Duration::from_millis(200);
    for t in cfg.topics(partitions) {
        kafka.create_topic(&t.name, t.partitions);
    }
    cfg
}

/// Produces records (keyed by unid) and waits for every acknowledgement.
pub async fn produce(bootstrap: &str, topic: &str, records: &[WireRecord]) {
    let producer: FutureProducer = quakestream_core::kafka::create_producer(bootstrap).expect("producer");
    let payloads: Vec<(String, Vec<u8>)> = records.iter().map(|r| (r.quake.unid.clone(), r.to_json())).collect();
    for chunk in payloads.chunks(5000) {
        let sends = chunk.iter().map(|(k, v)| {
            producer.send(
                FutureRecord::<str, [u8]>::to(topic)
                    .key(k.as_str())
                    .payload(v.as_slice()),
                Duration::from_secs(30),
            )
        });
        for res in futures::future::join_all(sends).await {
            res.map_err(|(e, _)| e).expect("delivered");
        }
    }
}

/// Reads `quake-stats` (read-committed) until the latest value per key equals `want`, or
/// `limit` passes; returns the last differences (empty: converged) and the records read.
pub fn wait_for_convergence(
    bootstrap: &str,
    topic: &str,
    want: &BTreeMap<String, StatsRecord>,
    limit: Duration,
) -> (Vec<String>, Vec<Record>) {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let records = testkit::read_topic_to_end(bootstrap, topic, Duration::from_secs(30));
        let diff = differences(&reduce(&records), want, 5);
        if diff.is_empty() || std::time::Instant::now() >= deadline {
            return (diff, records);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}
