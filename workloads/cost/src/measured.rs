//! `quakestream cost measured`: scrapes running workloads' /metrics twice, computes the usage
//! rates between the scrapes and prices them exactly as the recording rules do ([`crate::meters`]):
//! the metered components from the meters, the rest as estimated from the Terraform.

use crate::error::{CostError, Result};
use crate::estimate::{BYTES_PER_GB, HOURS_PER_MONTH, estimate};
use crate::meters::{self, Meter, UsageRates};
use crate::prices::PriceBook;
use crate::render::money;
use crate::terraform::Deployment;
use crate::usage::Usage;
use prometheus_parse::{Sample, Scrape, Value};
use serde::Serialize;
use std::fmt::Write;
use std::time::Duration;

/// Longest wait for one /metrics response.
pub const SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest /metrics body read (a workload's is a few tens of kB).
pub const MAX_METRICS_BYTES: usize = 16 * 1024 * 1024;
/// Shortest time between the two scrapes (rates over less are noise).
pub const MIN_OVER: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Serialize)]
pub struct MeasuredItem {
    pub resource: String,
    pub item: String,
    pub name: String,
    /// `metered` (from the meters) or the estimate's basis (`terraform`, `usage`).
    pub basis: &'static str,
    pub hourly: f64,
    pub monthly: f64,
    pub estimate_hourly: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Measured {
    pub sources: Vec<String>,
    pub over_seconds: f64,
    pub region: String,
    pub rates: UsageRates,
    pub items: Vec<MeasuredItem>,
    pub total_hourly: f64,
    pub run_rate_monthly: f64,
    pub estimate_monthly: f64,
    /// `None` when the unit did not occur between the scrapes.
    pub usd_per_1k_events_marginal: Option<f64>,
    pub usd_per_1k_events_fully_loaded: Option<f64>,
    pub usd_per_1k_page_views_marginal: Option<f64>,
    pub usd_per_1k_page_views_fully_loaded: Option<f64>,
    pub usd_per_browser_hour_marginal: Option<f64>,
    pub usd_per_browser_hour_fully_loaded: Option<f64>,
}

async fn scrape(client: &reqwest::Client, url: &str) -> Result<Vec<Sample>> {
    let err = |message: String| CostError::Metrics {
        url: url.to_owned(),
        message,
    };
    let mut resp = client.get(url).send().await.map_err(|e| err(e.to_string()))?;
    if !resp.status().is_success() {
        return Err(err(format!("HTTP {}", resp.status())));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| err(e.to_string()))? {
        if body.len() + chunk.len() > MAX_METRICS_BYTES {
            return Err(err(format!("more than {MAX_METRICS_BYTES} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    let text = String::from_utf8(body).map_err(|_| err("not UTF-8".into()))?;
    parse(url, &text)
}

/// Parses Prometheus text exposition; text with lines but not one sample is an error.
pub fn parse(what: &str, text: &str) -> Result<Vec<Sample>> {
    let err = |message: String| CostError::Metrics {
        url: what.to_owned(),
        message,
    };
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let samples = Scrape::parse(lines)
        .map_err(|e| err(format!("not Prometheus text: {e}")))?
        .samples;
    let content = text.lines().any(|l| !l.trim().is_empty() && !l.starts_with('#'));
    if content && samples.is_empty() {
        return Err(err("not Prometheus text: no sample in it".into()));
    }
    Ok(samples)
}

fn value(v: &Value) -> f64 {
    match v {
        Value::Counter(x) | Value::Gauge(x) | Value::Untyped(x) => *x,
        _ => 0.0,
    }
}

/// Sum of the samples of `metric` whose labels match every `(name, value)`; a value starting
/// with `!` matches any other value.
pub fn sum(samples: &[Sample], metric: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.metric == metric)
        .filter(|s| {
            labels.iter().all(|(k, v)| match v.strip_prefix('!') {
                Some(not) => s.labels.get(k) != Some(not),
                None => s.labels.get(k) == Some(*v),
            })
        })
        .map(|s| value(&s.value))
        .sum()
}

/// The usage rates between two scrapes `secs` apart (a counter that went down was reset: its
/// new value is what was counted since).
pub fn rates(before: &[Sample], after: &[Sample], secs: f64) -> UsageRates {
    let per_hour = |metric: &str, labels: &[(&str, &str)]| {
        let (a, b) = (sum(before, metric, labels), sum(after, metric, labels));
        let delta = if b >= a { b - a } else { b };
        delta / secs * 3600.0
    };
    let units = meters::CAPACITY_UNITS_METRIC;
    let edge = meters::EDGE_REQUESTS_METRIC;
    let bytes = meters::EDGE_RESPONSE_BYTES_METRIC;
    let stream = meters::STREAM_ROUTE;
    let not_stream = format!("!{stream}");
    UsageRates {
        dynamodb_write_units_per_hour: per_hour(units, &[("kind", "write")]),
        dynamodb_failed_conditional_writes_per_hour: per_hour(
            meters::REQUESTS_METRIC,
            &[("operation", "PutItem"), ("outcome", "condition_failed")],
        ),
        dynamodb_read_units_per_hour: per_hour(units, &[("kind", "read")]),
        edge_requests_per_hour: per_hour(edge, &[]),
        page_views_per_hour: per_hour(edge, &[("route", meters::PAGE_ROUTE)]),
        stream_starts_per_hour: per_hour(edge, &[("route", stream)]),
        egress_stream_gb_per_hour: per_hour(bytes, &[("route", stream)]) / BYTES_PER_GB,
        egress_pages_gb_per_hour: per_hour(bytes, &[("route", &not_stream)]) / BYTES_PER_GB,
        sse_streams: sum(after, meters::SSE_CLIENTS_METRIC, &[]),
        events_ingested_per_hour: per_hour(meters::CONSUMED_METRIC, &[]),
        kafka_produced_gb_per_hour: per_hour(meters::KAFKA_BYTES_METRIC, &[("direction", "produced")]) / BYTES_PER_GB,
        kafka_fetched_gb_per_hour: per_hour(meters::KAFKA_BYTES_METRIC, &[("direction", "fetched")]) / BYTES_PER_GB,
    }
}

/// Prices `r` the way the recording rules do.
pub fn price(d: &Deployment, u: &Usage, book: &PriceBook, r: UsageRates) -> Result<Measured> {
    let b = estimate(d, u, book)?;
    let mut items = Vec::new();
    for res in &b.resources {
        for c in &res.components {
            let metered = Meter::of_item(&c.item);
            let hourly = if metered.is_empty() {
                c.hourly
            } else {
                metered
                    .iter()
                    .map(|m| m.per_hour(&r, d, u.header_bytes_per_request))
                    .sum::<f64>()
                    * c.unit_price
            };
            items.push(MeasuredItem {
                resource: res.address.clone(),
                item: c.item.clone(),
                name: c.name.clone(),
                basis: if metered.is_empty() { c.basis } else { "metered" },
                hourly,
                monthly: hourly * HOURS_PER_MONTH,
                estimate_hourly: c.hourly,
            });
        }
    }
    let total: f64 = items.iter().map(|i| i.hourly).sum();
    let of = |kinds: &[&str]| -> f64 {
        items
            .iter()
            .filter(|i| kinds.contains(&meters::item_kind(&i.item)))
            .map(|i| i.hourly)
            .sum()
    };
    let per = |cost: f64, units: f64, scale: f64| (units > 0.0).then(|| cost / units * scale);
    let egress = |stream: bool| Meter::Egress { stream }.per_hour(&r, d, 0.0) * egress_price(&b);
    Ok(Measured {
        sources: Vec::new(),
        over_seconds: 0.0,
        region: b.region.clone(),
        rates: r,
        total_hourly: total,
        run_rate_monthly: total * HOURS_PER_MONTH,
        estimate_monthly: b.total_monthly,
        usd_per_1k_events_marginal: per(of(&meters::INGEST_KINDS), r.events_ingested_per_hour, 1000.0),
        usd_per_1k_events_fully_loaded: per(total, r.events_ingested_per_hour, 1000.0),
        usd_per_1k_page_views_marginal: per(
            of(&meters::PAGE_VIEW_KINDS) + egress(false),
            r.page_views_per_hour,
            1000.0,
        ),
        usd_per_1k_page_views_fully_loaded: per(total, r.page_views_per_hour, 1000.0),
        usd_per_browser_hour_marginal: per(egress(true), r.sse_streams, 1.0),
        usd_per_browser_hour_fully_loaded: per(total, r.sse_streams, 1.0),
        items,
    })
}

fn egress_price(b: &crate::estimate::Breakdown) -> f64 {
    b.resources
        .iter()
        .flat_map(|r| &r.components)
        .find(|c| c.item == "internet_egress")
        .map_or(0.0, |c| c.unit_price)
}

/// Scrapes `urls` twice, `over` apart, and prices the rates in between.
pub async fn measure(urls: &[String], over: Duration, d: &Deployment, u: &Usage, book: &PriceBook) -> Result<Measured> {
    let over = over.max(MIN_OVER);
    let client = reqwest::Client::builder()
        .timeout(SCRAPE_TIMEOUT)
        .build()
        .map_err(|e| CostError::Metrics {
            url: urls.join(","),
            message: e.to_string(),
        })?;
    let all = |client: &reqwest::Client| {
        let client = client.clone();
        async move {
            let mut out = Vec::new();
            for url in urls {
                out.extend(scrape(&client, url).await?);
            }
            Ok::<_, CostError>(out)
        }
    };
    let before = all(&client).await?;
    let started = tokio::time::Instant::now();
    tokio::time::sleep(over).await;
    let after = all(&client).await?;
    let secs = started.elapsed().as_secs_f64();
    let mut m = price(d, u, book, rates(&before, &after, secs))?;
    m.sources = urls.to_vec();
    m.over_seconds = secs;
    Ok(m)
}

pub fn table(m: &Measured) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "QuakeStream's traffic as measured over {:.0} s from {}, priced as on EKS in {} (USD)\n",
        m.over_seconds,
        m.sources.join(", "),
        m.region
    );
    let r = &m.rates;
    let _ = writeln!(
        out,
        "Usage: {:.0} events/h ingested, {:.0} page views/h, {:.0} open streams, {:.1} DynamoDB WRU/h, {:.1} RRU/h, {:.4} GB/h out\n",
        r.events_ingested_per_hour,
        r.page_views_per_hour,
        r.sse_streams,
        r.dynamodb_write_units_per_hour + r.dynamodb_failed_conditional_writes_per_hour,
        r.dynamodb_read_units_per_hour,
        r.egress_pages_gb_per_hour + r.egress_stream_gb_per_hour
    );
    let _ = writeln!(
        out,
        " {:<58} {:<9} {:>10} {:>10} {:>12}",
        "Item", "Basis", "Hourly", "Monthly", "Estimated"
    );
    for i in &m.items {
        let name: String = format!("{} / {}", i.resource, i.name).chars().take(58).collect();
        let _ = writeln!(
            out,
            " {:<58} {:<9} {:>10.4} {:>10} {:>12}",
            name,
            i.basis,
            i.hourly,
            money(i.monthly, 2),
            money(i.estimate_hourly * HOURS_PER_MONTH, 2)
        );
    }
    let _ = writeln!(
        out,
        "\n Run rate {:.4} USD/h = {} a month (the estimate: {} a month)",
        m.total_hourly,
        money(m.run_rate_monthly, 2),
        money(m.estimate_monthly, 2)
    );
    let unit = |x: Option<f64>| x.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.6}"));
    let _ = writeln!(
        out,
        " USD per 1,000 events ingested: {} marginal, {} fully loaded",
        unit(m.usd_per_1k_events_marginal),
        unit(m.usd_per_1k_events_fully_loaded)
    );
    let _ = writeln!(
        out,
        " USD per 1,000 page views:      {} marginal, {} fully loaded",
        unit(m.usd_per_1k_page_views_marginal),
        unit(m.usd_per_1k_page_views_fully_loaded)
    );
    let _ = writeln!(
        out,
        " USD per browser-hour of live streaming: {} marginal, {} fully loaded",
        unit(m.usd_per_browser_hour_marginal),
        unit(m.usd_per_browser_hour_fully_loaded)
    );
    out
}
