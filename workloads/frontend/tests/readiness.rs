//! `/readyz` follows the frontend's dependencies: the archive (dynoxide behind a proxy that can
//! be cut) and Kafka (a mock cluster of this test's own, stopped halfway: a real broker cannot
//! be stopped from a test, so this test always uses its own mock).

use quakestream_core::kafka::EmbeddedBroker;
use quakestream_frontend::{FrontendConfig, start};
use quakestream_store::testkit::{CuttableProxy, dynamo, fresh_store};
use quakestream_store::{Store, StoreConfig};
use std::sync::Arc;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(90);

/// Polls `/readyz` until its status is `want`; returns the body.
async fn readyz_until(url: &str, want: u16) -> String {
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        if let Ok(r) = reqwest::get(format!("{url}/readyz")).await
            && r.status().as_u16() == want
        {
            return r.text().await.unwrap();
        }
        assert!(tokio::time::Instant::now() < deadline, "/readyz never answered {want}");
        let _ = tokio::time::timeout(Duration::from_millis(20), futures::future::pending::<()>()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_follows_kafka_and_the_archive() {
    let broker = EmbeddedBroker::start(1).unwrap();
    broker.create_topic("quakes-ready", 1).unwrap();
    let table = fresh_store("fe-ready").await;
    let proxy = CuttableProxy::start(dynamo().addr()).await.unwrap();
    let via_proxy = Store::connect(&StoreConfig::local(table.table(), proxy.endpoint()))
        .await
        .unwrap();
    let (tx, rx) = quakestream_core::ops::shutdown_channel();
    let cfg = FrontendConfig {
        rate_limit: 0,
        archive: Some(Arc::new(via_proxy)),
        dependency_check_interval: Duration::from_millis(100),
        ..FrontendConfig::new(broker.bootstrap_servers(), "quakes-ready")
    };
    let fe = start(cfg, prometheus::Registry::new(), rx).await.unwrap();
    let url = format!("http://{}", fe.addr);
    let body = readyz_until(&url, 200).await;
    assert_eq!(body, "ready\nkafka: up\narchive: up\n");

    // The store goes away: not ready, and it says why; back: ready again by itself.
    proxy.cut();
    let body = readyz_until(&url, 503).await;
    assert!(body.contains("archive: down"), "{body}");
    assert!(body.contains("kafka: up"), "{body}");
    proxy.restore();
    readyz_until(&url, 200).await;

    // The broker goes away: not ready.
    drop(broker);
    let body = readyz_until(&url, 503).await;
    assert!(body.contains("kafka: down"), "{body}");
    // Liveness is not readiness: the process is not restarted for a missing dependency.
    assert_eq!(reqwest::get(format!("{url}/healthz")).await.unwrap().status(), 200);
    tx.send_replace(true);
    let _ = tokio::time::timeout(LIMIT, fe.task).await;
}
