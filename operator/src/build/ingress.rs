//! The frontend's Ingress, when one is configured.

use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule, IngressServiceBackend,
    IngressSpec as K8sIngressSpec, IngressTLS, ServiceBackendPort,
};

use super::deployment::HTTP_PORT_NAME;
use super::meta;
use crate::component::Component;
use crate::resolve::Resolved;

/// One rule, `/` (Prefix) → the frontend Service's `http` port; TLS with a Secret when given.
pub fn build(r: &Resolved) -> Option<Ingress> {
    let spec = r.frontend.ingress.as_ref()?;
    let w = r.workload(Component::Frontend);
    let mut metadata = meta::object(r, &w.name, &w.labels, true);
    metadata.annotations = (!spec.annotations.is_empty()).then(|| spec.annotations.clone());
    let backend = IngressBackend {
        service: Some(IngressServiceBackend {
            name: w.name.clone(),
            port: Some(ServiceBackendPort {
                name: Some(HTTP_PORT_NAME.to_owned()),
                number: None,
            }),
        }),
        resource: None,
    };
    let tls = spec.tls_secret.as_ref().map(|secret| {
        vec![IngressTLS {
            hosts: spec.host.clone().map(|h| vec![h]),
            secret_name: Some(secret.clone()),
        }]
    });
    Some(Ingress {
        metadata,
        spec: Some(K8sIngressSpec {
            ingress_class_name: spec.class_name.clone(),
            rules: Some(vec![IngressRule {
                host: spec.host.clone(),
                http: Some(HTTPIngressRuleValue {
                    paths: vec![HTTPIngressPath {
                        path: Some("/".to_owned()),
                        path_type: "Prefix".to_owned(),
                        backend,
                    }],
                }),
            }]),
            tls,
            default_backend: None,
        }),
        status: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{IngressSpec, IngressTlsSpec};
    use crate::defaults::alb;
    use crate::fixtures::{minimal, resolved};
    use std::collections::BTreeMap;

    #[test]
    fn none_without_spec_and_rules_with_it() {
        let mut qs = minimal();
        assert!(build(&resolved(&qs)).is_none());
        qs.spec.frontend.ingress = Some(IngressSpec {
            class_name: Some("traefik".into()),
            host: Some("quakes.example.org".into()),
            tls: Some(IngressTlsSpec {
                secret_name: Some("qs-tls".into()),
            }),
            ..IngressSpec::default()
        });
        let i = build(&resolved(&qs)).unwrap();
        assert!(i.metadata.annotations.is_none());
        let spec = i.spec.unwrap();
        assert_eq!(spec.ingress_class_name.as_deref(), Some("traefik"));
        let rule = &spec.rules.unwrap()[0];
        assert_eq!(rule.host.as_deref(), Some("quakes.example.org"));
        let path = &rule.http.as_ref().unwrap().paths[0];
        assert_eq!(path.path_type, "Prefix");
        assert_eq!(path.backend.service.as_ref().unwrap().name, "demo-frontend");
        let tls = spec.tls.unwrap();
        assert_eq!(tls[0].secret_name.as_deref(), Some("qs-tls"));
        assert_eq!(tls[0].hosts.as_deref(), Some(&["quakes.example.org".to_owned()][..]));
    }

    #[test]
    fn alb_gets_pod_targets_readiness_health_checks_and_a_short_deregistration() {
        let mut qs = minimal();
        qs.spec.frontend.ingress = Some(IngressSpec {
            class_name: Some("alb".into()),
            annotations: BTreeMap::from([
                ("alb.ingress.kubernetes.io/scheme".into(), "internet-facing".into()),
                (alb::TARGET_GROUP_ATTRIBUTES.into(), "stickiness.enabled=false".into()),
            ]),
            tls: Some(IngressTlsSpec { secret_name: None }),
            ..IngressSpec::default()
        });
        let i = build(&resolved(&qs)).unwrap();
        let a = i.metadata.annotations.unwrap();
        assert_eq!(a["alb.ingress.kubernetes.io/scheme"], "internet-facing");
        assert_eq!(a[alb::TARGET_TYPE], "ip");
        assert_eq!(a[alb::HEALTHCHECK_PATH], "/readyz");
        assert_eq!(
            a[alb::TARGET_GROUP_ATTRIBUTES],
            "stickiness.enabled=false,deregistration_delay.timeout_seconds=30"
        );
        assert!(i.spec.unwrap().tls.is_none(), "TLS terminated by the load balancer");
    }
}
