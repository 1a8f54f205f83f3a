//! The frontend's ClusterIP Service.

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::deployment::HTTP_PORT_NAME;
use super::meta;
use crate::component::Component;
use crate::resolve::Resolved;

/// Port 8080 (`http`) → the frontend container's `http` port.
pub fn build(r: &Resolved) -> Service {
    let w = r.workload(Component::Frontend);
    Service {
        metadata: meta::object(r, &w.name, &w.labels, true),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".to_owned()),
            selector: Some(w.selector.clone()),
            ports: Some(vec![ServicePort {
                name: Some(HTTP_PORT_NAME.to_owned()),
                port: w.port,
                target_port: Some(IntOrString::String(HTTP_PORT_NAME.to_owned())),
                protocol: Some("TCP".to_owned()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{minimal, resolved};

    #[test]
    fn selects_the_frontend_pods_on_the_named_port() {
        let r = resolved(&minimal());
        let s = build(&r).spec.unwrap();
        assert_eq!(s.selector.unwrap(), r.workload(Component::Frontend).selector);
        let port = &s.ports.unwrap()[0];
        assert_eq!(port.port, 8080);
        assert_eq!(port.target_port, Some(IntOrString::String("http".into())));
        assert_eq!(s.type_.as_deref(), Some("ClusterIP"));
    }
}
