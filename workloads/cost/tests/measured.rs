//! `cost measured`: rates between two scrapes of the workloads' real meters, priced like the
//! rules; and scraping a real /metrics endpoint (quakestream_core::ops) over loopback.

use quakestream_core::meter::{EdgeMeter, KafkaMeter};
use quakestream_core::ops::{self, Health, OpsState};
use quakestream_cost::measured::{measure, parse, price, rates};
use quakestream_cost::prices::PriceBook;
use quakestream_cost::terraform::{Deployment, TerraformDir, Variables};
use quakestream_cost::usage::Usage;
use quakestream_store::DynamoMeter;
use quakestream_store::meter::{Operation, Outcome};
use std::time::Duration;

fn defaults() -> Deployment {
    let tf = TerraformDir::load(&quakestream_cost::cli::repo_eks_dir()).unwrap();
    Deployment::resolve(&tf, &Variables::new(tf.defaults(), None).unwrap()).unwrap()
}

struct Meters {
    registry: prometheus::Registry,
    dynamo: DynamoMeter,
    producer: KafkaMeter,
    consumed: prometheus::IntCounter,
}

fn meters() -> Meters {
    let registry = prometheus::Registry::new();
    let consumed =
        prometheus::IntCounter::new("quakestream_consumer_consumed_total", "Records received from Kafka.").unwrap();
    registry.register(Box::new(consumed.clone())).unwrap();
    Meters {
        dynamo: DynamoMeter::new(&registry).unwrap(),
        producer: KafkaMeter::new(&registry, "producer").unwrap(),
        consumed,
        registry,
    }
}

#[test]
fn rates_between_two_scrapes_are_priced_like_the_rules() {
    let m = meters();
    let cc = aws_sdk_dynamodb::types::ConsumedCapacity::builder()
        .capacity_units(2.0)
        .build();
    m.dynamo.record("quakes", Operation::PutItem, Outcome::Ok, Some(&cc));
    let before = parse("a", &ops::render_metrics(&m.registry)).unwrap();
    // 36 seconds (a hundredth of an hour) of traffic: 50 records, each 2 write units and one
    // failed conditional write, 600 bytes each produced.
    for _ in 0..50 {
        m.dynamo.record("quakes", Operation::PutItem, Outcome::Ok, Some(&cc));
        m.dynamo
            .record("quakes", Operation::PutItem, Outcome::ConditionFailed, None);
        m.producer.produced("quakes", Some(&[0; 100]), Some(&[0; 500]));
        m.consumed.inc();
    }
    let after = parse("b", &ops::render_metrics(&m.registry)).unwrap();
    let r = rates(&before, &after, 36.0);
    assert_eq!(r.dynamodb_write_units_per_hour, 100.0 * 100.0);
    assert_eq!(r.dynamodb_failed_conditional_writes_per_hour, 50.0 * 100.0);
    assert_eq!(r.events_ingested_per_hour, 5000.0);
    assert!((r.kafka_produced_gb_per_hour - 30_000.0 * 100.0 / 1_073_741_824.0).abs() < 1e-15);

    let (d, u, book) = (defaults(), Usage::bundled(), PriceBook::bundled().unwrap());
    let priced = price(&d, &u, &book, r).unwrap();
    let wru = book.region("eu-west-1").unwrap().usd("dynamodb_write").unwrap() / 1e6;
    let writes = priced.items.iter().find(|i| i.item == "dynamodb_writes").unwrap();
    assert_eq!(writes.basis, "metered");
    assert!((writes.hourly - 15_000.0 * wru).abs() < 1e-15, "{}", writes.hourly);
    let nodes = priced.items.iter().find(|i| i.item == "nodes").unwrap();
    assert_eq!((nodes.basis, nodes.hourly), ("terraform", nodes.estimate_hourly));
    let marginal = priced.usd_per_1k_events_marginal.unwrap();
    assert!(marginal > 0.0 && marginal < priced.usd_per_1k_events_fully_loaded.unwrap());
    assert!(
        priced.usd_per_1k_page_views_marginal.is_none(),
        "no page views: no unit cost"
    );
}

#[test]
fn a_counter_reset_counts_from_zero() {
    let text = |v: u64| {
        format!("# TYPE quakestream_consumer_consumed_total counter\nquakestream_consumer_consumed_total {v}\n")
    };
    let r = rates(
        &parse("a", &text(1000)).unwrap(),
        &parse("b", &text(30)).unwrap(),
        3600.0,
    );
    assert_eq!(r.events_ingested_per_hour, 30.0);
}

async fn serve(registry: prometheus::Registry, stop: tokio::sync::watch::Receiver<bool>) -> String {
    let state = OpsState {
        registry,
        health: Health::new(),
        on_scrape: vec![],
    };
    let (addr, _task) = ops::serve("127.0.0.1:0".parse().unwrap(), ops::ops_router(state), stop)
        .await
        .unwrap();
    format!("http://{addr}/metrics")
}

#[tokio::test]
async fn measures_a_running_metrics_endpoint() {
    let m = meters();
    let edge = EdgeMeter::new(&m.registry).unwrap();
    let _ = edge.requests("/");
    let (stop_tx, stop) = ops::shutdown_channel();
    let url = serve(m.registry.clone(), stop).await;
    let (d, u, book) = (defaults(), Usage::bundled(), PriceBook::bundled().unwrap());
    let got = measure(std::slice::from_ref(&url), Duration::from_secs(1), &d, &u, &book)
        .await
        .unwrap();
    assert_eq!(got.sources, [url]);
    assert!(got.over_seconds >= 1.0);
    // Nothing happened between the scrapes: the run rate is the fixed part, below the estimate.
    let fixed: f64 = got
        .items
        .iter()
        .filter(|i| i.basis != "metered")
        .map(|i| i.hourly)
        .sum();
    assert!((got.total_hourly - fixed).abs() < 1e-12);
    assert!(got.run_rate_monthly < got.estimate_monthly);
    let text = quakestream_cost::measured::table(&got);
    assert!(
        text.contains("Run rate") && text.contains("USD per 1,000 page views:      n/a"),
        "{text}"
    );
    let _ = stop_tx.send(true);
}

#[tokio::test]
async fn unreachable_or_bad_endpoints_are_errors_naming_the_url() {
    let (d, u, book) = (defaults(), Usage::bundled(), PriceBook::bundled().unwrap());
    // A port nothing listens on (bound, then closed).
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = format!("http://{closed}/metrics");
    let e = measure(std::slice::from_ref(&url), Duration::from_secs(1), &d, &u, &book)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "metrics");
    assert!(e.to_string().contains(&url), "{e}");
    // A server that answers 404.
    let (stop_tx, stop) = ops::shutdown_channel();
    let base = serve(prometheus::Registry::new(), stop).await;
    let missing = base.replace("/metrics", "/nope");
    let e = measure(&[missing], Duration::from_secs(1), &d, &u, &book)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("HTTP 404"), "{e}");
    let _ = stop_tx.send(true);
    assert_eq!(
        parse("x", "<html>not { prometheus</html>\n").unwrap_err().code(),
        "metrics"
    );
    assert!(parse("x", "# only comments\n\n").unwrap().is_empty());
}
