//! Pure functions from a [`QuakeStream`] to the objects it owns. No client, no I/O: every
//! function is unit-tested below, and `render` prints exactly what they return.
//!
//! Names are deterministic: `<name>-producer`, `<name>-consumer`, `<name>-frontend` (Deployment,
//! ServiceAccount, ConfigMap, NetworkPolicy; the frontend also has a Service, HPA, PDB and Ingress
//! of that name), and `<name>-events` / `<name>-dlq` for the KafkaTopics.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment};
use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec, MetricSpec, MetricTarget,
    ResourceMetricSource,
};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, ConfigMapEnvSource, Container, ContainerPort, EmptyDirVolumeSource, EnvFromSource,
    HTTPGetAction, PodSecurityContext, PodSpec, PodTemplateSpec, Probe, ResourceRequirements, SeccompProfile,
    SecurityContext, Service, ServiceAccount, ServicePort, ServiceSpec, TopologySpreadConstraint, Volume, VolumeMount,
};
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule, IngressServiceBackend,
    IngressSpec as K8sIngressSpec, IngressTLS, NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPort,
    NetworkPolicySpec as K8sNetworkPolicySpec, ServiceBackendPort,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::{Resource, ResourceExt};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::crd::{QuakeStream, TopicSpec, WorkloadSpec};
use crate::strimzi::{CLUSTER_LABEL, KafkaTopic, KafkaTopicSpec};

/// Annotation on pod templates carrying the hash of the workload's ConfigMap data.
pub const CONFIG_HASH_ANNOTATION: &str = "quakestream.io/config-hash";
/// IRSA annotation on ServiceAccounts.
pub const ROLE_ARN_ANNOTATION: &str = "eks.amazonaws.com/role-arn";
/// The uid and gid of the distroless `nonroot` user the image runs as.
pub const RUN_AS_USER: i64 = 65532;
/// Name of the container port (and Service target port) of every workload.
pub const HTTP_PORT_NAME: &str = "http";

/// The three Deployments of a pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Component {
    /// EMSC → Kafka.
    Producer,
    /// Kafka → DynamoDB.
    Consumer,
    /// Map, API and SSE.
    Frontend,
}

impl Component {
    /// All components in apply order.
    pub const ALL: [Component; 3] = [Component::Producer, Component::Consumer, Component::Frontend];

    /// Lowercase name: the `quakestream` subcommand, the label value and the object-name suffix.
    pub fn as_str(self) -> &'static str {
        match self {
            Component::Producer => "producer",
            Component::Consumer => "consumer",
            Component::Frontend => "frontend",
        }
    }

    /// HTTP port of `/metrics`, `/healthz` and `/readyz` (and, for the frontend, everything else).
    pub fn port(self) -> i32 {
        match self {
            Component::Producer => 9090,
            Component::Consumer => 9091,
            Component::Frontend => 8080,
        }
    }

    fn workload(self, qs: &QuakeStream) -> &WorkloadSpec {
        match self {
            Component::Producer => &qs.spec.producer.workload,
            Component::Consumer => &qs.spec.consumer.workload,
            Component::Frontend => &qs.spec.frontend.workload,
        }
    }
}

/// Which of the two topics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TopicRole {
    /// The wire records (`quakes`).
    Events,
    /// Records that failed to decode (`quakes.dlq`).
    DeadLetters,
}

impl TopicRole {
    /// Both roles, in apply order.
    pub const ALL: [TopicRole; 2] = [TopicRole::Events, TopicRole::DeadLetters];

    fn suffix(self) -> &'static str {
        match self {
            TopicRole::Events => "events",
            TopicRole::DeadLetters => "dlq",
        }
    }
}

/// Every object a QuakeStream owns, in the order the controller applies them: identities and
/// configuration first, then topics, then workloads, then what points at the workloads.
#[derive(Clone, Debug, PartialEq)]
pub struct Children {
    /// One per component.
    pub service_accounts: Vec<ServiceAccount>,
    /// One per component.
    pub config_maps: Vec<ConfigMap>,
    /// Events and dead-letter topics.
    pub topics: Vec<KafkaTopic>,
    /// Producer, consumer, frontend.
    pub deployments: Vec<Deployment>,
    /// The frontend Service.
    pub service: Service,
    /// The frontend HPA.
    pub hpa: HorizontalPodAutoscaler,
    /// The frontend PDB.
    pub pdb: PodDisruptionBudget,
    /// The frontend Ingress, when `spec.frontend.ingress` is set.
    pub ingress: Option<Ingress>,
    /// One per component, when `spec.networkPolicy.enabled`.
    pub network_policies: Vec<NetworkPolicy>,
}

impl Children {
    /// Every object as JSON (with `apiVersion` and `kind`), in apply order.
    pub fn to_values(&self) -> Result<Vec<serde_json::Value>, serde_json::Error> {
        let mut out = Vec::new();
        for o in &self.service_accounts {
            out.push(typed(o)?);
        }
        for o in &self.config_maps {
            out.push(typed(o)?);
        }
        for o in &self.topics {
            out.push(typed(o)?);
        }
        for o in &self.deployments {
            out.push(typed(o)?);
        }
        out.push(typed(&self.service)?);
        out.push(typed(&self.hpa)?);
        out.push(typed(&self.pdb)?);
        if let Some(o) = &self.ingress {
            out.push(typed(o)?);
        }
        for o in &self.network_policies {
            out.push(typed(o)?);
        }
        Ok(out)
    }
}

/// Serialise an object, making sure `apiVersion` and `kind` come first and are set.
fn typed<K: Resource<DynamicType = ()> + serde::Serialize>(o: &K) -> Result<serde_json::Value, serde_json::Error> {
    let mut map = serde_json::Map::new();
    map.insert("apiVersion".into(), K::api_version(&()).into());
    map.insert("kind".into(), K::kind(&()).into());
    if let serde_json::Value::Object(rest) = serde_json::to_value(o)? {
        for (k, v) in rest {
            map.entry(k).or_insert(v);
        }
    }
    Ok(serde_json::Value::Object(map))
}

/// Build every child of a (validated) QuakeStream.
pub fn build_all(qs: &QuakeStream) -> Children {
    let config_maps: Vec<ConfigMap> = Component::ALL.iter().map(|c| build_config_map(qs, *c)).collect();
    let deployments = Component::ALL
        .iter()
        .zip(&config_maps)
        .map(|(c, cm)| build_deployment(qs, *c, &config_hash(cm)))
        .collect();
    Children {
        service_accounts: Component::ALL.iter().map(|c| build_service_account(qs, *c)).collect(),
        config_maps,
        topics: TopicRole::ALL.iter().map(|r| build_kafka_topic(qs, *r)).collect(),
        deployments,
        service: build_frontend_service(qs),
        hpa: build_frontend_hpa(qs),
        pdb: build_frontend_pdb(qs),
        ingress: build_frontend_ingress(qs),
        network_policies: if qs.spec.network_policy.enabled {
            Component::ALL.iter().map(|c| build_network_policy(qs, *c)).collect()
        } else {
            Vec::new()
        },
    }
}

/// `<name>-<component>`.
pub fn child_name(qs: &QuakeStream, component: Component) -> String {
    format!("{}-{}", qs.name_any(), component.as_str())
}

/// Name of the KafkaTopic object of a topic role.
pub fn topic_object_name(qs: &QuakeStream, role: TopicRole) -> String {
    format!("{}-{}", qs.name_any(), role.suffix())
}

/// Image tag: `spec.image.tag`, or the operator's own version.
fn image_for(qs: &QuakeStream, component: Component) -> String {
    component.workload(qs).image.clone().unwrap_or_else(|| {
        let tag = qs.spec.image.tag.as_deref().unwrap_or(env!("CARGO_PKG_VERSION"));
        format!("{}:{}", qs.spec.image.repository, tag)
    })
}

fn image_tag(image: &str) -> Option<&str> {
    let last = image.rsplit('/').next().unwrap_or(image);
    let last = last.split('@').next().unwrap_or(last);
    last.split_once(':').map(|(_, tag)| tag)
}

/// Labels that select a component's pods (never change for the life of a Deployment).
pub fn selector_labels(qs: &QuakeStream, component: Component) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".to_owned(), "quakestream".to_owned()),
        ("app.kubernetes.io/instance".to_owned(), qs.name_any()),
        ("app.kubernetes.io/component".to_owned(), component.as_str().to_owned()),
    ])
}

/// The recommended `app.kubernetes.io/*` labels of an object. `component` is `None` for objects
/// that serve the whole pipeline (the KafkaTopics).
pub fn labels(qs: &QuakeStream, component: Option<Component>) -> BTreeMap<String, String> {
    let mut l = BTreeMap::from([
        ("app.kubernetes.io/name".to_owned(), "quakestream".to_owned()),
        ("app.kubernetes.io/instance".to_owned(), qs.name_any()),
        ("app.kubernetes.io/part-of".to_owned(), "quakestream".to_owned()),
        ("app.kubernetes.io/managed-by".to_owned(), crate::MANAGER.to_owned()),
    ]);
    if let Some(c) = component {
        l.insert("app.kubernetes.io/component".to_owned(), c.as_str().to_owned());
        if let Some(tag) = image_tag(&image_for(qs, c)).filter(|t| is_label_value(t)) {
            l.insert("app.kubernetes.io/version".to_owned(), tag.to_owned());
        }
    }
    l
}

fn is_label_value(v: &str) -> bool {
    v.len() <= 63
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Metadata of a child: name, namespace, labels and the controller owner reference (absent when
/// the QuakeStream has no uid yet, as in `render`).
fn meta(qs: &QuakeStream, name: String, component: Option<Component>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: qs.namespace(),
        labels: Some(labels(qs, component)),
        owner_references: qs.controller_owner_ref(&()).map(|o| vec![o]),
        ..ObjectMeta::default()
    }
}

/// A workload's ServiceAccount, with the IRSA role annotation when a role ARN is set.
pub fn build_service_account(qs: &QuakeStream, component: Component) -> ServiceAccount {
    let sa = &component.workload(qs).service_account;
    let mut annotations = sa.annotations.clone();
    if let Some(arn) = &sa.role_arn {
        annotations.insert(ROLE_ARN_ANNOTATION.to_owned(), arn.clone());
    }
    let mut metadata = meta(qs, child_name(qs, component), Some(component));
    metadata.annotations = (!annotations.is_empty()).then_some(annotations);
    ServiceAccount {
        metadata,
        automount_service_account_token: Some(false),
        ..ServiceAccount::default()
    }
}

/// The environment of a component: every flag of `quakestream <component>` it needs, by its env var.
pub fn config_data(qs: &QuakeStream, component: Component) -> BTreeMap<String, String> {
    let s = &qs.spec;
    let w = component.workload(qs);
    let mut d = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        d.insert(k.to_owned(), v);
    };
    put("KAFKA_BOOTSTRAP_SERVERS", s.kafka.bootstrap());
    put("QS_TOPIC", s.kafka.topic_name().to_owned());
    put("QS_LISTEN", format!("0.0.0.0:{}", component.port()));
    put("QS_LOG", w.log_level.clone().unwrap_or_else(|| "info".to_owned()));
    match component {
        Component::Producer => {
            put("QS_DLQ_TOPIC", s.kafka.dlq_topic_name().to_owned());
            put("QS_EMSC_URL", s.source.websocket_url.clone());
            put("QS_FDSN_URL", s.source.fdsn_url.clone());
            put("QS_BACKFILL_LIMIT", s.source.backfill_limit.to_string());
            put("QS_BACKFILL_MAX_AGE", s.source.backfill_max_age.clone());
        }
        Component::Consumer => {
            put("QS_DLQ_TOPIC", s.kafka.dlq_topic_name().to_owned());
            put("QS_GROUP_ID", s.consumer.group_id.clone());
        }
        Component::Frontend => {
            put("QS_WINDOW", s.frontend.window.clone());
            put("QS_RATE_LIMIT", s.frontend.rate_limit.to_string());
            // Behind the Ingress every request comes from the proxy: rate-limit by the client
            // address the proxy appends to X-Forwarded-For (its last entry), not the peer.
            if s.frontend.ingress.is_some() {
                put("QS_CLIENT_IP_HEADER", "X-Forwarded-For".to_owned());
            }
        }
    }
    if component != Component::Producer {
        put("QS_TABLE", s.storage.table.clone());
        put("AWS_REGION", s.storage.region.clone());
        if let Some(endpoint) = &s.storage.endpoint {
            put("QS_DYNAMODB_ENDPOINT", endpoint.clone());
            // A local DynamoDB emulator still needs *some* credentials for the SDK to sign with.
            // These are placeholders, not secrets, and are never set when the workload has an
            // IRSA role (environment credentials would take precedence over the role).
            if w.service_account.role_arn.is_none() {
                put("AWS_ACCESS_KEY_ID", "local".to_owned());
                put("AWS_SECRET_ACCESS_KEY", "local".to_owned());
            }
        }
    }
    d
}

/// A component's ConfigMap (used with `envFrom`).
pub fn build_config_map(qs: &QuakeStream, component: Component) -> ConfigMap {
    ConfigMap {
        metadata: meta(qs, child_name(qs, component), Some(component)),
        data: Some(config_data(qs, component)),
        ..ConfigMap::default()
    }
}

/// Stable hash of a ConfigMap's data (sorted keys), so pods roll when, and only when, it changes.
pub fn config_hash(cm: &ConfigMap) -> String {
    let mut h = Sha256::new();
    for (k, v) in cm.data.iter().flatten() {
        h.update(k.as_bytes());
        h.update([0]);
        h.update(v.as_bytes());
        h.update([0]);
    }
    h.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// A Strimzi KafkaTopic for one topic role.
pub fn build_kafka_topic(qs: &QuakeStream, role: TopicRole) -> KafkaTopic {
    let (spec, topic_name): (&TopicSpec, &str) = match role {
        TopicRole::Events => (&qs.spec.kafka.topic, qs.spec.kafka.topic_name()),
        TopicRole::DeadLetters => (&qs.spec.kafka.dlq_topic, qs.spec.kafka.dlq_topic_name()),
    };
    let mut config: BTreeMap<String, serde_json::Value> =
        spec.config.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    if let Some(ms) = spec.retention_ms {
        config.insert("retention.ms".to_owned(), json!(ms));
    }
    let mut metadata = meta(qs, topic_object_name(qs, role), None);
    metadata
        .labels
        .get_or_insert_default()
        .insert(CLUSTER_LABEL.to_owned(), qs.spec.kafka.cluster_name.clone());
    KafkaTopic {
        metadata,
        spec: KafkaTopicSpec {
            topic_name: Some(topic_name.to_owned()),
            partitions: Some(spec.partitions),
            replicas: Some(spec.replicas),
            config,
        },
        status: None,
    }
}

fn quantity(s: &str) -> Quantity {
    Quantity(s.to_owned())
}

/// Requests and limits used when the spec sets none. No CPU limit: throttling a websocket or an
/// SSE server hurts more than it protects; memory is limited.
pub fn default_resources(component: Component) -> ResourceRequirements {
    let (cpu, mem, mem_limit) = match component {
        Component::Producer => ("50m", "64Mi", "256Mi"),
        Component::Consumer => ("100m", "128Mi", "512Mi"),
        Component::Frontend => ("100m", "128Mi", "512Mi"),
    };
    ResourceRequirements {
        requests: Some(BTreeMap::from([
            ("cpu".to_owned(), quantity(cpu)),
            ("memory".to_owned(), quantity(mem)),
        ])),
        limits: Some(BTreeMap::from([("memory".to_owned(), quantity(mem_limit))])),
        ..ResourceRequirements::default()
    }
}

fn http_probe(path: &str, period: i32, failures: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_owned()),
            port: IntOrString::String(HTTP_PORT_NAME.to_owned()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(2),
        failure_threshold: Some(failures),
        ..Probe::default()
    }
}

/// The hardened pod template of a component.
pub fn build_pod_template(qs: &QuakeStream, component: Component, config_hash: &str) -> PodTemplateSpec {
    let w = component.workload(qs);
    let port = component.port();
    let annotations = BTreeMap::from([
        (CONFIG_HASH_ANNOTATION.to_owned(), config_hash.to_owned()),
        ("prometheus.io/scrape".to_owned(), "true".to_owned()),
        ("prometheus.io/port".to_owned(), port.to_string()),
        ("prometheus.io/path".to_owned(), "/metrics".to_owned()),
    ]);
    let container = Container {
        name: component.as_str().to_owned(),
        image: Some(image_for(qs, component)),
        image_pull_policy: Some(qs.spec.image.pull_policy.as_str().to_owned()),
        args: Some(vec![component.as_str().to_owned()]),
        env_from: Some(vec![EnvFromSource {
            config_map_ref: Some(ConfigMapEnvSource {
                name: child_name(qs, component),
                optional: Some(false),
            }),
            ..EnvFromSource::default()
        }]),
        ports: Some(vec![ContainerPort {
            name: Some(HTTP_PORT_NAME.to_owned()),
            container_port: port,
            protocol: Some("TCP".to_owned()),
            ..ContainerPort::default()
        }]),
        startup_probe: Some(http_probe("/healthz", 2, 30)),
        liveness_probe: Some(http_probe("/healthz", 10, 3)),
        readiness_probe: Some(http_probe("/readyz", 5, 3)),
        resources: Some(w.resources.clone().unwrap_or_else(|| default_resources(component))),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            privileged: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            run_as_user: Some(RUN_AS_USER),
            run_as_group: Some(RUN_AS_USER),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".to_owned()]),
                add: None,
            }),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".to_owned(),
                localhost_profile: None,
            }),
            ..SecurityContext::default()
        }),
        volume_mounts: Some(vec![VolumeMount {
            name: "tmp".to_owned(),
            mount_path: "/tmp".to_owned(),
            ..VolumeMount::default()
        }]),
        termination_message_policy: Some("FallbackToLogsOnError".to_owned()),
        ..Container::default()
    };
    // Spread the horizontally scaled components over nodes, best effort.
    let spread = (component != Component::Producer).then(|| {
        vec![TopologySpreadConstraint {
            max_skew: 1,
            topology_key: "kubernetes.io/hostname".to_owned(),
            when_unsatisfiable: "ScheduleAnyway".to_owned(),
            label_selector: Some(LabelSelector {
                match_labels: Some(selector_labels(qs, component)),
                ..LabelSelector::default()
            }),
            ..TopologySpreadConstraint::default()
        }]
    });
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels(qs, Some(component))),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        }),
        spec: Some(PodSpec {
            service_account_name: Some(child_name(qs, component)),
            automount_service_account_token: Some(false),
            enable_service_links: Some(false),
            security_context: Some(PodSecurityContext {
                run_as_non_root: Some(true),
                run_as_user: Some(RUN_AS_USER),
                run_as_group: Some(RUN_AS_USER),
                fs_group: Some(RUN_AS_USER),
                seccomp_profile: Some(SeccompProfile {
                    type_: "RuntimeDefault".to_owned(),
                    localhost_profile: None,
                }),
                ..PodSecurityContext::default()
            }),
            containers: vec![container],
            volumes: Some(vec![Volume {
                name: "tmp".to_owned(),
                empty_dir: Some(EmptyDirVolumeSource {
                    size_limit: Some(quantity("64Mi")),
                    medium: None,
                }),
                ..Volume::default()
            }]),
            termination_grace_period_seconds: Some(30),
            topology_spread_constraints: spread,
            ..PodSpec::default()
        }),
    }
}

/// A component's Deployment. The producer has one replica and `Recreate` (never two websockets);
/// the consumer has `spec.consumer.replicas`; the frontend has no `replicas` field at all, so the
/// HPA owns it and a re-apply never fights the autoscaler.
pub fn build_deployment(qs: &QuakeStream, component: Component, config_hash: &str) -> Deployment {
    let (replicas, strategy) = match component {
        Component::Producer => (
            Some(1),
            DeploymentStrategy {
                type_: Some("Recreate".to_owned()),
                rolling_update: None,
            },
        ),
        Component::Consumer => (
            Some(qs.spec.consumer.replicas),
            rolling(IntOrString::Int(1), IntOrString::Int(0)),
        ),
        Component::Frontend => (None, rolling(IntOrString::String("25%".into()), IntOrString::Int(0))),
    };
    Deployment {
        metadata: meta(qs, child_name(qs, component), Some(component)),
        spec: Some(DeploymentSpec {
            replicas,
            revision_history_limit: Some(5),
            selector: LabelSelector {
                match_labels: Some(selector_labels(qs, component)),
                ..LabelSelector::default()
            },
            strategy: Some(strategy),
            template: build_pod_template(qs, component, config_hash),
            ..DeploymentSpec::default()
        }),
        status: None,
    }
}

fn rolling(max_surge: IntOrString, max_unavailable: IntOrString) -> DeploymentStrategy {
    DeploymentStrategy {
        type_: Some("RollingUpdate".to_owned()),
        rolling_update: Some(RollingUpdateDeployment {
            max_surge: Some(max_surge),
            max_unavailable: Some(max_unavailable),
        }),
    }
}

/// The frontend's ClusterIP Service: port 8080 (`http`) → the container's `http` port.
pub fn build_frontend_service(qs: &QuakeStream) -> Service {
    Service {
        metadata: meta(qs, child_name(qs, Component::Frontend), Some(Component::Frontend)),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".to_owned()),
            selector: Some(selector_labels(qs, Component::Frontend)),
            ports: Some(vec![ServicePort {
                name: Some(HTTP_PORT_NAME.to_owned()),
                port: Component::Frontend.port(),
                target_port: Some(IntOrString::String(HTTP_PORT_NAME.to_owned())),
                protocol: Some("TCP".to_owned()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}

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

/// The frontend's `autoscaling/v2` HorizontalPodAutoscaler.
pub fn build_frontend_hpa(qs: &QuakeStream) -> HorizontalPodAutoscaler {
    let a = &qs.spec.frontend.autoscaling;
    let mut metrics = vec![utilization("cpu", a.target_cpu_utilization_percentage)];
    if let Some(mem) = a.target_memory_utilization_percentage {
        metrics.push(utilization("memory", mem));
    }
    HorizontalPodAutoscaler {
        metadata: meta(qs, child_name(qs, Component::Frontend), Some(Component::Frontend)),
        spec: Some(HorizontalPodAutoscalerSpec {
            scale_target_ref: CrossVersionObjectReference {
                api_version: Some("apps/v1".to_owned()),
                kind: "Deployment".to_owned(),
                name: child_name(qs, Component::Frontend),
            },
            min_replicas: Some(a.min_replicas),
            max_replicas: a.max_replicas,
            metrics: Some(metrics),
            behavior: None,
        }),
        status: None,
    }
}

/// The frontend's PodDisruptionBudget: at most one pod voluntarily evicted at a time. Using
/// `maxUnavailable` (not `minAvailable`) keeps node drains possible when the HPA sits at one replica.
pub fn build_frontend_pdb(qs: &QuakeStream) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: meta(qs, child_name(qs, Component::Frontend), Some(Component::Frontend)),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(LabelSelector {
                match_labels: Some(selector_labels(qs, Component::Frontend)),
                ..LabelSelector::default()
            }),
            unhealthy_pod_eviction_policy: Some("AlwaysAllow".to_owned()),
            ..PodDisruptionBudgetSpec::default()
        }),
        status: None,
    }
}

/// The frontend's Ingress, when one is configured.
pub fn build_frontend_ingress(qs: &QuakeStream) -> Option<Ingress> {
    let spec = qs.spec.frontend.ingress.as_ref()?;
    let mut metadata = meta(qs, child_name(qs, Component::Frontend), Some(Component::Frontend));
    metadata.annotations = (!spec.annotations.is_empty()).then(|| spec.annotations.clone());
    let backend = IngressBackend {
        service: Some(IngressServiceBackend {
            name: child_name(qs, Component::Frontend),
            port: Some(ServiceBackendPort {
                name: Some(HTTP_PORT_NAME.to_owned()),
                number: None,
            }),
        }),
        resource: None,
    };
    let tls = spec.tls.as_ref().and_then(|t| t.secret_name.as_ref()).map(|secret| {
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

/// An ingress NetworkPolicy admitting only the component's own HTTP port. Egress stays open: the
/// workloads reach Kafka, DynamoDB and EMSC, whose addresses the operator cannot know.
pub fn build_network_policy(qs: &QuakeStream, component: Component) -> NetworkPolicy {
    NetworkPolicy {
        metadata: meta(qs, child_name(qs, component), Some(component)),
        spec: Some(K8sNetworkPolicySpec {
            pod_selector: Some(LabelSelector {
                match_labels: Some(selector_labels(qs, component)),
                ..LabelSelector::default()
            }),
            policy_types: Some(vec!["Ingress".to_owned()]),
            ingress: Some(vec![NetworkPolicyIngressRule {
                from: None,
                ports: Some(vec![NetworkPolicyPort {
                    port: Some(IntOrString::Int(component.port())),
                    protocol: Some("TCP".to_owned()),
                    end_port: None,
                }]),
            }]),
            egress: None,
        }),
    }
}

/// The URL users browse: from the Ingress host (or, without a host, the load balancer address the
/// Ingress reports), else the in-cluster Service address.
pub fn frontend_url(qs: &QuakeStream, applied_ingress: Option<&Ingress>) -> Option<String> {
    let ns = qs.namespace().unwrap_or_else(|| "default".to_owned());
    let Some(spec) = qs.spec.frontend.ingress.as_ref() else {
        return Some(format!(
            "http://{}.{ns}.svc:{}/",
            child_name(qs, Component::Frontend),
            Component::Frontend.port()
        ));
    };
    let scheme = if spec.tls.is_some() { "https" } else { "http" };
    let host = spec.host.clone().or_else(|| {
        let lb = applied_ingress?
            .status
            .as_ref()?
            .load_balancer
            .as_ref()?
            .ingress
            .as_ref()?
            .first()?;
        lb.hostname.clone().or_else(|| lb.ip.clone())
    })?;
    Some(format!("{scheme}://{host}/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{IngressSpec, IngressTlsSpec};
    use crate::fixtures::{minimal, with_uid};

    fn pod_spec(d: &Deployment) -> &PodSpec {
        d.spec.as_ref().unwrap().template.spec.as_ref().unwrap()
    }

    #[test]
    fn names_are_deterministic() {
        let qs = minimal();
        assert_eq!(child_name(&qs, Component::Producer), "demo-producer");
        assert_eq!(topic_object_name(&qs, TopicRole::Events), "demo-events");
        assert_eq!(topic_object_name(&qs, TopicRole::DeadLetters), "demo-dlq");
        assert_eq!(build_all(&qs), build_all(&qs));
    }

    #[test]
    fn owner_reference_only_with_uid() {
        let qs = minimal();
        assert!(
            build_config_map(&qs, Component::Consumer)
                .metadata
                .owner_references
                .is_none()
        );
        let qs = with_uid(minimal());
        let refs = build_config_map(&qs, Component::Consumer)
            .metadata
            .owner_references
            .unwrap();
        assert_eq!(refs.len(), 1);
        assert_eq!(refs[0].kind, "QuakeStream");
        assert_eq!(refs[0].api_version, "quakestream.io/v1alpha1");
        assert_eq!(refs[0].name, "demo");
        assert_eq!(refs[0].controller, Some(true));
    }

    #[test]
    fn every_object_has_app_labels_and_namespace() {
        let qs = with_uid(minimal());
        for v in build_all(&qs).to_values().unwrap() {
            let m = &v["metadata"];
            assert_eq!(m["namespace"], "quakes", "{v}");
            assert_eq!(m["labels"]["app.kubernetes.io/name"], "quakestream", "{v}");
            assert_eq!(m["labels"]["app.kubernetes.io/instance"], "demo", "{v}");
            assert_eq!(
                m["labels"]["app.kubernetes.io/managed-by"], "quakestream-operator",
                "{v}"
            );
            assert_eq!(
                m["ownerReferences"][0]["uid"], "8b1f6a0e-0000-4000-8000-000000000001",
                "{v}"
            );
            assert!(v["apiVersion"].is_string() && v["kind"].is_string());
        }
    }

    #[test]
    fn object_inventory_default_and_optional() {
        let mut qs = minimal();
        let kinds = |qs: &QuakeStream| -> Vec<String> {
            build_all(qs)
                .to_values()
                .unwrap()
                .iter()
                .map(|v| v["kind"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(
            kinds(&qs),
            [
                "ServiceAccount",
                "ServiceAccount",
                "ServiceAccount",
                "ConfigMap",
                "ConfigMap",
                "ConfigMap",
                "KafkaTopic",
                "KafkaTopic",
                "Deployment",
                "Deployment",
                "Deployment",
                "Service",
                "HorizontalPodAutoscaler",
                "PodDisruptionBudget",
                "NetworkPolicy",
                "NetworkPolicy",
                "NetworkPolicy"
            ]
        );
        qs.spec.network_policy.enabled = false;
        qs.spec.frontend.ingress = Some(IngressSpec::default());
        let k = kinds(&qs);
        assert!(!k.contains(&"NetworkPolicy".to_owned()));
        assert_eq!(k.last().unwrap(), "Ingress");
    }

    #[test]
    fn version_label_follows_image_tag() {
        let mut qs = minimal();
        qs.spec.image.tag = Some("1.2.3".into());
        assert_eq!(
            labels(&qs, Some(Component::Producer))["app.kubernetes.io/version"],
            "1.2.3"
        );
        qs.spec.consumer.workload.image = Some("registry:5000/qs/quakestream@sha256:abc".into());
        assert!(!labels(&qs, Some(Component::Consumer)).contains_key("app.kubernetes.io/version"));
        qs.spec.consumer.workload.image = Some("registry:5000/qs/quakestream:dev".into());
        assert_eq!(
            labels(&qs, Some(Component::Consumer))["app.kubernetes.io/version"],
            "dev"
        );
        assert!(!labels(&qs, None).contains_key("app.kubernetes.io/component"));
    }

    #[test]
    fn service_account_irsa_and_annotations() {
        let mut qs = minimal();
        let sa = build_service_account(&qs, Component::Consumer);
        assert!(sa.metadata.annotations.is_none());
        assert_eq!(sa.automount_service_account_token, Some(false));
        let arn = "arn:aws:iam::123456789012:role/qs-consumer";
        qs.spec.consumer.workload.service_account.role_arn = Some(arn.into());
        qs.spec
            .consumer
            .workload
            .service_account
            .annotations
            .insert("team".into(), "seismo".into());
        let sa = build_service_account(&qs, Component::Consumer);
        let ann = sa.metadata.annotations.unwrap();
        assert_eq!(ann[ROLE_ARN_ANNOTATION], arn);
        assert_eq!(ann["team"], "seismo");
        assert!(
            build_service_account(&qs, Component::Frontend)
                .metadata
                .annotations
                .is_none()
        );
    }

    #[test]
    fn producer_config_carries_source_and_topics() {
        let mut qs = minimal();
        qs.spec.source.backfill_limit = 250;
        qs.spec.source.backfill_max_age = "6h".into();
        qs.spec.source.websocket_url = "ws://replay:9000/ws".into();
        qs.spec.source.fdsn_url = "http://replay:9000/fdsn".into();
        qs.spec.kafka.topic.name = Some("quakes-v1".into());
        qs.spec.producer.workload.log_level = Some("debug".into());
        let d = config_data(&qs, Component::Producer);
        let expected: BTreeMap<String, String> = [
            ("KAFKA_BOOTSTRAP_SERVERS", "events-kafka-bootstrap:9092"),
            ("QS_TOPIC", "quakes-v1"),
            ("QS_DLQ_TOPIC", "quakes.dlq"),
            ("QS_LISTEN", "0.0.0.0:9090"),
            ("QS_LOG", "debug"),
            ("QS_EMSC_URL", "ws://replay:9000/ws"),
            ("QS_FDSN_URL", "http://replay:9000/fdsn"),
            ("QS_BACKFILL_LIMIT", "250"),
            ("QS_BACKFILL_MAX_AGE", "6h"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(d, expected);
    }

    #[test]
    fn consumer_and_frontend_config() {
        let mut qs = minimal();
        qs.spec.kafka.bootstrap_servers = Some("kafka:9093".into());
        qs.spec.consumer.group_id = "g2".into();
        qs.spec.storage.table = "quakes-test".into();
        qs.spec.frontend.window = "2d".into();
        qs.spec.frontend.rate_limit = 100;
        let c = config_data(&qs, Component::Consumer);
        assert_eq!(c["KAFKA_BOOTSTRAP_SERVERS"], "kafka:9093");
        assert_eq!(c["QS_GROUP_ID"], "g2");
        assert_eq!(c["QS_TABLE"], "quakes-test");
        assert_eq!(c["AWS_REGION"], "eu-west-1");
        assert_eq!(c["QS_LISTEN"], "0.0.0.0:9091");
        assert_eq!(c["QS_LOG"], "info");
        assert!(!c.contains_key("QS_DYNAMODB_ENDPOINT"));
        assert!(!c.contains_key("AWS_ACCESS_KEY_ID"));
        let f = config_data(&qs, Component::Frontend);
        assert_eq!(f["QS_WINDOW"], "2d");
        assert_eq!(f["QS_RATE_LIMIT"], "100");
        assert!(
            !f.contains_key("QS_CLIENT_IP_HEADER"),
            "no proxy in front without an Ingress"
        );
        assert_eq!(f["QS_LISTEN"], "0.0.0.0:8080");
        assert!(!f.contains_key("QS_DLQ_TOPIC"));
        assert!(!f.contains_key("QS_GROUP_ID"));
    }

    #[test]
    fn frontend_behind_an_ingress_rate_limits_by_forwarded_client_address() {
        let mut qs = minimal();
        qs.spec.frontend.ingress = Some(IngressSpec::default());
        let f = config_data(&qs, Component::Frontend);
        assert_eq!(f["QS_CLIENT_IP_HEADER"], "X-Forwarded-For");
    }

    #[test]
    fn local_endpoint_gets_placeholder_credentials_unless_irsa() {
        let mut qs = minimal();
        qs.spec.storage.endpoint = Some("http://dynoxide:8000".into());
        let c = config_data(&qs, Component::Consumer);
        assert_eq!(c["QS_DYNAMODB_ENDPOINT"], "http://dynoxide:8000");
        assert_eq!(c["AWS_ACCESS_KEY_ID"], "local");
        assert!(!config_data(&qs, Component::Producer).contains_key("QS_DYNAMODB_ENDPOINT"));
        qs.spec.frontend.workload.service_account.role_arn = Some("arn:aws:iam::123456789012:role/f".into());
        let f = config_data(&qs, Component::Frontend);
        assert_eq!(f["QS_DYNAMODB_ENDPOINT"], "http://dynoxide:8000");
        assert!(!f.contains_key("AWS_ACCESS_KEY_ID"));
    }

    #[test]
    fn config_hash_changes_with_data_only_for_affected_component() {
        let qs = minimal();
        let before: Vec<String> = Component::ALL
            .iter()
            .map(|c| config_hash(&build_config_map(&qs, *c)))
            .collect();
        let mut changed = qs.clone();
        changed.spec.frontend.rate_limit = 42;
        let after: Vec<String> = Component::ALL
            .iter()
            .map(|c| config_hash(&build_config_map(&changed, *c)))
            .collect();
        assert_eq!(before[0], after[0]);
        assert_eq!(before[1], after[1]);
        assert_ne!(before[2], after[2]);
        assert_eq!(before[2].len(), 16);
        let d = build_all(&changed).deployments;
        let ann = d[2]
            .spec
            .as_ref()
            .unwrap()
            .template
            .metadata
            .as_ref()
            .unwrap()
            .annotations
            .as_ref()
            .unwrap();
        assert_eq!(ann[CONFIG_HASH_ANNOTATION], after[2]);
    }

    #[test]
    fn kafka_topics_follow_spec() {
        let mut qs = minimal();
        qs.spec.kafka.topic.partitions = 12;
        qs.spec.kafka.topic.replicas = 1;
        qs.spec
            .kafka
            .topic
            .config
            .insert("min.insync.replicas".into(), "1".into());
        qs.spec.kafka.topic.config.insert("retention.ms".into(), "5".into());
        let t = build_kafka_topic(&qs, TopicRole::Events);
        assert_eq!(t.metadata.name.as_deref(), Some("demo-events"));
        assert_eq!(t.metadata.labels.as_ref().unwrap()[CLUSTER_LABEL], "events");
        assert_eq!(t.spec.topic_name.as_deref(), Some("quakes"));
        assert_eq!(t.spec.partitions, Some(12));
        assert_eq!(t.spec.replicas, Some(1));
        assert_eq!(t.spec.config["min.insync.replicas"], json!("1"));
        assert_eq!(
            t.spec.config["retention.ms"],
            json!(604_800_000_i64),
            "retentionMs wins"
        );
        let dlq = build_kafka_topic(&qs, TopicRole::DeadLetters);
        assert_eq!(dlq.spec.topic_name.as_deref(), Some("quakes.dlq"));
        assert_eq!(dlq.spec.partitions, Some(1));
        assert_eq!(dlq.spec.config["retention.ms"], json!(2_592_000_000_i64));
        qs.spec.kafka.dlq_topic.retention_ms = None;
        assert!(build_kafka_topic(&qs, TopicRole::DeadLetters).spec.config.is_empty());
        let v = typed(&t).unwrap();
        assert_eq!(v["apiVersion"], "kafka.strimzi.io/v1");
        assert!(v.get("status").is_none());
    }

    #[test]
    fn pods_are_hardened_and_probed() {
        let qs = minimal();
        for d in build_all(&qs).deployments {
            let p = pod_spec(&d);
            assert_eq!(p.automount_service_account_token, Some(false));
            assert_eq!(p.enable_service_links, Some(false));
            let psc = p.security_context.as_ref().unwrap();
            assert_eq!(psc.run_as_non_root, Some(true));
            assert_eq!(psc.run_as_user, Some(65532));
            assert_eq!(psc.seccomp_profile.as_ref().unwrap().type_, "RuntimeDefault");
            assert_eq!(p.containers.len(), 1);
            let c = &p.containers[0];
            let sc = c.security_context.as_ref().unwrap();
            assert_eq!(sc.allow_privilege_escalation, Some(false));
            assert_eq!(sc.read_only_root_filesystem, Some(true));
            assert_eq!(sc.privileged, Some(false));
            assert_eq!(
                sc.capabilities.as_ref().unwrap().drop.as_deref(),
                Some(&["ALL".to_owned()][..])
            );
            assert_eq!(sc.seccomp_profile.as_ref().unwrap().type_, "RuntimeDefault");
            let path = |pr: &Option<Probe>| pr.as_ref().unwrap().http_get.as_ref().unwrap().path.clone().unwrap();
            assert_eq!(path(&c.liveness_probe), "/healthz");
            assert_eq!(path(&c.readiness_probe), "/readyz");
            assert_eq!(path(&c.startup_probe), "/healthz");
            assert_eq!(c.volume_mounts.as_ref().unwrap()[0].mount_path, "/tmp");
            assert!(p.volumes.as_ref().unwrap()[0].empty_dir.is_some());
            let ann = d
                .spec
                .as_ref()
                .unwrap()
                .template
                .metadata
                .as_ref()
                .unwrap()
                .annotations
                .clone()
                .unwrap();
            assert_eq!(ann["prometheus.io/scrape"], "true");
            assert_eq!(ann["prometheus.io/path"], "/metrics");
            let port = c.ports.as_ref().unwrap()[0].container_port;
            assert_eq!(ann["prometheus.io/port"], port.to_string());
            let cm = c.env_from.as_ref().unwrap()[0].config_map_ref.as_ref().unwrap();
            assert_eq!(&cm.name, d.metadata.name.as_ref().unwrap());
            assert_eq!(p.service_account_name, d.metadata.name);
        }
    }

    #[test]
    fn deployments_replicas_and_strategy() {
        let mut qs = minimal();
        qs.spec.consumer.replicas = 4;
        let d = build_all(&qs).deployments;
        let spec = |i: usize| d[i].spec.clone().unwrap();
        assert_eq!(spec(0).replicas, Some(1));
        assert_eq!(spec(0).strategy.unwrap().type_.as_deref(), Some("Recreate"));
        assert_eq!(spec(1).replicas, Some(4));
        assert_eq!(spec(2).replicas, None, "the HPA owns the frontend's replicas");
        let v = serde_json::to_value(&d[2]).unwrap();
        assert!(v["spec"].get("replicas").is_none());
        assert_eq!(spec(2).strategy.unwrap().type_.as_deref(), Some("RollingUpdate"));
        let args = |i: usize| spec(i).template.spec.unwrap().containers[0].args.clone().unwrap();
        assert_eq!(args(0), ["producer"]);
        assert_eq!(args(1), ["consumer"]);
        assert_eq!(args(2), ["frontend"]);
        assert_eq!(
            spec(2).selector.match_labels.unwrap(),
            selector_labels(&qs, Component::Frontend)
        );
        assert!(pod_spec(&d[0]).topology_spread_constraints.is_none());
        assert!(pod_spec(&d[2]).topology_spread_constraints.is_some());
    }

    #[test]
    fn images_and_resources() {
        let mut qs = minimal();
        let img = |qs: &QuakeStream, i: usize| pod_spec(&build_all(qs).deployments[i]).containers[0].clone();
        assert_eq!(
            img(&qs, 0).image.unwrap(),
            format!("ghcr.io/quakestream/quakestream:{}", env!("CARGO_PKG_VERSION"))
        );
        qs.spec.image.repository = "registry.local/qs".into();
        qs.spec.image.tag = Some("abc".into());
        qs.spec.image.pull_policy = crate::crd::PullPolicy::Always;
        qs.spec.frontend.workload.image = Some("registry.local/qs-frontend:dev".into());
        assert_eq!(img(&qs, 1).image.unwrap(), "registry.local/qs:abc");
        assert_eq!(img(&qs, 1).image_pull_policy.as_deref(), Some("Always"));
        assert_eq!(img(&qs, 2).image.unwrap(), "registry.local/qs-frontend:dev");
        assert_eq!(img(&qs, 2).resources.unwrap(), default_resources(Component::Frontend));
        let custom = ResourceRequirements {
            requests: Some(BTreeMap::from([("cpu".into(), quantity("1"))])),
            ..ResourceRequirements::default()
        };
        qs.spec.consumer.workload.resources = Some(custom.clone());
        assert_eq!(img(&qs, 1).resources.unwrap(), custom);
        for c in Component::ALL {
            let r = default_resources(c);
            assert!(r.requests.unwrap().contains_key("cpu"), "the HPA needs CPU requests");
            assert!(!r.limits.unwrap().contains_key("cpu"));
        }
    }

    #[test]
    fn frontend_service_hpa_pdb() {
        let mut qs = minimal();
        let s = build_frontend_service(&qs).spec.unwrap();
        assert_eq!(s.selector.unwrap(), selector_labels(&qs, Component::Frontend));
        let port = &s.ports.unwrap()[0];
        assert_eq!(port.port, 8080);
        assert_eq!(port.target_port, Some(IntOrString::String("http".into())));

        qs.spec.frontend.autoscaling.min_replicas = 3;
        qs.spec.frontend.autoscaling.max_replicas = 7;
        qs.spec.frontend.autoscaling.target_cpu_utilization_percentage = 60;
        let h = build_frontend_hpa(&qs).spec.unwrap();
        assert_eq!(h.min_replicas, Some(3));
        assert_eq!(h.max_replicas, 7);
        assert_eq!(h.scale_target_ref.name, "demo-frontend");
        assert_eq!(h.scale_target_ref.kind, "Deployment");
        let m = h.metrics.unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].resource.as_ref().unwrap().target.average_utilization, Some(60));
        qs.spec.frontend.autoscaling.target_memory_utilization_percentage = Some(80);
        let m = build_frontend_hpa(&qs).spec.unwrap().metrics.unwrap();
        assert_eq!(m[1].resource.as_ref().unwrap().name, "memory");
        assert_eq!(m[1].resource.as_ref().unwrap().target.average_utilization, Some(80));

        let p = build_frontend_pdb(&qs).spec.unwrap();
        assert_eq!(p.max_unavailable, Some(IntOrString::Int(1)));
        assert!(p.min_available.is_none());
        assert_eq!(
            p.selector.unwrap().match_labels.unwrap(),
            selector_labels(&qs, Component::Frontend)
        );
    }

    #[test]
    fn ingress_options() {
        let mut qs = minimal();
        assert!(build_frontend_ingress(&qs).is_none());
        qs.spec.frontend.ingress = Some(IngressSpec {
            class_name: Some("alb".into()),
            host: Some("quakes.example.org".into()),
            annotations: BTreeMap::from([("alb.ingress.kubernetes.io/scheme".into(), "internet-facing".into())]),
            tls: Some(IngressTlsSpec { secret_name: None }),
        });
        let i = build_frontend_ingress(&qs).unwrap();
        assert_eq!(
            i.metadata.annotations.as_ref().unwrap()["alb.ingress.kubernetes.io/scheme"],
            "internet-facing"
        );
        let spec = i.spec.unwrap();
        assert_eq!(spec.ingress_class_name.as_deref(), Some("alb"));
        assert!(spec.tls.is_none(), "TLS terminated by the load balancer");
        let rule = &spec.rules.unwrap()[0];
        assert_eq!(rule.host.as_deref(), Some("quakes.example.org"));
        let path = &rule.http.as_ref().unwrap().paths[0];
        assert_eq!(path.path_type, "Prefix");
        assert_eq!(path.backend.service.as_ref().unwrap().name, "demo-frontend");
        assert_eq!(frontend_url(&qs, None).as_deref(), Some("https://quakes.example.org/"));

        qs.spec.frontend.ingress.as_mut().unwrap().tls = Some(IngressTlsSpec {
            secret_name: Some("qs-tls".into()),
        });
        let tls = build_frontend_ingress(&qs).unwrap().spec.unwrap().tls.unwrap();
        assert_eq!(tls[0].secret_name.as_deref(), Some("qs-tls"));
        assert_eq!(tls[0].hosts.as_deref(), Some(&["quakes.example.org".to_owned()][..]));
    }

    #[test]
    fn url_without_host_comes_from_load_balancer() {
        use k8s_openapi::api::networking::v1::{IngressLoadBalancerIngress, IngressLoadBalancerStatus, IngressStatus};
        let mut qs = minimal();
        assert_eq!(
            frontend_url(&qs, None).as_deref(),
            Some("http://demo-frontend.quakes.svc:8080/")
        );
        qs.spec.frontend.ingress = Some(IngressSpec::default());
        assert_eq!(frontend_url(&qs, None), None);
        let mut ing = build_frontend_ingress(&qs).unwrap();
        ing.status = Some(IngressStatus {
            load_balancer: Some(IngressLoadBalancerStatus {
                ingress: Some(vec![IngressLoadBalancerIngress {
                    ip: Some("172.18.0.5".into()),
                    ..IngressLoadBalancerIngress::default()
                }]),
            }),
        });
        assert_eq!(frontend_url(&qs, Some(&ing)).as_deref(), Some("http://172.18.0.5/"));
    }

    #[test]
    fn network_policies_admit_only_the_http_port() {
        let qs = minimal();
        for c in Component::ALL {
            let np = build_network_policy(&qs, c).spec.unwrap();
            assert_eq!(np.pod_selector.unwrap().match_labels.unwrap(), selector_labels(&qs, c));
            assert_eq!(np.policy_types.unwrap(), ["Ingress"]);
            let rules = np.ingress.unwrap();
            assert_eq!(rules.len(), 1);
            assert_eq!(
                rules[0].ports.as_ref().unwrap()[0].port,
                Some(IntOrString::Int(c.port()))
            );
            assert!(np.egress.is_none());
        }
    }
}
