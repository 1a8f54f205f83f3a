//! A workload's Deployment and its hardened pod template.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapEnvSource, Container, ContainerPort, EmptyDirVolumeSource, EnvFromSource, EnvVar,
    EnvVarSource, HTTPGetAction, Lifecycle, LifecycleHandler, ObjectFieldSelector, PodSecurityContext, PodSpec,
    PodTemplateSpec, Probe, SeccompProfile, SecurityContext, SleepAction, TopologySpreadConstraint, Volume,
    VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::meta;
use crate::component::Component;
use crate::resolve::{Resolved, ResolvedWorkload, ops_path};

/// Pod annotation: hash of the workload's ConfigMap data (a change rolls the pods).
pub const CONFIG_HASH_ANNOTATION: &str = "quakestream.io/config-hash";
/// Pod annotation: hash of the ServiceAccount's annotations. EKS injects the IRSA role when a
/// pod starts, so a new role reaches running workloads only through new pods.
pub const SERVICE_ACCOUNT_HASH_ANNOTATION: &str = "quakestream.io/service-account-hash";
/// The uid and gid of the distroless `nonroot` user the image runs as.
pub const RUN_AS_USER: i64 = 65532;
/// Name of the container port (and Service target port) of every workload.
pub const HTTP_PORT_NAME: &str = "http";
/// Size of the writable `/tmp`.
pub const TMP_SIZE: &str = "64Mi";

/// The Deployment of `w`. The producer has one replica and `Recreate` (never two websockets);
/// the consumer has `spec.consumer.replicas`; the frontend has no `replicas` field at all, so
/// the HPA owns it and a re-apply never fights the autoscaler.
pub fn build(r: &Resolved, w: &ResolvedWorkload) -> Deployment {
    let strategy = match w.component {
        Component::Producer => DeploymentStrategy {
            type_: Some("Recreate".to_owned()),
            rolling_update: None,
        },
        Component::Consumer | Component::Analytics => rolling(IntOrString::Int(1), IntOrString::Int(0)),
        Component::Frontend => rolling(IntOrString::String("25%".into()), IntOrString::Int(0)),
    };
    Deployment {
        metadata: meta::object(r, &w.name, &w.labels, true),
        spec: Some(DeploymentSpec {
            replicas: w.replicas,
            revision_history_limit: Some(5),
            selector: LabelSelector {
                match_labels: Some(w.selector.clone()),
                ..LabelSelector::default()
            },
            strategy: Some(strategy),
            template: pod_template(w),
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

fn runtime_default() -> SeccompProfile {
    SeccompProfile {
        type_: "RuntimeDefault".to_owned(),
        localhost_profile: None,
    }
}

/// The hardened pod template of `w`.
pub fn pod_template(w: &ResolvedWorkload) -> PodTemplateSpec {
    let annotations = BTreeMap::from([
        (CONFIG_HASH_ANNOTATION.to_owned(), meta::hash(&w.env)),
        (
            SERVICE_ACCOUNT_HASH_ANNOTATION.to_owned(),
            meta::hash(&w.service_account_annotations),
        ),
        ("prometheus.io/scrape".to_owned(), "true".to_owned()),
        ("prometheus.io/port".to_owned(), w.port.to_string()),
        ("prometheus.io/path".to_owned(), ops_path::METRICS.to_owned()),
    ]);
    // Spread the horizontally scaled components over nodes, best effort.
    let spread = (w.component != Component::Producer).then(|| {
        vec![TopologySpreadConstraint {
            max_skew: 1,
            topology_key: "kubernetes.io/hostname".to_owned(),
            when_unsatisfiable: "ScheduleAnyway".to_owned(),
            label_selector: Some(LabelSelector {
                match_labels: Some(w.selector.clone()),
                ..LabelSelector::default()
            }),
            ..TopologySpreadConstraint::default()
        }]
    });
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(w.labels.clone()),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        }),
        spec: Some(PodSpec {
            service_account_name: Some(w.name.clone()),
            automount_service_account_token: Some(false),
            enable_service_links: Some(false),
            security_context: Some(PodSecurityContext {
                run_as_non_root: Some(true),
                run_as_user: Some(RUN_AS_USER),
                run_as_group: Some(RUN_AS_USER),
                fs_group: Some(RUN_AS_USER),
                seccomp_profile: Some(runtime_default()),
                ..PodSecurityContext::default()
            }),
            containers: vec![container(w)],
            volumes: Some(
                std::iter::once(Volume {
                    name: "tmp".to_owned(),
                    empty_dir: Some(EmptyDirVolumeSource {
                        size_limit: Some(Quantity(TMP_SIZE.to_owned())),
                        medium: None,
                    }),
                    ..Volume::default()
                })
                .chain(super::kafka_user::volumes(w))
                .collect(),
            ),
            termination_grace_period_seconds: Some(w.termination_grace_secs),
            topology_spread_constraints: spread,
            ..PodSpec::default()
        }),
    }
}

fn container(w: &ResolvedWorkload) -> Container {
    Container {
        name: w.component.as_str().to_owned(),
        image: Some(w.image.clone()),
        image_pull_policy: Some(w.image_pull_policy.clone()),
        args: Some(vec![w.component.as_str().to_owned()]),
        env: pod_name_env(w),
        env_from: Some(vec![EnvFromSource {
            config_map_ref: Some(ConfigMapEnvSource {
                name: w.name.clone(),
                optional: Some(false),
            }),
            ..EnvFromSource::default()
        }]),
        ports: Some(vec![ContainerPort {
            name: Some(HTTP_PORT_NAME.to_owned()),
            container_port: w.port,
            protocol: Some("TCP".to_owned()),
            ..ContainerPort::default()
        }]),
        startup_probe: Some(http_probe(ops_path::HEALTH, 2, 30)),
        liveness_probe: Some(http_probe(ops_path::HEALTH, 10, 3)),
        readiness_probe: Some(http_probe(ops_path::READY, 5, 3)),
        // The image has no shell: the kubelet's own sleep (Kubernetes 1.30+) holds the pod in
        // its endpoints' and load balancer's rotation until they have let go of it.
        lifecycle: w.pre_stop_delay_secs.map(|seconds| Lifecycle {
            pre_stop: Some(LifecycleHandler {
                sleep: Some(SleepAction { seconds }),
                ..LifecycleHandler::default()
            }),
            post_start: None,
        }),
        resources: Some(w.resources.clone()),
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
            seccomp_profile: Some(runtime_default()),
            ..SecurityContext::default()
        }),
        volume_mounts: Some(
            std::iter::once(VolumeMount {
                name: "tmp".to_owned(),
                mount_path: "/tmp".to_owned(),
                ..VolumeMount::default()
            })
            .chain(super::kafka_user::volume_mounts(w))
            .collect(),
        ),
        termination_message_policy: Some("FallbackToLogsOnError".to_owned()),
        ..Container::default()
    }
}

/// The variables taken from the pod's name (the analytics' instance id: each pod's own
/// transactional id). `None` when there are none, so the other workloads' pods are unchanged.
fn pod_name_env(w: &ResolvedWorkload) -> Option<Vec<EnvVar>> {
    (!w.pod_name_env.is_empty()).then(|| {
        w.pod_name_env
            .iter()
            .map(|name| EnvVar {
                name: name.clone(),
                value: None,
                value_from: Some(EnvVarSource {
                    field_ref: Some(ObjectFieldSelector {
                        api_version: Some("v1".to_owned()),
                        field_path: "metadata.name".to_owned(),
                    }),
                    ..EnvVarSource::default()
                }),
            })
            .collect()
    })
}

#[cfg(test)]
#[path = "deployment_tests.rs"]
mod tests;
