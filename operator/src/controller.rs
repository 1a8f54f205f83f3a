//! The reconciler: server-side apply of the built children, status, events and metrics.
//!
//! One pass: validate the spec (invalid → `Degraded`, a warning event, and wait for a change),
//! apply every child with server-side apply under one field manager, delete the optional
//! children the spec no longer asks for, compute the status from what the API server returned,
//! write it only if it changed, and publish events for transitions. Deletion of a QuakeStream is
//! left to owner-reference garbage collection: nothing outside the cluster needs cleaning, so
//! there is no finalizer.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::runtime::Controller;
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::{info, warn};

use crate::MANAGER;
use crate::builders::{Children, Component, build_all, child_name};
use crate::crd::{QuakeStream, QuakeStreamStatus, SpecErrors};
use crate::metrics::Metrics;
use crate::status::{self, DEGRADED, Observed, READY, REASON_INVALID_SPEC, REASON_STRIMZI_MISSING};

/// Requeue interval of a ready pipeline (drift correction; children are also watched).
pub const READY_REQUEUE: Duration = Duration::from_secs(300);
/// Requeue interval while waiting for workloads or KafkaTopics (topics are not watched).
pub const WAITING_REQUEUE: Duration = Duration::from_secs(30);
/// First retry after a transient error; doubles per consecutive failure.
pub const BACKOFF_BASE: Duration = Duration::from_secs(5);
/// Longest retry interval after transient errors.
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// Why a reconcile failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec breaks a rule; permanent until the spec changes.
    #[error("invalid spec: {0}")]
    InvalidSpec(#[from] SpecErrors),
    /// The object has no namespace (cannot happen for a namespaced CRD); permanent.
    #[error("QuakeStream has no namespace")]
    MissingNamespace,
    /// Strimzi's KafkaTopic CRD is not installed; retried with backoff.
    #[error("the Strimzi KafkaTopic CRD (kafka.strimzi.io/v1) is not installed")]
    StrimziMissing,
    /// Server-side apply of a child failed.
    #[error("applying {kind} {name}: {source}")]
    Apply {
        /// Kind of the child.
        kind: &'static str,
        /// Name of the child.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// Deleting a child the spec no longer asks for failed.
    #[error("deleting {kind} {name}: {source}")]
    Delete {
        /// Kind of the child.
        kind: &'static str,
        /// Name of the child.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// Writing the status failed.
    #[error("patching status: {0}")]
    Status(#[source] kube::Error),
    /// A child could not be serialised (a bug).
    #[error("serialising a child: {0}")]
    Serialize(#[from] serde_json::Error),
}

impl Error {
    /// Value of the `error` label of `reconcile_failures_total`.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::InvalidSpec(_) => "invalid_spec",
            Error::MissingNamespace => "missing_namespace",
            Error::StrimziMissing => "strimzi_missing",
            Error::Apply { .. } => "apply",
            Error::Delete { .. } => "delete",
            Error::Status(_) => "status",
            Error::Serialize(_) => "serialize",
        }
    }

    /// Permanent errors wait for a change of the object; the others are retried with backoff.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            Error::InvalidSpec(_) | Error::MissingNamespace | Error::Serialize(_)
        )
    }
}

/// Source of "now" for condition transition times (fixed in tests).
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// Shared state of all reconciles.
pub struct Context {
    /// API client.
    pub client: Client,
    /// Event recorder.
    pub recorder: Recorder,
    /// Metrics.
    pub metrics: Metrics,
    /// Clock.
    pub clock: Clock,
    /// Consecutive transient failures per object (`namespace/name`).
    failures: Mutex<HashMap<String, u32>>,
}

impl Context {
    /// A context with the real clock.
    pub fn new(client: Client, metrics: Metrics) -> Self {
        Self::with_clock(client, metrics, Arc::new(Timestamp::now))
    }

    /// A context with a given clock.
    pub fn with_clock(client: Client, metrics: Metrics, clock: Clock) -> Self {
        let reporter = Reporter {
            controller: MANAGER.to_owned(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            metrics,
            clock,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Record one more transient failure and return the delay before the next attempt.
    pub fn backoff(&self, key: &str) -> Duration {
        let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let n = f.entry(key.to_owned()).or_insert(0);
        let delay = BACKOFF_BASE.saturating_mul(1 << (*n).min(16)).min(BACKOFF_MAX);
        *n = n.saturating_add(1);
        delay
    }

    fn reset_backoff(&self, key: &str) {
        self.failures.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
    }

    async fn publish(&self, qs: &QuakeStream, type_: EventType, reason: &str, note: String) {
        let ev = Event {
            type_,
            reason: reason.to_owned(),
            note: Some(note),
            action: "Reconcile".to_owned(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&ev, &qs.object_ref(&())).await {
            warn!(error = %e, reason, "could not publish event");
        }
    }
}

fn key(qs: &QuakeStream) -> String {
    format!("{}/{}", qs.namespace().unwrap_or_default(), qs.name_any())
}

/// Reconcile one QuakeStream.
pub async fn reconcile(qs: Arc<QuakeStream>, ctx: Arc<Context>) -> Result<Action, Error> {
    ctx.metrics.reconciles.inc();
    let started = Instant::now();
    let result = reconcile_inner(&qs, &ctx).await;
    let outcome = if result.is_ok() { "ok" } else { "error" };
    ctx.metrics
        .duration
        .with_label_values(&[outcome])
        .observe(started.elapsed().as_secs_f64());
    result
}

async fn reconcile_inner(qs: &QuakeStream, ctx: &Context) -> Result<Action, Error> {
    let ns = qs.namespace().ok_or(Error::MissingNamespace)?;
    let name = qs.name_any();
    if qs.metadata.deletion_timestamp.is_some() {
        info!(quakestream = %name, namespace = %ns, "being deleted; children are garbage-collected by owner reference");
        return Ok(Action::await_change());
    }
    let old = qs.status.clone().unwrap_or_default();

    if let Err(errs) = qs.validate() {
        let message = errs.to_string();
        warn!(quakestream = %name, namespace = %ns, %message, "invalid spec");
        let new = status::degraded(qs, &old, REASON_INVALID_SPEC, &message, (ctx.clock)());
        write_status(ctx, qs, &old, &new).await?;
        if degraded_changed(&old, &new) {
            ctx.publish(qs, EventType::Warning, REASON_INVALID_SPEC, message).await;
        }
        return Err(Error::InvalidSpec(errs));
    }

    let children = build_all(qs);
    let observed = match apply_all(&ctx.client, &ns, qs, &children).await {
        Ok(o) => o,
        Err(Error::StrimziMissing) => {
            let message =
                "the Strimzi KafkaTopic CRD (kafka.strimzi.io/v1) is not installed: install Strimzi 1.0 or later";
            let new = status::degraded(qs, &old, REASON_STRIMZI_MISSING, message, (ctx.clock)());
            write_status(ctx, qs, &old, &new).await?;
            if degraded_changed(&old, &new) {
                ctx.publish(qs, EventType::Warning, REASON_STRIMZI_MISSING, message.to_owned())
                    .await;
            }
            return Err(Error::StrimziMissing);
        }
        Err(e) => return Err(e),
    };

    let new = status::compute(qs, &old, &observed, (ctx.clock)());
    write_status(ctx, qs, &old, &new).await?;
    ctx.reset_backoff(&key(qs));

    if old.observed_generation != new.observed_generation {
        ctx.publish(
            qs,
            EventType::Normal,
            "Applied",
            format!(
                "applied generation {} ({} objects)",
                new.observed_generation.unwrap_or_default(),
                count(&children)
            ),
        )
        .await;
    }
    let ready = status::is_true(&new, READY);
    if ready && !status::is_true(&old, READY) {
        let url = new.url.clone().unwrap_or_default();
        ctx.publish(
            qs,
            EventType::Normal,
            "Ready",
            format!("all components are ready; map at {url}"),
        )
        .await;
    } else if !ready && status::is_true(&old, READY) {
        let msg = status::find(&new, READY).map(|c| c.message.clone()).unwrap_or_default();
        ctx.publish(qs, EventType::Warning, "NotReady", msg).await;
    }
    info!(quakestream = %name, namespace = %ns, ready, "reconciled");
    Ok(Action::requeue(if ready { READY_REQUEUE } else { WAITING_REQUEUE }))
}

fn count(c: &Children) -> usize {
    c.service_accounts.len()
        + c.config_maps.len()
        + c.topics.len()
        + c.deployments.len()
        + 3
        + usize::from(c.ingress.is_some())
        + c.network_policies.len()
}

/// Whether the Degraded condition became True or changed its message (worth a warning event).
fn degraded_changed(old: &QuakeStreamStatus, new: &QuakeStreamStatus) -> bool {
    let key = |s: &QuakeStreamStatus| status::find(s, DEGRADED).map(|c| (c.status.clone(), c.message.clone()));
    key(old) != key(new)
}

/// What the controller does after a failed reconcile.
pub fn error_policy(qs: Arc<QuakeStream>, err: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.failures.with_label_values(&[err.metric_label()]).inc();
    if err.is_permanent() {
        Action::await_change()
    } else {
        let delay = ctx.backoff(&key(&qs));
        warn!(quakestream = %qs.name_any(), error = %err, retry_in_s = delay.as_secs(), "reconcile failed");
        Action::requeue(delay)
    }
}

/// Server-side apply of one object, returning what the API server stored (with its status).
async fn apply<K>(client: &Client, ns: &str, obj: &K) -> Result<K, Error>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + Debug
        + Serialize
        + DeserializeOwned,
{
    let name = obj.meta().name.clone().unwrap_or_default();
    let mut body = serde_json::to_value(obj)?;
    if let Some(map) = body.as_object_mut() {
        map.insert("apiVersion".into(), K::api_version(&()).into());
        map.insert("kind".into(), K::kind(&()).into());
        map.remove("status");
    }
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    let params = PatchParams::apply(MANAGER).force();
    api.patch(&name, &params, &Patch::Apply(&body))
        .await
        .map_err(|source| Error::Apply {
            kind: static_kind::<K>(),
            name,
            source,
        })
}

fn static_kind<K: Resource<DynamicType = ()>>() -> &'static str {
    match K::kind(&()).as_ref() {
        "ServiceAccount" => "ServiceAccount",
        "ConfigMap" => "ConfigMap",
        "KafkaTopic" => "KafkaTopic",
        "Deployment" => "Deployment",
        "Service" => "Service",
        "HorizontalPodAutoscaler" => "HorizontalPodAutoscaler",
        "PodDisruptionBudget" => "PodDisruptionBudget",
        "Ingress" => "Ingress",
        "NetworkPolicy" => "NetworkPolicy",
        _ => "object",
    }
}

/// Delete a child the spec no longer asks for; absent is fine.
async fn delete_absent<K>(client: &Client, ns: &str, name: &str) -> Result<(), Error>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope> + Clone + Debug + DeserializeOwned,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => {
            info!(kind = static_kind::<K>(), name, "deleted child no longer in the spec");
            Ok(())
        }
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(source) => Err(Error::Delete {
            kind: static_kind::<K>(),
            name: name.to_owned(),
            source,
        }),
    }
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// Apply every child in order and collect what the status needs.
pub async fn apply_all(client: &Client, ns: &str, qs: &QuakeStream, c: &Children) -> Result<Observed, Error> {
    for o in &c.service_accounts {
        apply(client, ns, o).await?;
    }
    for o in &c.config_maps {
        apply(client, ns, o).await?;
    }
    let mut topics = Vec::new();
    for o in &c.topics {
        match apply(client, ns, o).await {
            Ok(t) => topics.push(t),
            // 404 on a PATCH of a namespaced custom resource: the resource type is unknown.
            Err(Error::Apply { source, .. }) if is_not_found(&source) => {
                return Err(Error::StrimziMissing);
            }
            Err(e) => return Err(e),
        }
    }
    let mut deployments = Vec::new();
    for o in &c.deployments {
        deployments.push(apply(client, ns, o).await?);
    }
    apply(client, ns, &c.service).await?;
    apply(client, ns, &c.hpa).await?;
    apply(client, ns, &c.pdb).await?;
    let ingress = match &c.ingress {
        Some(o) => Some(apply(client, ns, o).await?),
        None => {
            delete_absent::<Ingress>(client, ns, &child_name(qs, Component::Frontend)).await?;
            None
        }
    };
    if c.network_policies.is_empty() {
        for comp in Component::ALL {
            delete_absent::<NetworkPolicy>(client, ns, &child_name(qs, comp)).await?;
        }
    } else {
        for o in &c.network_policies {
            apply(client, ns, o).await?;
        }
    }
    Ok(Observed {
        deployments,
        topics,
        ingress,
    })
}

/// Write the status with server-side apply, only when it differs from the stored one.
async fn write_status(
    ctx: &Context,
    qs: &QuakeStream,
    old: &QuakeStreamStatus,
    new: &QuakeStreamStatus,
) -> Result<(), Error> {
    if old == new {
        return Ok(());
    }
    let api: Api<QuakeStream> = Api::namespaced(ctx.client.clone(), &qs.namespace().unwrap_or_default());
    let body = serde_json::json!({
        "apiVersion": QuakeStream::api_version(&()),
        "kind": QuakeStream::kind(&()),
        "status": new,
    });
    let params = PatchParams::apply(MANAGER).force();
    api.patch_status(&qs.name_any(), &params, &Patch::Apply(&body))
        .await
        .map_err(Error::Status)?;
    Ok(())
}

/// Run the controller until SIGTERM/SIGINT. `namespace` limits it to one namespace.
pub async fn run(client: Client, metrics: Metrics, namespace: Option<String>) {
    let ctx = Arc::new(Context::new(client.clone(), metrics));
    let qs_api: Api<QuakeStream> = scoped(&client, namespace.as_deref());
    let cfg = watcher::Config::default().any_semantic();
    let owned = || watcher::Config::default().labels("app.kubernetes.io/managed-by=quakestream-operator");
    Controller::new(qs_api, cfg)
        .owns(scoped::<Deployment>(&client, namespace.as_deref()), owned())
        .owns(scoped::<ConfigMap>(&client, namespace.as_deref()), owned())
        .owns(scoped::<Ingress>(&client, namespace.as_deref()), owned())
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx)
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "reconcile loop");
            }
        })
        .await;
}

fn scoped<K>(client: &Client, ns: Option<&str>) -> Api<K>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
{
    match ns {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

#[cfg(test)]
#[path = "controller_tests.rs"]
mod tests;
