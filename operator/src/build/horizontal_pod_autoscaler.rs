//! The frontend's `autoscaling/v2` HorizontalPodAutoscaler.

use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec, MetricSpec, MetricTarget,
    ResourceMetricSource,
};

use super::meta;
use crate::component::Component;
use crate::resolve::Resolved;

fn utilization(resource: &str, percent: i32) -> MetricSpec {
    MetricSpec {
        type_: "Resource".to_owned(),
        resource: Some(ResourceMetricSource {
            name: resource.to_owned(),
            target: MetricTarget {
                type_: "Utilization".to_owned(),
                average_utilization: Some(percent),
                ..MetricTarget::default()
            },
        }),
        ..MetricSpec::default()
    }
}

/// Scales the frontend Deployment on CPU (and memory, when a target is set).
pub fn build(r: &Resolved) -> HorizontalPodAutoscaler {
    let f = &r.frontend;
    let w = r.workload(Component::Frontend);
    let mut metrics = vec![utilization("cpu", f.cpu_target)];
    if let Some(mem) = f.memory_target {
        metrics.push(utilization("memory", mem));
    }
    HorizontalPodAutoscaler {
        metadata: meta::object(r, &w.name, &w.labels, true),
        spec: Some(HorizontalPodAutoscalerSpec {
            scale_target_ref: CrossVersionObjectReference {
                api_version: Some("apps/v1".to_owned()),
                kind: "Deployment".to_owned(),
                name: w.name.clone(),
            },
            min_replicas: Some(f.min_replicas),
            max_replicas: f.max_replicas,
            metrics: Some(metrics),
            behavior: None,
        }),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{minimal, resolved};

    #[test]
    fn bounds_and_targets() {
        let mut qs = minimal();
        let a = &mut qs.spec.frontend.autoscaling;
        a.min_replicas = 3;
        a.max_replicas = 7;
        a.target_cpu_utilization_percentage = 60;
        let h = build(&resolved(&qs)).spec.unwrap();
        assert_eq!(h.min_replicas, Some(3));
        assert_eq!(h.max_replicas, 7);
        assert_eq!(h.scale_target_ref.name, "demo-frontend");
        assert_eq!(h.scale_target_ref.kind, "Deployment");
        let m = h.metrics.unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].resource.as_ref().unwrap().target.average_utilization, Some(60));
        qs.spec.frontend.autoscaling.target_memory_utilization_percentage = Some(80);
        let m = build(&resolved(&qs)).spec.unwrap().metrics.unwrap();
        assert_eq!(m[1].resource.as_ref().unwrap().name, "memory");
        assert_eq!(m[1].resource.as_ref().unwrap().target.average_utilization, Some(80));
    }
}
