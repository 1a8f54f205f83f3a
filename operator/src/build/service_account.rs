//! A workload's ServiceAccount, with the IRSA role annotation when a role ARN is set.

use k8s_openapi::api::core::v1::ServiceAccount;

use super::meta;
use crate::resolve::{Resolved, ResolvedWorkload};

/// The ServiceAccount of `w`. Its token is not mounted: the workloads never call the API server.
pub fn build(r: &Resolved, w: &ResolvedWorkload) -> ServiceAccount {
    let mut metadata = meta::object(r, &w.name, &w.labels, true);
    let a = &w.service_account_annotations;
    metadata.annotations = (!a.is_empty()).then(|| a.clone());
    ServiceAccount {
        metadata,
        automount_service_account_token: Some(false),
        ..ServiceAccount::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::component::Component;
    use crate::fixtures::{minimal, resolved};
    use crate::resolve::ROLE_ARN_ANNOTATION;

    #[test]
    fn irsa_and_extra_annotations() {
        let mut qs = minimal();
        let r = resolved(&qs);
        let sa = build(&r, r.workload(Component::Consumer));
        assert!(sa.metadata.annotations.is_none());
        assert_eq!(sa.automount_service_account_token, Some(false));
        let arn = "arn:aws:iam::123456789012:role/qs-consumer";
        let s = &mut qs.spec.consumer.workload.service_account;
        s.role_arn = Some(arn.into());
        s.annotations.insert("team".into(), "seismo".into());
        let r = resolved(&qs);
        let ann = build(&r, r.workload(Component::Consumer)).metadata.annotations.unwrap();
        assert_eq!(ann[ROLE_ARN_ANNOTATION], arn);
        assert_eq!(ann["team"], "seismo");
        assert!(
            build(&r, r.workload(Component::Frontend))
                .metadata
                .annotations
                .is_none()
        );
        assert_eq!(
            build(&r, r.workload(Component::Frontend)).metadata.name.as_deref(),
            Some("demo-frontend")
        );
    }
}
