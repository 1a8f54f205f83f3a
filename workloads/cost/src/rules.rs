//! The Prometheus recording rules that turn the workloads' meters into cost, generated from the
//! estimate (the same deployment, usage profile and price tables), so the rules hold no price of
//! their own. `quakestream cost rules` prints them; the checked-in copies are
//! `cost/rules/quakestream-cost.rules.yml` (tested by `promtool test rules`) and
//! `charts/values/prometheus-cost-rules.yaml` (Helm values for the prometheus chart), and a test
//! fails when either is stale.
//!
//! Series (all `quakestream:`):
//! - usage rates: `dynamodb_*_per_hour`, `edge_*`, `page_views_per_hour`, `sse_streams`,
//!   `events_ingested_per_hour`, `kafka_gb_per_hour{direction}`, `alb_lcu` (max of `alb_lcu_dimension`);
//! - `cost_estimate_usd_per_hour{component,resource,item,basis}`: the estimate, constant;
//! - `cost_usd_per_hour{...}`: the run rate, metered items from the meters and the rest as estimated;
//! - `:total`, `:by_component`, `cost_run_rate_monthly_usd`, `cost_estimate_monthly_usd`;
//! - unit costs `cost_usd_per_1k_events`, `cost_usd_per_1k_page_views`, `cost_usd_per_browser_hour`
//!   (`basis` = `marginal` or `fully_loaded`);
//! - `cost_month_to_date_usd` (accumulated), `cost_projected_month_usd`;
//! - the HPA: `frontend_replicas{,_min,_max}`, `cost_frontend_replica_usd_per_hour`,
//!   `cost_projected_monthly_usd:by_replicas{replicas}`.

use crate::error::Result;
use crate::estimate::{BYTES_PER_GB, Breakdown, HOURS_PER_MONTH, estimate};
use crate::meters::{self, Meter};
use crate::prices::PriceBook;
use crate::terraform::Deployment;
use crate::usage::Usage;
use serde::Serialize;
use std::collections::BTreeMap;

/// The rate() window of every usage series.
pub const RATE_WINDOW: &str = "5m";
/// Evaluation interval of the group.
pub const INTERVAL: &str = "1m";
/// How far back the month-to-date accumulator looks for its previous value (a month and a day,
/// so it survives any Prometheus outage shorter than that).
pub const ACCUMULATOR_LOOKBACK: &str = "32d";
pub const GROUP: &str = "quakestream-cost";
/// Where the checked-in copies live, relative to the repository root.
pub const RULES_FILE: &str = "cost/rules/quakestream-cost.rules.yml";
pub const HELM_VALUES_FILE: &str = "charts/values/prometheus-cost-rules.yaml";

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rule {
    pub record: String,
    pub expr: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    pub region: String,
    pub prices_read_on: String,
    pub rules: Vec<Rule>,
}

fn rule(record: &str, expr: impl Into<String>) -> Rule {
    Rule {
        record: format!("quakestream:{record}"),
        expr: expr.into(),
        labels: BTreeMap::new(),
    }
}

fn with(mut r: Rule, labels: &[(&str, &str)]) -> Rule {
    for (k, v) in labels {
        r.labels.insert((*k).to_owned(), (*v).to_owned());
    }
    r
}

/// `sum(rate(<selector>[5m])) * 3600 <scale>`, 0 when nothing is exported yet.
fn per_hour(selector: &str, scale: &str) -> String {
    format!("(sum(rate({selector}[{RATE_WINDOW}])) or vector(0)) * 3600{scale}")
}

/// Generates the rules for a deployment and usage profile.
pub fn generate(d: &Deployment, u: &Usage, book: &PriceBook) -> Result<Rules> {
    let b = estimate(d, u, book)?;
    let mut rules = usage_rules(u);
    rules.extend(cost_rules(d, &b));
    rules.extend(total_rules());
    rules.extend(unit_rules());
    rules.extend(hpa_rules(d, u, book)?);
    rules.extend(month_rules());
    Ok(Rules {
        region: d.region.clone(),
        prices_read_on: b.prices_read_on,
        rules,
    })
}

fn usage_rules(u: &Usage) -> Vec<Rule> {
    let units = meters::CAPACITY_UNITS_METRIC;
    let edge_bytes = meters::EDGE_RESPONSE_BYTES_METRIC;
    let gb = format!(" / {BYTES_PER_GB}");
    let kafka = |dir: &str| {
        with(
            rule(
                "kafka_gb_per_hour",
                per_hour(&format!("{}{{direction=\"{dir}\"}}", meters::KAFKA_BYTES_METRIC), &gb),
            ),
            &[("direction", dir)],
        )
    };
    vec![
        rule(
            "dynamodb_write_units_per_hour",
            per_hour(&format!("{units}{{kind=\"write\"}}"), ""),
        ),
        rule(
            "dynamodb_failed_conditional_writes_per_hour",
            per_hour(
                &format!(
                    "{}{{operation=\"PutItem\",outcome=\"condition_failed\"}}",
                    meters::REQUESTS_METRIC
                ),
                "",
            ),
        ),
        rule(
            "dynamodb_read_units_per_hour",
            per_hour(&format!("{units}{{kind=\"read\"}}"), ""),
        ),
        rule("edge_requests_per_hour", per_hour(meters::EDGE_REQUESTS_METRIC, "")),
        rule(
            "page_views_per_hour",
            per_hour(
                &format!("{}{{route=\"{}\"}}", meters::EDGE_REQUESTS_METRIC, meters::PAGE_ROUTE),
                "",
            ),
        ),
        rule(
            "stream_starts_per_hour",
            per_hour(
                &format!("{}{{route=\"{}\"}}", meters::EDGE_REQUESTS_METRIC, meters::STREAM_ROUTE),
                "",
            ),
        ),
        with(
            rule(
                "edge_egress_gb_per_hour",
                per_hour(&format!("{edge_bytes}{{route=\"{}\"}}", meters::STREAM_ROUTE), &gb),
            ),
            &[("traffic", "stream")],
        ),
        with(
            rule(
                "edge_egress_gb_per_hour",
                per_hour(&format!("{edge_bytes}{{route!=\"{}\"}}", meters::STREAM_ROUTE), &gb),
            ),
            &[("traffic", "pages")],
        ),
        rule(
            "sse_streams",
            format!("sum({}) or vector(0)", meters::SSE_CLIENTS_METRIC),
        ),
        rule("events_ingested_per_hour", per_hour(meters::CONSUMED_METRIC, "")),
        kafka("produced"),
        kafka("fetched"),
        with(
            rule(
                "alb_lcu_dimension",
                format!(
                    "(quakestream:page_views_per_hour + quakestream:stream_starts_per_hour) / 3600 / {}",
                    crate::estimate::LCU_NEW_CONNECTIONS_PER_SECOND
                ),
            ),
            &[("dimension", "new_connections")],
        ),
        with(
            rule(
                "alb_lcu_dimension",
                format!("quakestream:sse_streams / {}", crate::estimate::LCU_ACTIVE_CONNECTIONS),
            ),
            &[("dimension", "active_connections")],
        ),
        with(
            rule(
                "alb_lcu_dimension",
                format!(
                    "(sum(quakestream:edge_egress_gb_per_hour) + quakestream:edge_requests_per_hour * {} / {BYTES_PER_GB}) / {}",
                    u.header_bytes_per_request,
                    crate::estimate::LCU_PROCESSED_GB_PER_HOUR
                ),
            ),
            &[("dimension", "processed_bytes")],
        ),
        rule("alb_lcu", "max(quakestream:alb_lcu_dimension)"),
    ]
}

/// For every estimate component: its estimate (constant) and its run rate (the meters' figure
/// for metered items, the estimate otherwise), priced at the component's own unit price.
fn cost_rules(d: &Deployment, b: &Breakdown) -> Vec<Rule> {
    let mut estimates = Vec::new();
    let mut measured = Vec::new();
    for r in &b.resources {
        for c in &r.components {
            let labels = [
                ("component", c.driver),
                ("resource", r.address.as_str()),
                ("item", c.item.as_str()),
            ];
            let note = format!(
                "# {}: {} USD per {} ({}, {} in {})\n",
                c.name, c.unit_price, c.unit, c.region, c.price, b.region
            );
            let constant = format!("{note}vector({})", c.hourly);
            let basis = [("basis", c.basis)];
            estimates.push(with(
                with(rule("cost_estimate_usd_per_hour", constant.clone()), &labels),
                &basis,
            ));
            let metered = Meter::of_item(&c.item);
            if metered.is_empty() {
                measured.push(with(with(rule("cost_usd_per_hour", constant), &labels), &basis));
            }
            for m in metered {
                let expr = format!("{note}{} * {}", m.promql(d), c.unit_price);
                let mut r = with(with(rule("cost_usd_per_hour", expr), &labels), &[("basis", "metered")]);
                if let Some(l) = m.labels() {
                    r = with(r, &[l]);
                }
                measured.push(r);
            }
        }
    }
    estimates.extend(measured);
    estimates
}

fn total_rules() -> Vec<Rule> {
    let hours = HOURS_PER_MONTH;
    vec![
        rule(
            "cost_estimate_usd_per_hour:total",
            "sum(quakestream:cost_estimate_usd_per_hour)",
        ),
        rule("cost_usd_per_hour:total", "sum(quakestream:cost_usd_per_hour)"),
        rule(
            "cost_estimate_usd_per_hour:by_component",
            "sum by (component) (quakestream:cost_estimate_usd_per_hour)",
        ),
        rule(
            "cost_usd_per_hour:by_component",
            "sum by (component) (quakestream:cost_usd_per_hour)",
        ),
        rule(
            "cost_estimate_monthly_usd",
            format!("quakestream:cost_estimate_usd_per_hour:total * {hours}"),
        ),
        rule(
            "cost_run_rate_monthly_usd",
            format!("quakestream:cost_usd_per_hour:total * {hours}"),
        ),
    ]
}

fn unit_rules() -> Vec<Rule> {
    let marginal = [("basis", "marginal")];
    let full = [("basis", "fully_loaded")];
    let items = |re: &str| format!("(sum(quakestream:cost_usd_per_hour{{item=~\"{re}\"}})\n  or vector(0))");
    let stream = "(sum(quakestream:cost_usd_per_hour{item=\"internet_egress\",traffic=\"stream\"}) or vector(0))";
    let pages = "(sum(quakestream:cost_usd_per_hour{item=\"internet_egress\",traffic=\"pages\"}) or vector(0))";
    let events = "(quakestream:events_ingested_per_hour > 0)";
    let views = "(quakestream:page_views_per_hour > 0)";
    let streams = "(quakestream:sse_streams > 0)";
    let total = "quakestream:cost_usd_per_hour:total";
    vec![
        with(
            rule(
                "cost_usd_per_1k_events",
                format!(
                    "{}\n/ {events} * 1000",
                    items(&meters::item_regex(&meters::INGEST_KINDS))
                ),
            ),
            &marginal,
        ),
        with(
            rule("cost_usd_per_1k_events", format!("{total} / {events} * 1000")),
            &full,
        ),
        with(
            rule(
                "cost_usd_per_1k_page_views",
                format!(
                    "(\n  {}\n  + {pages}\n)\n/ {views} * 1000",
                    items(&meters::item_regex(&meters::PAGE_VIEW_KINDS))
                ),
            ),
            &marginal,
        ),
        with(
            rule("cost_usd_per_1k_page_views", format!("{total} / {views} * 1000")),
            &full,
        ),
        with(
            rule("cost_usd_per_browser_hour", format!("{stream} / {streams}")),
            &marginal,
        ),
        with(rule("cost_usd_per_browser_hour", format!("{total} / {streams}")), &full),
    ]
}

/// The frontend's HPA: what a replica's share of a node costs, and the run rate at the HPA's
/// bounds if the nodes followed the replicas (a cluster autoscaler or Karpenter).
fn hpa_rules(d: &Deployment, u: &Usage, book: &PriceBook) -> Result<Vec<Rule>> {
    let it = book.region(&d.region)?.instance(&d.node_instance_type)?;
    let per_vcpu = it.usd_per_hour / it.vcpu;
    let hpa = "horizontalpodautoscaler=~\".+-frontend\"";
    let replicas = |record: &str, metric: &str, fallback: u32| {
        rule(
            record,
            format!("sum(kube_horizontalpodautoscaler_{metric}{{{hpa}}}) or vector({fallback})"),
        )
    };
    let at = |which: &str, series: &str| {
        with(
            rule(
                "cost_projected_monthly_usd:by_replicas",
                format!(
                    "(\n  quakestream:cost_usd_per_hour:total\n  + ({series} - quakestream:frontend_replicas) * quakestream:cost_frontend_replica_usd_per_hour\n) * {HOURS_PER_MONTH}"
                ),
            ),
            &[("replicas", which)],
        )
    };
    Ok(vec![
        replicas("frontend_replicas", "status_current_replicas", d.frontend_min_replicas),
        replicas("frontend_replicas_min", "spec_min_replicas", d.frontend_min_replicas),
        replicas("frontend_replicas_max", "spec_max_replicas", d.frontend_max_replicas),
        rule(
            "cost_frontend_replica_usd_per_hour",
            format!(
                "# {}: {} USD per hour for {} vCPU\n(avg(kube_pod_container_resource_requests{{container=\"frontend\",resource=\"cpu\"}}) or vector({})) * {per_vcpu}",
                d.node_instance_type, it.usd_per_hour, it.vcpu, u.frontend_cpu_request_vcpu
            ),
        ),
        at("min", "quakestream:frontend_replicas_min"),
        at("current", "quakestream:frontend_replicas"),
        at("max", "quakestream:frontend_replicas_max"),
    ])
}

/// Month to date: the previous figure (if it is from this month) plus the run rate over the time
/// since it was recorded (at most since the month began), so evaluations missed during a
/// Prometheus outage are filled at the current rate; zero on the first evaluation ever.
fn month_rules() -> Vec<Rule> {
    let since_month_start = "((day_of_month() - 1) * 86400 + time() % 86400)";
    let last = |s: &str| format!("last_over_time(quakestream:{s}[{ACCUMULATOR_LOOKBACK}])");
    let mtd = format!(
        "# previous figure, if recorded this month\n(\n  (\n    {prev}\n    and on() (month({at}) == on() month())\n  )\n  or on() vector(0)\n)\n+ on()\n# the run rate since then, at most since the month began\n(\n  quakestream:cost_usd_per_hour:total\n    * on() clamp_max(\n      time() - {at},\n      scalar({since_month_start})\n    ) / 3600\n  or on() vector(0)\n)",
        prev = last("cost_month_to_date_usd"),
        at = last("cost_accumulated_at_seconds"),
    );
    vec![
        rule("cost_month_to_date_usd", mtd),
        rule("cost_accumulated_at_seconds", "vector(time())"),
        rule(
            "cost_projected_month_usd",
            format!(
                "quakestream:cost_month_to_date_usd\n+ on() quakestream:cost_usd_per_hour:total\n  * on() ((days_in_month() * 86400 - {since_month_start}) / 3600)"
            ),
        ),
    ]
}

#[derive(Serialize)]
struct YamlRule<'a> {
    record: &'a str,
    expr: serde_saphyr::LitStr<'a>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    labels: &'a BTreeMap<String, String>,
}

#[derive(Serialize)]
struct YamlGroup<'a> {
    name: &'static str,
    interval: &'static str,
    rules: Vec<YamlRule<'a>>,
}

#[derive(Serialize)]
struct YamlFile<'a> {
    groups: Vec<YamlGroup<'a>>,
}

fn groups(r: &Rules) -> YamlFile<'_> {
    let rules = r
        .rules
        .iter()
        .map(|x| YamlRule {
            record: &x.record,
            expr: serde_saphyr::LitStr(&x.expr),
            labels: &x.labels,
        })
        .collect();
    YamlFile {
        groups: vec![YamlGroup {
            name: GROUP,
            interval: INTERVAL,
            rules,
        }],
    }
}

fn header(r: &Rules, how: &str) -> String {
    format!(
        "# GENERATED by `quakestream cost generate` (as `quakestream cost rules{how}` prints it)\n# from cost/prices/*.yaml (read {}), cost/usage.yaml and the defaults of eks/*.tf\n# (region {}). Do not edit: change the sources and regenerate.\n",
        r.prices_read_on, r.region
    )
}

/// A Prometheus rules file.
pub fn rules_file(r: &Rules) -> String {
    header(r, "") + &serde_saphyr::to_string(&groups(r)).expect("rules serialise")
}

/// Helm values for the prometheus chart: the same groups as `serverFiles.recording_rules.yml`.
pub fn helm_values(r: &Rules) -> String {
    #[derive(Serialize)]
    struct Values<'a> {
        #[serde(rename = "serverFiles")]
        server_files: BTreeMap<&'static str, YamlFile<'a>>,
    }
    let v = Values {
        server_files: BTreeMap::from([("recording_rules.yml", groups(r))]),
    };
    header(r, " --helm-values") + &serde_saphyr::to_string(&v).expect("values serialise")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        let tf = crate::terraform::TerraformDir::load(&crate::cli::repo_eks_dir()).unwrap();
        let vars = crate::terraform::Variables::new(tf.defaults(), None).unwrap();
        let d = Deployment::resolve(&tf, &vars).unwrap();
        generate(&d, &Usage::bundled(), &PriceBook::bundled().unwrap()).unwrap()
    }

    #[test]
    fn lines_fit_the_yaml_lint_width() {
        let r = rules();
        for text in [rules_file(&r), helm_values(&r)] {
            for l in text.lines() {
                assert!(l.chars().count() <= 140, "{} chars: {l}", l.chars().count());
            }
        }
    }

    #[test]
    fn every_estimate_component_has_an_estimate_and_a_run_rate() {
        let r = rules();
        let count = |record: &str| r.rules.iter().filter(|x| x.record == record).count();
        let estimates = count("quakestream:cost_estimate_usd_per_hour");
        // internet_egress is metered as two series (pages and the live stream).
        assert_eq!(count("quakestream:cost_usd_per_hour"), estimates + 1);
        assert!(estimates > 25, "{estimates}");
        for x in r.rules.iter().filter(|x| x.record == "quakestream:cost_usd_per_hour") {
            assert!(
                x.labels.contains_key("component") && x.labels.contains_key("item"),
                "{x:?}"
            );
        }
    }

    #[test]
    fn metered_items_use_the_estimate_unit_price() {
        let r = rules();
        let book = PriceBook::bundled().unwrap();
        let wru = book.region("eu-west-1").unwrap().usd("dynamodb_write").unwrap() / 1e6;
        let metered = r
            .rules
            .iter()
            .find(|x| {
                x.labels.get("item").map(String::as_str) == Some("dynamodb_writes") && x.labels["basis"] == "metered"
            })
            .unwrap();
        assert!(metered.expr.ends_with(&format!(" * {wru}")), "{}", metered.expr);
    }
}
