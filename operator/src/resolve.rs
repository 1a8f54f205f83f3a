//! Step 1 of a reconcile: validate a `QuakeStream` into a [`Resolved`] spec.
//!
//! Everything the builders need is decided here, once: names, labels, images, resources, each
//! workload's environment (rendered by the contract crate), ports, replicas, topics, the
//! ingress and the shutdown timings. The builders ([`crate::build`]) read only a [`Resolved`],
//! never the raw resource, so every default and every rule lives in this file.
//!
//! Validation collects every problem instead of stopping at the first, and checks all the CRD
//! schema checks again (an object stored under an older CRD, or read by `render`, never met the
//! current schema), plus what a schema cannot know: the names the pipeline already uses (kept
//! in its status) and the partitions it already has.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::{Resource, ResourceExt};
use quakestream_contract::names::Names;
use quakestream_contract::range::IntRange;
use quakestream_contract::{self as contract, Kafka, Ops, Store, duration::DurationRange};
use serde_json::json;

use crate::component::{Component, TopicRole};
use crate::crd::{self, QuakeStream, TopicRetentionPolicy, TopicSpec, WorkloadSpec};
use crate::defaults::{self, alb};
use crate::security::{self, KafkaCredentials, ResolvedNetwork};
use crate::validate as is;

#[path = "resolve_analytics.rs"]
mod analytics;
pub use analytics::ResolvedAnalytics;

/// A spec the operator refuses: a permanent error until the spec changes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.join("; "))]
pub struct SpecErrors(pub Vec<String>);

/// A QuakeStream with every default filled in and every rule checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Resolved {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.generation`.
    pub generation: Option<i64>,
    /// The controller owner reference of the children (none before the object has a uid, as in
    /// `render`).
    pub owner: Option<OwnerReference>,
    /// The topic, group and table names.
    pub names: Names,
    /// Labels every child carries (`app.kubernetes.io/name`, `instance`, `part-of`, `managed-by`).
    pub labels: BTreeMap<String, String>,
    /// The Strimzi `Kafka` cluster.
    pub kafka_cluster: String,
    /// The events and dead-letter topics, in [`TopicRole::ALL`] order, then the analytics'
    /// topics when it is enabled.
    pub topics: Vec<ResolvedTopic>,
    /// Producer, consumer, frontend and (when enabled) analytics, in [`Component::ALL`] order.
    pub workloads: Vec<ResolvedWorkload>,
    /// The analytics' names and settings (resolved even when it is off, so its names stay).
    pub analytics: ResolvedAnalytics,
    /// The frontend's autoscaling and ingress.
    pub frontend: ResolvedFrontend,
    /// Whether the NetworkPolicies are built.
    pub network_policies: bool,
    /// What the NetworkPolicies admit.
    pub network: ResolvedNetwork,
    /// How the workloads authenticate to Kafka (a `KafkaUser` each unless `None`).
    pub kafka_authentication: crd::KafkaAuthentication,
}

/// One KafkaTopic.
#[derive(Clone, Debug, PartialEq)]
pub struct ResolvedTopic {
    /// Which topic.
    pub role: TopicRole,
    /// KafkaTopic object name (`<name>-events`, `<name>-dlq`).
    pub object_name: String,
    /// Kafka topic name.
    pub topic_name: String,
    /// Partitions.
    pub partitions: i32,
    /// Replication factor.
    pub replicas: i32,
    /// Topic configuration.
    pub config: BTreeMap<String, serde_json::Value>,
    /// Whether the KafkaTopic is owned by the QuakeStream (garbage-collected with it, which
    /// deletes the topic): `topicRetentionPolicy: Delete`.
    pub owned: bool,
}

/// One workload.
#[derive(Clone, Debug, PartialEq)]
pub struct ResolvedWorkload {
    /// Which workload.
    pub component: Component,
    /// Name of its Deployment, ServiceAccount, ConfigMap and NetworkPolicy (`<name>-<component>`).
    pub name: String,
    /// Container image.
    pub image: String,
    /// Image pull policy.
    pub image_pull_policy: String,
    /// Container resources.
    pub resources: ResourceRequirements,
    /// The container's environment (its ConfigMap's data).
    pub env: BTreeMap<String, String>,
    /// HTTP port.
    pub port: i32,
    /// `spec.replicas` of the Deployment; `None` for the frontend, whose replicas the HPA owns.
    pub replicas: Option<i32>,
    /// Ready replicas the status waits for.
    pub desired_ready: i32,
    /// Labels of the workload's objects and pods (the common ones, the component, the version).
    pub labels: BTreeMap<String, String>,
    /// Labels that select its pods (never change for the life of a Deployment).
    pub selector: BTreeMap<String, String>,
    /// Annotations of its ServiceAccount (the IRSA role among them).
    pub service_account_annotations: BTreeMap<String, String>,
    /// Pre-stop delay, if any.
    pub pre_stop_delay_secs: Option<i64>,
    /// Grace period from SIGTERM to SIGKILL.
    pub termination_grace_secs: i64,
    /// Variables set from the pod's own name (downward API `metadata.name`).
    pub pod_name_env: Vec<String>,
    /// The Kafka secrets its pods mount; none without authentication.
    pub kafka_credentials: Option<KafkaCredentials>,
}

/// The frontend's autoscaling and ingress.
#[derive(Clone, Debug, PartialEq)]
pub struct ResolvedFrontend {
    /// HPA minimum.
    pub min_replicas: i32,
    /// HPA maximum.
    pub max_replicas: i32,
    /// CPU target, percent.
    pub cpu_target: i32,
    /// Memory target, percent.
    pub memory_target: Option<i32>,
    /// The Ingress, when one is asked for.
    pub ingress: Option<ResolvedIngress>,
}

/// The frontend Ingress.
#[derive(Clone, Debug, PartialEq)]
pub struct ResolvedIngress {
    /// IngressClass.
    pub class_name: Option<String>,
    /// Host.
    pub host: Option<String>,
    /// Annotations, including what the operator adds for an ALB.
    pub annotations: BTreeMap<String, String>,
    /// TLS Secret, when the cluster terminates TLS.
    pub tls_secret: Option<String>,
    /// Whether the URL is `https://`.
    pub https: bool,
    /// Whether the AWS Load Balancer Controller serves it.
    pub alb: bool,
}

impl Resolved {
    /// A workload by component (the producer, consumer and frontend always exist).
    pub fn workload(&self, c: Component) -> &ResolvedWorkload {
        self.find_workload(c).expect("every component is resolved")
    }

    /// A workload by component, if the spec runs it (the analytics can be off).
    pub fn find_workload(&self, c: Component) -> Option<&ResolvedWorkload> {
        self.workloads.iter().find(|w| w.component == c)
    }

    /// Name of a component's objects.
    pub fn child_name(&self, c: Component) -> String {
        format!("{}-{}", self.name, c.as_str())
    }
}

/// Validate and resolve a QuakeStream.
pub fn resolve(qs: &QuakeStream) -> Result<Resolved, SpecErrors> {
    let mut errs = Errors(Vec::new());
    let name = qs.metadata.name.clone().unwrap_or_default();
    let namespace = qs.metadata.namespace.clone().unwrap_or_default();
    check_identity(&name, &namespace, &mut errs);
    let names = resolve_names(qs, &name, &mut errs);
    let mut topics: Vec<ResolvedTopic> = TopicRole::ALL
        .iter()
        .map(|r| resolve_topic(qs, *r, &names, &mut errs))
        .collect();
    let analytics = analytics::resolve(qs, &name, &names, &mut errs);
    if analytics.enabled {
        let more = analytics::topics(qs, &analytics, &topics[0], &mut errs);
        topics.extend(more);
    }
    let frontend = resolve_frontend(qs, &mut errs);
    check_spec(qs, &mut errs);
    let network = security::resolve_network(qs, &security::bootstrap_servers(qs), &mut errs.0);
    let labels = common_labels(&name);
    let workloads = Component::ALL
        .iter()
        .filter(|c| **c != Component::Analytics || analytics.enabled)
        .map(|c| resolve_workload(qs, *c, &names, &frontend, &analytics, &labels, &mut errs))
        .collect();
    if !errs.0.is_empty() {
        return Err(SpecErrors(errs.0));
    }
    Ok(Resolved {
        owner: qs.controller_owner_ref(&()),
        generation: qs.metadata.generation,
        kafka_cluster: qs.spec.kafka.cluster_name.clone(),
        network_policies: qs.spec.network_policy.enabled,
        network,
        kafka_authentication: qs.spec.kafka.authentication,
        name,
        namespace,
        names,
        labels,
        topics,
        workloads,
        analytics,
        frontend,
    })
}

struct Errors(Vec<String>);

impl Errors {
    fn push(&mut self, e: impl Into<String>) {
        self.0.push(e.into());
    }

    fn int(&mut self, field: &str, v: impl Into<i64>, range: IntRange) {
        let v = v.into();
        if !range.contains(v) {
            self.push(format!("{field} must be {range}, got {v}"));
        }
    }

    fn duration(&mut self, field: &str, text: &str, range: DurationRange) -> Duration {
        range.parse(text).unwrap_or_else(|e| {
            self.push(format!("{field}: {e}"));
            range.min
        })
    }

    fn annotations(&mut self, field: &str, a: &BTreeMap<String, String>) {
        if a.len() > crd::MAX_ANNOTATIONS {
            self.push(format!(
                "{field} has {} entries, at most {} allowed",
                a.len(),
                crd::MAX_ANNOTATIONS
            ));
        }
        for k in a.keys().filter(|k| !is::qualified_name(k)) {
            self.push(format!("{field}: {k:?} is not a valid annotation key"));
        }
    }
}

fn check_identity(name: &str, namespace: &str, errs: &mut Errors) {
    if name.is_empty() {
        errs.push("metadata.name is required");
    } else if name.len() > crd::MAX_NAME_LEN {
        errs.push(format!(
            "metadata.name must be at most {} characters, got {}",
            crd::MAX_NAME_LEN,
            name.len()
        ));
    } else if !is::dns_1035_label(name) {
        errs.push(format!(
            "metadata.name {name:?} must be a DNS-1035 label (lowercase letters, digits, '-')"
        ));
    }
    if namespace.is_empty() {
        errs.push("metadata.namespace is required");
    }
}

/// The labels every child carries.
pub fn common_labels(name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".to_owned(), "quakestream".to_owned()),
        ("app.kubernetes.io/instance".to_owned(), name.to_owned()),
        ("app.kubernetes.io/part-of".to_owned(), "quakestream".to_owned()),
        ("app.kubernetes.io/managed-by".to_owned(), crate::MANAGER.to_owned()),
    ])
}

/// Name of a topic role's KafkaTopic object.
pub fn topic_object_name(name: &str, role: TopicRole) -> String {
    format!("{name}-{}", role.suffix())
}

/// The names the pipeline used last time, from its status. A status written before names were
/// derived from the resource's name has no `names`, but records the topics it applied; such a
/// pipeline used the historical names.
fn previous_names(qs: &QuakeStream, name: &str) -> Option<Names> {
    let st = qs.status.as_ref()?;
    if let Some(n) = &st.names {
        return Some(Names {
            topic: n.topic.clone(),
            dlq_topic: n.dlq_topic.clone(),
            group_id: n.consumer_group.clone(),
            table: n.table.clone(),
        });
    }
    if st.observed_generation.is_none() || st.topics.is_empty() {
        return None;
    }
    let mut n = Names::historical();
    for t in &st.topics {
        if t.name == topic_object_name(name, TopicRole::Events) {
            n.topic = t.topic_name.clone();
        } else if t.name == topic_object_name(name, TopicRole::DeadLetters) {
            n.dlq_topic = t.topic_name.clone();
        }
    }
    Some(n)
}

/// Explicit names win; an unset one keeps what the pipeline used before, else derives from the
/// resource's name. A topic that would change name is refused: Strimzi cannot rename topics.
fn resolve_names(qs: &QuakeStream, name: &str, errs: &mut Errors) -> Names {
    let previous = previous_names(qs, name);
    let base = previous.clone().unwrap_or_else(|| Names::for_instance(name));
    let s = &qs.spec;
    let names = Names {
        topic: s.kafka.topic.name.clone().unwrap_or(base.topic),
        dlq_topic: s.kafka.dlq_topic.name.clone().unwrap_or(base.dlq_topic),
        group_id: s.consumer.group_id.clone().unwrap_or(base.group_id),
        table: s.storage.table.clone().unwrap_or(base.table),
    };
    if let Some(prev) = previous {
        for (field, before, now) in [
            ("topic", &prev.topic, &names.topic),
            ("dlqTopic", &prev.dlq_topic, &names.dlq_topic),
        ] {
            if before != now {
                errs.push(format!(
                    "spec.kafka.{field}.name: the pipeline uses topic {before:?}, which Strimzi cannot rename to {now:?}; \
                     keep the name (or declare a new QuakeStream for a new topic)"
                ));
            }
        }
    }
    for (field, topic) in [("topic", &names.topic), ("dlqTopic", &names.dlq_topic)] {
        if !is::topic_name(topic) {
            errs.push(format!(
                "spec.kafka.{field}.name {topic:?} is not a legal Kafka topic name"
            ));
        }
    }
    if names.topic == names.dlq_topic {
        errs.push("spec.kafka.topic and spec.kafka.dlqTopic must have different names");
    }
    if !is::table_name(&names.table) {
        errs.push(format!(
            "spec.storage.table {:?} is not a legal DynamoDB table name",
            names.table
        ));
    }
    if names.group_id.is_empty() || names.group_id.len() > 255 {
        errs.push("spec.consumer.groupId must be 1 to 255 characters");
    }
    names
}

fn topic_spec(qs: &QuakeStream, role: TopicRole) -> &TopicSpec {
    match role {
        TopicRole::Events => &qs.spec.kafka.topic,
        TopicRole::DeadLetters => &qs.spec.kafka.dlq_topic,
        TopicRole::Analytics(_) => unreachable!("the analytics' topics are resolved by resolve_analytics.rs"),
    }
}

fn resolve_topic(qs: &QuakeStream, role: TopicRole, names: &Names, errs: &mut Errors) -> ResolvedTopic {
    let spec = topic_spec(qs, role);
    let d = defaults::topic(role);
    let field = format!("spec.{}", role.field());
    let partitions = spec.partitions.unwrap_or(d.partitions);
    let replicas = spec.replicas.unwrap_or(d.replicas);
    errs.int(&format!("{field}.partitions"), partitions, crd::PARTITIONS);
    errs.int(&format!("{field}.replicas"), replicas, crd::TOPIC_REPLICAS);
    let name = qs.metadata.name.clone().unwrap_or_default();
    let object_name = topic_object_name(&name, role);
    let applied = qs
        .status
        .iter()
        .flat_map(|s| &s.topics)
        .find(|t| t.name == object_name)
        .and_then(|t| t.partitions);
    if let Some(before) = applied.filter(|before| partitions < *before) {
        errs.push(format!(
            "{field}.partitions: the topic has {before} partitions and Kafka cannot remove partitions (asked for {partitions})"
        ));
    }
    let retention_ms = spec.retention_ms.or(Some(d.retention_ms));
    if retention_ms.is_some_and(|r| r < -1) {
        errs.push(format!("{field}.retentionMs must be -1 or more"));
    }
    if spec.config.len() > crd::MAX_TOPIC_CONFIG {
        errs.push(format!(
            "{field}.config has more than {} entries",
            crd::MAX_TOPIC_CONFIG
        ));
    }
    let mut config: BTreeMap<String, serde_json::Value> =
        spec.config.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    if let Some(ms) = retention_ms {
        config.insert("retention.ms".to_owned(), json!(ms));
    }
    // The workloads' record size limit (producer `message.max.bytes`, consumer fetch size):
    // a whole dead letter of the largest parsed input fits.
    config.insert(
        "max.message.bytes".to_owned(),
        json!(contract::limits::MAX_MESSAGE_BYTES),
    );
    ResolvedTopic {
        role,
        object_name,
        topic_name: match role {
            TopicRole::Events => names.topic.clone(),
            TopicRole::DeadLetters => names.dlq_topic.clone(),
            TopicRole::Analytics(_) => unreachable!("the analytics' topics are resolved by resolve_analytics.rs"),
        },
        partitions,
        replicas,
        config,
        owned: qs.spec.kafka.topic_retention_policy == TopicRetentionPolicy::Delete,
    }
}

fn resolve_frontend(qs: &QuakeStream, errs: &mut Errors) -> ResolvedFrontend {
    let f = &qs.spec.frontend;
    let a = &f.autoscaling;
    errs.int(
        "spec.frontend.autoscaling.minReplicas",
        a.min_replicas,
        contract::frontend::REPLICAS,
    );
    errs.int(
        "spec.frontend.autoscaling.maxReplicas",
        a.max_replicas,
        contract::frontend::REPLICAS,
    );
    if a.min_replicas > a.max_replicas {
        errs.push(format!(
            "spec.frontend.autoscaling.minReplicas ({}) must be less than or equal to maxReplicas ({})",
            a.min_replicas, a.max_replicas
        ));
    }
    errs.int(
        "spec.frontend.autoscaling.targetCpuUtilizationPercentage",
        a.target_cpu_utilization_percentage,
        crd::UTILIZATION,
    );
    if let Some(m) = a.target_memory_utilization_percentage {
        errs.int(
            "spec.frontend.autoscaling.targetMemoryUtilizationPercentage",
            m,
            crd::UTILIZATION,
        );
    }
    if let Some(r) = &f.workload.resources {
        let requests = r.requests.as_ref();
        if !requests.is_some_and(|q| q.contains_key("cpu")) {
            errs.push("spec.frontend.resources.requests.cpu is required: the HPA scales on CPU utilisation");
        }
        if a.target_memory_utilization_percentage.is_some() && !requests.is_some_and(|q| q.contains_key("memory")) {
            errs.push("spec.frontend.resources.requests.memory is required for a memory utilisation target");
        }
    }
    ResolvedFrontend {
        min_replicas: a.min_replicas,
        max_replicas: a.max_replicas,
        cpu_target: a.target_cpu_utilization_percentage,
        memory_target: a.target_memory_utilization_percentage,
        ingress: f.ingress.as_ref().map(|i| resolve_ingress(i, errs)),
    }
}

fn resolve_ingress(spec: &crd::IngressSpec, errs: &mut Errors) -> ResolvedIngress {
    let field = "spec.frontend.ingress";
    if let Some(c) = spec.class_name.as_deref().filter(|c| !is::dns_subdomain(c)) {
        errs.push(format!("{field}.className {c:?} must be a DNS subdomain"));
    }
    if let Some(h) = spec.host.as_deref().filter(|h| !is::host(h)) {
        errs.push(format!("{field}.host {h:?} is not a host name"));
    }
    let tls_secret = spec.tls.as_ref().and_then(|t| t.secret_name.clone());
    if let Some(s) = tls_secret.as_deref().filter(|s| !is::dns_subdomain(s)) {
        errs.push(format!("{field}.tls.secretName {s:?} must be a DNS subdomain"));
    }
    if tls_secret.is_some() && spec.host.is_none() {
        errs.push(format!("{field}.tls.secretName needs {field}.host"));
    }
    errs.annotations(&format!("{field}.annotations"), &spec.annotations);
    let alb =
        spec.class_name.as_deref() == Some(alb::CLASS) || spec.annotations.keys().any(|k| k.starts_with(alb::PREFIX));
    let mut annotations = spec.annotations.clone();
    if alb {
        alb_annotations(spec, &mut annotations, errs);
    } else if spec.deregistration_delay_seconds.is_some() {
        errs.push(format!(
            "{field}.deregistrationDelaySeconds is for the AWS Load Balancer Controller (className alb)"
        ));
    }
    ResolvedIngress {
        class_name: spec.class_name.clone(),
        host: spec.host.clone(),
        annotations,
        tls_secret,
        https: spec.tls.is_some(),
        alb,
    }
}

/// What an ALB needs from the Ingress: pods as targets (the Service is a ClusterIP one, and the
/// pod readiness gate works only with `ip` targets), health checks on `/readyz`, and a
/// deregistration delay the frontend's pre-stop delay outlasts.
fn alb_annotations(spec: &crd::IngressSpec, a: &mut BTreeMap<String, String>, errs: &mut Errors) {
    let field = "spec.frontend.ingress.annotations";
    match a.get(alb::TARGET_TYPE).map(String::as_str) {
        None => {
            a.insert(alb::TARGET_TYPE.to_owned(), "ip".to_owned());
        }
        Some("ip") => {}
        Some(other) => errs.push(format!(
            "{field}[{}] is {other:?}: the frontend Service is a ClusterIP Service, so the ALB must target pods (ip)",
            alb::TARGET_TYPE
        )),
    }
    a.entry(alb::HEALTHCHECK_PATH.to_owned())
        .or_insert_with(|| ops_path::READY.to_owned());
    let delay = alb_deregistration_delay(spec);
    let mut attributes: Vec<String> = Vec::new();
    if let Some(existing) = a.get(alb::TARGET_GROUP_ATTRIBUTES) {
        for attr in existing.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if attr.starts_with(alb::DEREGISTRATION_DELAY_ATTRIBUTE) {
                errs.push(format!(
                    "{field}[{}] sets {}: use spec.frontend.ingress.deregistrationDelaySeconds, which the frontend's pre-stop delay follows",
                    alb::TARGET_GROUP_ATTRIBUTES,
                    alb::DEREGISTRATION_DELAY_ATTRIBUTE
                ));
            } else {
                attributes.push(attr.to_owned());
            }
        }
    }
    attributes.push(format!("{}={delay}", alb::DEREGISTRATION_DELAY_ATTRIBUTE));
    a.insert(alb::TARGET_GROUP_ATTRIBUTES.to_owned(), attributes.join(","));
}

fn alb_deregistration_delay(spec: &crd::IngressSpec) -> i32 {
    spec.deregistration_delay_seconds
        .unwrap_or(defaults::ALB_DEREGISTRATION_DELAY_SECS)
}

/// Paths of the workloads' ops endpoints.
pub mod ops_path {
    /// Liveness.
    pub const HEALTH: &str = "/healthz";
    /// Readiness.
    pub const READY: &str = "/readyz";
    /// Prometheus metrics.
    pub const METRICS: &str = "/metrics";
}

/// Checks of the fields the resolvers above do not read themselves.
fn check_spec(qs: &QuakeStream, errs: &mut Errors) {
    let s = &qs.spec;
    if s.image.repository.is_empty() {
        errs.push("spec.image.repository must not be empty");
    }
    if s.image.tag.as_deref() == Some("") {
        errs.push("spec.image.tag must not be empty");
    }
    if !is::ws_url(&s.source.websocket_url) {
        errs.push("spec.source.websocketUrl must start with ws:// or wss://");
    }
    if !is::http_url(&s.source.fdsn_url) {
        errs.push("spec.source.fdsnUrl must start with http:// or https://");
    }
    errs.int(
        "spec.source.backfillLimit",
        s.source.backfill_limit,
        contract::producer::BACKFILL_LIMIT,
    );
    if !is::dns_1123_label(&s.kafka.cluster_name) {
        errs.push("spec.kafka.clusterName must be a DNS label");
    }
    if s.kafka.bootstrap_servers.as_deref() == Some("") {
        errs.push("spec.kafka.bootstrapServers must not be empty");
    }
    if s.storage.region.is_empty()
        || !s
            .storage
            .region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        errs.push("spec.storage.region must be an AWS region such as eu-west-1");
    }
    if s.storage.endpoint.as_deref().is_some_and(|e| !is::http_url(e)) {
        errs.push("spec.storage.endpoint must start with http:// or https://");
    }
    errs.int(
        "spec.consumer.replicas",
        s.consumer.replicas,
        contract::consumer::REPLICAS,
    );
    errs.int(
        "spec.frontend.rateLimit",
        s.frontend.rate_limit,
        contract::frontend::RATE_LIMIT,
    );
}

fn workload_spec(qs: &QuakeStream, c: Component) -> &WorkloadSpec {
    match c {
        Component::Producer => &qs.spec.producer.workload,
        Component::Consumer => &qs.spec.consumer.workload,
        Component::Frontend => &qs.spec.frontend.workload,
        Component::Analytics => &qs.spec.analytics.workload,
    }
}

fn resolve_workload(
    qs: &QuakeStream,
    c: Component,
    names: &Names,
    frontend: &ResolvedFrontend,
    analytics: &ResolvedAnalytics,
    common: &BTreeMap<String, String>,
    errs: &mut Errors,
) -> ResolvedWorkload {
    let w = workload_spec(qs, c);
    let field = format!("spec.{}", c.as_str());
    let image = w.image.clone().unwrap_or_else(|| {
        let tag = qs.spec.image.tag.as_deref().unwrap_or(env!("CARGO_PKG_VERSION"));
        format!("{}:{}", qs.spec.image.repository, tag)
    });
    if w.image.as_deref() == Some("") {
        errs.push(format!("{field}.image must not be empty"));
    }
    let sa = &w.service_account;
    errs.annotations(&format!("{field}.serviceAccount.annotations"), &sa.annotations);
    let mut service_account_annotations = sa.annotations.clone();
    if let Some(arn) = &sa.role_arn {
        if !is::role_arn(arn) {
            errs.push(format!("{field}.serviceAccount.roleArn {arn:?} is not an IAM role ARN"));
        }
        service_account_annotations.insert(ROLE_ARN_ANNOTATION.to_owned(), arn.clone());
    }
    let resources = resolve_resources(w, c, &field, errs);
    let env = workload_env(qs, c, names, frontend, analytics, errs).into_map();
    let mut labels = common.clone();
    labels.insert(COMPONENT_LABEL.to_owned(), c.as_str().to_owned());
    if let Some(tag) = image_tag(&image).filter(|t| is::label_value(t)) {
        labels.insert("app.kubernetes.io/version".to_owned(), tag.to_owned());
    }
    let (replicas, desired_ready) = match c {
        Component::Producer => (Some(1), 1),
        Component::Consumer => (Some(qs.spec.consumer.replicas), qs.spec.consumer.replicas),
        Component::Frontend => (None, frontend.min_replicas),
        Component::Analytics => (Some(qs.spec.analytics.replicas), qs.spec.analytics.replicas),
    };
    let pod_name_env = match c {
        Component::Analytics => contract::analytics::FROM_POD_NAME
            .iter()
            .map(|v| (*v).to_owned())
            .collect(),
        _ => Vec::new(),
    };
    let (pre_stop_delay_secs, termination_grace_secs) = shutdown(c, qs.spec.frontend.ingress.as_ref(), frontend);
    ResolvedWorkload {
        component: c,
        name: format!("{}-{}", qs.name_any(), c.as_str()),
        image,
        image_pull_policy: qs.spec.image.pull_policy.as_str().to_owned(),
        resources,
        env,
        port: i32::from(c.port()),
        replicas,
        desired_ready,
        selector: selector_labels(&qs.name_any(), c),
        labels,
        service_account_annotations,
        pre_stop_delay_secs,
        termination_grace_secs,
        pod_name_env,
        kafka_credentials: security::kafka_credentials(qs, &qs.name_any(), c),
    }
}

/// IRSA annotation on ServiceAccounts.
pub const ROLE_ARN_ANNOTATION: &str = "eks.amazonaws.com/role-arn";
/// The component label.
pub const COMPONENT_LABEL: &str = "app.kubernetes.io/component";

/// Labels that select a component's pods.
pub fn selector_labels(name: &str, c: Component) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".to_owned(), "quakestream".to_owned()),
        ("app.kubernetes.io/instance".to_owned(), name.to_owned()),
        (COMPONENT_LABEL.to_owned(), c.as_str().to_owned()),
    ])
}

fn image_tag(image: &str) -> Option<&str> {
    let last = image.rsplit('/').next().unwrap_or(image);
    let last = last.split('@').next().unwrap_or(last);
    last.split_once(':').map(|(_, tag)| tag)
}

fn resolve_resources(w: &WorkloadSpec, c: Component, field: &str, errs: &mut Errors) -> ResourceRequirements {
    let Some(r) = &w.resources else {
        return defaults::resources(c);
    };
    for (part, map) in [("requests", &r.requests), ("limits", &r.limits)] {
        let Some(map) = map else { continue };
        if map.len() > crd::MAX_RESOURCE_NAMES {
            errs.push(format!(
                "{field}.resources.{part} has more than {} entries",
                crd::MAX_RESOURCE_NAMES
            ));
        }
        for (k, q) in map {
            if !is::qualified_name(k) {
                errs.push(format!("{field}.resources.{part}: {k:?} is not a resource name"));
            }
            if !is::quantity(&q.0) {
                errs.push(format!(
                    "{field}.resources.{part}.{k}: {:?} is not a quantity (e.g. 500m, 1Gi)",
                    q.0
                ));
            }
        }
    }
    ResourceRequirements {
        requests: r.requests.clone(),
        limits: r.limits.clone(),
        ..ResourceRequirements::default()
    }
}

/// The pre-stop delay and grace period of a workload. Behind an ALB the frontend waits out the
/// deregistration delay (plus the controller's reaction time) before it stops; elsewhere it
/// waits for the endpoints to drop it. Either way the grace period covers the delay and the
/// frontend's own drain.
fn shutdown(c: Component, ingress: Option<&crd::IngressSpec>, frontend: &ResolvedFrontend) -> (Option<i64>, i64) {
    if c != Component::Frontend {
        return (None, defaults::TERMINATION_GRACE_SECS);
    }
    let delay = match (ingress, frontend.ingress.as_ref()) {
        (Some(spec), Some(i)) if i.alb => {
            i64::from(alb_deregistration_delay(spec)) + defaults::ALB_DEREGISTRATION_MARGIN_SECS
        }
        _ => defaults::ENDPOINT_PROPAGATION_SECS,
    };
    let grace = delay + i64::from(contract::frontend::SHUTDOWN_DRAIN_SECS) + defaults::SHUTDOWN_SLACK_SECS;
    (Some(delay), grace.max(defaults::TERMINATION_GRACE_SECS))
}

fn kafka(qs: &QuakeStream, names: &Names, c: Component) -> Kafka {
    Kafka {
        bootstrap_servers: security::bootstrap_servers(qs),
        topic: names.topic.clone(),
        auth: security::kafka_auth(qs, &qs.name_any(), c),
    }
}

fn store(qs: &QuakeStream, names: &Names) -> Store {
    Store {
        table: names.table.clone(),
        region: qs.spec.storage.region.clone(),
        endpoint: qs.spec.storage.endpoint.clone(),
    }
}

/// The workload's environment, rendered by the contract crate from its typed configuration.
fn workload_env(
    qs: &QuakeStream,
    c: Component,
    names: &Names,
    frontend: &ResolvedFrontend,
    analytics: &ResolvedAnalytics,
    errs: &mut Errors,
) -> contract::Env {
    let s = &qs.spec;
    let w = workload_spec(qs, c);
    let ops = Ops {
        port: c.port(),
        log: w.log_level.clone().unwrap_or_else(|| contract::DEFAULT_LOG.to_owned()),
    };
    match c {
        Component::Producer => contract::producer::Config {
            kafka: kafka(qs, names, c),
            dlq_topic: names.dlq_topic.clone(),
            emsc_url: s.source.websocket_url.clone(),
            fdsn_url: s.source.fdsn_url.clone(),
            backfill_limit: u32::try_from(s.source.backfill_limit)
                .unwrap_or(contract::producer::DEFAULT_BACKFILL_LIMIT),
            backfill_max_age: errs.duration(
                "spec.source.backfillMaxAge",
                &s.source.backfill_max_age,
                contract::producer::BACKFILL_MAX_AGE,
            ),
            ops,
        }
        .to_env(),
        Component::Consumer => contract::consumer::Config {
            kafka: kafka(qs, names, c),
            dlq_topic: names.dlq_topic.clone(),
            group_id: names.group_id.clone(),
            store: store(qs, names),
            retention: s
                .storage
                .retention
                .as_deref()
                .map(|r| errs.duration("spec.storage.retention", r, contract::consumer::RETENTION)),
            ops,
        }
        .to_env(),
        Component::Frontend => contract::frontend::Config {
            kafka: kafka(qs, names, c),
            store: store(qs, names),
            window: errs.duration("spec.frontend.window", &s.frontend.window, contract::frontend::WINDOW),
            rate_limit: u32::try_from(s.frontend.rate_limit).unwrap_or(0),
            // Behind the Ingress every request comes from the proxy: rate-limit by the client
            // address the proxy appends to X-Forwarded-For (its last entry), not the peer.
            client_ip_header: frontend
                .ingress
                .is_some()
                .then(|| contract::frontend::FORWARDED_FOR.to_owned()),
            // Always this pipeline's own name (reserved even while the analytics is off), so a
            // frontend never shows another pipeline's statistics from the same Kafka cluster.
            stats_topic: Some(analytics.names.stats_topic.clone()),
            sequences_topic: Some(analytics.names.sequences_topic.clone()),
            ops,
        }
        .to_env(),
        Component::Analytics => analytics::config(analytics, kafka(qs, names, c), names, ops).to_env(),
    }
}

#[cfg(test)]
#[path = "resolve_tests.rs"]
mod tests;
