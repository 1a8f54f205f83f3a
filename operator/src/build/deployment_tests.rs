use super::*;
use crate::crd::{IngressSpec, PullPolicy, ResourcesSpec};
use crate::fixtures::{minimal, resolved};

fn pod_spec(d: &Deployment) -> &PodSpec {
    d.spec.as_ref().unwrap().template.spec.as_ref().unwrap()
}

fn pod_annotations(d: &Deployment) -> BTreeMap<String, String> {
    d.spec
        .as_ref()
        .unwrap()
        .template
        .metadata
        .as_ref()
        .unwrap()
        .annotations
        .clone()
        .unwrap()
}

fn deployments(qs: &crate::crd::QuakeStream) -> Vec<Deployment> {
    let r = resolved(qs);
    r.workloads.iter().map(|w| build(&r, w)).collect()
}

#[test]
fn pods_are_hardened_and_probed() {
    for d in deployments(&minimal()) {
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
        let path = |pr: &Option<Probe>| pr.as_ref().unwrap().http_get.as_ref().unwrap().path.clone().unwrap();
        assert_eq!(path(&c.liveness_probe), "/healthz");
        assert_eq!(path(&c.readiness_probe), "/readyz");
        assert_eq!(path(&c.startup_probe), "/healthz");
        assert_eq!(c.volume_mounts.as_ref().unwrap()[0].mount_path, "/tmp");
        assert!(p.volumes.as_ref().unwrap()[0].empty_dir.is_some());
        let ann = pod_annotations(&d);
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
fn replicas_and_strategy() {
    let mut qs = minimal();
    qs.spec.consumer.replicas = 4;
    let d = deployments(&qs);
    let spec = |i: usize| d[i].spec.clone().unwrap();
    assert_eq!(spec(0).replicas, Some(1));
    assert_eq!(spec(0).strategy.unwrap().type_.as_deref(), Some("Recreate"));
    assert_eq!(spec(1).replicas, Some(4));
    assert_eq!(spec(2).replicas, None, "the HPA owns the frontend's replicas");
    assert!(serde_json::to_value(&d[2]).unwrap()["spec"].get("replicas").is_none());
    assert_eq!(spec(2).strategy.unwrap().type_.as_deref(), Some("RollingUpdate"));
    let args = |i: usize| spec(i).template.spec.unwrap().containers[0].args.clone().unwrap();
    assert_eq!(args(0), ["producer"]);
    assert_eq!(args(1), ["consumer"]);
    assert_eq!(args(2), ["frontend"]);
    assert!(pod_spec(&d[0]).topology_spread_constraints.is_none());
    assert!(pod_spec(&d[2]).topology_spread_constraints.is_some());
}

#[test]
fn images_and_resources() {
    let mut qs = minimal();
    let container = |qs: &crate::crd::QuakeStream, i: usize| pod_spec(&deployments(qs)[i]).containers[0].clone();
    assert_eq!(
        container(&qs, 0).image.unwrap(),
        format!("ghcr.io/quakestream/quakestream:{}", env!("CARGO_PKG_VERSION"))
    );
    qs.spec.image.repository = "registry.local/qs".into();
    qs.spec.image.tag = Some("abc".into());
    qs.spec.image.pull_policy = PullPolicy::Always;
    qs.spec.frontend.workload.image = Some("registry.local/qs-frontend:dev".into());
    assert_eq!(container(&qs, 1).image.unwrap(), "registry.local/qs:abc");
    assert_eq!(container(&qs, 1).image_pull_policy.as_deref(), Some("Always"));
    assert_eq!(container(&qs, 2).image.unwrap(), "registry.local/qs-frontend:dev");
    assert_eq!(
        container(&qs, 2).resources.unwrap(),
        crate::defaults::resources(Component::Frontend)
    );
    let custom = ResourcesSpec {
        requests: Some(BTreeMap::from([("cpu".into(), Quantity("1".into()))])),
        limits: None,
    };
    qs.spec.consumer.workload.resources = Some(custom);
    let r = container(&qs, 1).resources.unwrap();
    assert_eq!(r.requests.unwrap()["cpu"], Quantity("1".into()));
    assert!(r.limits.is_none());
    for c in Component::ALL {
        let r = crate::defaults::resources(c);
        assert!(r.requests.unwrap().contains_key("cpu"), "the HPA needs CPU requests");
        assert!(!r.limits.unwrap().contains_key("cpu"));
    }
}

#[test]
fn config_change_rolls_only_the_affected_workload() {
    let qs = minimal();
    let before: Vec<String> = deployments(&qs)
        .iter()
        .map(|d| pod_annotations(d)[CONFIG_HASH_ANNOTATION].clone())
        .collect();
    let mut changed = qs.clone();
    changed.spec.frontend.rate_limit = 42;
    let after: Vec<String> = deployments(&changed)
        .iter()
        .map(|d| pod_annotations(d)[CONFIG_HASH_ANNOTATION].clone())
        .collect();
    assert_eq!(before[0], after[0]);
    assert_eq!(before[1], after[1]);
    assert_ne!(before[2], after[2]);
    let r = resolved(&changed);
    assert_eq!(after[2], meta::hash(&r.workload(Component::Frontend).env));
}

#[test]
fn a_new_irsa_role_rolls_the_pods_that_use_it() {
    let mut qs = minimal();
    let sa_hash = |qs: &crate::crd::QuakeStream| -> Vec<String> {
        deployments(qs)
            .iter()
            .map(|d| pod_annotations(d)[SERVICE_ACCOUNT_HASH_ANNOTATION].clone())
            .collect()
    };
    let config_hash = |qs: &crate::crd::QuakeStream| -> Vec<String> {
        deployments(qs)
            .iter()
            .map(|d| pod_annotations(d)[CONFIG_HASH_ANNOTATION].clone())
            .collect()
    };
    let before = sa_hash(&qs);
    qs.spec.consumer.workload.service_account.role_arn = Some("arn:aws:iam::123456789012:role/a".into());
    let with_role = sa_hash(&qs);
    assert_eq!(before[0], with_role[0]);
    assert_ne!(before[1], with_role[1], "the consumer rolls onto the new role");
    assert_eq!(before[2], with_role[2]);
    let config = config_hash(&qs);
    qs.spec.consumer.workload.service_account.role_arn = Some("arn:aws:iam::123456789012:role/b".into());
    assert_ne!(with_role[1], sa_hash(&qs)[1], "and again when the role changes");
    assert_eq!(config, config_hash(&qs), "the ConfigMap did not change");
}

#[test]
fn the_frontend_outlasts_its_load_balancer() {
    let mut qs = minimal();
    let lifecycle = |qs: &crate::crd::QuakeStream| {
        let d = &deployments(qs)[2];
        let p = pod_spec(d);
        let sleep = p.containers[0]
            .lifecycle
            .as_ref()
            .unwrap()
            .pre_stop
            .as_ref()
            .unwrap()
            .sleep
            .as_ref()
            .unwrap()
            .seconds;
        (sleep, p.termination_grace_period_seconds.unwrap())
    };
    // Without an ALB: a few seconds for the endpoints to drop the pod; the default grace period.
    assert_eq!(lifecycle(&qs), (5, 30));
    for d in &deployments(&qs)[..2] {
        assert!(pod_spec(d).containers[0].lifecycle.is_none());
        assert_eq!(pod_spec(d).termination_grace_period_seconds, Some(30));
    }
    // Behind an ALB: the deregistration delay (30 s) plus the controller's reaction time, and a
    // grace period covering that and the frontend's 10 s drain.
    qs.spec.frontend.ingress = Some(IngressSpec {
        class_name: Some("alb".into()),
        ..IngressSpec::default()
    });
    let (sleep, grace) = lifecycle(&qs);
    assert_eq!(sleep, 40);
    assert!(sleep > i64::from(crate::defaults::ALB_DEREGISTRATION_DELAY_SECS));
    assert_eq!(grace, 55);
    qs.spec.frontend.ingress.as_mut().unwrap().deregistration_delay_seconds = Some(120);
    assert_eq!(lifecycle(&qs), (130, 145));
}

#[test]
fn the_analytics_rolls_one_pod_at_a_time_and_knows_its_pod_name() {
    let r = resolved(&minimal());
    let d = build(&r, r.workload(Component::Analytics));
    let spec = d.spec.unwrap();
    assert_eq!(spec.replicas, Some(2));
    let strategy = spec.strategy.unwrap();
    assert_eq!(strategy.type_.as_deref(), Some("RollingUpdate"));
    assert_eq!(
        strategy.rolling_update.unwrap().max_unavailable,
        Some(IntOrString::Int(0))
    );
    let c = &spec.template.spec.unwrap().containers[0];
    assert_eq!(c.args.as_deref(), Some(&["analytics".to_owned()][..]));
    let env = c.env.as_ref().unwrap();
    assert_eq!(env.len(), 1);
    assert_eq!(env[0].name, "QS_INSTANCE_ID");
    let field = env[0].value_from.as_ref().unwrap().field_ref.as_ref().unwrap();
    assert_eq!(field.field_path, "metadata.name");
    assert_eq!(c.ports.as_ref().unwrap()[0].container_port, 9093);
    for w in r.workloads.iter().filter(|w| w.component != Component::Analytics) {
        assert!(
            build(&r, w).spec.unwrap().template.spec.unwrap().containers[0]
                .env
                .is_none()
        );
    }
}
