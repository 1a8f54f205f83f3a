use super::*;
use crate::crd::NetworkPeerSpec;
use crate::fixtures::{minimal, resolved};

fn spec(np: &NetworkPolicy) -> &K8sNetworkPolicySpec {
    np.spec.as_ref().unwrap()
}

fn namespaces(peers: &[NetworkPolicyPeer]) -> Vec<String> {
    peers
        .iter()
        .filter_map(|p| p.namespace_selector.as_ref())
        .map(|s| s.match_labels.as_ref().unwrap()[security::NAMESPACE_NAME_LABEL].clone())
        .collect()
}

fn egress_ports(np: &NetworkPolicy) -> Vec<(String, i32)> {
    spec(np)
        .egress
        .iter()
        .flatten()
        .flat_map(|r| r.ports.iter().flatten())
        .map(|p| {
            let IntOrString::Int(n) = p.port.clone().unwrap() else {
                panic!()
            };
            (p.protocol.clone().unwrap(), n)
        })
        .collect()
}

#[test]
fn default_deny_selects_only_the_pipelines_pods() {
    let r = resolved(&minimal());
    let all = build_all(&r);
    assert_eq!(all.len(), r.workloads.len() + 1);
    let d = spec(&all[0]);
    assert_eq!(all[0].metadata.name.as_deref(), Some("demo-default-deny"));
    let sel = d.pod_selector.as_ref().unwrap().match_labels.clone().unwrap();
    assert_eq!(sel["app.kubernetes.io/instance"], "demo");
    assert_eq!(sel["app.kubernetes.io/name"], "quakestream");
    assert_eq!(d.policy_types.as_deref().unwrap(), ["Ingress", "Egress"]);
    assert!(d.ingress.is_none() && d.egress.is_none());
}

#[test]
fn sources_are_named_monitoring_everywhere_the_ingress_controller_only_for_the_frontend() {
    let r = resolved(&minimal());
    for w in &r.workloads {
        let np = build(&r, w);
        let s = spec(&np);
        assert_eq!(
            s.pod_selector.as_ref().unwrap().match_labels.as_ref().unwrap(),
            &w.selector
        );
        let rules = s.ingress.as_ref().unwrap();
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].ports.as_ref().unwrap()[0].port, Some(IntOrString::Int(w.port)));
        let from = rules[0].from.as_ref().unwrap();
        assert!(!from.is_empty(), "{}: an empty `from` would admit everyone", w.name);
        let ns = namespaces(from);
        match w.component {
            Component::Frontend => {
                assert_eq!(ns, ["monitoring", "ingress-nginx"]);
                let pods = from[1].pod_selector.as_ref().unwrap().match_labels.as_ref().unwrap();
                assert_eq!(pods["app.kubernetes.io/name"], "ingress-nginx");
            }
            _ => assert_eq!(ns, ["monitoring"], "{}: metrics only from monitoring", w.name),
        }
    }
}

#[test]
fn an_alb_in_ip_mode_is_admitted_by_the_vpc_cidr() {
    let mut qs = minimal();
    qs.spec.network_policy.frontend_from = vec![NetworkPeerSpec {
        cidr: Some("10.0.0.0/16".into()),
        ..NetworkPeerSpec::default()
    }];
    let r = resolved(&qs);
    let np = build(&r, r.workload(Component::Frontend));
    let from = spec(&np).ingress.as_ref().unwrap()[0].from.clone().unwrap();
    assert_eq!(from.len(), 2);
    assert_eq!(from[1].ip_block.as_ref().unwrap().cidr, "10.0.0.0/16");
    assert!(from[1].namespace_selector.is_none() && from[1].pod_selector.is_none());
}

#[test]
fn egress_is_dns_kafka_and_each_workloads_own_destinations() {
    let mut qs = minimal();
    qs.spec.storage.endpoint = Some("http://dynoxide:8000".into());
    let r = resolved(&qs);
    let dns = [("UDP".to_owned(), 53), ("TCP".to_owned(), 53)];
    for w in &r.workloads {
        let np = build(&r, w);
        let rules = spec(&np).egress.clone().unwrap();
        assert!(
            rules.iter().all(|r| r.to.as_ref().is_some_and(|t| !t.is_empty())),
            "no open `to`"
        );
        assert_eq!(namespaces(rules[0].to.as_ref().unwrap()), ["kube-system"]);
        let brokers = rules[1].to.as_ref().unwrap()[0].pod_selector.clone().unwrap();
        assert_eq!(brokers.match_labels.unwrap()["strimzi.io/cluster"], "events");
        let ports = egress_ports(&np);
        assert_eq!(ports[..3], [dns[0].clone(), dns[1].clone(), ("TCP".to_owned(), 9093)]);
        match w.component {
            Component::Producer => assert_eq!(ports[3..], [("TCP".to_owned(), 443)], "EMSC only"),
            Component::Analytics => assert!(ports[3..].is_empty(), "Kafka and DNS only: {ports:?}"),
            _ => assert_eq!(
                ports[3..],
                [("TCP".to_owned(), 443), ("TCP".to_owned(), 8000)],
                "{}: DynamoDB over HTTPS, and the in-cluster endpoint",
                w.name
            ),
        }
    }
    let r = resolved(&minimal());
    let np = build(&r, r.workload(Component::Consumer));
    assert_eq!(egress_ports(&np).len(), 4, "no endpoint, no extra port");
    let https = &spec(&np).egress.as_ref().unwrap()[2];
    assert_eq!(
        https.to.as_ref().unwrap()[0].ip_block.as_ref().unwrap().cidr,
        "0.0.0.0/0"
    );
}
