//! What every workload serves besides its work: `/healthz`, `/readyz`, `/metrics`, JSON logs,
//! and a shutdown signal.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus::{Encoder, Registry, TextEncoder};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::watch;

/// Liveness and readiness flags of one process. Cheap to clone.
#[derive(Clone, Default)]
pub struct Health {
    inner: Arc<HealthInner>,
}

#[derive(Default)]
struct HealthInner {
    ready: AtomicBool,
    dead: AtomicBool,
}

impl Health {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn set_ready(&self, ready: bool) {
        self.inner.ready.store(ready, Ordering::Relaxed);
    }
    pub fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::Relaxed) && !self.is_dead()
    }
    /// Marks the process as broken beyond self-repair, so the liveness probe restarts it.
    pub fn set_dead(&self) {
        self.inner.dead.store(true, Ordering::Relaxed);
    }
    pub fn is_dead(&self) -> bool {
        self.inner.dead.load(Ordering::Relaxed)
    }
}

/// Hooks run just before `/metrics` is rendered (for gauges computed on demand, like ages).
pub type ScrapeHook = Arc<dyn Fn() + Send + Sync>;

#[derive(Clone)]
pub struct OpsState {
    pub registry: Registry,
    pub health: Health,
    pub on_scrape: Vec<ScrapeHook>,
}

/// The `/healthz`, `/readyz` and `/metrics` routes, to merge into a workload's router.
pub fn ops_router(state: OpsState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn healthz(State(s): State<OpsState>) -> impl IntoResponse {
    if s.health.is_dead() {
        (StatusCode::SERVICE_UNAVAILABLE, "dead\n")
    } else {
        (StatusCode::OK, "ok\n")
    }
}

async fn readyz(State(s): State<OpsState>) -> impl IntoResponse {
    if s.health.is_ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

async fn metrics(State(s): State<OpsState>) -> impl IntoResponse {
    for hook in &s.on_scrape {
        hook();
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        render_metrics(&s.registry),
    )
}

pub fn render_metrics(registry: &Registry) -> String {
    let mut buf = Vec::new();
    TextEncoder::new()
        .encode(&registry.gather(), &mut buf)
        .expect("text encoding cannot fail");
    String::from_utf8(buf).expect("prometheus text is UTF-8")
}

/// Binds `addr` and serves `router` until `shutdown` fires. Returns the bound address at once
/// (useful with port 0) and the server task.
pub async fn serve(
    addr: SocketAddr,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let task = tokio::spawn(async move {
        axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async move {
                let _ = shutdown.wait_for(|stop| *stop).await;
            })
            .await
    });
    Ok((local, task))
}

/// A shutdown switch: `trigger` is called on SIGINT/SIGTERM, receivers see `true`.
pub fn shutdown_channel() -> (watch::Sender<bool>, watch::Receiver<bool>) {
    watch::channel(false)
}

/// Resolves once `rx` says stop (or its sender is gone). Holds no borrow of the value, so it can
/// sit in a `select!` whose branch then awaits.
pub async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// Resolves on the first SIGINT or SIGTERM.
pub async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// Spawns a task that flips `tx` to `true` on SIGINT/SIGTERM.
pub fn trigger_on_signal(tx: watch::Sender<bool>) {
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown signal received; finishing in-flight work");
        let _ = tx.send(true);
    });
}

/// JSON logs on stdout (one object per line), filtered by `filter` (e.g. `info`, `quakestream=debug`).
pub fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|e| {
        eprintln!("invalid log filter {filter:?} ({e}); using `info`");
        tracing_subscriber::EnvFilter::new("info")
    });
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_env_filter(filter)
        .with_writer(std::io::stdout)
        .try_init();
}
