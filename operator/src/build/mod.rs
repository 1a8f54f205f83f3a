//! Step 2 of a reconcile: pure functions from a [`Resolved`] spec to the objects a QuakeStream
//! owns, one file per kind. No client, no I/O, and nothing read from the raw resource: every
//! decision was made in [`crate::resolve`]. `render` prints exactly what [`build_all`] returns.
//!
//! Names are deterministic: `<name>-producer`, `<name>-consumer`, `<name>-frontend`,
//! `<name>-analytics` (Deployment, ServiceAccount, ConfigMap, NetworkPolicy; the frontend also has
//! a Service, HPA, PDB and Ingress of that name), and `<name>-events` / `<name>-dlq` /
//! `<name>-analytics-<role>` for the KafkaTopics. The KafkaUsers are named like their workloads;
//! the default-deny NetworkPolicy is `<name>-default-deny`.

pub mod config_map;
pub mod deployment;
pub mod horizontal_pod_autoscaler;
pub mod ingress;
pub mod kafka_topic;
pub mod kafka_user;
pub mod meta;
pub mod network_policy;
pub mod pod_disruption_budget;
pub mod service;
pub mod service_account;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Resource;

use crate::resolve::Resolved;
use crate::strimzi::{KafkaTopic, KafkaUser};

/// Every object a QuakeStream owns, in the order the controller applies them: identities and
/// configuration first, then topics, then workloads, then what points at the workloads.
#[derive(Clone, Debug, PartialEq)]
pub struct Children {
    /// One per component.
    pub service_accounts: Vec<ServiceAccount>,
    /// One per component.
    pub config_maps: Vec<ConfigMap>,
    /// Events and dead-letter topics, then the analytics' topics.
    pub topics: Vec<KafkaTopic>,
    /// One per workload, unless `spec.kafka.authentication` is `none`.
    pub kafka_users: Vec<KafkaUser>,
    /// Producer, consumer, frontend, analytics.
    pub deployments: Vec<Deployment>,
    /// The frontend Service.
    pub service: Service,
    /// The frontend HPA.
    pub hpa: HorizontalPodAutoscaler,
    /// The frontend PDB.
    pub pdb: PodDisruptionBudget,
    /// The frontend Ingress, when `spec.frontend.ingress` is set.
    pub ingress: Option<Ingress>,
    /// The default-deny and one per component, when `spec.networkPolicy.enabled`.
    pub network_policies: Vec<NetworkPolicy>,
}

impl Children {
    /// Every object as JSON (with `apiVersion` and `kind`), in apply order.
    pub fn to_values(&self) -> Result<Vec<serde_json::Value>, serde_json::Error> {
        let mut out = Vec::new();
        for o in &self.service_accounts {
            out.push(typed(o)?);
        }
        for o in &self.config_maps {
            out.push(typed(o)?);
        }
        for o in &self.topics {
            out.push(typed(o)?);
        }
        for o in &self.kafka_users {
            out.push(typed(o)?);
        }
        for o in &self.deployments {
            out.push(typed(o)?);
        }
        out.push(typed(&self.service)?);
        out.push(typed(&self.hpa)?);
        out.push(typed(&self.pdb)?);
        if let Some(o) = &self.ingress {
            out.push(typed(o)?);
        }
        for o in &self.network_policies {
            out.push(typed(o)?);
        }
        Ok(out)
    }

    /// How many objects there are.
    pub fn len(&self) -> usize {
        self.service_accounts.len()
            + self.config_maps.len()
            + self.topics.len()
            + self.kafka_users.len()
            + self.deployments.len()
            + 3
            + usize::from(self.ingress.is_some())
            + self.network_policies.len()
    }

    /// Never empty (a pipeline has at least its workloads).
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// Serialise an object, making sure `apiVersion` and `kind` come first and are set.
pub fn typed<K: Resource<DynamicType = ()> + serde::Serialize>(o: &K) -> Result<serde_json::Value, serde_json::Error> {
    let mut map = serde_json::Map::new();
    map.insert("apiVersion".into(), K::api_version(&()).into());
    map.insert("kind".into(), K::kind(&()).into());
    if let serde_json::Value::Object(rest) = serde_json::to_value(o)? {
        for (k, v) in rest {
            map.entry(k).or_insert(v);
        }
    }
    Ok(serde_json::Value::Object(map))
}

/// Build every child of a resolved QuakeStream.
pub fn build_all(r: &Resolved) -> Children {
    Children {
        service_accounts: r.workloads.iter().map(|w| service_account::build(r, w)).collect(),
        config_maps: r.workloads.iter().map(|w| config_map::build(r, w)).collect(),
        topics: r.topics.iter().map(|t| kafka_topic::build(r, t)).collect(),
        kafka_users: r.workloads.iter().filter_map(|w| kafka_user::build(r, w)).collect(),
        deployments: r.workloads.iter().map(|w| deployment::build(r, w)).collect(),
        service: service::build(r),
        hpa: horizontal_pod_autoscaler::build(r),
        pdb: pod_disruption_budget::build(r),
        ingress: ingress::build(r),
        network_policies: if r.network_policies {
            network_policy::build_all(r)
        } else {
            Vec::new()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{minimal, resolved, with_uid};

    #[test]
    fn deterministic_and_complete() {
        let r = resolved(&with_uid(minimal()));
        assert_eq!(build_all(&r), build_all(&r));
        let kinds: Vec<String> = build_all(&r)
            .to_values()
            .unwrap()
            .iter()
            .map(|v| v["kind"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            kinds,
            [
                vec!["ServiceAccount"; 4],
                vec!["ConfigMap"; 4],
                vec!["KafkaTopic"; 9],
                vec!["KafkaUser"; 4],
                vec!["Deployment"; 4],
                vec!["Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"],
                vec!["NetworkPolicy"; 5],
            ]
            .concat()
        );
        assert_eq!(build_all(&r).len(), kinds.len());
    }

    #[test]
    fn optional_children_follow_the_spec() {
        let mut qs = minimal();
        qs.spec.network_policy.enabled = false;
        qs.spec.frontend.ingress = Some(crate::crd::IngressSpec::default());
        let c = build_all(&resolved(&qs));
        assert!(c.network_policies.is_empty());
        let v = c.to_values().unwrap();
        assert_eq!(v.last().unwrap()["kind"], "Ingress");
        assert_eq!(c.len(), v.len());
    }

    #[test]
    fn every_object_has_app_labels_namespace_and_owner() {
        let r = resolved(&with_uid(minimal()));
        for v in build_all(&r).to_values().unwrap() {
            let m = &v["metadata"];
            assert_eq!(m["namespace"], "quakes", "{v}");
            assert_eq!(m["labels"]["app.kubernetes.io/name"], "quakestream", "{v}");
            assert_eq!(m["labels"]["app.kubernetes.io/instance"], "demo", "{v}");
            assert_eq!(
                m["labels"]["app.kubernetes.io/managed-by"], "quakestream-operator",
                "{v}"
            );
            assert!(v["apiVersion"].is_string() && v["kind"].is_string());
            if v["kind"] == "KafkaTopic" {
                // Retained by default: no owner, so deleting the QuakeStream keeps the data.
                assert!(m.get("ownerReferences").is_none(), "{v}");
            } else {
                assert_eq!(
                    m["ownerReferences"][0]["uid"], "8b1f6a0e-0000-4000-8000-000000000001",
                    "{v}"
                );
            }
        }
    }
}
