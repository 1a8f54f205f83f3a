//! The NetworkPolicies of a pipeline: a default-deny for its pods, and one policy per workload
//! that names every source allowed in and every destination allowed out (docs/security.md,
//! "Network").
//!
//! | workload | in, on its HTTP port | out |
//! |---|---|---|
//! | producer | the monitoring namespace | DNS; Kafka brokers; the EMSC URLs' ports (anywhere) |
//! | consumer | the monitoring namespace | DNS; Kafka brokers; 443 to `httpsEgressCidrs` (DynamoDB, STS); an in-cluster DynamoDB endpoint's port |
//! | frontend | the monitoring namespace and `frontendFrom` (the ingress controller) | as the consumer |
//!
//! The kubelet's probes come from the node, which NetworkPolicies always allow.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
    NetworkPolicySpec as K8sNetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::meta;
use crate::component::Component;
use crate::resolve::{Resolved, ResolvedWorkload};
use crate::security::{self, Peer};

/// Suffix of the default-deny policy's name (`<name>-default-deny`).
pub const DEFAULT_DENY_SUFFIX: &str = "default-deny";

/// Every NetworkPolicy of the pipeline: the default-deny first, then one per workload.
pub fn build_all(r: &Resolved) -> Vec<NetworkPolicy> {
    std::iter::once(default_deny(r))
        .chain(r.workloads.iter().map(|w| build(r, w)))
        .collect()
}

/// Denies all traffic in and out of the pipeline's pods (selected by its instance labels) that
/// no other policy allows. It does not select the rest of the namespace: Strimzi's brokers
/// often share it, and Strimzi writes ingress policies only, so a namespace-wide egress deny
/// would cut the brokers off from each other.
pub fn default_deny(r: &Resolved) -> NetworkPolicy {
    let selector = instance_selector(r);
    NetworkPolicy {
        metadata: meta::object(r, &format!("{}-{DEFAULT_DENY_SUFFIX}", r.name), &r.labels, true),
        spec: Some(K8sNetworkPolicySpec {
            pod_selector: Some(labels(selector)),
            policy_types: Some(vec!["Ingress".to_owned(), "Egress".to_owned()]),
            ingress: None,
            egress: None,
        }),
    }
}

/// The policy of one workload.
pub fn build(r: &Resolved, w: &ResolvedWorkload) -> NetworkPolicy {
    NetworkPolicy {
        metadata: meta::object(r, &w.name, &w.labels, true),
        spec: Some(K8sNetworkPolicySpec {
            pod_selector: Some(labels(w.selector.clone())),
            policy_types: Some(vec!["Ingress".to_owned(), "Egress".to_owned()]),
            ingress: Some(vec![NetworkPolicyIngressRule {
                from: Some(sources(r, w.component)),
                ports: Some(vec![tcp(w.port)]),
            }]),
            egress: Some(egress(r, w.component)),
        }),
    }
}

fn sources(r: &Resolved, c: Component) -> Vec<NetworkPolicyPeer> {
    let n = &r.network;
    let mut from = vec![namespace_peer(&n.monitoring_namespace, BTreeMap::new())];
    if c == Component::Frontend {
        from.extend(n.frontend_from.iter().map(peer));
    }
    from
}

fn egress(r: &Resolved, c: Component) -> Vec<NetworkPolicyEgressRule> {
    let n = &r.network;
    let dns = NetworkPolicyEgressRule {
        to: Some(vec![namespace_peer(
            &n.dns_namespace,
            BTreeMap::from([(
                security::DNS_POD_LABEL.0.to_owned(),
                security::DNS_POD_LABEL.1.to_owned(),
            )]),
        )]),
        ports: Some(vec![port(security::DNS_PORT, "UDP"), port(security::DNS_PORT, "TCP")]),
    };
    let kafka = NetworkPolicyEgressRule {
        to: Some(vec![NetworkPolicyPeer {
            pod_selector: Some(labels(BTreeMap::from([
                (security::STRIMZI_CLUSTER_LABEL.to_owned(), n.kafka_cluster.clone()),
                (
                    security::STRIMZI_KIND_LABEL.0.to_owned(),
                    security::STRIMZI_KIND_LABEL.1.to_owned(),
                ),
            ]))),
            ..NetworkPolicyPeer::default()
        }]),
        ports: Some(n.kafka_ports.iter().map(|p| tcp(*p)).collect()),
    };
    let mut rules = vec![dns, kafka];
    match c {
        Component::Producer => rules.push(NetworkPolicyEgressRule {
            to: Some(vec![cidr("0.0.0.0/0"), cidr("::/0")]),
            ports: Some(n.source_ports.iter().map(|p| tcp(*p)).collect()),
        }),
        Component::Consumer | Component::Frontend => {
            rules.push(NetworkPolicyEgressRule {
                to: Some(n.https_egress_cidrs.iter().map(|c| cidr(c)).collect()),
                ports: Some(vec![tcp(security::HTTPS_PORT)]),
            });
            if let Some(p) = n.store_endpoint_port {
                rules.push(NetworkPolicyEgressRule {
                    to: Some(vec![NetworkPolicyPeer {
                        pod_selector: Some(LabelSelector::default()),
                        ..NetworkPolicyPeer::default()
                    }]),
                    ports: Some(vec![tcp(p)]),
                });
            }
        }
        // Kafka and DNS only: its state lives in Kafka.
        Component::Analytics => {}
    }
    rules
}

/// The labels every pod of this pipeline carries.
fn instance_selector(r: &Resolved) -> BTreeMap<String, String> {
    ["app.kubernetes.io/name", "app.kubernetes.io/instance"]
        .iter()
        .filter_map(|k| r.labels.get(*k).map(|v| ((*k).to_owned(), v.clone())))
        .collect()
}

fn labels(m: BTreeMap<String, String>) -> LabelSelector {
    LabelSelector {
        match_labels: Some(m),
        ..LabelSelector::default()
    }
}

fn namespace_peer(ns: &str, pods: BTreeMap<String, String>) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        namespace_selector: Some(labels(BTreeMap::from([(
            security::NAMESPACE_NAME_LABEL.to_owned(),
            ns.to_owned(),
        )]))),
        pod_selector: Some(labels(pods)),
        ip_block: None,
    }
}

fn cidr(c: &str) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        ip_block: Some(IPBlock {
            cidr: c.to_owned(),
            except: None,
        }),
        ..NetworkPolicyPeer::default()
    }
}

fn peer(p: &Peer) -> NetworkPolicyPeer {
    match p {
        Peer::Namespace { name, pod_labels } => namespace_peer(name, pod_labels.clone()),
        Peer::Cidr(c) => cidr(c),
    }
}

fn port(p: i32, protocol: &str) -> NetworkPolicyPort {
    NetworkPolicyPort {
        port: Some(IntOrString::Int(p)),
        protocol: Some(protocol.to_owned()),
        end_port: None,
    }
}

fn tcp(p: i32) -> NetworkPolicyPort {
    port(p, "TCP")
}

#[cfg(test)]
#[path = "network_policy_tests.rs"]
mod tests;
