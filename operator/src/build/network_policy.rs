//! A workload's ingress NetworkPolicy.

use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPort, NetworkPolicySpec as K8sNetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::meta;
use crate::resolve::{Resolved, ResolvedWorkload};

/// Admits only the workload's own HTTP port. Egress stays open: the workloads reach Kafka,
/// DynamoDB and EMSC, whose addresses the operator cannot know.
pub fn build(r: &Resolved, w: &ResolvedWorkload) -> NetworkPolicy {
    NetworkPolicy {
        metadata: meta::object(r, &w.name, &w.labels, true),
        spec: Some(K8sNetworkPolicySpec {
            pod_selector: Some(LabelSelector {
                match_labels: Some(w.selector.clone()),
                ..LabelSelector::default()
            }),
            policy_types: Some(vec!["Ingress".to_owned()]),
            ingress: Some(vec![NetworkPolicyIngressRule {
                from: None,
                ports: Some(vec![NetworkPolicyPort {
                    port: Some(IntOrString::Int(w.port)),
                    protocol: Some("TCP".to_owned()),
                    end_port: None,
                }]),
            }]),
            egress: None,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{minimal, resolved};

    #[test]
    fn only_the_http_port() {
        let r = resolved(&minimal());
        for w in &r.workloads {
            let np = build(&r, w).spec.unwrap();
            assert_eq!(np.pod_selector.unwrap().match_labels.unwrap(), w.selector);
            assert_eq!(np.policy_types.unwrap(), ["Ingress"]);
            let rules = np.ingress.unwrap();
            assert_eq!(rules.len(), 1);
            assert_eq!(rules[0].ports.as_ref().unwrap()[0].port, Some(IntOrString::Int(w.port)));
            assert!(np.egress.is_none());
        }
    }
}
