//! Step 3 of a reconcile: server-side apply of the built children, stage by stage, and the
//! removal of optional children the spec no longer asks for.
//!
//! Stages run in dependency order: identities and configuration (ServiceAccounts, ConfigMaps),
//! topics and Kafka users, workloads (Deployments, whose pod templates carry the ConfigMaps'
//! hashes), then what points at the workloads (Service, HPA, PDB, Ingress, NetworkPolicies), then
//! pruning (of the Ingress and NetworkPolicies, of Kafka users, and of a workload the spec turned
//! off). Every
//! object of a stage is attempted; a stage with a failure stops the pass, so a Deployment never
//! rolls onto a ConfigMap that was refused.
//!
//! A refusal by the API server (400, 403, 409, 422: a bad value, an admission policy, RBAC) is
//! kept apart from a transient failure (5xx, 429, timeouts): the first waits for a change and
//! is shown in the status, the second is retried with backoff.

use std::fmt::{self, Debug};

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, Preconditions};
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::info;

use crate::MANAGER;
use crate::build::Children;
use crate::component::Component;
use crate::resolve::Resolved;
use crate::status::Observed;

/// HTTP codes with which an API server refuses an object for what it is (its content, an
/// admission policy, the operator's permissions); retrying the same object cannot succeed.
pub const REFUSAL_CODES: [u16; 4] = [400, 403, 409, 422];

/// An object the API server refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// Kind of the object.
    pub kind: String,
    /// Name of the object.
    pub name: String,
    /// HTTP status code.
    pub code: u16,
    /// The Status reason (`Invalid`, `Forbidden`, ...).
    pub reason: String,
    /// The server's message.
    pub message: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} refused ({} {}): {}",
            self.kind, self.name, self.code, self.reason, self.message
        )
    }
}

/// Why applying stopped.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The API server refused objects; `observed` holds what the earlier stages applied.
    #[error("{}", refusals.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Refused {
        /// Every refusal of the failed stage.
        refusals: Vec<Refusal>,
        /// What the stages before it returned.
        observed: Box<Observed>,
    },
    /// The KafkaTopic CRD is missing (404 on a KafkaTopic).
    #[error("the Strimzi KafkaTopic CRD (kafka.strimzi.io/v1) is not installed")]
    StrimziMissing {
        /// What the stages before it returned.
        observed: Box<Observed>,
    },
    /// A transient failure: retried with backoff.
    #[error("{action} {kind} {name}: {source}")]
    Transient {
        /// `applying`, `listing` or `deleting`.
        action: &'static str,
        /// Kind of the object.
        kind: String,
        /// Name of the object.
        name: String,
        /// The API error.
        #[source]
        source: Box<kube::Error>,
    },
    /// A child could not be serialised (a bug).
    #[error("serialising a child: {0}")]
    Serialize(#[from] serde_json::Error),
}

/// A failure of one API call.
enum Failure {
    Refused(Refusal),
    NotFound(&'static str, kube::Error),
    Transient(&'static str, kube::Error),
}

fn classify<K: Resource<DynamicType = ()>>(action: &'static str, name: &str, e: kube::Error) -> Failure {
    let kube::Error::Api(status) = &e else {
        return Failure::Transient(action, e);
    };
    if REFUSAL_CODES.contains(&status.code) {
        return Failure::Refused(Refusal {
            kind: K::kind(&()).into_owned(),
            name: name.to_owned(),
            code: status.code,
            reason: status.reason.clone(),
            message: status.message.clone(),
        });
    }
    if status.code == 404 {
        Failure::NotFound(action, e)
    } else {
        Failure::Transient(action, e)
    }
}

/// The failures of one stage.
struct Stage {
    refusals: Vec<Refusal>,
    transient: Option<ApplyError>,
    /// Whether a 404 means the resource type is missing (the KafkaTopic stage); elsewhere it is
    /// transient (a namespace being deleted, a race with a delete).
    missing_type_on_404: bool,
    not_found: bool,
}

impl Stage {
    fn new() -> Self {
        Self {
            refusals: Vec::new(),
            transient: None,
            missing_type_on_404: false,
            not_found: false,
        }
    }

    fn custom_resources() -> Self {
        Self {
            missing_type_on_404: true,
            ..Self::new()
        }
    }

    fn record<K: Resource<DynamicType = ()>, T>(&mut self, name: &str, r: Result<T, Failure>) -> Option<T> {
        match r {
            Ok(v) => return Some(v),
            Err(Failure::Refused(refusal)) => self.refusals.push(refusal),
            Err(Failure::NotFound(_, _)) if self.missing_type_on_404 => self.not_found = true,
            Err(Failure::NotFound(action, source) | Failure::Transient(action, source)) => {
                self.transient.get_or_insert(ApplyError::Transient {
                    action,
                    kind: K::kind(&()).into_owned(),
                    name: name.to_owned(),
                    source: Box::new(source),
                });
            }
        }
        None
    }

    /// Ok when the stage had no failure; a transient failure wins over refusals (a retry may
    /// clear it, and the refusals will be seen again).
    fn finish(self, observed: &Observed) -> Result<(), ApplyError> {
        if let Some(t) = self.transient {
            return Err(t);
        }
        if !self.refusals.is_empty() {
            return Err(ApplyError::Refused {
                refusals: self.refusals,
                observed: Box::new(observed.clone()),
            });
        }
        if self.not_found {
            return Err(ApplyError::StrimziMissing {
                observed: Box::new(observed.clone()),
            });
        }
        Ok(())
    }
}

/// Server-side apply of one object, returning what the API server stored (with its status).
async fn apply<K>(client: &Client, ns: &str, obj: &K) -> Result<K, Failure>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope> + Clone + Debug + Serialize + DeserializeOwned,
{
    let name = obj.meta().name.clone().unwrap_or_default();
    let body = crate::build::typed(obj).map_err(|e| Failure::Transient("serialising", kube::Error::SerdeError(e)))?;
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    let params = PatchParams::apply(MANAGER).force();
    api.patch(&name, &params, &Patch::Apply(&body))
        .await
        .map_err(|e| classify::<K>("applying", &name, e))
}

/// Apply every child, stage by stage, then remove the optional children the spec dropped.
pub async fn apply_all(client: &Client, r: &Resolved, c: &Children) -> Result<Observed, ApplyError> {
    let ns = r.namespace.as_str();
    let mut observed = Observed::default();

    let mut stage = Stage::new();
    for o in &c.service_accounts {
        let res = apply(client, ns, o).await;
        stage.record::<k8s_openapi::api::core::v1::ServiceAccount, _>(&o.name_any(), res);
    }
    for o in &c.config_maps {
        let res = apply(client, ns, o).await;
        stage.record::<k8s_openapi::api::core::v1::ConfigMap, _>(&o.name_any(), res);
    }
    stage.finish(&observed)?;

    // A 404 on a PATCH of a namespaced custom resource: the resource type is unknown.
    let mut stage = Stage::custom_resources();
    let mut topics = Vec::new();
    for o in &c.topics {
        let res = apply(client, ns, o).await;
        topics.extend(stage.record::<crate::strimzi::KafkaTopic, _>(&o.name_any(), res));
    }
    for o in &c.kafka_users {
        let res = apply(client, ns, o).await;
        stage.record::<crate::strimzi::KafkaUser, _>(&o.name_any(), res);
    }
    stage.finish(&observed)?;
    observed.topics = topics;

    let mut stage = Stage::new();
    let mut deployments = Vec::new();
    for o in &c.deployments {
        let res = apply(client, ns, o).await;
        deployments.extend(stage.record::<k8s_openapi::api::apps::v1::Deployment, _>(&o.name_any(), res));
    }
    stage.finish(&observed)?;
    observed.deployments = deployments;

    let mut stage = Stage::new();
    let res = apply(client, ns, &c.service).await;
    stage.record::<k8s_openapi::api::core::v1::Service, _>(&c.service.name_any(), res);
    let res = apply(client, ns, &c.hpa).await;
    stage.record::<k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler, _>(&c.hpa.name_any(), res);
    let res = apply(client, ns, &c.pdb).await;
    stage.record::<k8s_openapi::api::policy::v1::PodDisruptionBudget, _>(&c.pdb.name_any(), res);
    let mut ingress = None;
    if let Some(o) = &c.ingress {
        let res = apply(client, ns, o).await;
        ingress = stage.record::<Ingress, _>(&o.name_any(), res);
    }
    for o in &c.network_policies {
        let res = apply(client, ns, o).await;
        stage.record::<NetworkPolicy, _>(&o.name_any(), res);
    }
    stage.finish(&observed)?;
    observed.ingress = ingress;

    let mut stage = Stage::new();
    let keep: Vec<String> = c.ingress.iter().map(|o| o.name_any()).collect();
    prune::<Ingress>(client, r, &keep, &mut stage).await;
    let keep: Vec<String> = c.network_policies.iter().map(|o| o.name_any()).collect();
    prune::<NetworkPolicy>(client, r, &keep, &mut stage).await;
    if r.workloads.len() < Component::ALL.len() {
        // A workload the spec turned off (the analytics): its Deployment first, so no pod runs
        // on a ConfigMap or ServiceAccount that is gone.
        let keep: Vec<String> = c.deployments.iter().map(|o| o.name_any()).collect();
        prune::<Deployment>(client, r, &keep, &mut stage).await;
        let keep: Vec<String> = c.config_maps.iter().map(|o| o.name_any()).collect();
        prune::<ConfigMap>(client, r, &keep, &mut stage).await;
        let keep: Vec<String> = c.service_accounts.iter().map(|o| o.name_any()).collect();
        prune::<ServiceAccount>(client, r, &keep, &mut stage).await;
        if !c.kafka_users.is_empty() {
            // With authentication on, the KafkaUser CRD is there to list.
            let keep: Vec<String> = c.kafka_users.iter().map(|o| o.name_any()).collect();
            prune::<crate::strimzi::KafkaUser>(client, r, &keep, &mut stage).await;
        }
    }
    if c.kafka_users.is_empty() {
        // Only after a switch to `authentication: none` can there be users to remove (the names
        // are fixed): listing them otherwise would need the KafkaUser CRD on every cluster.
        prune::<crate::strimzi::KafkaUser>(client, r, &[], &mut stage).await;
    }
    stage.finish(&observed)?;
    Ok(observed)
}

/// Label selector of the children of one QuakeStream.
pub fn children_selector(r: &Resolved) -> String {
    format!(
        "app.kubernetes.io/instance={},app.kubernetes.io/managed-by={}",
        r.name,
        crate::MANAGER
    )
}

/// Whether `o` is controlled by the QuakeStream `r` (its controller owner reference has the
/// QuakeStream's uid).
pub fn owned_by<K: Resource>(o: &K, r: &Resolved) -> bool {
    let Some(owner) = &r.owner else {
        return false;
    };
    o.meta()
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.controller == Some(true) && o.uid == owner.uid && o.kind == owner.kind)
}

/// Delete the objects of kind `K` this QuakeStream owns that are not in `keep`. Only objects
/// with this QuakeStream's labels *and* its controller owner reference are touched; the delete
/// is conditional on the uid seen, so an object re-created in between is left alone.
async fn prune<K>(client: &Client, r: &Resolved, keep: &[String], stage: &mut Stage)
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope> + Clone + Debug + DeserializeOwned,
{
    if r.owner.is_none() {
        return;
    }
    let api: Api<K> = Api::namespaced(client.clone(), &r.namespace);
    let lp = ListParams::default().labels(&children_selector(r));
    let listed = api.list(&lp).await.map_err(|e| classify::<K>("listing", "", e));
    let Some(list) = stage.record::<K, _>("", listed) else {
        return;
    };
    for o in list.items {
        let name = o.name_any();
        if keep.contains(&name) || !owned_by(&o, r) {
            continue;
        }
        let dp = DeleteParams {
            preconditions: Some(Preconditions {
                uid: o.meta().uid.clone(),
                resource_version: None,
            }),
            ..DeleteParams::background()
        };
        match api.delete(&name, &dp).await {
            Ok(_) => info!(kind = %K::kind(&()), name, "deleted a child the spec no longer asks for"),
            // Gone already, or replaced by another object (the uid precondition): nothing to do.
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
            Err(e) => {
                stage.record::<K, ()>(&name, Err(classify::<K>("deleting", &name, e)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_the_object_and_the_servers_words() {
        let e = kube::Error::Api(
            kube::core::Status::failure("spec.rules[0].host: Invalid value", "Invalid")
                .with_code(422)
                .boxed(),
        );
        let Failure::Refused(r) = classify::<Ingress>("applying", "demo-frontend", e) else {
            panic!("422 is a refusal");
        };
        assert_eq!(
            r.to_string(),
            "Ingress demo-frontend refused (422 Invalid): spec.rules[0].host: Invalid value"
        );
        for code in [500, 503, 429, 401] {
            let e = kube::Error::Api(kube::core::Status::failure("x", "y").with_code(code).boxed());
            assert!(
                matches!(classify::<Ingress>("applying", "x", e), Failure::Transient(..)),
                "{code}"
            );
        }
        let e = kube::Error::Api(kube::core::Status::failure("x", "NotFound").with_code(404).boxed());
        assert!(matches!(classify::<Ingress>("applying", "x", e), Failure::NotFound(..)));
    }
}
