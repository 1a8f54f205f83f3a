//! Meters of what the workloads make AWS bill for, besides DynamoDB (whose meter lives in the
//! store): Kafka bytes produced and fetched (cross-AZ traffic on a three-AZ cluster) and what the
//! edge serves (requests through the load balancer and the WAF, bytes sent to the internet).
//!
//! The metric names are a contract with the cost rules (workloads/cost) and the Cost dashboard.

use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus::{IntCounter, IntCounterVec, Opts, Registry};
use std::pin::Pin;
use std::task::{Context, Poll};

/// Bytes of record keys and values, by component, topic and direction (`produced`, `fetched`).
pub const KAFKA_BYTES_METRIC: &str = "quakestream_kafka_bytes_total";
/// Records, by component, topic and direction.
pub const KAFKA_RECORDS_METRIC: &str = "quakestream_kafka_records_total";
/// HTTP requests that reach a workload through the edge (load balancer and WAF), by route.
pub const EDGE_REQUESTS_METRIC: &str = "quakestream_edge_requests_total";
/// Response body bytes sent through the edge (after compression), by route.
pub const EDGE_RESPONSE_BYTES_METRIC: &str = "quakestream_edge_response_bytes_total";

/// Routes that Kubernetes and Prometheus call on the pod directly, never through the edge: they
/// cost nothing at the load balancer or the WAF and are not metered.
pub const INTERNAL_ROUTES: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// Kafka traffic of one component. Cheap to clone.
#[derive(Clone)]
pub struct KafkaMeter {
    bytes: IntCounterVec,
    records: IntCounterVec,
}

impl KafkaMeter {
    /// A meter for `component` (a constant label, so several components can share a registry,
    /// as in `quakestream dev`), exported through `registry`.
    pub fn new(registry: &Registry, component: &str) -> prometheus::Result<Self> {
        let opts = |name: &str, help: &str| Opts::new(name, help).const_label("component", component);
        let bytes = IntCounterVec::new(
            opts(
                KAFKA_BYTES_METRIC,
                "Bytes of Kafka record keys and values (uncompressed), by topic and direction",
            ),
            &["topic", "direction"],
        )?;
        let records = IntCounterVec::new(
            opts(KAFKA_RECORDS_METRIC, "Kafka records, by topic and direction"),
            &["topic", "direction"],
        )?;
        registry.register(Box::new(bytes.clone()))?;
        registry.register(Box::new(records.clone()))?;
        Ok(KafkaMeter { bytes, records })
    }

    /// One record handed to the producer for `topic`.
    pub fn produced(&self, topic: &str, key: Option<&[u8]>, value: Option<&[u8]>) {
        self.count(topic, "produced", key, value);
    }

    /// One record received from `topic`.
    pub fn fetched(&self, topic: &str, key: Option<&[u8]>, value: Option<&[u8]>) {
        self.count(topic, "fetched", key, value);
    }

    fn count(&self, topic: &str, direction: &str, key: Option<&[u8]>, value: Option<&[u8]>) {
        let n = key.map_or(0, <[u8]>::len) + value.map_or(0, <[u8]>::len);
        self.bytes.with_label_values(&[topic, direction]).inc_by(n as u64);
        self.records.with_label_values(&[topic, direction]).inc();
    }

    /// Bytes counted so far for `topic` and `direction`.
    pub fn bytes(&self, topic: &str, direction: &str) -> u64 {
        self.bytes.with_label_values(&[topic, direction]).get()
    }
}

/// What the edge serves, metered by [`edge`]. Cheap to clone.
#[derive(Clone)]
pub struct EdgeMeter {
    requests: IntCounterVec,
    bytes: IntCounterVec,
}

impl EdgeMeter {
    pub fn new(registry: &Registry) -> prometheus::Result<Self> {
        let requests = IntCounterVec::new(
            Opts::new(
                EDGE_REQUESTS_METRIC,
                "HTTP requests served through the edge (load balancer, WAF), by route; ops endpoints excluded",
            ),
            &["route"],
        )?;
        let bytes = IntCounterVec::new(
            Opts::new(
                EDGE_RESPONSE_BYTES_METRIC,
                "Response body bytes sent through the edge (after compression; SSE streams as they flow), by route",
            ),
            &["route"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(bytes.clone()))?;
        Ok(EdgeMeter { requests, bytes })
    }

    /// Requests counted so far for `route`.
    pub fn requests(&self, route: &str) -> u64 {
        self.requests.with_label_values(&[route]).get()
    }

    /// Response bytes counted so far for `route`.
    pub fn response_bytes(&self, route: &str) -> u64 {
        self.bytes.with_label_values(&[route]).get()
    }
}

/// Axum middleware (`middleware::from_fn_with_state(meter, meter::edge)`, added with
/// `Router::layer` so the matched route is known): counts each request by its route template
/// (`unmatched` for the fallback) and every body byte of its response as it is sent.
pub async fn edge(State(meter): State<EdgeMeter>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    if INTERNAL_ROUTES.contains(&route.as_str()) {
        return next.run(req).await;
    }
    meter.requests.with_label_values(&[&route]).inc();
    let counter = meter.bytes.with_label_values(&[&route]);
    next.run(req).await.map(|body| {
        Body::new(CountingBody {
            inner: body,
            sent: counter,
        })
    })
}

/// A response body that adds the size of every data frame to a counter as it is polled.
struct CountingBody {
    inner: Body,
    sent: IntCounter,
}

impl http_body::Body for CountingBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            self.sent.inc_by(data.len() as u64);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::routing::get;
    use tower::ServiceExt;

    fn app(meter: EdgeMeter) -> Router {
        Router::new()
            .route("/api/quakes/{unid}", get(|| async { "x".repeat(1000) }))
            .route("/healthz", get(|| async { "ok\n" }))
            .layer(axum::middleware::from_fn_with_state(meter, edge))
    }

    async fn call(app: Router, uri: &str) -> usize {
        let resp = app
            .oneshot(Request::builder().uri(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap().len()
    }

    #[tokio::test]
    async fn counts_requests_and_bytes_by_route_template() {
        let meter = EdgeMeter::new(&Registry::new()).unwrap();
        for unid in ["a", "b", "c"] {
            assert_eq!(call(app(meter.clone()), &format!("/api/quakes/{unid}")).await, 1000);
        }
        assert_eq!(meter.requests("/api/quakes/{unid}"), 3);
        assert_eq!(meter.response_bytes("/api/quakes/{unid}"), 3000);
    }

    #[tokio::test]
    async fn ops_routes_are_not_edge_traffic() {
        let meter = EdgeMeter::new(&Registry::new()).unwrap();
        call(app(meter.clone()), "/healthz").await;
        assert_eq!(meter.requests("/healthz"), 0);
        assert_eq!(meter.response_bytes("/healthz"), 0);
    }

    #[test]
    fn kafka_meters_of_two_components_share_a_registry() {
        let r = Registry::new();
        let producer = KafkaMeter::new(&r, "producer").unwrap();
        let consumer = KafkaMeter::new(&r, "consumer").unwrap();
        producer.produced("quakes", Some(b"k1"), Some(b"value"));
        consumer.fetched("quakes", Some(b"k1"), Some(b"value"));
        consumer.fetched("quakes", None, Some(b"abc"));
        assert_eq!(producer.bytes("quakes", "produced"), 7);
        assert_eq!(consumer.bytes("quakes", "fetched"), 10);
        let text = crate::ops::render_metrics(&r);
        assert!(
            text.contains(
                r#"quakestream_kafka_bytes_total{component="consumer",direction="fetched",topic="quakes"} 10"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"quakestream_kafka_records_total{component="producer",direction="produced",topic="quakes"} 1"#
            ),
            "{text}"
        );
    }
}
