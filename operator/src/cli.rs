//! Command line of `quakestream-operator` (the binary is a thin wrapper over [`main`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use clap::{Parser, Subcommand};
use tracing::{error, info};

use crate::metrics::Metrics;

/// Kubernetes operator for QuakeStream pipelines.
#[derive(Parser, Debug)]
#[command(name = "quakestream-operator", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the controller against the cluster of the in-cluster config or kubeconfig.
    Run {
        /// Address of /metrics, /healthz and /readyz.
        #[arg(long, env = "QS_OPERATOR_LISTEN", default_value = "0.0.0.0:8080")]
        listen: SocketAddr,
        /// Watch only this namespace (default: all namespaces).
        #[arg(long, env = "QS_OPERATOR_NAMESPACE")]
        namespace: Option<String>,
        /// Log filter (tracing EnvFilter syntax); logs are JSON lines on stdout.
        #[arg(long, env = "QS_LOG", default_value = "info")]
        log: String,
        /// Apply the QuakeStream CRD this operator was built with at start-up (never a
        /// downgrade); needs get and patch on that one CustomResourceDefinition.
        #[arg(long, env = "QS_OPERATOR_MANAGE_CRD", default_value_t = true, action = clap::ArgAction::Set)]
        manage_crd: bool,
    },
    /// Print, as YAML, every object the operator would apply for a QuakeStream manifest.
    Render {
        /// The QuakeStream manifest (`-` for stdin).
        #[arg(short = 'f', long = "filename")]
        file: PathBuf,
        /// Namespace used when the manifest has none.
        #[arg(short = 'n', long, default_value = "default")]
        namespace: String,
    },
}

/// Run a parsed command line.
pub fn main(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Render { file, namespace } => {
            let text = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())
            } else {
                std::fs::read_to_string(&file)
            };
            let text = match text {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("error: reading {}: {e}", file.display());
                    return ExitCode::FAILURE;
                }
            };
            match crate::render::render(&text, &namespace) {
                Ok(out) => {
                    print!("{out}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {}: {e}", file.display());
                    ExitCode::FAILURE
                }
            }
        }
        Command::Run {
            listen,
            namespace,
            log,
            manage_crd,
        } => {
            init_logging(&log);
            let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    error!(error = %e, "cannot start the async runtime");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(run(listen, namespace, manage_crd)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    error!(error = format!("{e:#}"), "operator stopped");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn init_logging(filter: &str) {
    let filter =
        tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .init();
}

#[derive(Clone)]
struct HttpState {
    metrics: Metrics,
    ready: Arc<AtomicBool>,
}

/// The operator's HTTP endpoints.
fn router(metrics: Metrics, ready: Arc<AtomicBool>) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State(s): State<HttpState>| async move {
                ([("content-type", "text/plain; version=0.0.4")], s.metrics.render())
            }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(|State(s): State<HttpState>| async move {
                if s.ready.load(Ordering::Relaxed) {
                    (StatusCode::OK, "ready")
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, "starting")
                }
            }),
        )
        .with_state(HttpState { metrics, ready })
}

/// How often to look for the CRD's `Established` condition after applying it.
const CRD_POLL: std::time::Duration = std::time::Duration::from_secs(1);

async fn run(listen: SocketAddr, namespace: Option<String>, manage_crd: bool) -> anyhow::Result<()> {
    let metrics = Metrics::new();
    let ready = Arc::new(AtomicBool::new(false));
    let listener = tokio::net::TcpListener::bind(listen).await?;
    info!(%listen, "serving /metrics, /healthz and /readyz");
    let app = router(metrics.clone(), ready.clone());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let client = kube::Client::try_default().await?;
    if manage_crd {
        match crate::install::ensure_crd(&client, CRD_POLL).await {
            Ok(outcome) => info!(?outcome, "CRD checked"),
            // The CRD that is there keeps working; objects it cannot describe are degraded.
            Err(e) => {
                metrics.crd_failures.inc();
                error!(error = %e, "cannot apply the QuakeStream CRD (apply crds/quakestream.yaml yourself, or grant get/patch on it)");
            }
        }
    }
    // Fail fast with a clear message when the CRD is missing.
    let api: kube::Api<crate::crd::QuakeStream> = match namespace.as_deref() {
        Some(ns) => kube::Api::namespaced(client.clone(), ns),
        None => kube::Api::all(client.clone()),
    };
    api.list(&kube::api::ListParams::default().limit(1))
        .await
        .map_err(|e| anyhow::anyhow!("cannot list QuakeStreams (is the CRD installed and RBAC granted?): {e}"))?;
    ready.store(true, Ordering::Relaxed);
    info!(namespace = namespace.as_deref().unwrap_or("*"), "controller starting");
    crate::controller::run(client, metrics, namespace).await;
    server.abort();
    info!("controller stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
        let cli = Cli::parse_from(["quakestream-operator", "render", "-f", "x.yaml"]);
        assert!(matches!(cli.command, Command::Render { namespace, .. } if namespace == "default"));
        let cli = Cli::parse_from(["quakestream-operator", "run"]);
        assert!(matches!(cli.command, Command::Run { manage_crd: true, .. }));
        let cli = Cli::parse_from(["quakestream-operator", "run", "--manage-crd", "false"]);
        assert!(matches!(cli.command, Command::Run { manage_crd: false, .. }));
    }

    #[tokio::test]
    async fn http_endpoints() {
        use axum::body::Body;
        use tower::ServiceExt;
        let metrics = Metrics::new();
        metrics.reconciles.inc();
        let ready = Arc::new(AtomicBool::new(false));
        let app = router(metrics, ready.clone());
        let get = |path: &str| axum::http::Request::get(path).body(Body::empty()).unwrap();
        let r = app.clone().oneshot(get("/readyz")).await.unwrap();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        ready.store(true, Ordering::Relaxed);
        assert_eq!(
            app.clone().oneshot(get("/readyz")).await.unwrap().status(),
            StatusCode::OK
        );
        assert_eq!(
            app.clone().oneshot(get("/healthz")).await.unwrap().status(),
            StatusCode::OK
        );
        let r = app.oneshot(get("/metrics")).await.unwrap();
        let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        assert!(String::from_utf8_lossy(&body).contains("quakestream_operator_reconciles_total 1"));
    }
}
