//! The estimate: one row per billable resource of the Terraform, each with its components
//! (quantity a month, unit, unit price, hourly and monthly cost), priced from the price tables.

use crate::error::Result;
use crate::prices::{PriceBook, PriceTable};
use crate::terraform::Deployment;
use crate::usage::Usage;
use serde::Serialize;

/// Hours in the month every monthly figure is computed over (AWS's own convention).
pub const HOURS_PER_MONTH: f64 = 730.0;
/// Days in that month.
pub const DAYS_PER_MONTH: f64 = HOURS_PER_MONTH / 24.0;
/// Bytes in a GB as AWS bills data and storage (GiB).
pub const BYTES_PER_GB: f64 = 1_073_741_824.0;
/// ALB capacity unit dimensions (one LCU = the largest of them, per hour).
pub const LCU_NEW_CONNECTIONS_PER_SECOND: f64 = 25.0;
pub const LCU_ACTIVE_CONNECTIONS: f64 = 3000.0;
pub const LCU_PROCESSED_GB_PER_HOUR: f64 = 1.0;

/// One priced component of a resource.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Component {
    /// A stable key of the component (`nodes`, `dynamodb_writes`, `replicated_writes:eu-central-1`),
    /// shared with the cost rules' `item` label.
    pub item: String,
    /// The cost driver it belongs to (`nodes`, `dynamodb`, `egress`, ...), the rules' `component` label.
    pub driver: &'static str,
    pub name: String,
    /// Quantity a month, in `unit`.
    pub quantity: f64,
    pub unit: String,
    /// USD per `unit`.
    pub unit_price: f64,
    /// The price's key in the region's table, and the region.
    pub price: String,
    pub region: String,
    pub hourly: f64,
    pub monthly: f64,
    /// `terraform` (a fixed quantity from the configuration) or `usage` (from the usage profile).
    pub basis: &'static str,
}

/// One billable resource (a Terraform address) and its components.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResourceCost {
    pub address: String,
    pub components: Vec<Component>,
    pub monthly: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Breakdown {
    pub region: String,
    pub currency: &'static str,
    pub hours_per_month: f64,
    pub prices_read_on: String,
    pub deployment: Deployment,
    pub usage: Usage,
    pub resources: Vec<ResourceCost>,
    pub total_hourly: f64,
    pub total_monthly: f64,
    pub uncertainties: Vec<&'static str>,
}

/// How the estimate models what it cannot know exactly (printed with every estimate).
pub const UNCERTAINTIES: [&str; 8] = [
    "ALB capacity units: AWS bills the largest of four dimensions each hour; the estimate takes the monthly average of each (new connections, active connections, processed bytes; rule evaluations are free below 10 rules), so bursty traffic costs more than shown.",
    "Data transfer: egress to the internet is page views x page weight + open streams x stream bytes, at the first-10-TB rate; the free 100 GB a month (per account) is not subtracted. Inter-AZ traffic is Kafka replication and fetches modelled from the record size, plus a fixed allowance for scrapes and log shipping.",
    "DynamoDB is on demand: writes are events x write units per event (measured with quakestream dev), reads a fraction of page views plus frontend warm-ups; a provisioned table would bill capacity per hour instead, which is not modelled. Replicated writes equal the primary's write units.",
    "NAT: the gateways' hours are exact; the data they process (image pulls, the EMSC feed) is a fixed monthly allowance from the usage profile.",
    "Nodes: on-demand list price of the node group's first instance type; SPOT capacity is priced at on-demand as an upper bound (spot prices change hourly). The node count is the desired size (no cluster autoscaler is installed).",
    "Storage: EBS volumes as provisioned; DynamoDB storage from events kept a year without TTL; CloudWatch log storage at its retention, uncompressed.",
    "Free tiers, Savings Plans, reserved capacity, tax and support plans are not applied. Route 53 (the hosted zone is yours) and ACM (free) are not counted.",
    "Prices are the checked-in list prices (see each price table's read_on and how_read); AWS changes them.",
];

struct Lines<'a> {
    prices: &'a PriceTable,
    components: Vec<Component>,
}

impl<'a> Lines<'a> {
    fn new(prices: &'a PriceTable) -> Self {
        Lines {
            prices,
            components: Vec::new(),
        }
    }

    /// A component of `q` priced at `key` (per `q.per` units of the price).
    fn add(&mut self, id: (&str, &'static str), name: impl Into<String>, q: Qty, key: &str) -> Result<()> {
        let unit_price = self.prices.usd(key)? / q.per;
        self.push(id, name.into(), q, unit_price, key);
        Ok(())
    }

    fn push(&mut self, (item, driver): (&str, &'static str), name: String, q: Qty, unit_price: f64, key: &str) {
        let (quantity, basis) = (q.amount, q.basis);
        let monthly = quantity * unit_price;
        self.components.push(Component {
            item: item.to_owned(),
            driver,
            name,
            quantity,
            unit: q.unit.to_owned(),
            unit_price,
            price: key.to_owned(),
            region: self.prices.region.clone(),
            hourly: monthly / HOURS_PER_MONTH,
            monthly,
            basis,
        });
    }

    fn done(self, address: &str) -> ResourceCost {
        ResourceCost {
            address: address.to_owned(),
            monthly: self.components.iter().map(|c| c.monthly).sum(),
            components: self.components,
        }
    }
}

/// A monthly quantity: fixed by the Terraform, or from the usage profile; `per` units per price
/// unit (1e6 for prices per million).
#[derive(Debug, Clone, Copy)]
struct Qty {
    amount: f64,
    unit: &'static str,
    per: f64,
    basis: &'static str,
}

/// The quantity is fixed by the Terraform.
pub const BASIS_TERRAFORM: &str = "terraform";
/// The quantity comes from the usage profile.
pub const BASIS_USAGE: &str = "usage";

fn fixed(amount: f64, unit: &'static str) -> Qty {
    Qty {
        amount,
        unit,
        per: 1.0,
        basis: BASIS_TERRAFORM,
    }
}

fn usage(amount: f64, unit: &'static str) -> Qty {
    Qty {
        amount,
        unit,
        per: 1.0,
        basis: BASIS_USAGE,
    }
}

impl Qty {
    fn per_million(self) -> Qty {
        Qty { per: 1e6, ..self }
    }
}

/// Derived monthly traffic of a usage profile.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Traffic {
    pub records_per_month: f64,
    pub page_views_per_month: f64,
    pub stream_bytes_per_browser_hour: f64,
    pub egress_gb_per_month: f64,
    pub requests_per_month: f64,
    pub lcu: f64,
    pub kafka_inter_az_gb_per_month: f64,
}

impl Traffic {
    pub fn of(d: &Deployment, u: &Usage) -> Traffic {
        let records = u.events_per_day * DAYS_PER_MONTH;
        let views = u.page_views_per_day * DAYS_PER_MONTH;
        let stream_bh =
            3600.0 / u.sse_heartbeat_seconds * u.sse_heartbeat_bytes + u.events_per_day / 24.0 * u.sse_event_bytes;
        let egress_bytes = views * u.page_view_kb * 1024.0 + u.open_browsers * HOURS_PER_MONTH * stream_bh;
        let reconnects = u.open_browsers * HOURS_PER_MONTH * u.stream_reconnects_per_browser_hour;
        let requests = views * u.requests_per_page_view + reconnects;
        let new_conn_per_s = (views + reconnects) / (HOURS_PER_MONTH * 3600.0);
        let processed_gb_h = (egress_bytes + requests * u.header_bytes_per_request) / BYTES_PER_GB / HOURS_PER_MONTH;
        let lcu = (new_conn_per_s / LCU_NEW_CONNECTIONS_PER_SECOND)
            .max(u.open_browsers / LCU_ACTIVE_CONNECTIONS)
            .max(processed_gb_h / LCU_PROCESSED_GB_PER_HOUR);
        // Replication to the other (RF - 1) brokers crosses AZs; each reader (the consumer and
        // every frontend replica) fetches from a leader in another AZ (azs - 1) / azs of the time.
        let azs = f64::from(d.availability_zones.max(1));
        let readers = 1.0 + f64::from(d.frontend_min_replicas);
        let crossings = f64::from(d.kafka_replication_factor.saturating_sub(1)) + readers * (azs - 1.0) / azs;
        Traffic {
            records_per_month: records,
            page_views_per_month: views,
            stream_bytes_per_browser_hour: stream_bh,
            egress_gb_per_month: egress_bytes / BYTES_PER_GB,
            requests_per_month: requests,
            lcu,
            kafka_inter_az_gb_per_month: records * u.kafka_record_bytes * crossings / BYTES_PER_GB,
        }
    }
}

/// Prices the deployment with the usage profile.
pub fn estimate(d: &Deployment, u: &Usage, book: &PriceBook) -> Result<Breakdown> {
    let p = book.region(&d.region)?;
    let t = Traffic::of(d, u);
    let mut resources = vec![
        eks(d, u, p)?,
        vpc(d, u, p)?,
        alb(d, &t, p)?,
        waf(d, &t, p)?,
        dynamodb(d, u, &t, book)?,
        kafka(d, &t, p)?,
        volume("helm_release.loki", "loki_volume", d.loki_volume_gb, p)?,
        volume(
            "helm_release.prometheus",
            "prometheus_volume",
            d.prometheus_volume_gb,
            p,
        )?,
    ];
    if d.login_pool {
        let mut l = Lines::new(p);
        let users = usage(u.login_users_per_month, "users");
        l.add(("login_users", "login"), "Monthly active users", users, "cognito_mau")?;
        resources.push(l.done("aws_cognito_user_pool.grafana"));
    }
    let total_monthly: f64 = resources.iter().map(|r| r.monthly).sum();
    Ok(Breakdown {
        region: d.region.clone(),
        currency: "USD",
        hours_per_month: HOURS_PER_MONTH,
        prices_read_on: p.read_on.clone(),
        deployment: d.clone(),
        usage: u.clone(),
        resources,
        total_hourly: total_monthly / HOURS_PER_MONTH,
        total_monthly,
        uncertainties: UNCERTAINTIES.to_vec(),
    })
}

fn eks(d: &Deployment, u: &Usage, p: &PriceTable) -> Result<ResourceCost> {
    let mut l = Lines::new(p);
    l.add(
        ("eks_control_plane", "control_plane"),
        "EKS control plane",
        fixed(HOURS_PER_MONTH, "cluster-hours"),
        "eks_cluster",
    )?;
    let it = p.instance(&d.node_instance_type)?;
    let nodes = f64::from(d.node_count);
    let name = format!(
        "Nodes ({} x {}, {})",
        d.node_count, d.node_instance_type, d.node_capacity_type
    );
    l.push(
        ("nodes", "nodes"),
        name,
        fixed(nodes * HOURS_PER_MONTH, "instance-hours"),
        it.usd_per_hour,
        "instance",
    );
    let disks = format!("Node root volumes ({} x {} GB gp3)", d.node_count, d.node_disk_gb);
    l.add(
        ("node_volumes", "storage"),
        disks,
        fixed(nodes * d.node_disk_gb, "GB-months"),
        "ebs_gp3_storage",
    )?;
    let ingested = usage(u.log_gb_per_month, "GB");
    l.add(
        ("control_plane_logs_ingested", "logs"),
        "Control-plane logs ingested",
        ingested,
        "cloudwatch_logs_ingest",
    )?;
    let stored = usage(
        u.log_gb_per_month * d.control_plane_log_retention_days / DAYS_PER_MONTH,
        "GB-months",
    );
    let name = format!(
        "Control-plane logs stored ({} days)",
        d.control_plane_log_retention_days
    );
    l.add(
        ("control_plane_logs_stored", "logs"),
        name,
        stored,
        "cloudwatch_logs_storage",
    )?;
    Ok(l.done("module.eks"))
}

fn vpc(d: &Deployment, u: &Usage, p: &PriceTable) -> Result<ResourceCost> {
    let mut l = Lines::new(p);
    let nat = f64::from(d.nat_gateways);
    let name = format!("NAT gateways ({})", d.nat_gateways);
    l.add(
        ("nat_gateways", "nat"),
        name,
        fixed(nat * HOURS_PER_MONTH, "gateway-hours"),
        "nat_gateway",
    )?;
    l.add(
        ("nat_data", "nat"),
        "NAT data processed",
        usage(u.nat_gb_per_month, "GB"),
        "nat_gateway_data",
    )?;
    let ips = fixed(nat * HOURS_PER_MONTH, "address-hours");
    l.add(("nat_ipv4", "nat"), "NAT public IPv4 addresses", ips, "public_ipv4")?;
    let other = usage(u.other_inter_az_gb_per_month, "GB");
    l.add(
        ("other_inter_az", "network"),
        "Other inter-AZ traffic",
        other,
        "data_transfer_inter_az",
    )?;
    Ok(l.done("module.vpc"))
}

fn alb(d: &Deployment, t: &Traffic, p: &PriceTable) -> Result<ResourceCost> {
    let mut l = Lines::new(p);
    l.add(
        ("alb", "load_balancer"),
        "Application Load Balancer",
        fixed(HOURS_PER_MONTH, "ALB-hours"),
        "alb",
    )?;
    let lcu = usage(t.lcu * HOURS_PER_MONTH, "LCU-hours");
    l.add(("alb_lcu", "load_balancer"), "ALB capacity units", lcu, "alb_lcu")?;
    let ips = fixed(f64::from(d.availability_zones) * HOURS_PER_MONTH, "address-hours");
    l.add(
        ("alb_ipv4", "load_balancer"),
        "ALB public IPv4 addresses (one per AZ)",
        ips,
        "public_ipv4",
    )?;
    let out = usage(t.egress_gb_per_month, "GB");
    l.add(
        ("internet_egress", "egress"),
        "Data transfer out to the internet",
        out,
        "data_transfer_internet_out",
    )?;
    Ok(l.done("helm_release.quakestream"))
}

fn waf(d: &Deployment, t: &Traffic, p: &PriceTable) -> Result<ResourceCost> {
    let mut l = Lines::new(p);
    l.add(
        ("waf_web_acl", "waf"),
        "Web ACL",
        fixed(1.0, "web-ACL-months"),
        "waf_web_acl",
    )?;
    let rules = fixed(f64::from(d.waf_rules), "rule-months");
    l.add(
        ("waf_rules", "waf"),
        format!("Rules ({})", d.waf_rules),
        rules,
        "waf_rule",
    )?;
    let requests = usage(t.requests_per_month, "requests").per_million();
    l.add(("waf_requests", "waf"), "Requests inspected", requests, "waf_requests")?;
    Ok(l.done("aws_wafv2_web_acl.frontend"))
}

fn dynamodb(d: &Deployment, u: &Usage, t: &Traffic, book: &PriceBook) -> Result<ResourceCost> {
    let p = book.region(&d.region)?;
    let wru = t.records_per_month * u.write_units_per_event;
    let rru = t.page_views_per_month * u.read_units_per_page_view
        + u.replica_starts_per_month * u.read_units_per_replica_start;
    let items = u.events_per_day / u.records_per_item * u.stored_days;
    let gb = items * u.item_kb * 1024.0 / BYTES_PER_GB;
    let replicated_gb = t.records_per_month * u.item_kb * 1024.0 / BYTES_PER_GB;
    let mut l = Lines::new(p);
    let db = "dynamodb";
    l.add(
        ("dynamodb_writes", db),
        "Write request units",
        usage(wru, "WRU").per_million(),
        "dynamodb_write",
    )?;
    l.add(
        ("dynamodb_reads", db),
        "Read request units",
        usage(rru, "RRU").per_million(),
        "dynamodb_read",
    )?;
    l.add(
        ("dynamodb_storage", db),
        "Storage",
        usage(gb, "GB-months"),
        "dynamodb_storage",
    )?;
    if d.point_in_time_recovery {
        l.add(
            ("dynamodb_pitr", db),
            "Point-in-time recovery",
            usage(gb, "GB-months"),
            "dynamodb_pitr",
        )?;
    }
    let mut components = l.components;
    for r in &d.replica_regions {
        let mut here = Lines::new(p);
        let traffic = usage(replicated_gb, "GB");
        let item = format!("replication_traffic:{r}");
        here.add(
            (&item, db),
            format!("Replication traffic to {r}"),
            traffic,
            "data_transfer_inter_region",
        )?;
        let mut there = Lines::new(book.region(r)?);
        let item = format!("replicated_writes:{r}");
        let rwru = usage(wru, "rWRU").per_million();
        there.add(
            (&item, db),
            format!("Replicated write request units ({r})"),
            rwru,
            "dynamodb_replicated_write",
        )?;
        let item = format!("replica_storage:{r}");
        there.add(
            (&item, db),
            format!("Storage ({r})"),
            usage(gb, "GB-months"),
            "dynamodb_storage",
        )?;
        if d.point_in_time_recovery {
            let item = format!("replica_pitr:{r}");
            there.add(
                (&item, db),
                format!("Point-in-time recovery ({r})"),
                usage(gb, "GB-months"),
                "dynamodb_pitr",
            )?;
        }
        components.extend(here.components);
        components.extend(there.components);
    }
    Ok(ResourceCost {
        address: "aws_dynamodb_table.quakes".into(),
        monthly: components.iter().map(|c| c.monthly).sum(),
        components,
    })
}

fn kafka(d: &Deployment, t: &Traffic, p: &PriceTable) -> Result<ResourceCost> {
    let mut l = Lines::new(p);
    let name = format!("Broker volumes ({} x {} GB gp3)", d.kafka_brokers, d.kafka_volume_gb);
    let gb = fixed(f64::from(d.kafka_brokers) * d.kafka_volume_gb, "GB-months");
    l.add(("kafka_volumes", "storage"), name, gb, "ebs_gp3_storage")?;
    let across = usage(t.kafka_inter_az_gb_per_month, "GB");
    l.add(
        ("kafka_inter_az", "kafka"),
        "Replication and fetches across AZs",
        across,
        "data_transfer_inter_az",
    )?;
    Ok(l.done("helm_release.kafka"))
}

fn volume(address: &str, item: &str, gb: f64, p: &PriceTable) -> Result<ResourceCost> {
    let mut l = Lines::new(p);
    l.add(
        (item, "storage"),
        format!("Volume ({gb} GB gp3)"),
        fixed(gb, "GB-months"),
        "ebs_gp3_storage",
    )?;
    Ok(l.done(address))
}
