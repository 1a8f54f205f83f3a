//! QuakeStream frontend: the live map page, the HTTP API and the Server-Sent Events stream.
//!
//! Each replica keeps the recent window in memory: warmed from the archive (DynamoDB) at start
//! and kept live by tailing the `quakes` topic without a consumer group. It holds no other state,
//! so replicas can come and go freely.

pub mod api;
pub mod archive;
mod assets;
pub mod cache;
pub mod conn;
pub mod edge;
pub mod geo;
pub mod hub;
pub mod index;
pub mod metrics;
pub mod params;
mod ratelimit;
pub mod sequences;
pub mod stats;
pub mod tail;

use crate::archive::Archive;
use crate::hub::Hub;
use crate::index::{Applied, Index};
use crate::metrics::FrontendMetrics;
use anyhow::Context;
use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use chrono::{DateTime, Utc};
use clap::Args;
use quakestream_contract::{self as contract, env, frontend as defaults};
use quakestream_core::kafka_security::KafkaSecurity;
use quakestream_core::ops::{self, Health, OpsState};
use quakestream_core::wire::{Action, WireRecord};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// `quakestream frontend`: every flag also reads the environment variable named in its help.
#[derive(Args, Debug, Clone)]
pub struct FrontendArgs {
    /// Kafka bootstrap servers (host:port,...).
    #[arg(long, env = env::KAFKA_BOOTSTRAP_SERVERS, default_value = contract::DEFAULT_KAFKA_BOOTSTRAP_SERVERS)]
    pub bootstrap_servers: String,
    /// The topic of wire records.
    #[arg(long, env = env::TOPIC, default_value = contract::names::DEFAULT_TOPIC)]
    pub topic: String,
    /// Kafka encryption and authentication.
    #[command(flatten)]
    pub kafka_security: quakestream_core::kafka_security::KafkaSecurityArgs,
    /// DynamoDB table; without it the frontend serves only what it reads from Kafka.
    #[arg(long, env = env::TABLE)]
    pub table: Option<String>,
    /// AWS region of the table (default: the standard AWS chain; us-east-1 with an endpoint).
    #[arg(long, env = env::AWS_REGION)]
    pub region: Option<String>,
    /// DynamoDB endpoint override (dynoxide, DynamoDB Local).
    #[arg(long, env = env::DYNAMODB_ENDPOINT)]
    pub dynamodb_endpoint: Option<String>,
    /// Address for the page, /api/*, /healthz, /readyz and /metrics.
    #[arg(long, env = env::LISTEN, default_value = defaults::DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// How much recent history each replica keeps in memory (older windows come from DynamoDB).
    #[arg(long, env = env::WINDOW, default_value = defaults::DEFAULT_WINDOW, value_parser = defaults::WINDOW.parser())]
    pub window: Duration,
    /// Requests per 5 minutes per client IP (the WAF rule's policy); 0 turns the limit off.
    #[arg(long, env = env::RATE_LIMIT, default_value_t = defaults::DEFAULT_RATE_LIMIT,
        value_parser = clap::value_parser!(u32).range(defaults::RATE_LIMIT.bounds()))]
    pub rate_limit: u32,
    /// The header trusted proxies write the client's address to (behind a load balancer:
    /// X-Forwarded-For). Giving it alone trusts one proxy hop.
    #[arg(long, env = env::CLIENT_IP_HEADER)]
    pub client_ip_header: Option<String>,
    /// How many proxies in front of this server append to the client-IP header (an ALB or an
    /// ingress controller: 1); 0 never believes the header. Default: 1 with --client-ip-header, else 0.
    #[arg(long, env = env::TRUSTED_PROXY_HOPS)]
    pub trusted_proxy_hops: Option<usize>,
    /// The addresses (CIDRs) proxies connect from; forwarded headers from any other peer (a
    /// direct caller) are ignored.
    #[arg(long, env = env::TRUSTED_PROXIES, default_value = defaults::DEFAULT_TRUSTED_PROXIES)]
    pub trusted_proxies: String,
    /// Interval of SSE heartbeat comments.
    #[arg(long, env = env::SSE_HEARTBEAT, default_value = defaults::DEFAULT_SSE_HEARTBEAT,
        value_parser = defaults::SSE_HEARTBEAT.parser())]
    pub sse_heartbeat: Duration,
    /// Close a connection whose client has not accepted any bytes for this long while the server
    /// had something to send (a stalled SSE client, a frozen phone).
    #[arg(long, env = env::WRITE_STALL_TIMEOUT, default_value = defaults::DEFAULT_WRITE_STALL_TIMEOUT,
        value_parser = defaults::WRITE_STALL_TIMEOUT.parser())]
    pub write_stall_timeout: Duration,
    /// Close a connection whose request head is not complete this long after its first byte.
    #[arg(long, env = env::HEADER_READ_TIMEOUT, default_value = defaults::DEFAULT_HEADER_READ_TIMEOUT,
        value_parser = defaults::HEADER_READ_TIMEOUT.parser())]
    pub header_read_timeout: Duration,
    /// Close a connection that has no request in progress for this long (longer than the load
    /// balancer's idle timeout, 60 s on AWS, so the balancer closes first).
    #[arg(long, env = env::KEEP_ALIVE_TIMEOUT, default_value = defaults::DEFAULT_KEEP_ALIVE_TIMEOUT,
        value_parser = defaults::KEEP_ALIVE_TIMEOUT.parser())]
    pub keep_alive_timeout: Duration,
    /// Open connections at most (SSE streams included); the next ones get a 503 and are closed.
    #[arg(long, env = env::MAX_CONNECTIONS, default_value_t = defaults::DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// Byte budget of the /api/quakes response cache (bodies and gzip copies).
    #[arg(long, env = env::CACHE_BYTES, default_value_t = defaults::DEFAULT_CACHE_BYTES)]
    pub cache_bytes: usize,
    /// The analytics' windowed statistics (`/api/stats`, `stats` events); tailed read-committed.
    #[arg(long, env = env::STATS_TOPIC, default_value = contract::names::DEFAULT_STATS_TOPIC)]
    pub stats_topic: String,
    /// The compacted topic of aftershock sequences (written by `quakestream analytics`).
    #[arg(long, env = env::SEQUENCES_TOPIC, default_value = contract::names::DEFAULT_SEQUENCES_TOPIC)]
    pub sequences_topic: String,
    /// Log filter (tracing EnvFilter syntax); logs are JSON lines on stdout.
    #[arg(long = "log", env = env::LOG, default_value = contract::DEFAULT_LOG)]
    pub log: String,
}

/// The default connection cap: the 10,000 browsers one replica is sized for, and headroom.
pub use defaults::DEFAULT_MAX_CONNECTIONS;

/// Everything `start` needs; `quakestream dev` builds one in-process.
#[derive(Clone)]
pub struct FrontendConfig {
    pub bootstrap_servers: String,
    pub topic: String,
    /// The analytics' statistics (`quake-stats`); see [`stats`].
    pub stats_topic: String,
    /// Encryption and authentication of the tail and the readiness client.
    pub kafka_security: KafkaSecurity,
    pub listen: SocketAddr,
    pub window: Duration,
    pub rate_limit: u32,
    /// See [`FrontendArgs::client_ip_header`] and the two after it.
    pub client_ip_header: Option<String>,
    pub trusted_proxy_hops: Option<usize>,
    pub trusted_proxies: String,
    pub sse_heartbeat: Duration,
    /// The archive (DynamoDB); `None` serves only the Kafka tail.
    pub archive: Option<Arc<dyn Archive>>,
    /// Capacity of the live channel: a client this many events behind is dropped.
    pub sse_channel: usize,
    /// Events kept for `Last-Event-ID` resume.
    pub sse_ring: usize,
    /// A connection whose writes make no progress for this long is closed.
    pub write_stall_timeout: Duration,
    /// A request head must be complete this long after its first byte.
    pub header_read_timeout: Duration,
    /// A connection with no request in progress is closed after this.
    pub keep_alive_timeout: Duration,
    /// Open connections at most.
    pub max_connections: usize,
    /// Byte budget of the response cache.
    pub cache_bytes: usize,
    /// How often Kafka and the archive are checked for readiness.
    pub dependency_check_interval: Duration,
    /// Where the data comes from, shown on the page (`quakestream dev` says whether it replays a
    /// recording or follows the live feed); `None` on a cluster, where the producer owns that.
    pub source_note: Option<String>,
    /// Extra librdkafka settings of the Kafka tail (e.g. `fetch.wait.max.ms` for `dev`).
    pub kafka_overrides: Vec<(String, String)>,
    /// The sequences topic to tail (`None`: no sequences).
    pub sequences_topic: Option<String>,
}

impl FrontendConfig {
    /// Whom forwarded headers are believed from (see [`edge`]).
    pub fn proxies(&self) -> anyhow::Result<edge::Proxies> {
        let hops = self
            .trusted_proxy_hops
            .unwrap_or(usize::from(self.client_ip_header.is_some()));
        let header = self.client_ip_header.as_deref().unwrap_or("X-Forwarded-For");
        edge::Proxies::new(header, hops, &self.trusted_proxies).map_err(|e| anyhow::anyhow!("{e}"))
    }

    pub fn new(bootstrap_servers: impl Into<String>, topic: impl Into<String>) -> Self {
        FrontendConfig {
            bootstrap_servers: bootstrap_servers.into(),
            topic: topic.into(),
            stats_topic: contract::names::DEFAULT_STATS_TOPIC.to_owned(),
            kafka_security: KafkaSecurity::plaintext(),
            listen: "127.0.0.1:0".parse().expect("valid address"),
            window: Duration::from_secs(7 * 86400),
            rate_limit: 500,
            client_ip_header: None,
            trusted_proxy_hops: None,
            trusted_proxies: edge::DEFAULT_TRUSTED_PROXIES.to_owned(),
            sse_heartbeat: Duration::from_secs(15),
            archive: None,
            sse_channel: 1024,
            sse_ring: 4096,
            write_stall_timeout: Duration::from_secs(30),
            header_read_timeout: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(75),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            cache_bytes: cache::DEFAULT_CACHE_BYTES,
            dependency_check_interval: ops::DEPENDENCY_CHECK_INTERVAL,
            source_note: None,
            kafka_overrides: Vec::new(),
            sequences_topic: Some(contract::names::DEFAULT_SEQUENCES_TOPIC.to_owned()),
        }
    }
}

/// Shared by every handler. Cheap to clone.
#[derive(Clone)]
pub struct State {
    pub index: Arc<Index>,
    pub hub: Arc<Hub>,
    pub stats: Arc<stats::Stats>,
    pub metrics: FrontendMetrics,
    pub health: Health,
    pub store: Option<Arc<dyn Archive>>,
    pub cache: Arc<cache::ResponseCache>,
    pub heartbeat: Duration,
    /// Sent to every stream in its `hello` event; see [`FrontendConfig::source_note`].
    pub source_note: Option<Arc<str>>,
    /// Aftershock sequences, from `quake-sequences`.
    pub sequences: Arc<sequences::Sequences>,
    live: Arc<AtomicBool>,
    /// Turns `true` at shutdown; open streams end then (they would never finish by themselves).
    pub shutdown: watch::Receiver<bool>,
}

impl State {
    /// Merges one record from Kafka and pushes it to the browsers if it is news.
    pub fn ingest(&self, rec: &WireRecord, now: DateTime<Utc>) {
        let (applied, current) = self.index.apply(&rec.quake, now);
        self.metrics
            .records
            .with_label_values(&["kafka", applied.as_str()])
            .inc();
        let kind = match applied {
            Applied::New => Some("new"),
            Applied::Revised => Some("update"),
            // Revisions of old events (they come weeks later) are still news, once live.
            Applied::OutOfWindow if self.live.load(Ordering::Relaxed) => {
                Some(if rec.action == Action::Create { "new" } else { "update" })
            }
            _ => None,
        };
        if let (Some(kind), Some(current)) = (kind, current) {
            let seq = self.hub.publish(kind, current);
            let delay = (now - rec.received_at).num_microseconds().unwrap_or(0).max(0) as f64 / 1e6;
            self.metrics.push_delay.observe(delay);
            tracing::debug!(unid = %rec.quake.unid, kind, seq, "pushed");
        }
    }
}

/// A running frontend.
pub struct Frontend {
    pub addr: SocketAddr,
    pub health: Health,
    pub state: State,
    pub task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Starts the server, the Kafka tail and the warm-up; returns once the port is bound. Everything
/// stops when `shutdown` turns `true`. Metrics go to `registry` (shared with the caller's other
/// components in `quakestream dev`).
pub async fn start(
    cfg: FrontendConfig,
    registry: prometheus::Registry,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<Frontend> {
    let metrics = FrontendMetrics::new(&registry).context("registering frontend metrics")?;
    let edge_meter = quakestream_core::meter::EdgeMeter::new(&registry).context("registering the edge meter")?;
    let health = Health::new();
    let state = State {
        index: Arc::new(Index::new(cfg.window)),
        hub: Arc::new(Hub::new(cfg.sse_channel, cfg.sse_ring)),
        stats: Arc::new(stats::Stats::new(
            cfg.window,
            stats::StatsMetrics::new(&registry).context("registering stats metrics")?,
        )),
        metrics: metrics.clone(),
        health: health.clone(),
        store: cfg.archive.clone(),
        cache: Arc::new(cache::ResponseCache::new(cfg.cache_bytes, metrics.cache.clone())),
        heartbeat: cfg.sse_heartbeat,
        source_note: cfg.source_note.as_deref().map(Arc::from),
        sequences: Arc::default(),
        live: Arc::new(AtomicBool::new(false)),
        shutdown: shutdown.clone(),
    };
    let gauge_state = state.clone();
    let ops_state = OpsState {
        registry,
        health: health.clone(),
        on_scrape: vec![Arc::new(move || {
            gauge_state.metrics.index_events.set(gauge_state.index.len() as i64)
        })],
    };
    // What the load balancer, the WAF and the internet egress bill for (the cost rules read it).
    let router = router(state.clone(), ops_state, &cfg)?.layer(middleware::from_fn_with_state(
        edge_meter,
        quakestream_core::meter::edge,
    ));
    let limits = conn::ConnLimits {
        header_read_timeout: cfg.header_read_timeout,
        keep_alive_timeout: cfg.keep_alive_timeout,
        max_connections: cfg.max_connections,
        write_stall_timeout: cfg.write_stall_timeout,
    };
    let (addr, server) = conn::serve(cfg.listen, router, shutdown.clone(), limits, state.metrics.clone())
        .await
        .with_context(|| format!("binding {}", cfg.listen))?;
    tracing::info!(listen = %addr, bootstrap = %cfg.bootstrap_servers, topic = %cfg.topic,
        archive = cfg.archive.is_some(), window_s = cfg.window.as_secs(), "frontend listening");

    // The tail starts a little before the warm-up's "now", so nothing falls between them.
    let now = Utc::now();
    let start_ms = if cfg.archive.is_some() {
        (now - chrono::Duration::minutes(5)).timestamp_millis()
    } else {
        state.index.covers_from(now).timestamp_millis()
    };
    let (caught_tx, mut caught_rx) = watch::channel(false);
    let tail_health = health.clone();
    let client = tail::TailClient {
        bootstrap: cfg.bootstrap_servers.clone(),
        overrides: cfg.kafka_overrides.clone(),
        security: cfg.kafka_security.clone(),
    };
    let tail_fut = tail::run(
        state.clone(),
        client,
        cfg.topic.clone(),
        start_ms,
        caught_tx,
        shutdown.clone(),
    );
    let tail = tokio::spawn(async move {
        let r = tail_fut.await;
        if let Err(e) = &r {
            tracing::error!(error = format!("{e:#}"), "kafka tail failed; marking the process dead");
            tail_health.set_dead();
        }
        r
    });
    let (stats_tx, mut stats_rx) = watch::channel(false);
    tokio::spawn(stats::tail::supervise(
        state.clone(),
        cfg.bootstrap_servers.clone(),
        cfg.kafka_security.clone(),
        cfg.stats_topic.clone(),
        stats_tx,
        shutdown.clone(),
    ));
    if let Some(topic) = cfg.sequences_topic.clone() {
        let fut = sequences::tail(
            state.clone(),
            cfg.bootstrap_servers.clone(),
            cfg.kafka_security.clone(),
            topic,
            shutdown.clone(),
        );
        tokio::spawn(fut);
    }
    let (warm_tx, mut warm_rx) = watch::channel(cfg.archive.is_none());
    if let Some(archive) = cfg.archive.clone() {
        tokio::spawn(warm_up(state.clone(), archive, warm_tx, shutdown.clone()));
    }
    watch_dependencies(&state, &cfg, shutdown.clone())?;
    // Ready = warmed up and the tails have read what their topics held when they started (or
    // found no statistics topic).
    let ready_state = state.clone();
    let mut stop = shutdown.clone();
    tokio::spawn(async move {
        let both = async {
            warm_rx.wait_for(|w| *w).await.is_ok()
                && caught_rx.wait_for(|c| *c).await.is_ok()
                && stats_rx.wait_for(|c| *c).await.is_ok()
        };
        tokio::select! {
            true = both => {
                ready_state.live.store(true, Ordering::Relaxed);
                ready_state.health.set_ready(true);
                tracing::info!(events = ready_state.index.len(), "frontend ready");
            }
            _ = stop.wait_for(|s| *s) => {}
        }
    });
    // Events leave the window as time passes.
    let prune_state = state.clone();
    let mut stop = shutdown.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    let gone = prune_state.index.prune(Utc::now());
                    prune_state.stats.prune(Utc::now());
                    prune_state.metrics.index_events.set(prune_state.index.len() as i64);
                    if gone > 0 { tracing::debug!(gone, "pruned events older than the window"); }
                }
                _ = stop.wait_for(|s| *s) => break,
            }
        }
    });
    let task_health = health.clone();
    let task = tokio::spawn(async move {
        let tail_result = tail.await;
        let server_result = server.await;
        match tail_result {
            Ok(Err(e)) => {
                task_health.set_dead();
                return Err(e.context("kafka tail failed"));
            }
            Err(e) => return Err(anyhow::anyhow!("kafka tail panicked: {e}")),
            Ok(Ok(())) => {}
        }
        server_result
            .map_err(|e| anyhow::anyhow!("server task: {e}"))?
            .context("http server")?;
        Ok(())
    });
    Ok(Frontend {
        addr,
        health,
        state,
        task,
    })
}

async fn warm_up(state: State, archive: Arc<dyn Archive>, done: watch::Sender<bool>, mut stop: watch::Receiver<bool>) {
    let mut backoff = Duration::from_millis(500);
    loop {
        let started = Instant::now();
        let now = Utc::now();
        let since = state.index.covers_from(now);
        let until = now + index::FUTURE_SLACK;
        let (mut cursor, mut loaded, mut calls) = (None, 0usize, 0u32);
        let result: Result<(), archive::ArchiveError> = async {
            loop {
                let page = archive
                    .query_window(
                        since,
                        until,
                        &index::Filter::default(),
                        1000,
                        cursor.as_ref(),
                        &mut calls,
                    )
                    .await?;
                for q in &page.quakes {
                    let (applied, _) = state.index.apply(q, Utc::now());
                    state
                        .metrics
                        .records
                        .with_label_values(&["store", applied.as_str()])
                        .inc();
                }
                loaded += page.quakes.len();
                match page.next {
                    Some(c) => cursor = Some(c),
                    None => return Ok(()),
                }
            }
        }
        .await;
        api::count_store_calls(&state, "warmup", calls, result.is_err());
        match result {
            Ok(()) => {
                tracing::info!(
                    loaded,
                    calls,
                    ms = started.elapsed().as_millis() as u64,
                    "warm-up from the archive done"
                );
                let _ = done.send(true);
                return;
            }
            Err(e) => tracing::warn!(error = format!("{e:#}"), "warm-up failed; retrying"),
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

/// Readiness follows Kafka (a metadata request for the topic) and the archive (DescribeTable),
/// each checked every `dependency_check_interval`.
fn watch_dependencies(state: &State, cfg: &FrontendConfig, shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
    let every = cfg.dependency_check_interval;
    let kafka = ops::kafka_check(&cfg.bootstrap_servers, &cfg.topic, &cfg.kafka_security)
        .context("creating the Kafka readiness client")?;
    ops::watch_dependency(state.health.dependency("kafka"), every, kafka, shutdown.clone());
    if let Some(archive) = cfg.archive.clone() {
        let st = state.clone();
        let check = move || {
            let (archive, st) = (archive.clone(), st.clone());
            async move {
                let r = archive.probe().await;
                api::count_store_calls(&st, "probe", 1, r.is_err());
                r.map_err(|e| e.to_string())
            }
        };
        ops::watch_dependency(state.health.dependency("archive"), every, check, shutdown);
    }
    Ok(())
}

fn router(state: State, ops_state: OpsState, cfg: &FrontendConfig) -> anyhow::Result<Router> {
    let proxies = cfg
        .proxies()
        .context("--client-ip-header, --trusted-proxy-hops, --trusted-proxies")?;
    let limiter = ratelimit::Limiter::new(cfg.rate_limit, proxies.clone(), state.metrics.clone());
    let api = Router::new()
        .route("/api/quakes", get(api::list))
        .route("/api/quakes/{unid}", get(api::detail))
        .route("/api/stream", get(api::stream))
        .route("/api/openapi.json", get(api::openapi))
        .merge(sequences::router())
        .with_state(state.clone())
        .merge(stats::api::router(state.clone()))
        .merge(assets::router())
        .layer(tower_http::compression::CompressionLayer::new())
        .layer(middleware::from_fn_with_state(limiter, ratelimit::limit));
    Ok(api
        .merge(ops::ops_router(ops_state))
        .fallback(|| async { api::ApiError::not_found("no such route") })
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(api::panicked))
        .layer(middleware::from_fn(api::json_errors))
        .layer(middleware::from_fn(conn::limit_uri))
        .layer(middleware::from_fn_with_state(proxies, edge::headers))
        .layer(middleware::from_fn_with_state(state, track)))
}

/// Counts requests by route and status and times them.
async fn track(axum::extract::State(state): axum::extract::State<State>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| match p.as_str() {
            "/api/quakes" => "/api/quakes",
            "/api/quakes/{unid}" => "/api/quakes/{unid}",
            "/api/stream" => "/api/stream",
            "/api/stats" => "/api/stats",
            "/api/sequences" => "/api/sequences",
            "/api/sequences/{id}" => "/api/sequences/{id}",
            "/api/openapi.json" => "/api/openapi.json",
            "/healthz" => "/healthz",
            "/readyz" => "/readyz",
            "/metrics" => "/metrics",
            "/" => "/",
            _ => "/assets",
        });
    let started = Instant::now();
    let resp = next.run(req).await;
    state
        .metrics
        .latency
        .with_label_values(&[route])
        .observe(started.elapsed().as_secs_f64());
    state
        .metrics
        .requests
        .with_label_values(&[route, resp.status().as_str()])
        .inc();
    resp
}

/// `quakestream frontend`: runs until SIGINT/SIGTERM.
pub async fn run(args: FrontendArgs) -> anyhow::Result<()> {
    ops::init_logging(&args.log);
    let kafka_security = KafkaSecurity::from_args(&args.kafka_security).context("Kafka security")?;
    let (stop_tx, stop_rx) = ops::shutdown_channel();
    ops::trigger_on_signal(stop_tx.clone());
    let registry = prometheus::Registry::new();
    let archive = connect_archive(&args, &registry).await?;
    let cfg = FrontendConfig {
        bootstrap_servers: args.bootstrap_servers.clone(),
        topic: args.topic.clone(),
        kafka_security,
        listen: args.listen,
        window: args.window,
        rate_limit: args.rate_limit,
        client_ip_header: args.client_ip_header.clone(),
        trusted_proxy_hops: args.trusted_proxy_hops,
        trusted_proxies: args.trusted_proxies.clone(),
        sse_heartbeat: args.sse_heartbeat,
        write_stall_timeout: args.write_stall_timeout,
        header_read_timeout: args.header_read_timeout,
        keep_alive_timeout: args.keep_alive_timeout,
        max_connections: args.max_connections,
        cache_bytes: args.cache_bytes,
        stats_topic: args.stats_topic.clone(),
        sequences_topic: Some(args.sequences_topic.clone()),
        archive,
        ..FrontendConfig::new("", "")
    };
    let fe = start(cfg, registry, stop_rx).await?;
    let result = fe.task.await.map_err(|e| anyhow::anyhow!("frontend task: {e}"))?;
    let _ = stop_tx.send(true);
    result
}

async fn connect_archive(
    args: &FrontendArgs,
    registry: &prometheus::Registry,
) -> anyhow::Result<Option<Arc<dyn Archive>>> {
    match &args.table {
        None => {
            tracing::warn!("no --table: serving the Kafka tail only (no warm-up, no history beyond it)");
            Ok(None)
        }
        Some(table) => {
            let cfg = quakestream_store::StoreConfig {
                table: table.clone(),
                region: args.region.clone(),
                endpoint: args.dynamodb_endpoint.clone(),
            };
            let store = quakestream_store::Store::connect(&cfg)
                .await
                .with_context(|| format!("connecting to DynamoDB table {table}"))?
                .with_meter(quakestream_store::DynamoMeter::new(registry).context("registering the DynamoDB meter")?);
            tracing::info!(%table, endpoint = ?args.dynamodb_endpoint, "archive: DynamoDB");
            Ok(Some(Arc::new(store)))
        }
    }
}
