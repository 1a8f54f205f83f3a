//! Stopping `dev`: one ordered list of steps, each bounded.
//!
//! The embedded broker lives in memory, so what it acknowledged must be stored before it goes,
//! and every Kafka client must be gone before it goes (a group consumer whose broker has vanished
//! polls forever while closing). The order, built by `dev::run`:
//!
//! 1. the producer (flushes: every record it handed over is acknowledged or reported);
//! 2. [`Step::Drain`]: wait until the consumer group has stored everything acknowledged, printing
//!    progress, for as long as it progresses; after `stall` without progress, give up and say how
//!    many records were not stored (the run then exits non-zero);
//! 3. the consumer (and its lag task), the dead-letter file, any other broker client;
//! 4. the frontend (open streams end);
//! 5. (by the caller) the broker and the store, with [`drop_bounded`].
//!
//! A second Ctrl-C or SIGTERM exits at once with [`EXIT_SECOND_SIGNAL`].

use quakestream_core::ops;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::say;

/// Exit status after a second Ctrl-C or SIGTERM (128 + SIGINT, as a shell reports it).
pub const EXIT_SECOND_SIGNAL: i32 = 130;
/// How often the drain step measures what is stored.
const DRAIN_POLL: Duration = Duration::from_millis(100);
/// The drain step prints its progress at most this often.
const DRAIN_REPORT_EVERY: Duration = Duration::from_secs(1);
/// A metadata or offsets request of the drain step waits at most this long.
const KAFKA_CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// The broker and the store get this long to stop once every client is gone.
pub const INFRA_STOP_BOUND: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum StopError {
    #[error(
        "{unstored} of {acknowledged} records acknowledged by the broker were not stored (no progress for {} s); \
         they are lost with the in-memory broker",
        .stall.as_secs()
    )]
    Unstored {
        unstored: i64,
        acknowledged: i64,
        stall: Duration,
    },
    #[error("{0} did not stop within {1} s")]
    Timeout(&'static str, u64),
    #[error("{0}: {1:#}")]
    Failed(&'static str, anyhow::Error),
    #[error("{0} panicked")]
    Panicked(&'static str),
}

/// Ctrl-C and SIGTERM, as one stream (installed once, so no signal falls between two waits).
pub struct Signals {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl Signals {
    pub fn install() -> std::io::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals {
                int: signal(SignalKind::interrupt())?,
                term: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    pub async fn next(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
        #[cfg(not(unix))]
        ops::wait_for_signal().await;
    }

    /// After the first signal: the next one ends the process at once, non-zero.
    pub fn exit_on_next(mut self, progress: Progress) {
        tokio::spawn(async move {
            self.next().await;
            let (stored, acked) = progress.get();
            let lost = if acked > stored {
                format!("; {} acknowledged records not stored are lost", acked - stored)
            } else {
                String::new()
            };
            say!("second signal: exiting now{lost}");
            std::process::exit(EXIT_SECOND_SIGNAL);
        });
    }
}

/// What the drain step measured last: records stored, records acknowledged.
#[derive(Clone, Default)]
pub struct Progress(Arc<(AtomicI64, AtomicI64)>);

impl Progress {
    fn set(&self, stored: i64, acked: i64) {
        self.0.0.store(stored, Ordering::Relaxed);
        self.0.1.store(acked, Ordering::Relaxed);
    }
    pub fn get(&self) -> (i64, i64) {
        (self.0.0.load(Ordering::Relaxed), self.0.1.load(Ordering::Relaxed))
    }
}

/// A running part of `dev`, stopped by its own signal and awaited within `bound`.
pub struct Component {
    name: &'static str,
    stop: watch::Sender<bool>,
    task: JoinHandle<anyhow::Result<()>>,
    bound: Duration,
}

impl Component {
    /// Spawns `start(stop)` as the component `name`.
    pub fn spawn<F>(name: &'static str, bound: Duration, start: impl FnOnce(watch::Receiver<bool>) -> F) -> Self
    where
        F: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let (stop, rx) = ops::shutdown_channel();
        Component {
            name,
            stop,
            task: tokio::spawn(start(rx)),
            bound,
        }
    }

    /// A component already running (e.g. the frontend), stopped through `stop`.
    pub fn running(
        name: &'static str,
        bound: Duration,
        stop: watch::Sender<bool>,
        task: JoinHandle<anyhow::Result<()>>,
    ) -> Self {
        Component {
            name,
            stop,
            task,
            bound,
        }
    }

    async fn stop(self) -> Result<(), StopError> {
        let _ = self.stop.send(true);
        let abort = self.task.abort_handle();
        match tokio::time::timeout(self.bound, self.task).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(e))) => Err(StopError::Failed(self.name, e)),
            Ok(Err(_)) => Err(StopError::Panicked(self.name)),
            Err(_) => {
                abort.abort();
                Err(StopError::Timeout(self.name, self.bound.as_secs()))
            }
        }
    }
}

/// Where the drain step looks: the consumer group's committed offsets against the topic's end.
#[derive(Clone, Debug)]
pub struct Drain {
    pub bootstrap: String,
    pub topic: String,
    pub group: String,
    /// Give up after this long without progress.
    pub stall: Duration,
}

/// One step of the shutdown list.
pub enum Step {
    Stop(Component),
    Drain(Drain, Progress),
}

/// Runs the steps in order. A failing step does not stop the later ones (everything still
/// stops); the failures are returned, and `dev` then exits non-zero.
pub async fn run(steps: Vec<Step>) -> Vec<StopError> {
    let mut failures = Vec::new();
    for step in steps {
        let res = match step {
            Step::Stop(c) => c.stop().await,
            Step::Drain(d, progress) => tokio::task::spawn_blocking(move || drain(&d, &progress).map(|_| ()))
                .await
                .unwrap_or(Err(StopError::Panicked("drain"))),
        };
        if let Err(e) = res {
            tracing::error!(error = %e, "shutdown step failed");
            failures.push(e);
        }
    }
    failures
}

/// Waits until the group's committed offsets reach the end of every partition, as long as they
/// progress. Returns how many records were stored.
fn drain(d: &Drain, progress: &Progress) -> Result<i64, StopError> {
    let client: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &d.bootstrap)
        .set("group.id", &d.group)
        .set("client.id", "quakestream-dev-drain")
        .create()
        .map_err(|e| StopError::Failed("drain", e.into()))?;
    let mut best = -1i64;
    let mut acked = 0i64;
    let mut last_progress = Instant::now();
    let mut last_report: Option<Instant> = None;
    loop {
        if let Some((stored, high)) = measure(&client, &d.topic) {
            progress.set(stored, high);
            acked = high;
            if stored >= high {
                say!("stopping: stored {stored} of {high} acknowledged records");
                return Ok(stored);
            }
            if stored > best {
                best = stored;
                last_progress = Instant::now();
            }
            if last_report.is_none_or(|t| t.elapsed() >= DRAIN_REPORT_EVERY) {
                say!("stopping: stored {stored} of {high} acknowledged records");
                last_report = Some(Instant::now());
            }
        }
        if last_progress.elapsed() >= d.stall {
            return Err(StopError::Unstored {
                unstored: acked - best.max(0),
                acknowledged: acked,
                stall: d.stall,
            });
        }
        std::thread::sleep(DRAIN_POLL);
    }
}

/// (records committed by the group, records in the topic), summed over its partitions.
fn measure(client: &BaseConsumer, topic: &str) -> Option<(i64, i64)> {
    let md = client.fetch_metadata(Some(topic), KAFKA_CALL_TIMEOUT).ok()?;
    let mut tpl = TopicPartitionList::new();
    for p in md.topics().first()?.partitions() {
        tpl.add_partition(topic, p.id());
    }
    let committed = client.committed_offsets(tpl, KAFKA_CALL_TIMEOUT).ok()?;
    let (mut stored, mut high_sum) = (0i64, 0i64);
    for e in committed.elements() {
        let (low, high) = client.fetch_watermarks(topic, e.partition(), KAFKA_CALL_TIMEOUT).ok()?;
        high_sum += high - low;
        stored += match e.offset() {
            Offset::Offset(o) => (o - low).clamp(0, high - low),
            _ => 0,
        };
    }
    Some((stored, high_sum))
}

/// Drops `parts` (the broker and the store) on a thread of their own, waiting at most `bound`.
pub fn drop_bounded<T: Send + 'static>(what: &str, parts: T, bound: Duration) -> Result<(), StopError> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        drop(parts);
        let _ = tx.send(());
    });
    rx.recv_timeout(bound).map_err(|_| {
        tracing::error!(what, "did not stop in time");
        StopError::Timeout("the embedded broker and store", bound.as_secs())
    })
}
