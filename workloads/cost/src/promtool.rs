//! The `promtool test rules` files for the generated rules: input series whose rates are known,
//! and the figures the Rust side ([`crate::measured::price`], the estimate) computes for them, so
//! the PromQL and the Rust implementation of the same formulas check each other. Generated with
//! the rules (`quakestream cost generate`); the expected values follow the price tables.

use crate::error::Result;
use crate::estimate::{HOURS_PER_MONTH, estimate};
use crate::measured::price;
use crate::meters::{self, UsageRates};
use crate::prices::PriceBook;
use crate::terraform::Deployment;
use crate::usage::Usage;
use serde::Serialize;

/// Relative tolerance of every comparison (promtool 2.x compares floats exactly; the PromQL and
/// the Rust side sum in different orders).
pub const TOLERANCE: f64 = 1e-9;
pub const METERED_FILE: &str = "cost/rules/quakestream-cost.test.yml";
pub const MONTH_FILE: &str = "cost/rules/quakestream-cost-month.test.yml";

#[derive(Serialize)]
struct Series {
    series: String,
    values: String,
}

#[derive(Serialize)]
struct Sample {
    labels: &'static str,
    value: u8,
}

#[derive(Serialize)]
struct ExprTest {
    expr: String,
    eval_time: String,
    exp_samples: Vec<Sample>,
}

#[derive(Serialize)]
struct Test {
    interval: &'static str,
    input_series: Vec<Series>,
    promql_expr_test: Vec<ExprTest>,
}

#[derive(Serialize)]
struct File {
    rule_files: Vec<&'static str>,
    evaluation_interval: &'static str,
    tests: Vec<Test>,
}

/// `expr` (one series, any labels) equals `expected` within [`TOLERANCE`] at `eval_time`.
fn equals(expr: &str, expected: f64, eval_time: &str) -> ExprTest {
    let check = if expected == 0.0 {
        format!("abs(sum({expr})) < bool {TOLERANCE}")
    } else {
        format!("abs(sum({expr}) / {expected} - 1) < bool {TOLERANCE}")
    };
    ExprTest {
        expr: check,
        eval_time: eval_time.to_owned(),
        exp_samples: vec![Sample { labels: "{}", value: 1 }],
    }
}

/// A counter growing by `per_minute` every minute for ten minutes (a rate of 60 x that an hour).
fn counter(series: String, per_minute: f64) -> Series {
    Series {
        series,
        values: format!("0+{per_minute}x10"),
    }
}

/// Per-minute increments of the metered test, and the rates they make.
const WRITE_UNITS: f64 = 120.0;
const FAILED_WRITES: f64 = 30.0;
const READ_UNITS_QUERY: f64 = 3.0;
const READ_UNITS_GET: f64 = 3.0;
const PAGE_REQUESTS: f64 = 30.0;
const STREAM_REQUESTS: f64 = 6.0;
const API_REQUESTS: f64 = 60.0;
const PAGE_BYTES: f64 = 6_291_456.0;
const API_BYTES: f64 = 1_048_576.0;
const STREAM_BYTES: f64 = 262_144.0;
const SSE_PODS: [f64; 2] = [25.0, 15.0];
const CONSUMED: f64 = 20.0;
const PRODUCED_BYTES: f64 = 12_288.0;
const FETCHED_BYTES: [(&str, f64); 2] = [("consumer", 12_288.0), ("frontend", 24_576.0)];

fn metered_rates() -> UsageRates {
    let h = 60.0;
    let gb = crate::estimate::BYTES_PER_GB;
    UsageRates {
        dynamodb_write_units_per_hour: WRITE_UNITS * h,
        dynamodb_failed_conditional_writes_per_hour: FAILED_WRITES * h,
        dynamodb_read_units_per_hour: (READ_UNITS_QUERY + READ_UNITS_GET) * h,
        edge_requests_per_hour: (PAGE_REQUESTS + STREAM_REQUESTS + API_REQUESTS) * h,
        page_views_per_hour: PAGE_REQUESTS * h,
        stream_starts_per_hour: STREAM_REQUESTS * h,
        egress_stream_gb_per_hour: STREAM_BYTES * h / gb,
        egress_pages_gb_per_hour: (PAGE_BYTES + API_BYTES) * h / gb,
        sse_streams: SSE_PODS.iter().sum(),
        events_ingested_per_hour: CONSUMED * h,
        kafka_produced_gb_per_hour: PRODUCED_BYTES * h / gb,
        kafka_fetched_gb_per_hour: FETCHED_BYTES.iter().map(|(_, b)| b).sum::<f64>() * h / gb,
    }
}

fn metered_series() -> Vec<Series> {
    let units = meters::CAPACITY_UNITS_METRIC;
    let edge = meters::EDGE_REQUESTS_METRIC;
    let bytes = meters::EDGE_RESPONSE_BYTES_METRIC;
    let kafka = meters::KAFKA_BYTES_METRIC;
    let mut s = vec![
        counter(
            format!("{units}{{table=\"quakes\",operation=\"PutItem\",kind=\"write\"}}"),
            WRITE_UNITS,
        ),
        counter(
            format!(
                "{}{{table=\"quakes\",operation=\"PutItem\",outcome=\"condition_failed\"}}",
                meters::REQUESTS_METRIC
            ),
            FAILED_WRITES,
        ),
        counter(
            format!(
                "{}{{table=\"quakes\",operation=\"PutItem\",outcome=\"ok\"}}",
                meters::REQUESTS_METRIC
            ),
            90.0,
        ),
        counter(
            format!("{units}{{table=\"quakes\",operation=\"Query\",kind=\"read\"}}"),
            READ_UNITS_QUERY,
        ),
        counter(
            format!("{units}{{table=\"quakes\",operation=\"GetItem\",kind=\"read\"}}"),
            READ_UNITS_GET,
        ),
        counter(format!("{edge}{{route=\"/\"}}"), PAGE_REQUESTS),
        counter(format!("{edge}{{route=\"/api/stream\"}}"), STREAM_REQUESTS),
        counter(format!("{edge}{{route=\"/api/quakes\"}}"), API_REQUESTS),
        counter(format!("{bytes}{{route=\"/\"}}"), PAGE_BYTES),
        counter(format!("{bytes}{{route=\"/api/quakes\"}}"), API_BYTES),
        counter(format!("{bytes}{{route=\"/api/stream\"}}"), STREAM_BYTES),
        counter(meters::CONSUMED_METRIC.to_owned(), CONSUMED),
        counter(
            format!("{kafka}{{component=\"producer\",topic=\"quakes\",direction=\"produced\"}}"),
            PRODUCED_BYTES,
        ),
    ];
    for (i, n) in SSE_PODS.iter().enumerate() {
        s.push(Series {
            series: format!("{}{{pod=\"frontend-{i}\"}}", meters::SSE_CLIENTS_METRIC),
            values: format!("{n}x10"),
        });
    }
    for (component, b) in FETCHED_BYTES {
        s.push(counter(
            format!("{kafka}{{component=\"{component}\",topic=\"quakes\",direction=\"fetched\"}}"),
            b,
        ));
    }
    s
}

fn yaml(f: &File, how: &str) -> String {
    format!(
        "# GENERATED by `quakestream cost generate` ({how}). Do not edit.\n# Run: promtool test rules {}\n{}",
        if how.starts_with("month") {
            MONTH_FILE
        } else {
            METERED_FILE
        },
        serde_saphyr::to_string(f).expect("tests serialise")
    )
}

/// The metered formulas: every metered item, the totals, the unit costs, the ALB's capacity units
/// and the HPA projection (without kube-state-metrics: the Terraform's bounds), after ten minutes
/// of steady traffic.
pub fn metered_tests(d: &Deployment, u: &Usage, book: &PriceBook) -> Result<String> {
    let r = metered_rates();
    let m = price(d, u, book, r)?;
    let b = estimate(d, u, book)?;
    let at = "10m";
    let mut t = Vec::new();
    for i in m.items.iter().filter(|i| i.basis == "metered") {
        t.push(equals(
            &format!("quakestream:cost_usd_per_hour{{item=\"{}\"}}", i.item),
            i.hourly,
            at,
        ));
    }
    let lcu = meters::lcu_dimensions(&r, u.header_bytes_per_request)
        .iter()
        .map(|(_, x)| *x)
        .fold(0.0, f64::max);
    t.push(equals("quakestream:alb_lcu", lcu, at));
    t.push(equals("quakestream:cost_usd_per_hour:total", m.total_hourly, at));
    t.push(equals(
        "quakestream:cost_estimate_usd_per_hour:total",
        b.total_hourly,
        at,
    ));
    t.push(equals("quakestream:cost_run_rate_monthly_usd", m.run_rate_monthly, at));
    let some = |x: Option<f64>| x.expect("the test traffic has every unit");
    for (expr, v) in [
        (
            "quakestream:cost_usd_per_1k_events{basis=\"marginal\"}",
            m.usd_per_1k_events_marginal,
        ),
        (
            "quakestream:cost_usd_per_1k_events{basis=\"fully_loaded\"}",
            m.usd_per_1k_events_fully_loaded,
        ),
        (
            "quakestream:cost_usd_per_1k_page_views{basis=\"marginal\"}",
            m.usd_per_1k_page_views_marginal,
        ),
        (
            "quakestream:cost_usd_per_1k_page_views{basis=\"fully_loaded\"}",
            m.usd_per_1k_page_views_fully_loaded,
        ),
        (
            "quakestream:cost_usd_per_browser_hour{basis=\"marginal\"}",
            m.usd_per_browser_hour_marginal,
        ),
        (
            "quakestream:cost_usd_per_browser_hour{basis=\"fully_loaded\"}",
            m.usd_per_browser_hour_fully_loaded,
        ),
    ] {
        t.push(equals(expr, some(v), at));
    }
    let it = book.region(&d.region)?.instance(&d.node_instance_type)?;
    let replica = u.frontend_cpu_request_vcpu * it.usd_per_hour / it.vcpu;
    let extra = f64::from(d.frontend_max_replicas - d.frontend_min_replicas);
    t.push(equals("quakestream:cost_frontend_replica_usd_per_hour", replica, at));
    t.push(equals(
        "quakestream:cost_projected_monthly_usd:by_replicas{replicas=\"min\"}",
        m.run_rate_monthly,
        at,
    ));
    t.push(equals(
        "quakestream:cost_projected_monthly_usd:by_replicas{replicas=\"max\"}",
        (m.total_hourly + extra * replica) * HOURS_PER_MONTH,
        at,
    ));
    let f = File {
        rule_files: vec!["quakestream-cost.rules.yml"],
        evaluation_interval: "1m",
        tests: vec![Test {
            interval: "1m",
            input_series: metered_series(),
            promql_expr_test: t,
        }],
    };
    Ok(yaml(&f, "metered formulas"))
}

/// The month-to-date accumulator and the projection, over January and into February 1970
/// (promtool's clock starts at the epoch), evaluated hourly with no traffic: the run rate is the
/// fixed part alone.
pub fn month_tests(d: &Deployment, u: &Usage, book: &PriceBook) -> Result<String> {
    let fixed = price(d, u, book, UsageRates::default())?.total_hourly;
    let t = vec![
        equals("quakestream:cost_accumulated_at_seconds", 36_000.0, "10h"),
        equals("quakestream:cost_month_to_date_usd", 0.0, "0h"),
        equals("quakestream:cost_month_to_date_usd", fixed, "1h"),
        equals("quakestream:cost_month_to_date_usd", 720.0 * fixed, "720h"),
        equals("quakestream:cost_month_to_date_usd", 743.0 * fixed, "743h"),
        // February 1st, 00:00: a new month starts from zero.
        equals("quakestream:cost_month_to_date_usd", 0.0, "744h"),
        equals("quakestream:cost_month_to_date_usd", 2.0 * fixed, "746h"),
        // January has 744 hours; February 1970 has 672.
        equals("quakestream:cost_projected_month_usd", 744.0 * fixed, "336h"),
        equals("quakestream:cost_projected_month_usd", 672.0 * fixed, "746h"),
        equals("quakestream:cost_run_rate_monthly_usd", HOURS_PER_MONTH * fixed, "746h"),
    ];
    let f = File {
        rule_files: vec!["quakestream-cost.rules.yml"],
        evaluation_interval: "1h",
        tests: vec![Test {
            interval: "1h",
            input_series: vec![Series {
                series: "up{job=\"idle\"}".into(),
                values: "1x800".into(),
            }],
            promql_expr_test: t,
        }],
    };
    Ok(yaml(&f, "month to date"))
}
