//! The reconciler, a named pipeline (after Stackable's validate → build → apply → update status):
//!
//! 0. **read**: the watch delivers raw objects ([`DynamicObject`]); one this operator's types
//!    cannot read (a stored object from another CRD version) degrades that object alone, with
//!    the reason, instead of breaking the watch for every QuakeStream;
//! 1. **resolve** ([`crate::resolve`]): validate into a [`Resolved`] spec; invalid → `Degraded`,
//!    a warning event, and wait for a change;
//! 2. **build** ([`crate::build`]): pure functions of the resolved spec;
//! 3. **apply** ([`crate::apply`]): server-side apply under one field manager, stage by stage,
//!    then prune what the spec dropped; a refusal → `Degraded=True` reason `ApplyFailed` with the
//!    server's message and the object, a warning event, and a slow requeue (no hot loop);
//! 4. **status** ([`crate::status`]): from what the API server returned, written only if it
//!    changed, with events for transitions.
//!
//! Deletion of a QuakeStream is left to owner-reference garbage collection: nothing outside the
//! cluster needs cleaning, so there is no finalizer. Retained KafkaTopics carry no owner
//! reference and survive it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, ObjectReference};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ApiResource, DynamicObject, Patch, PatchParams};
use kube::runtime::Controller;
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};
use tracing::{info, warn};

use crate::MANAGER;
use crate::apply::{self, ApplyError, Refusal};
use crate::build::build_all;
use crate::crd::{QuakeStream, QuakeStreamStatus};
use crate::metrics::Metrics;
use crate::resolve::{Resolved, SpecErrors, resolve};
use crate::status::{self, DEGRADED, Problem, READY, reason};

/// Requeue interval of a ready pipeline (drift correction; children are also watched).
pub const READY_REQUEUE: Duration = Duration::from_secs(300);
/// Requeue interval while waiting for workloads, KafkaTopics or the Ingress (topics are not
/// watched).
pub const WAITING_REQUEUE: Duration = Duration::from_secs(30);
/// Requeue interval after a refusal: permanent until the object changes (which reconciles at
/// once), but RBAC or an admission policy can change too, so try again now and then.
pub const REFUSED_REQUEUE: Duration = Duration::from_secs(600);
/// First retry after a transient error; doubles per consecutive failure.
pub const BACKOFF_BASE: Duration = Duration::from_secs(5);
/// Longest retry interval after transient errors.
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);
/// Longest event note the events API accepts (events.k8s.io/v1 `note`).
pub const MAX_EVENT_NOTE: usize = 1024;

/// Why a reconcile failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec breaks a rule; permanent until the spec changes.
    #[error("invalid spec: {0}")]
    InvalidSpec(#[from] SpecErrors),
    /// The stored object cannot be read by this operator version; permanent until it changes.
    #[error("unreadable object: {0}")]
    Unreadable(String),
    /// The API server refused children; permanent until something changes (slow requeue).
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Refused(Vec<Refusal>),
    /// Strimzi's KafkaTopic CRD is not installed; retried with backoff.
    #[error("the Strimzi KafkaTopic CRD (kafka.strimzi.io/v1) is not installed")]
    StrimziMissing,
    /// A transient API failure on a child; retried with backoff.
    #[error(transparent)]
    Api(Box<ApplyError>),
    /// Writing the status failed; retried with backoff.
    #[error("patching status: {0}")]
    Status(#[source] kube::Error),
    /// A child could not be serialised (a bug).
    #[error("serialising: {0}")]
    Serialize(#[from] serde_json::Error),
}

impl Error {
    /// Value of the `error` label of `reconcile_failures_total`.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::InvalidSpec(_) => "invalid_spec",
            Error::Unreadable(_) => "unreadable",
            Error::Refused(_) => "apply_refused",
            Error::StrimziMissing => "strimzi_missing",
            Error::Api(_) => "api",
            Error::Status(_) => "status",
            Error::Serialize(_) => "serialize",
        }
    }

    /// What the controller does next: wait for a change, requeue slowly, or back off.
    fn retry(&self) -> Retry {
        match self {
            Error::InvalidSpec(_) | Error::Unreadable(_) | Error::Serialize(_) => Retry::AwaitChange,
            Error::Refused(_) => Retry::Slowly,
            Error::StrimziMissing | Error::Api(_) | Error::Status(_) => Retry::Backoff,
        }
    }

    /// Permanent errors wait for a change of the object.
    pub fn is_permanent(&self) -> bool {
        self.retry() == Retry::AwaitChange
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Retry {
    AwaitChange,
    Slowly,
    Backoff,
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

    async fn publish(&self, target: &ObjectReference, type_: EventType, reason: &str, note: &str) {
        let ev = Event {
            type_,
            reason: reason.to_owned(),
            note: Some(status::truncate(note, MAX_EVENT_NOTE)),
            action: "Reconcile".to_owned(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&ev, target).await {
            warn!(error = %e, reason, "could not publish event");
        }
    }
}

/// The API resource of QuakeStreams (the watch reads them as raw objects).
pub fn api_resource() -> ApiResource {
    ApiResource::erase::<QuakeStream>(&())
}

fn key(obj: &DynamicObject) -> String {
    format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any())
}

fn object_ref(obj: &DynamicObject) -> ObjectReference {
    ObjectReference {
        api_version: Some(QuakeStream::api_version(&()).into_owned()),
        kind: Some(QuakeStream::kind(&()).into_owned()),
        name: obj.metadata.name.clone(),
        namespace: obj.metadata.namespace.clone(),
        uid: obj.metadata.uid.clone(),
        resource_version: obj.metadata.resource_version.clone(),
        field_path: None,
    }
}

/// Step 0: the typed object, or why this version cannot read it.
pub fn read(obj: &DynamicObject) -> Result<QuakeStream, String> {
    let value = serde_json::to_value(obj).map_err(|e| e.to_string())?;
    serde_json::from_value(value).map_err(|e| e.to_string())
}

/// The previous status, read leniently (an unreadable spec may still carry a readable status).
fn previous_status(obj: &DynamicObject) -> QuakeStreamStatus {
    obj.data
        .get("status")
        .and_then(|s| serde_json::from_value(s.clone()).ok())
        .unwrap_or_default()
}

/// Reconcile one QuakeStream.
pub async fn reconcile(obj: Arc<DynamicObject>, ctx: Arc<Context>) -> Result<Action, Error> {
    ctx.metrics.reconciles.inc();
    let started = Instant::now();
    let result = reconcile_inner(&obj, &ctx).await;
    let outcome = if result.is_ok() { "ok" } else { "error" };
    ctx.metrics
        .duration
        .with_label_values(&[outcome])
        .observe(started.elapsed().as_secs_f64());
    result
}

async fn reconcile_inner(obj: &DynamicObject, ctx: &Context) -> Result<Action, Error> {
    if obj.metadata.deletion_timestamp.is_some() {
        info!(quakestream = %key(obj), "being deleted; owned children are garbage-collected");
        return Ok(Action::await_change());
    }
    let old = previous_status(obj);
    let qs = match read(obj) {
        Ok(qs) => qs,
        Err(e) => {
            let message = format!(
                "this operator ({}) cannot read the stored object: {e}",
                env!("CARGO_PKG_VERSION")
            );
            warn!(quakestream = %key(obj), %message, "unreadable object");
            degrade(ctx, obj, &old, reason::UNREADABLE, &message).await?;
            return Err(Error::Unreadable(message));
        }
    };
    let resolved = match resolve(&qs) {
        Ok(r) => r,
        Err(errs) => {
            let message = errs.to_string();
            warn!(quakestream = %key(obj), %message, "invalid spec");
            degrade(ctx, obj, &old, reason::INVALID_SPEC, &message).await?;
            return Err(Error::InvalidSpec(errs));
        }
    };
    let children = build_all(&resolved);
    let (observed, problem, failure) = match apply::apply_all(&ctx.client, &resolved, &children).await {
        Ok(o) => (o, None, None),
        Err(ApplyError::Refused { refusals, observed }) => {
            let message = refusals.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
            warn!(quakestream = %key(obj), %message, "the API server refused children");
            let p = Problem {
                reason: reason::APPLY_FAILED,
                message,
            };
            (*observed, Some(p), Some(Error::Refused(refusals)))
        }
        Err(ApplyError::StrimziMissing { observed }) => {
            let p = Problem {
                reason: reason::STRIMZI_MISSING,
                message:
                    "the Strimzi KafkaTopic CRD (kafka.strimzi.io/v1) is not installed: install Strimzi 1.0 or later"
                        .to_owned(),
            };
            (*observed, Some(p), Some(Error::StrimziMissing))
        }
        Err(ApplyError::Serialize(e)) => return Err(Error::Serialize(e)),
        Err(e @ ApplyError::Transient { .. }) => return Err(Error::Api(Box::new(e))),
    };
    let new = status::compute(&resolved, &old, &observed, problem.as_ref(), (ctx.clock)());
    write_status(ctx, obj, &old, &new).await?;
    publish_transitions(ctx, obj, &resolved, &old, &new, children.len()).await;
    if let Some(e) = failure {
        return Err(e);
    }
    ctx.reset_backoff(&key(obj));
    let ready = status::is_true(&new, READY);
    info!(quakestream = %key(obj), ready, "reconciled");
    if status::is_true(&new, DEGRADED) {
        // Strimzi refused a topic: only a change clears it.
        return Ok(Action::requeue(REFUSED_REQUEUE));
    }
    Ok(Action::requeue(if ready { READY_REQUEUE } else { WAITING_REQUEUE }))
}

/// Steps 1's failure: Degraded with the previous children's state kept, a warning event when
/// the problem is new.
async fn degrade(
    ctx: &Context,
    obj: &DynamicObject,
    old: &QuakeStreamStatus,
    why: &str,
    message: &str,
) -> Result<(), Error> {
    let new = status::unresolved(obj.metadata.generation, old, why, message, (ctx.clock)());
    write_status(ctx, obj, old, &new).await?;
    if degraded_changed(old, &new) {
        ctx.publish(&object_ref(obj), EventType::Warning, why, message).await;
    }
    Ok(())
}

/// Events for what changed between two statuses: a new generation applied, a new problem,
/// Ready gained or lost.
async fn publish_transitions(
    ctx: &Context,
    obj: &DynamicObject,
    r: &Resolved,
    old: &QuakeStreamStatus,
    new: &QuakeStreamStatus,
    objects: usize,
) {
    let target = object_ref(obj);
    if degraded_changed(old, new)
        && let Some(d) = status::find(new, DEGRADED).filter(|d| d.status == "True")
    {
        ctx.publish(&target, EventType::Warning, &d.reason, &d.message).await;
    }
    if old.observed_generation != new.observed_generation && !status::is_true(new, DEGRADED) {
        let note = format!(
            "applied generation {} ({objects} objects)",
            r.generation.unwrap_or_default()
        );
        ctx.publish(&target, EventType::Normal, "Applied", &note).await;
    }
    let ready = status::is_true(new, READY);
    if ready && !status::is_true(old, READY) {
        let url = new.url.clone().unwrap_or_default();
        ctx.publish(
            &target,
            EventType::Normal,
            "Ready",
            &format!("all components are ready; map at {url}"),
        )
        .await;
    } else if !ready && status::is_true(old, READY) {
        let msg = status::find(new, READY).map(|c| c.message.clone()).unwrap_or_default();
        ctx.publish(&target, EventType::Warning, "NotReady", &msg).await;
    }
}

/// Whether the Degraded condition changed its status or message (worth a warning event).
fn degraded_changed(old: &QuakeStreamStatus, new: &QuakeStreamStatus) -> bool {
    let key = |s: &QuakeStreamStatus| status::find(s, DEGRADED).map(|c| (c.status.clone(), c.message.clone()));
    key(old) != key(new)
}

/// What the controller does after a failed reconcile.
pub fn error_policy(obj: Arc<DynamicObject>, err: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.failures.with_label_values(&[err.metric_label()]).inc();
    match err.retry() {
        Retry::AwaitChange => Action::await_change(),
        Retry::Slowly => Action::requeue(REFUSED_REQUEUE),
        Retry::Backoff => {
            let delay = ctx.backoff(&key(&obj));
            warn!(quakestream = %key(&obj), error = %err, retry_in_s = delay.as_secs(), "reconcile failed");
            Action::requeue(delay)
        }
    }
}

/// Write the status with server-side apply, only when it differs from the stored one.
async fn write_status(
    ctx: &Context,
    obj: &DynamicObject,
    old: &QuakeStreamStatus,
    new: &QuakeStreamStatus,
) -> Result<(), Error> {
    if old == new {
        return Ok(());
    }
    let api: Api<DynamicObject> = Api::namespaced_with(
        ctx.client.clone(),
        &obj.namespace().unwrap_or_default(),
        &api_resource(),
    );
    let body = serde_json::json!({
        "apiVersion": QuakeStream::api_version(&()),
        "kind": QuakeStream::kind(&()),
        "status": new,
    });
    let params = PatchParams::apply(MANAGER).force();
    api.patch_status(&obj.name_any(), &params, &Patch::Apply(&body))
        .await
        .map_err(Error::Status)?;
    Ok(())
}

/// Run the controller until SIGTERM/SIGINT. `namespace` limits it to one namespace.
pub async fn run(client: Client, metrics: Metrics, namespace: Option<String>) {
    let ctx = Arc::new(Context::new(client.clone(), metrics));
    let ar = api_resource();
    let qs_api: Api<DynamicObject> = match namespace.as_deref() {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    };
    let cfg = watcher::Config::default().any_semantic();
    let owned = || watcher::Config::default().labels(&format!("app.kubernetes.io/managed-by={MANAGER}"));
    Controller::new_with(qs_api, cfg, ar)
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
