//! The frontend's PodDisruptionBudget.

use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::meta;
use crate::component::Component;
use crate::resolve::Resolved;

/// At most one frontend pod voluntarily evicted at a time. `maxUnavailable` (not
/// `minAvailable`) keeps node drains possible when the HPA sits at one replica.
pub fn build(r: &Resolved) -> PodDisruptionBudget {
    let w = r.workload(Component::Frontend);
    PodDisruptionBudget {
        metadata: meta::object(r, &w.name, &w.labels, true),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(LabelSelector {
                match_labels: Some(w.selector.clone()),
                ..LabelSelector::default()
            }),
            unhealthy_pod_eviction_policy: Some("AlwaysAllow".to_owned()),
            ..PodDisruptionBudgetSpec::default()
        }),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{minimal, resolved};

    #[test]
    fn one_at_a_time() {
        let r = resolved(&minimal());
        let p = build(&r).spec.unwrap();
        assert_eq!(p.max_unavailable, Some(IntOrString::Int(1)));
        assert!(p.min_available.is_none());
        assert_eq!(
            p.selector.unwrap().match_labels.unwrap(),
            r.workload(Component::Frontend).selector
        );
        assert_eq!(p.unhealthy_pod_eviction_policy.as_deref(), Some("AlwaysAllow"));
    }
}
