//! `quakestream analytics` as a process, killed with SIGKILL mid-stream: what it committed plus
//! what a restarted (or surviving) instance does must equal the batch result, nothing lost and
//! nothing doubled. The output is read with isolation.level=read_committed and reduced to the
//! latest value per key. On librdkafka's mock cluster, read-committed isolation is not enforced
//! (see docs/analytics.md): these tests prove there that the state makes re-applied records
//! harmless; against a real broker (KAFKA_BOOTSTRAP_SERVERS) they also prove the isolation.

use quakestream_analytics::AnalyticsConfig;
use quakestream_analytics::testing::{self, expected, revisions, sample_records, wait_for_convergence};
use quakestream_contract as contract;
use quakestream_core::testkit::{self, testdata};
use quakestream_core::wire::WireRecord;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(180);

struct Instance {
    child: Child,
    metrics_url: String,
}

impl Instance {
    /// Starts `quakestream analytics` on `cfg`'s topics as instance `id`, on the allocator the
    /// operator deploys it with, and waits until it serves /metrics.
    fn start(cfg: &AnalyticsConfig, id: &str) -> Instance {
        let mut child = Command::new(env!("CARGO_BIN_EXE_quakestream"))
            .env(contract::env::ALLOCATOR, contract::analytics::DEPLOYED_ALLOCATOR)
            .arg("analytics")
            .args(["--bootstrap-servers", &cfg.bootstrap_servers])
            .args(["--topic", &cfg.input_topic, "--dlq-topic", &cfg.dlq_topic])
            .args(["--stats-topic", &cfg.stats_topic, "--app-id", &cfg.app_id])
            .args(["--sequences-topic", &cfg.sequences_topic])
            .args(["--instance-id", id, "--listen", "127.0.0.1:0", "--log", "info"])
            // Small transactions, often: the kill lands in the middle of the stream.
            .args(["--commit-interval", "50ms", "--max-records-per-transaction", "150"])
            // A dead member is noticed in seconds, not the default 45.
            .args([
                "--kafka-option",
                "session.timeout.ms=6000",
                "--kafka-option",
                "heartbeat.interval.ms=500",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting quakestream analytics");
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("analytics starting")
                    && let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                    && let Some(addr) = v["listen"].as_str()
                {
                    let _ = tx.send((addr.to_owned(), v["allocator"].as_str().map(str::to_owned)));
                }
            }
        });
        let (addr, allocator) = rx.recv_timeout(WAIT).expect("the analytics logs its listen address");
        assert_eq!(allocator.as_deref(), Some(contract::analytics::DEPLOYED_ALLOCATOR));
        Instance {
            child,
            metrics_url: format!("http://{addr}/metrics"),
        }
    }

    /// One sample of a metric (summed over the label sets that contain `labels`).
    fn metric(&self, name: &str, labels: &str) -> f64 {
        let Ok(text) = reqwest::blocking::get(&self.metrics_url).and_then(|r| r.text()) else {
            return f64::NAN;
        };
        text.lines()
            .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']) && l.contains(labels))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    fn input_records(&self) -> f64 {
        self.metric("quakestream_analytics_records_total", "topic=\"input\"")
    }
    fn commits(&self) -> f64 {
        self.metric("quakestream_analytics_transactions_total", "outcome=\"commit\"")
    }
    fn assigned_inputs(&self) -> f64 {
        self.metric("quakestream_analytics_assigned_partitions", "topic=\"input\"")
    }

    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        let _ = self.child.wait();
    }

    fn terminate(mut self) -> std::process::ExitStatus {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        self.child.wait().unwrap()
    }
}

fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The USGS week (2,588 events) oldest revision first, then a revision for every tenth.
fn workload() -> Vec<WireRecord> {
    let mut base = sample_records(&testdata("usgs-all-week-2024-05-04.geojson"));
    base.sort_by_key(|r| r.quake.lastupdate);
    let revs = revisions(&base, 10);
    base.extend(revs);
    base
}

fn produce(cfg: &AnalyticsConfig, records: &[WireRecord]) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(testing::produce(&cfg.bootstrap_servers, &cfg.input_topic, records));
}

fn assert_converges(cfg: &AnalyticsConfig, records: &[WireRecord]) {
    let want = expected(records, cfg.grace);
    assert!(want.len() > 1000, "{} windows expected", want.len());
    let (diff, got) = wait_for_convergence(&cfg.bootstrap_servers, &cfg.stats_topic, &want, WAIT);
    assert!(
        diff.is_empty(),
        "read-committed quake-stats, latest per key, differs from the batch ({} records read): {diff:#?}",
        got.len()
    );
}

#[test]
fn sigkill_mid_stream_then_restart_equals_the_batch_result() {
    let kafka = testkit::kafka();
    let cfg = testing::fresh_topics(kafka, "kill", 3);
    let all = workload();
    produce(&cfg, &all);
    let first = Instance::start(&cfg, "k1");
    eventually("a few transactions committed", || first.commits() >= 3.0);
    let progress = first.input_records();
    first.kill();
    assert!(
        progress < all.len() as f64,
        "killed mid-stream ({progress} of {} records consumed)",
        all.len()
    );

    let second = Instance::start(&cfg, "k1");
    assert_converges(&cfg, &all);
    let restored = second.metric("quakestream_analytics_restored_records_total", "store=\"events\"");
    let reread = second.input_records();
    assert!(
        restored > 0.0,
        "the restart restored the event table from its changelog"
    );
    assert!(
        reread > 0.0 && reread < all.len() as f64,
        "the restart resumed from the committed offsets ({reread} of {} re-read)",
        all.len()
    );
    let status = second.terminate();
    assert!(status.success(), "SIGTERM: commit and exit 0 ({status})");
}

#[test]
fn two_instances_split_the_partitions_and_killing_one_loses_and_doubles_nothing() {
    let kafka = testkit::kafka();
    let cfg = testing::fresh_topics(kafka, "pair", 4);
    let a = Instance::start(&cfg, "a");
    let b = Instance::start(&cfg, "b");
    eventually("both instances own input partitions", || {
        let (x, y) = (a.assigned_inputs(), b.assigned_inputs());
        x > 0.0 && y > 0.0 && x + y == 4.0
    });
    let all = workload();
    produce(&cfg, &all);
    eventually("both are working", || a.commits() >= 3.0 && b.input_records() > 0.0);
    a.kill();
    eventually("the survivor owns every input partition", || b.assigned_inputs() == 4.0);
    assert_converges(&cfg, &all);
    assert!(b.metric("quakestream_analytics_restored_records_total", "") > 0.0);
    let status = b.terminate();
    assert!(status.success(), "{status}");
}
