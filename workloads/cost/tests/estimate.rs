//! The estimate for the Terraform's defaults, checked against a total computed here by hand from
//! the price tables (so the test stays exact when prices change), and the defaults it reads.

use quakestream_cost::estimate::{BYTES_PER_GB, DAYS_PER_MONTH, HOURS_PER_MONTH, estimate};
use quakestream_cost::prices::PriceBook;
use quakestream_cost::terraform::{Deployment, TerraformDir, Variables};
use quakestream_cost::usage::Usage;

/// The repository's eks/ with the variables' defaults only (a local terraform.tfvars is ignored).
fn defaults() -> Deployment {
    let tf = TerraformDir::load(&quakestream_cost::cli::repo_eks_dir()).unwrap();
    let vars = Variables::new(tf.defaults(), None).unwrap();
    Deployment::resolve(&tf, &vars).unwrap()
}

#[test]
fn reads_the_defaults_from_the_terraform() {
    let d = defaults();
    assert_eq!(d.region, "eu-west-1");
    assert_eq!(d.replica_regions, ["eu-central-1"]);
    assert_eq!(d.availability_zones, 3);
    assert_eq!(
        (d.node_count, d.node_instance_type.as_str(), d.node_disk_gb),
        (3, "m6i.large", 40.0)
    );
    assert_eq!(d.node_capacity_type, "ON_DEMAND");
    assert_eq!(d.nat_gateways, 1, "single_nat_gateway = true");
    assert_eq!(
        (d.kafka_brokers, d.kafka_replication_factor, d.kafka_volume_gb),
        (3, 3, 20.0)
    );
    assert_eq!((d.loki_volume_gb, d.prometheus_volume_gb), (20.0, 20.0));
    assert_eq!(d.waf_rules, 3);
    assert_eq!(d.control_plane_log_retention_days, 7.0);
    assert_eq!((d.frontend_min_replicas, d.frontend_max_replicas), (2, 10));
    assert!(d.point_in_time_recovery);
    assert!(
        !d.grafana_public && !d.login_pool,
        "Grafana (and its login) are not public by default"
    );
}

#[test]
fn default_estimate_matches_the_hand_computed_total() {
    let d = defaults();
    let u = Usage::bundled();
    let book = PriceBook::bundled().unwrap();
    let b = estimate(&d, &u, &book).unwrap();

    let w = book.region("eu-west-1").unwrap();
    let c = book.region("eu-central-1").unwrap();
    let p = |k: &str| w.usd(k).unwrap();
    let (h, days, gib) = (HOURS_PER_MONTH, DAYS_PER_MONTH, BYTES_PER_GB);
    let node = w.instance("m6i.large").unwrap().usd_per_hour;

    let eks = 0.10 * h
        + 3.0 * node * h
        + 3.0 * 40.0 * p("ebs_gp3_storage")
        + u.log_gb_per_month * p("cloudwatch_logs_ingest")
        + u.log_gb_per_month * 7.0 / days * p("cloudwatch_logs_storage");
    let vpc = h * p("nat_gateway")
        + u.nat_gb_per_month * p("nat_gateway_data")
        + h * p("public_ipv4")
        + u.other_inter_az_gb_per_month * p("data_transfer_inter_az");

    let views = u.page_views_per_day * days;
    let records = u.events_per_day * days;
    let stream_per_browser_hour =
        3600.0 / u.sse_heartbeat_seconds * u.sse_heartbeat_bytes + u.events_per_day / 24.0 * u.sse_event_bytes;
    let egress_bytes = views * u.page_view_kb * 1024.0 + u.open_browsers * h * stream_per_browser_hour;
    let reconnects = u.open_browsers * h * 1.0;
    let requests = views * 8.0 + reconnects;
    let lcu = ((views + reconnects) / (h * 3600.0) / 25.0)
        .max(u.open_browsers / 3000.0)
        .max((egress_bytes + requests * u.header_bytes_per_request) / gib / h);
    let alb = h * p("alb")
        + lcu * h * p("alb_lcu")
        + 3.0 * h * p("public_ipv4")
        + egress_bytes / gib * p("data_transfer_internet_out");
    let waf = 5.0 + 3.0 * 1.0 + requests / 1e6 * p("waf_requests");

    let wru = records * 3.0;
    let rru = views * 0.25 + 60.0 * 50.0;
    let gb = u.events_per_day / 5.0 * 365.0 * 2.0 * 1024.0 / gib;
    let replicated_gb = records * 2.0 * 1024.0 / gib;
    let dynamodb = wru / 1e6 * p("dynamodb_write")
        + rru / 1e6 * p("dynamodb_read")
        + gb * p("dynamodb_storage")
        + gb * p("dynamodb_pitr")
        + replicated_gb * p("data_transfer_inter_region")
        + wru / 1e6 * c.usd("dynamodb_replicated_write").unwrap()
        + gb * c.usd("dynamodb_storage").unwrap()
        + gb * c.usd("dynamodb_pitr").unwrap();
    // Replication to 2 other brokers, and 3 readers (consumer + 2 frontends) 2/3 of the time in another AZ.
    let kafka = 3.0 * 20.0 * p("ebs_gp3_storage")
        + records * u.kafka_record_bytes * (2.0 + 3.0 * 2.0 / 3.0) / gib * p("data_transfer_inter_az");
    let loki = 20.0 * p("ebs_gp3_storage");
    let prometheus = 20.0 * p("ebs_gp3_storage");

    let expected = [
        ("module.eks", eks),
        ("module.vpc", vpc),
        ("helm_release.quakestream", alb),
        ("aws_wafv2_web_acl.frontend", waf),
        ("aws_dynamodb_table.quakes", dynamodb),
        ("helm_release.kafka", kafka),
        ("helm_release.loki", loki),
        ("helm_release.prometheus", prometheus),
    ];
    let got: Vec<(&str, f64)> = b.resources.iter().map(|r| (r.address.as_str(), r.monthly)).collect();
    assert_eq!(got.len(), expected.len(), "{got:?}");
    for ((ga, gm), (ea, em)) in got.iter().zip(expected) {
        assert_eq!(*ga, ea);
        assert!((gm - em).abs() < 1e-9, "{ea}: estimated {gm}, by hand {em}");
    }
    let total: f64 = expected.iter().map(|(_, m)| m).sum();
    assert!(
        (b.total_monthly - total).abs() < 1e-9,
        "total {} vs {total}",
        b.total_monthly
    );
    assert!((b.total_hourly * h - b.total_monthly).abs() < 1e-9);
    // Sanity of the scale: a few hundred dollars a month, mostly the three nodes.
    assert!((300.0..600.0).contains(&b.total_monthly), "{}", b.total_monthly);
    for r in &b.resources {
        for comp in &r.components {
            assert!((comp.hourly * h - comp.monthly).abs() < 1e-9, "{}", comp.name);
            assert!(comp.monthly >= 0.0 && comp.unit_price >= 0.0);
        }
    }
}

#[test]
fn tfvars_change_the_estimate() {
    let dir = tempfile::tempdir().unwrap();
    let tfvars = dir.path().join("x.tfvars");
    std::fs::write(
        &tfvars,
        "domain_name = \"q.example.org\"\nroute53_zone_id = \"Z1\"\nnode_count = 5\nnode_instance_types = [\"m6i.xlarge\"]\nsingle_nat_gateway = false\nreplica_region = \"\"\ngrafana_public = true\n",
    )
    .unwrap();
    let d = Deployment::from_dir(&quakestream_cost::cli::repo_eks_dir(), Some(&tfvars)).unwrap();
    assert_eq!(
        (d.node_count, d.node_instance_type.as_str(), d.nat_gateways),
        (5, "m6i.xlarge", 3)
    );
    assert!(d.replica_regions.is_empty());
    assert!(d.login_pool, "grafana_public creates the Cognito pool");
    let b = estimate(&d, &Usage::bundled(), &PriceBook::bundled().unwrap()).unwrap();
    let base = estimate(&defaults(), &Usage::bundled(), &PriceBook::bundled().unwrap()).unwrap();
    assert!(
        b.total_monthly > base.total_monthly + 500.0,
        "{} vs {}",
        b.total_monthly,
        base.total_monthly
    );
    assert!(b.resources.iter().any(|r| r.address == "aws_cognito_user_pool.grafana"));
    let ddb = b
        .resources
        .iter()
        .find(|r| r.address == "aws_dynamodb_table.quakes")
        .unwrap();
    assert!(
        ddb.components.iter().all(|c| c.region == "eu-west-1"),
        "no replica: nothing priced elsewhere"
    );
}

#[test]
fn unsupported_regions_and_instance_types_are_errors() {
    let book = PriceBook::bundled().unwrap();
    let mut d = defaults();
    d.region = "ap-south-2".into();
    let e = estimate(&d, &Usage::bundled(), &book).unwrap_err();
    assert_eq!(e.code(), "unsupported_region");
    let mut d = defaults();
    d.node_instance_type = "x9.huge".into();
    assert_eq!(
        estimate(&d, &Usage::bundled(), &book).unwrap_err().code(),
        "missing_instance"
    );
}

#[test]
fn malformed_terraform_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("main.tf"), "resource \"x\" {\n  broken = \n").unwrap();
    let e = TerraformDir::load(dir.path()).err().unwrap();
    assert_eq!(e.code(), "bad_hcl");
    assert!(e.to_string().contains("main.tf"), "{e}");
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(TerraformDir::load(empty.path()).err().unwrap().code(), "read");
}

#[test]
fn the_readme_states_the_default_estimate() {
    let readme = std::fs::read_to_string(quakestream_cost::cli::repo_eks_dir().join("../README.md")).unwrap();
    let text = readme.split_whitespace().collect::<Vec<_>>().join(" ");
    let section = text
        .split("## What it costs, and who can see it")
        .nth(1)
        .expect("the README's cost section");
    let figure: f64 = section
        .split("to about $")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("\"to about $N a month\" in the README's cost section");
    let b = estimate(&defaults(), &Usage::bundled(), &PriceBook::bundled().unwrap()).unwrap();
    assert_eq!(
        figure,
        b.total_monthly.round(),
        "README says ${figure}, the estimate is ${:.2}",
        b.total_monthly
    );
}
