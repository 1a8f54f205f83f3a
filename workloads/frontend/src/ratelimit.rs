//! Per-client-IP rate limit, the same policy as the WAF rule of the AWS deployment: N requests
//! per 5 minutes (a GCRA bucket: bursts up to N, refilled evenly). Refusals are 429 with
//! `Retry-After`. Probes and metrics are never limited. The client is who `edge::Proxies` says
//! it is (the TCP peer, or the address a trusted proxy forwarded).

use crate::edge::{Proxies, peer};
use crate::metrics::FrontendMetrics;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

const PERIOD: Duration = Duration::from_secs(300);

type Keyed = RateLimiter<IpAddr, DashMapStateStore<IpAddr>, DefaultClock>;

#[derive(Clone)]
pub struct Limiter {
    inner: Option<Arc<Keyed>>,
    proxies: Proxies,
    metrics: FrontendMetrics,
}

impl Limiter {
    pub fn new(per_5_min: u32, proxies: Proxies, metrics: FrontendMetrics) -> Self {
        let inner = NonZeroU32::new(per_5_min).map(|n| {
            let quota = Quota::with_period(PERIOD / n.get())
                .expect("non-zero period")
                .allow_burst(n);
            let limiter = Arc::new(RateLimiter::dashmap(quota));
            // Forget idle clients now and then, so the map does not grow without bound.
            let weak = Arc::downgrade(&limiter);
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(60));
                loop {
                    tick.tick().await;
                    let Some(l) = weak.upgrade() else { break };
                    l.retain_recent();
                    l.shrink_to_fit();
                }
            });
            limiter
        });
        Limiter {
            inner,
            proxies,
            metrics,
        }
    }
}

pub async fn limit(State(l): State<Limiter>, req: Request, next: Next) -> Response {
    let Some(inner) = &l.inner else {
        return next.run(req).await;
    };
    let path = req.uri().path();
    if matches!(path, "/healthz" | "/readyz" | "/metrics") {
        return next.run(req).await;
    }
    let Some(ip) = l.proxies.client(peer(&req), req.headers()) else {
        return next.run(req).await;
    };
    match inner.check_key(&ip) {
        Ok(()) => next.run(req).await,
        Err(not_until) => {
            l.metrics.rate_limited.inc();
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let body = serde_json::json!({
                "error": "rate_limited",
                "parameter": null,
                "message": format!("too many requests from {ip}; retry in {secs} s"),
            });
            let mut resp = (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::CONTENT_TYPE, "application/json")],
                body.to_string(),
            )
                .into_response();
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
            resp
        }
    }
}
