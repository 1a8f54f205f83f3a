//! The topics one engine reads and writes, resolved from the config and the processors and
//! checked for co-partitioning; and [`Dest`], which names one of them in a commit's outputs.

use crate::config::AnalyticsConfig;
use crate::engine::AnalyticsError;
use crate::processor::Processor;
use rdkafka::consumer::{BaseConsumer, Consumer};
use std::time::{Duration, Instant};

/// The topics of one engine, resolved from the config and the processors.
#[derive(Debug, Clone)]
pub(crate) struct Topics {
    pub(crate) input: String,
    pub(crate) events_changelog: String,
    pub(crate) dlq: String,
    /// Per processor.
    pub(crate) repartition: Vec<String>,
    pub(crate) changelog: Vec<String>,
    pub(crate) output: Vec<String>,
    pub(crate) repartitions: Vec<i32>,
    /// Partitions of the input topic.
    pub(crate) input_partitions: i32,
}

/// Partition counts of `topics`, waiting (up to `wait`) for each to exist.
fn partition_counts(client: &BaseConsumer, topics: &[&str], wait: Duration) -> Result<Vec<i32>, AnalyticsError> {
    let deadline = Instant::now() + wait;
    let mut out = Vec::new();
    for t in topics {
        loop {
            let found = client
                .fetch_metadata(Some(t), Duration::from_secs(10))
                .ok()
                .and_then(|md| {
                    md.topics()
                        .iter()
                        .find(|m| m.name() == *t && m.error().is_none() && !m.partitions().is_empty())
                        .map(|m| m.partitions().len() as i32)
                });
            if let Some(n) = found {
                out.push(n);
                break;
            }
            if Instant::now() >= deadline {
                return Err(AnalyticsError::Topic {
                    topic: (*t).to_owned(),
                    problem: format!("does not exist after {wait:?} (the operator or `dev` creates it)"),
                });
            }
            tracing::warn!(topic = %t, "topic not found yet; waiting");
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    Ok(out)
}

pub(crate) fn resolve_topics(
    cfg: &AnalyticsConfig,
    processors: &[Box<dyn Processor>],
    client: &BaseConsumer,
) -> Result<Topics, AnalyticsError> {
    let events_changelog = cfg.events_changelog_topic();
    let repartition: Vec<String> = processors.iter().map(|p| cfg.repartition_topic(p.name())).collect();
    let changelog: Vec<String> = processors.iter().map(|p| cfg.changelog_topic(p.name())).collect();
    let mut names: Vec<&str> = vec![&cfg.input_topic, &events_changelog];
    names.extend(repartition.iter().map(String::as_str));
    names.extend(changelog.iter().map(String::as_str));
    let counts = partition_counts(client, &names, cfg.topic_wait)?;
    let n = processors.len();
    let mismatch = |topic: &str, want: i32, got: i32| AnalyticsError::Topic {
        topic: topic.to_owned(),
        problem: format!("has {got} partitions; it must be co-partitioned with its input ({want})"),
    };
    if counts[1] != counts[0] {
        return Err(mismatch(&events_changelog, counts[0], counts[1]));
    }
    for i in 0..n {
        let (rp, cl) = (counts[2 + i], counts[2 + n + i]);
        if cl != rp {
            return Err(mismatch(&changelog[i], rp, cl));
        }
    }
    Ok(Topics {
        input: cfg.input_topic.clone(),
        events_changelog,
        dlq: cfg.dlq_topic.clone(),
        output: processors.iter().map(|p| p.output_topic().to_owned()).collect(),
        repartitions: counts[2..2 + n].to_vec(),
        input_partitions: counts[0],
        repartition,
        changelog,
    })
}

/// Which of the engine's topics an output goes to (resolved by [`Topics::name`]), so that a
/// commit's outputs own nothing but their bytes and can be sent from another thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dest {
    /// The events' changelog.
    EventsChangelog,
    /// Processor `i`'s repartition topic.
    Repartition(usize),
    /// Processor `i`'s changelog.
    Changelog(usize),
    /// Processor `i`'s output topic.
    Output(usize),
    /// The dead-letter topic.
    Dlq,
}

impl Topics {
    pub(crate) fn name(&self, dest: Dest) -> &str {
        match dest {
            Dest::EventsChangelog => &self.events_changelog,
            Dest::Repartition(i) => &self.repartition[i],
            Dest::Changelog(i) => &self.changelog[i],
            Dest::Output(i) => &self.output[i],
            Dest::Dlq => &self.dlq,
        }
    }
}
