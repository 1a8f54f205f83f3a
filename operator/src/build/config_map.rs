//! A workload's ConfigMap: its environment (`envFrom`), as the contract crate rendered it.

use k8s_openapi::api::core::v1::ConfigMap;

use super::meta;
use crate::resolve::{Resolved, ResolvedWorkload};

/// The ConfigMap of `w`.
pub fn build(r: &Resolved, w: &ResolvedWorkload) -> ConfigMap {
    ConfigMap {
        metadata: meta::object(r, &w.name, &w.labels, true),
        data: Some(w.env.clone()),
        ..ConfigMap::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::component::Component;
    use crate::fixtures::{minimal, resolved};

    #[test]
    fn data_is_the_resolved_environment() {
        let r = resolved(&minimal());
        for w in &r.workloads {
            let cm = build(&r, w);
            assert_eq!(cm.data.as_ref(), Some(&w.env));
            assert_eq!(cm.metadata.name.as_deref(), Some(w.name.as_str()));
        }
        let producer = build(&r, r.workload(Component::Producer)).data.unwrap();
        assert_eq!(producer["QS_LISTEN"], "0.0.0.0:9090");
    }
}
