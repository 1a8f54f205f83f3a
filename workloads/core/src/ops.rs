//! What every workload serves besides its work: `/healthz`, `/readyz`, `/metrics`, JSON logs,
//! and a shutdown signal.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus::{Encoder, Registry, TextEncoder};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How often workloads check their dependencies (the `interval` of [`watch_dependency`]), and
/// how long one check may take.
pub const DEPENDENCY_CHECK_INTERVAL: Duration = Duration::from_secs(5);
pub const DEPENDENCY_CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// Liveness and readiness of one process. Cheap to clone.
///
/// Ready = the workload said so ([`Health::set_ready`], e.g. after its warm-up), it is not dead,
/// and every dependency it registered ([`Health::dependency`]: Kafka, DynamoDB) passed its last
/// check. So a process whose broker or store is gone stops being ready within one check
/// interval, and turns ready again by itself when they are back.
#[derive(Clone, Default)]
pub struct Health {
    inner: Arc<HealthInner>,
}

#[derive(Default)]
struct HealthInner {
    ready: AtomicBool,
    dead: AtomicBool,
    deps: Mutex<Vec<Dependency>>,
}

/// One thing readiness depends on, with the outcome of its last check. Cheap to clone.
#[derive(Clone)]
pub struct Dependency {
    name: &'static str,
    /// `None`: up. `Some(why)`: down (also before the first check passed).
    state: Arc<Mutex<Option<String>>>,
}

impl Dependency {
    pub fn name(&self) -> &'static str {
        self.name
    }
    pub fn up(&self) {
        let was = self.state.lock().expect("not poisoned").take();
        if let Some(why) = was {
            tracing::info!(dependency = self.name, was = %why, "dependency is up");
        }
    }
    pub fn down(&self, why: impl std::fmt::Display) {
        let why = why.to_string();
        let mut state = self.state.lock().expect("not poisoned");
        if state.as_deref() != Some(why.as_str()) {
            tracing::warn!(dependency = self.name, error = %why, "dependency is down");
        }
        *state = Some(why);
    }
    pub fn is_up(&self) -> bool {
        self.state.lock().expect("not poisoned").is_none()
    }
    fn status(&self) -> Option<String> {
        self.state.lock().expect("not poisoned").clone()
    }
}

impl Health {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn set_ready(&self, ready: bool) {
        self.inner.ready.store(ready, Ordering::Relaxed);
    }
    pub fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::Relaxed) && !self.is_dead() && self.deps().iter().all(Dependency::is_up)
    }
    /// Registers a dependency of readiness, down until it is first reported up.
    pub fn dependency(&self, name: &'static str) -> Dependency {
        let dep = Dependency {
            name,
            state: Arc::new(Mutex::new(Some("not checked yet".into()))),
        };
        self.inner.deps.lock().expect("not poisoned").push(dep.clone());
        dep
    }
    fn deps(&self) -> Vec<Dependency> {
        self.inner.deps.lock().expect("not poisoned").clone()
    }
    /// What `/readyz` says: `ready` or `not ready`, then one line per dependency.
    pub fn report(&self) -> String {
        let mut out = String::from(if self.is_ready() { "ready\n" } else { "not ready\n" });
        if self.is_dead() {
            out.push_str("dead\n");
        } else if !self.inner.ready.load(Ordering::Relaxed) {
            out.push_str("starting\n");
        }
        for d in self.deps() {
            match d.status() {
                None => out.push_str(&format!("{}: up\n", d.name)),
                Some(why) => out.push_str(&format!("{}: down ({why})\n", d.name)),
            }
        }
        out
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
    let status = if s.health.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, s.health.report())
}

/// Checks `dep` now and then every `interval` with `check` (each bounded by
/// [`DEPENDENCY_CHECK_TIMEOUT`]) until `shutdown`, reporting it up or down.
pub fn watch_dependency<F, Fut>(
    dep: Dependency,
    interval: Duration,
    mut check: F,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), String>> + Send,
{
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stopped(&mut shutdown) => return,
            }
            let outcome = tokio::select! {
                r = tokio::time::timeout(DEPENDENCY_CHECK_TIMEOUT, check()) => r,
                _ = stopped(&mut shutdown) => return,
            };
            match outcome {
                Ok(Ok(())) => dep.up(),
                Ok(Err(why)) => dep.down(why),
                Err(_) => dep.down(format!("no answer within {} s", DEPENDENCY_CHECK_TIMEOUT.as_secs())),
            }
        }
    })
}

/// What a dependency check returns.
pub type CheckFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// A check that Kafka answers: a metadata request for `topic` from a client of its own (so it
/// never waits behind a busy consumer), which fails when no broker can be reached or the topic
/// is missing.
pub fn kafka_check(
    bootstrap: &str,
    topic: &str,
    security: &crate::kafka_security::KafkaSecurity,
) -> Result<impl FnMut() -> CheckFuture + Send + 'static, KafkaError> {
    let client: Arc<BaseConsumer> = Arc::new(
        security
            .apply(
                ClientConfig::new()
                    .set("bootstrap.servers", bootstrap)
                    .set("client.id", "quakestream-readiness"),
            )
            .create()?,
    );
    let topic = topic.to_owned();
    Ok(move || {
        let (client, topic) = (client.clone(), topic.clone());
        let fut: CheckFuture = Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let md = client
                    .fetch_metadata(Some(&topic), DEPENDENCY_CHECK_TIMEOUT)
                    .map_err(|e| format!("kafka: {e}"))?;
                match md.topics().iter().find(|t| t.name() == topic) {
                    Some(t) if t.error().is_none() && !t.partitions().is_empty() => Ok(()),
                    _ => Err(format!("kafka: topic {topic} has no partitions")),
                }
            })
            .await
            .unwrap_or_else(|e| Err(format!("kafka check panicked: {e}")))
        });
        fut
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_follows_every_dependency() {
        let h = Health::new();
        h.set_ready(true);
        assert!(h.is_ready());
        let kafka = h.dependency("kafka");
        let store = h.dependency("dynamodb");
        assert!(!h.is_ready(), "a dependency is down until its first check passes");
        kafka.up();
        store.up();
        assert!(h.is_ready());
        assert_eq!(h.report(), "ready\nkafka: up\ndynamodb: up\n");
        store.down("cannot reach DynamoDB: connection refused");
        assert!(!h.is_ready());
        assert_eq!(
            h.report(),
            "not ready\nkafka: up\ndynamodb: down (cannot reach DynamoDB: connection refused)\n"
        );
        store.up();
        h.set_ready(false);
        assert!(h.report().starts_with("not ready\nstarting\n"));
    }

    #[tokio::test]
    async fn a_watched_dependency_turns_down_and_up_with_its_check() {
        let h = Health::new();
        h.set_ready(true);
        let dep = h.dependency("thing");
        let (answer_tx, answer_rx) = watch::channel(Ok::<(), String>(()));
        let (stop_tx, stop_rx) = shutdown_channel();
        let task = watch_dependency(
            dep.clone(),
            Duration::from_millis(1),
            move || {
                let r = answer_rx.borrow().clone();
                Box::pin(async move { r }) as CheckFuture
            },
            stop_rx,
        );
        // Each wait is on the state the checks produce (bounded, so a failure cannot hang).
        let until = |want: bool| {
            let h = h.clone();
            async move {
                tokio::time::timeout(Duration::from_secs(60), async {
                    while h.is_ready() != want {
                        tokio::task::yield_now().await;
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                })
                .await
                .expect("readiness followed the check")
            }
        };
        until(true).await;
        let _ = answer_tx.send_replace(Err("gone".into()));
        until(false).await;
        assert!(h.report().contains("thing: down (gone)"), "{}", h.report());
        let _ = answer_tx.send_replace(Ok(()));
        until(true).await;
        stop_tx.send_replace(true);
        task.await.unwrap();
    }
}
