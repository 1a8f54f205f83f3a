//! The security part of step 1 (resolve): how each workload authenticates to Kafka, and what
//! its NetworkPolicy lets in and out. [`crate::resolve`] calls these; the builders
//! (`build::kafka_user`, `build::deployment`, `build::network_policy`) read only the results.

use std::collections::BTreeMap;
use std::net::IpAddr;

use quakestream_contract::{self as contract, KafkaAuth};

use crate::component::Component;
use crate::crd::{KafkaAuthentication, NetworkPeerSpec, QuakeStream};

/// Port of Strimzi's plaintext listener in the manifests this repository ships.
pub const PLAIN_LISTENER_PORT: u16 = 9092;
/// Port of the TLS listener with `authentication: tls`.
pub const TLS_LISTENER_PORT: u16 = 9093;
/// Port of the TLS listener with `authentication: scram-sha-512`.
pub const SCRAM_LISTENER_PORT: u16 = 9094;
/// Port of the cluster DNS.
pub const DNS_PORT: i32 = 53;
/// HTTPS.
pub const HTTPS_PORT: i32 = 443;
/// Label of the cluster DNS pods (CoreDNS on kind and EKS).
pub const DNS_POD_LABEL: (&str, &str) = ("k8s-app", "kube-dns");
/// Label Strimzi sets on every pod of a cluster.
pub const STRIMZI_CLUSTER_LABEL: &str = "strimzi.io/cluster";
/// Label Strimzi sets on its broker and controller pods (`Kafka`).
pub const STRIMZI_KIND_LABEL: (&str, &str) = ("strimzi.io/kind", "Kafka");
/// The label every namespace carries with its own name.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// The listener port the workloads use for an authentication type.
pub fn listener_port(a: KafkaAuthentication) -> u16 {
    match a {
        KafkaAuthentication::Tls => TLS_LISTENER_PORT,
        KafkaAuthentication::ScramSha512 => SCRAM_LISTENER_PORT,
        KafkaAuthentication::None => PLAIN_LISTENER_PORT,
    }
}

/// `spec.kafka.bootstrapServers`, or Strimzi's bootstrap Service on the listener of
/// `spec.kafka.authentication`.
pub fn bootstrap_servers(qs: &QuakeStream) -> String {
    let k = &qs.spec.kafka;
    k.bootstrap_servers
        .clone()
        .unwrap_or_else(|| format!("{}-kafka-bootstrap:{}", k.cluster_name, listener_port(k.authentication)))
}

/// Name of a workload's `KafkaUser` (and of the secret Strimzi writes for it): its own name.
pub fn kafka_user_name(qs_name: &str, c: Component) -> String {
    format!("{qs_name}-{}", c.as_str())
}

/// What a workload renders in its environment: protocol, files, user.
pub fn kafka_auth(qs: &QuakeStream, qs_name: &str, c: Component) -> KafkaAuth {
    let user = kafka_user_name(qs_name, c);
    match qs.spec.kafka.authentication {
        KafkaAuthentication::Tls => KafkaAuth::Tls { user },
        KafkaAuthentication::ScramSha512 => KafkaAuth::ScramSha512 { user },
        KafkaAuthentication::None => KafkaAuth::None,
    }
}

/// The secrets a workload's pods mount to reach Kafka.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KafkaCredentials {
    /// TLS or SCRAM.
    pub authentication: KafkaAuthentication,
    /// The secret the User Operator writes for the workload's KafkaUser (its name).
    pub user_secret: String,
    /// The keys of it the workload reads.
    pub user_keys: Vec<&'static str>,
    /// Strimzi's cluster CA certificate secret, `<cluster>-cluster-ca-cert`.
    pub ca_secret: String,
}

/// The credentials of a workload; none without authentication.
pub fn kafka_credentials(qs: &QuakeStream, qs_name: &str, c: Component) -> Option<KafkaCredentials> {
    let authentication = qs.spec.kafka.authentication;
    let user_keys = match authentication {
        KafkaAuthentication::None => return None,
        KafkaAuthentication::Tls => vec![
            contract::kafka_security::USER_CERT_KEY,
            contract::kafka_security::USER_KEY_KEY,
        ],
        KafkaAuthentication::ScramSha512 => vec![contract::kafka_security::USER_PASSWORD_KEY],
    };
    Some(KafkaCredentials {
        authentication,
        user_secret: kafka_user_name(qs_name, c),
        user_keys,
        ca_secret: format!("{}-cluster-ca-cert", qs.spec.kafka.cluster_name),
    })
}

/// A source or destination of traffic, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Peer {
    /// Pods of a namespace (all of them when the labels are empty).
    Namespace {
        /// Namespace name.
        name: String,
        /// Pod labels.
        pod_labels: BTreeMap<String, String>,
    },
    /// An address range.
    Cidr(String),
}

/// What the NetworkPolicies admit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedNetwork {
    /// Who reaches the frontend (with the monitoring namespace).
    pub frontend_from: Vec<Peer>,
    /// The namespace Prometheus scrapes from.
    pub monitoring_namespace: String,
    /// Where the consumer and frontend connect on 443.
    pub https_egress_cidrs: Vec<String>,
    /// The cluster DNS's namespace.
    pub dns_namespace: String,
    /// The Strimzi cluster whose broker pods the workloads reach.
    pub kafka_cluster: String,
    /// The broker ports the bootstrap servers name.
    pub kafka_ports: Vec<i32>,
    /// The producer's source ports (its websocket and FDSN URLs'), reached anywhere.
    pub source_ports: Vec<i32>,
    /// An in-cluster DynamoDB endpoint's port (pods of the namespace), when the endpoint is not
    /// on 443.
    pub store_endpoint_port: Option<i32>,
}

/// Resolve `spec.networkPolicy` and the ports the other fields imply; problems go to `errs`.
pub fn resolve_network(qs: &QuakeStream, bootstrap: &str, errs: &mut Vec<String>) -> ResolvedNetwork {
    let np = &qs.spec.network_policy;
    let frontend_from = np
        .frontend_from
        .iter()
        .enumerate()
        .filter_map(|(i, p)| peer(p, &format!("spec.networkPolicy.frontendFrom[{i}]"), errs))
        .collect();
    for (i, c) in np.https_egress_cidrs.iter().enumerate() {
        if !is_cidr(c) {
            errs.push(format!("spec.networkPolicy.httpsEgressCidrs[{i}] {c:?} is not a CIDR"));
        }
    }
    if np.https_egress_cidrs.is_empty() {
        errs.push("spec.networkPolicy.httpsEgressCidrs must name at least one CIDR".to_owned());
    }
    let mut kafka_ports: Vec<i32> = bootstrap.split(',').filter_map(|a| port_of(a.trim(), None)).collect();
    kafka_ports.sort_unstable();
    kafka_ports.dedup();
    if kafka_ports.is_empty() {
        errs.push(format!("spec.kafka.bootstrapServers {bootstrap:?} names no host:port"));
    }
    let s = &qs.spec.source;
    let mut source_ports: Vec<i32> = [&s.websocket_url, &s.fdsn_url]
        .iter()
        .filter_map(|u| url_port(u))
        .collect();
    source_ports.sort_unstable();
    source_ports.dedup();
    let store_endpoint_port = qs
        .spec
        .storage
        .endpoint
        .as_deref()
        .and_then(url_port)
        .filter(|p| *p != HTTPS_PORT);
    ResolvedNetwork {
        frontend_from,
        monitoring_namespace: np.monitoring_namespace.clone(),
        https_egress_cidrs: np.https_egress_cidrs.clone(),
        dns_namespace: np.dns_namespace.clone(),
        kafka_cluster: qs.spec.kafka.cluster_name.clone(),
        kafka_ports,
        source_ports,
        store_endpoint_port,
    }
}

fn peer(p: &NetworkPeerSpec, field: &str, errs: &mut Vec<String>) -> Option<Peer> {
    match (&p.namespace, &p.cidr) {
        (Some(ns), None) => Some(Peer::Namespace {
            name: ns.clone(),
            pod_labels: p.pod_labels.clone(),
        }),
        (None, Some(c)) if p.pod_labels.is_empty() && is_cidr(c) => Some(Peer::Cidr(c.clone())),
        (None, Some(c)) if !is_cidr(c) => {
            errs.push(format!("{field}.cidr {c:?} is not a CIDR"));
            None
        }
        _ => {
            errs.push(format!(
                "{field} must be either a namespace (with optional podLabels) or a cidr"
            ));
            None
        }
    }
}

/// `a.b.c.d/n` or an IPv6 range with a prefix length that fits the address.
pub fn is_cidr(s: &str) -> bool {
    let Some((addr, len)) = s.split_once('/') else {
        return false;
    };
    let (Ok(addr), Ok(len)) = (addr.parse::<IpAddr>(), len.parse::<u8>()) else {
        return false;
    };
    len <= if addr.is_ipv4() { 32 } else { 128 }
}

/// The port of `host:port` (or of a URL's authority), or `default`.
fn port_of(authority: &str, default: Option<i32>) -> Option<i32> {
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    match host_port.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && !port.contains(']') => port.parse::<u16>().ok().map(i32::from),
        _ => default,
    }
}

/// The port of an `http(s)://` or `ws(s)://` URL, explicit or the scheme's.
pub fn url_port(url: &str) -> Option<i32> {
    let (scheme, rest) = url.split_once("://")?;
    let default = match scheme {
        "https" | "wss" => HTTPS_PORT,
        "http" | "ws" => 80,
        _ => return None,
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    port_of(authority, Some(default))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::minimal;

    #[test]
    fn ports_and_ranges() {
        assert_eq!(
            url_port("wss://www.seismicportal.eu/standing_order/websocket"),
            Some(443)
        );
        assert_eq!(url_port("http://dynoxide:8000"), Some(8000));
        assert_eq!(url_port("http://dynoxide"), Some(80));
        assert_eq!(url_port("ftp://x"), None);
        assert_eq!(port_of("events-kafka-bootstrap:9093", None), Some(9093));
        assert!(is_cidr("10.0.0.0/16") && is_cidr("::/0") && is_cidr("0.0.0.0/0"));
        assert!(!is_cidr("10.0.0.0/33") && !is_cidr("10.0.0.0") && !is_cidr("vpc/16"));
    }

    #[test]
    fn bootstrap_follows_the_authentication() {
        let mut qs = minimal();
        assert_eq!(bootstrap_servers(&qs), "events-kafka-bootstrap:9093", "tls by default");
        qs.spec.kafka.authentication = KafkaAuthentication::ScramSha512;
        assert_eq!(bootstrap_servers(&qs), "events-kafka-bootstrap:9094");
        qs.spec.kafka.authentication = KafkaAuthentication::None;
        assert_eq!(bootstrap_servers(&qs), "events-kafka-bootstrap:9092");
        assert!(kafka_credentials(&qs, "demo", Component::Producer).is_none());
        qs.spec.kafka.bootstrap_servers = Some("a:1,b:2".into());
        let mut errs = Vec::new();
        let n = resolve_network(&qs, &bootstrap_servers(&qs), &mut errs);
        assert_eq!(n.kafka_ports, [1, 2]);
        assert!(errs.is_empty(), "{errs:?}");
    }

    #[test]
    fn bad_peers_and_cidrs_are_named() {
        let mut qs = minimal();
        qs.spec.network_policy.frontend_from = vec![
            NetworkPeerSpec {
                cidr: Some("10.0.0.0/99".into()),
                ..NetworkPeerSpec::default()
            },
            NetworkPeerSpec::default(),
        ];
        qs.spec.network_policy.https_egress_cidrs = vec!["everywhere".into()];
        let mut errs = Vec::new();
        let n = resolve_network(&qs, &bootstrap_servers(&qs), &mut errs);
        assert!(n.frontend_from.is_empty());
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(
            errs[0].starts_with("spec.networkPolicy.frontendFrom[0].cidr"),
            "{errs:?}"
        );
        assert!(
            errs[1].starts_with("spec.networkPolicy.frontendFrom[1] must be"),
            "{errs:?}"
        );
        assert!(errs[2].contains("httpsEgressCidrs[0]"), "{errs:?}");
    }
}
