//! Scenario tests of the whole reconcile against the fake API server ([`crate::fake_api`]):
//! each asserts the exact sequence of API calls, what they send, the status written and the
//! events published, for the happy paths and for every failure a real cluster produces.

use std::sync::Arc;
use std::time::Duration;

use http::Method;
use k8s_openapi::jiff::Timestamp;
use kube::api::DynamicObject;
use kube::runtime::controller::Action;
use serde_json::{Value, json};

use super::{Context, Error, READY_REQUEUE, REFUSED_REQUEUE, WAITING_REQUEUE, error_policy, reconcile};
use crate::crd::{QuakeStream, QuakeStreamStatus, TopicRetentionPolicy};
use crate::fake_api::{self, Call, Refuse, World};
use crate::fixtures::{UID, minimal, with_uid};
use crate::metrics::Metrics;

const NS: &str = "/namespaces/quakes";
const SELECTOR: &str =
    "labelSelector=app.kubernetes.io%2Finstance%3Ddemo%2Capp.kubernetes.io%2Fmanaged-by%3Dquakestream-operator";

fn context(client: kube::Client) -> Arc<Context> {
    let now = Timestamp::from_second(1_800_000_000).unwrap();
    Arc::new(Context::with_clock(client, Metrics::new(), Arc::new(move || now)))
}

fn dynamic(v: Value) -> DynamicObject {
    serde_json::from_value(v).unwrap()
}

/// Run one reconcile of `obj` against the fake expecting exactly `expected` calls.
async fn run_raw(
    obj: Value,
    mut world: World,
    expected: Vec<(Method, String)>,
) -> (Result<Action, Error>, Vec<Call>, Arc<Context>) {
    let (client, handle) = fake_api::pair();
    let ctx = context(client);
    world.quakestream = obj.clone();
    let server = tokio::spawn(fake_api::serve(handle, world, expected));
    let result = tokio::time::timeout(Duration::from_secs(10), reconcile(Arc::new(dynamic(obj)), ctx.clone()))
        .await
        .expect("reconcile finished (an unexpected extra API call would block it)");
    let calls = server.await.expect("fake API server assertions");
    (result, calls, ctx)
}

async fn run(
    qs: &QuakeStream,
    world: World,
    expected: Vec<(Method, String)>,
) -> (Result<Action, Error>, Vec<Call>, Arc<Context>) {
    run_raw(serde_json::to_value(qs).unwrap(), world, expected).await
}

fn patch(path: &str) -> (Method, String) {
    (Method::PATCH, path.to_owned())
}

fn list(path: &str) -> (Method, String) {
    (Method::GET, path.to_owned())
}

fn ingresses() -> String {
    format!("/apis/networking.k8s.io/v1{NS}/ingresses")
}

fn network_policies() -> String {
    format!("/apis/networking.k8s.io/v1{NS}/networkpolicies")
}

/// The workloads of the default spec, in apply order (the analytics is on by default).
const WORKLOADS: [&str; 4] = ["producer", "consumer", "frontend", "analytics"];

/// The KafkaTopics of the default spec: events, dead letters, then the analytics' seven.
const TOPICS: [&str; 9] = [
    "events",
    "dlq",
    "analytics-stats",
    "analytics-events-changelog",
    "analytics-stats-repartition",
    "analytics-stats-changelog",
    "analytics-sequences",
    "analytics-sequences-repartition",
    "analytics-sequences-changelog",
];

/// The calls of one stage each.
fn stage_config() -> Vec<(Method, String)> {
    let mut v = Vec::new();
    for kind in ["serviceaccounts", "configmaps"] {
        for c in WORKLOADS {
            v.push(patch(&format!("/api/v1{NS}/{kind}/demo-{c}")));
        }
    }
    v
}

fn stage_topics() -> Vec<(Method, String)> {
    let topics = TOPICS
        .iter()
        .map(|t| patch(&format!("/apis/kafka.strimzi.io/v1{NS}/kafkatopics/demo-{t}")));
    let users = WORKLOADS
        .iter()
        .map(|c| patch(&format!("/apis/kafka.strimzi.io/v1{NS}/kafkausers/demo-{c}")));
    topics.chain(users).collect()
}

fn stage_workloads() -> Vec<(Method, String)> {
    WORKLOADS
        .iter()
        .map(|c| patch(&format!("/apis/apps/v1{NS}/deployments/demo-{c}")))
        .collect()
}

fn stage_exposure(ingress: bool, network_policies: bool) -> Vec<(Method, String)> {
    let mut v = vec![
        patch(&format!("/api/v1{NS}/services/demo-frontend")),
        patch(&format!(
            "/apis/autoscaling/v2{NS}/horizontalpodautoscalers/demo-frontend"
        )),
        patch(&format!("/apis/policy/v1{NS}/poddisruptionbudgets/demo-frontend")),
    ];
    if ingress {
        v.push(patch(&format!("{}/demo-frontend", ingresses())));
    }
    if network_policies {
        for c in std::iter::once("default-deny").chain(WORKLOADS) {
            v.push(patch(&format!("{}/demo-{c}", self::network_policies())));
        }
    }
    v
}

fn stage_prune() -> Vec<(Method, String)> {
    vec![list(&ingresses()), list(&network_policies())]
}

/// Every call of a pass that applies everything of the default spec.
fn applies(ingress: bool, network_policies: bool) -> Vec<(Method, String)> {
    [
        stage_config(),
        stage_topics(),
        stage_workloads(),
        stage_exposure(ingress, network_policies),
        stage_prune(),
    ]
    .concat()
}

fn status_patch() -> (Method, String) {
    patch(&format!("/apis/quakestream.io/v1alpha1{NS}/quakestreams/demo/status"))
}

fn event() -> (Method, String) {
    (Method::POST, format!("/apis/events.k8s.io/v1{NS}/events"))
}

fn condition<'a>(status: &'a Value, type_: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == type_)
        .unwrap()
}

fn status_of(calls: &[Call]) -> Value {
    calls
        .iter()
        .rev()
        .find(|c| c.path.ends_with("/status"))
        .expect("a status write")
        .body["status"]
        .clone()
}

fn events(calls: &[Call]) -> Vec<(String, String)> {
    calls
        .iter()
        .filter(|c| c.method == Method::POST)
        .map(|c| {
            (
                c.body["type"].as_str().unwrap().to_owned(),
                c.body["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The object as the next pass reads it: with the status the last one wrote.
fn with_status(qs: &QuakeStream, status: Value) -> QuakeStream {
    let mut again = qs.clone();
    again.status = Some(serde_json::from_value::<QuakeStreamStatus>(status).unwrap());
    again
}

fn ready() -> World {
    World {
        ready: true,
        ..World::default()
    }
}

#[tokio::test]
async fn create_applies_every_child_then_reports_progress() {
    let qs = with_uid(minimal());
    let expected = [applies(false, true), vec![status_patch(), event()]].concat();
    let (result, calls, _) = run(&qs, World::default(), expected).await;
    assert_eq!(result.unwrap(), Action::requeue(WAITING_REQUEUE));

    for c in calls.iter().filter(|c| c.method == Method::PATCH) {
        assert!(c.query.contains("fieldManager=quakestream-operator"), "{c:?}");
        assert!(c.query.contains("force=true"), "{c:?}");
        assert!(c.body["apiVersion"].is_string() && c.body["kind"].is_string(), "{c:?}");
    }
    for c in calls
        .iter()
        .filter(|c| c.method == Method::PATCH && !c.path.ends_with("/status"))
    {
        assert!(c.body.get("status").is_none(), "no status in applies: {c:?}");
        let owner = &c.body["metadata"]["ownerReferences"][0];
        if c.path.contains("/kafkatopics/") {
            assert!(owner.is_null(), "topics are retained: no owner reference");
        } else {
            assert_eq!(owner["kind"], "QuakeStream", "{c:?}");
            assert_eq!(owner["uid"], UID);
            assert_eq!(owner["controller"], true);
        }
    }
    for c in calls.iter().filter(|c| c.method == Method::GET) {
        assert!(
            c.query.ends_with(SELECTOR),
            "prune lists only this QuakeStream's children: {}",
            c.query
        );
    }
    let frontend = calls
        .iter()
        .find(|c| c.path.ends_with("/deployments/demo-frontend"))
        .unwrap();
    assert!(
        frontend.body["spec"].get("replicas").is_none(),
        "the HPA owns the frontend replicas"
    );

    let status = status_of(&calls);
    assert_eq!(status["observedGeneration"], 1);
    assert_eq!(condition(&status, "Ready")["status"], "False");
    assert_eq!(condition(&status, "Ready")["reason"], "WaitingForWorkloads");
    assert_eq!(condition(&status, "Progressing")["status"], "True");
    assert_eq!(condition(&status, "Degraded")["status"], "False");
    assert_eq!(
        status["consumer"],
        json!({"desiredReplicas": 2, "readyReplicas": 0, "ready": false, "readiness": "0/2"})
    );
    assert_eq!(status["topics"][0]["ready"], "Unknown");
    assert_eq!(status["topicReadiness"], "0/9");
    assert_eq!(
        status["names"],
        json!({"topic": "demo-quakes", "dlqTopic": "demo-quakes.dlq", "consumerGroup": "demo-consumer", "table": "demo-quakes",
               "analyticsAppId": "demo-analytics", "statsTopic": "demo-quake-stats"})
    );
    assert_eq!(
        status["analytics"],
        json!({"desiredReplicas": 2, "readyReplicas": 0, "ready": false, "readiness": "0/2"})
    );

    let ev = &calls.last().unwrap().body;
    assert_eq!(ev["reason"], "Applied");
    assert_eq!(ev["type"], "Normal");
    assert_eq!(ev["regarding"]["name"], "demo");
    assert_eq!(ev["regarding"]["uid"], UID);
    assert_eq!(ev["reportingController"], "quakestream-operator");
}

#[tokio::test]
async fn ready_children_report_ready_once_and_the_next_pass_is_quiet() {
    let qs = with_uid(minimal());
    let expected = [applies(false, true), vec![status_patch(), event(), event()]].concat();
    let (result, calls, _) = run(&qs, ready(), expected).await;
    assert_eq!(result.unwrap(), Action::requeue(READY_REQUEUE));
    let status = status_of(&calls);
    assert_eq!(condition(&status, "Ready")["status"], "True");
    assert_eq!(condition(&status, "Ready")["reason"], "AllComponentsReady");
    assert_eq!(status["url"], "http://demo-frontend.quakes.svc:8080/");
    assert_eq!(status["topics"][1]["topicName"], "demo-quakes.dlq");
    assert_eq!(status["producer"]["readiness"], "1/1");
    assert_eq!(
        events(&calls),
        [("Normal".into(), "Applied".into()), ("Normal".into(), "Ready".into())]
    );

    // The next pass sees its own status: same children, no status write, no event.
    let (result, _, _) = run(&with_status(&qs, status), ready(), applies(false, true)).await;
    assert_eq!(result.unwrap(), Action::requeue(READY_REQUEUE));
}

#[tokio::test]
async fn an_update_rolls_only_the_changed_workload() {
    let qs = with_uid(minimal());
    let (_, first, _) = run(
        &qs,
        ready(),
        [applies(false, true), vec![status_patch(), event(), event()]].concat(),
    )
    .await;
    let hash = |calls: &[Call], c: &str| {
        calls
            .iter()
            .find(|x| x.path.ends_with(&format!("/deployments/demo-{c}")))
            .unwrap()
            .body["spec"]["template"]["metadata"]["annotations"]["quakestream.io/config-hash"]
            .clone()
    };
    let mut updated = with_status(&qs, status_of(&first));
    updated.metadata.generation = Some(2);
    updated.spec.frontend.rate_limit = 50;
    let (result, second, _) = run(
        &updated,
        ready(),
        [applies(false, true), vec![status_patch(), event()]].concat(),
    )
    .await;
    assert_eq!(result.unwrap(), Action::requeue(READY_REQUEUE));
    assert_eq!(hash(&first, "producer"), hash(&second, "producer"));
    assert_eq!(hash(&first, "consumer"), hash(&second, "consumer"));
    assert_ne!(hash(&first, "frontend"), hash(&second, "frontend"));
    let cm = second
        .iter()
        .find(|c| c.path.ends_with("/configmaps/demo-frontend"))
        .unwrap();
    assert_eq!(cm.body["data"]["QS_RATE_LIMIT"], "50");
    let status = status_of(&second);
    assert_eq!(status["observedGeneration"], 2);
    assert_eq!(condition(&status, "Ready")["observedGeneration"], 2);
    assert_eq!(events(&second), [("Normal".into(), "Applied".into())]);
}

/// kind: cloud-provider-kind gives the Ingress an address a little after it is created. Ready
/// waits for it, so a Ready QuakeStream always has a URL.
#[tokio::test]
async fn ready_waits_for_the_ingress_address() {
    let mut qs = with_uid(minimal());
    qs.spec.frontend.ingress = Some(crate::crd::IngressSpec {
        class_name: Some("cloud-provider-kind".into()),
        ..Default::default()
    });
    let (result, calls, _) = run(
        &qs,
        ready(),
        [applies(true, true), vec![status_patch(), event()]].concat(),
    )
    .await;
    assert_eq!(result.unwrap(), Action::requeue(WAITING_REQUEUE));
    let status = status_of(&calls);
    assert_eq!(condition(&status, "Ready")["reason"], "WaitingForIngressAddress");
    assert!(status.get("url").is_none(), "{status}");

    let world = World {
        ingress_address: Some("172.18.0.5".into()),
        ..ready()
    };
    let (result, calls, _) = run(
        &with_status(&qs, status),
        world,
        [applies(true, true), vec![status_patch(), event()]].concat(),
    )
    .await;
    assert_eq!(result.unwrap(), Action::requeue(READY_REQUEUE));
    let status = status_of(&calls);
    assert_eq!(condition(&status, "Ready")["status"], "True");
    assert_eq!(status["url"], "http://172.18.0.5/");
    assert_eq!(status["ingress"], json!({"address": "172.18.0.5", "ready": true}));
    assert_eq!(events(&calls), [("Normal".into(), "Ready".into())]);
}

/// A child the API server refuses: Degraded=True reason ApplyFailed with the server's message
/// and the object, one warning event, a slow requeue, and a quiet next pass.
#[tokio::test]
async fn a_refused_child_degrades_without_a_hot_loop() {
    let mut qs = with_uid(minimal());
    qs.spec.frontend.ingress = Some(crate::crd::IngressSpec::default());
    let path = format!("{}/demo-frontend", ingresses());
    let world = ready().refusing(
        &Method::PATCH,
        &path,
        Refuse::like_api_server(422, "networking.k8s.io", "Ingress", "ingresses", "demo-frontend"),
    );
    let expected = [
        stage_config(),
        stage_topics(),
        stage_workloads(),
        stage_exposure(true, true),
        vec![status_patch(), event()],
    ]
    .concat();
    let (result, calls, ctx) = run(&qs, world.clone(), expected).await;
    let err = result.unwrap_err();
    assert!(
        matches!(&err, Error::Refused(r) if r[0].kind == "Ingress" && r[0].code == 422),
        "{err}"
    );
    let status = status_of(&calls);
    let degraded = condition(&status, "Degraded");
    assert_eq!(degraded["status"], "True");
    assert_eq!(degraded["reason"], "ApplyFailed");
    let message = degraded["message"].as_str().unwrap();
    assert!(
        message.starts_with("Ingress demo-frontend refused (422 Invalid): "),
        "{message}"
    );
    assert!(
        message.contains("Ingress.networking.k8s.io \"demo-frontend\" is invalid"),
        "{message}"
    );
    assert_eq!(condition(&status, "Ready")["reason"], "ApplyFailed");
    assert_eq!(condition(&status, "Progressing")["status"], "False");
    assert_eq!(
        status["frontend"]["readiness"], "2/2",
        "the workloads stage ran before the refusal"
    );
    assert_eq!(events(&calls), [("Warning".to_owned(), "ApplyFailed".to_owned())]);
    let warning = calls
        .iter()
        .find(|c| c.method == Method::POST && c.body["type"] == "Warning")
        .unwrap();
    assert_eq!(warning.body["note"], degraded["message"]);
    assert_eq!(
        error_policy(Arc::new(dynamic(serde_json::to_value(&qs).unwrap())), &err, ctx.clone()),
        Action::requeue(REFUSED_REQUEUE)
    );
    assert!(
        ctx.metrics
            .render()
            .contains("reconcile_failures_total{error=\"apply_refused\"} 1")
    );

    // The status write wakes the controller once more: the refused apply is tried again, but
    // nothing is written and no event repeats; then the slow requeue.
    let expected = [
        stage_config(),
        stage_topics(),
        stage_workloads(),
        stage_exposure(true, true),
    ]
    .concat();
    let (result, _, _) = run(&with_status(&qs, status), world, expected).await;
    assert!(matches!(result, Err(Error::Refused(_))));
}

/// 400 (an admission webhook), 403 (RBAC), 409 (a conflict) and 422 (invalid) all degrade the
/// same way; a refused ConfigMap stops the pass before any Deployment rolls onto it.
#[tokio::test]
async fn every_refusal_code_is_shown_and_later_stages_wait() {
    for code in [400, 403, 409, 422] {
        let qs = with_uid(minimal());
        let path = format!("/api/v1{NS}/configmaps/demo-consumer");
        let world = World::default().refusing(
            &Method::PATCH,
            &path,
            Refuse::like_api_server(code, "", "ConfigMap", "configmaps", "demo-consumer"),
        );
        let expected = [stage_config(), vec![status_patch(), event()]].concat();
        let (result, calls, _) = run(&qs, world, expected).await;
        assert!(
            matches!(result, Err(Error::Refused(ref r)) if r[0].code == code),
            "{code}: {result:?}"
        );
        let status = status_of(&calls);
        let degraded = condition(&status, "Degraded");
        assert_eq!(degraded["reason"], "ApplyFailed", "{code}");
        assert!(
            degraded["message"]
                .as_str()
                .unwrap()
                .starts_with(&format!("ConfigMap demo-consumer refused ({code} ")),
            "{code}: {degraded}"
        );
        assert!(
            !calls.iter().any(|c| c.path.contains("/deployments/")),
            "{code}: no Deployment after a refused ConfigMap"
        );
        assert_eq!(
            events(&calls),
            [("Warning".to_owned(), "ApplyFailed".to_owned())],
            "{code}"
        );
    }
}

#[tokio::test]
async fn a_transient_error_backs_off_and_keeps_the_status() {
    let qs = with_uid(minimal());
    let path = format!("/apis/apps/v1{NS}/deployments/demo-consumer");
    let world = World::default().refusing(
        &Method::PATCH,
        &path,
        Refuse::like_api_server(500, "apps", "Deployment", "deployments", "demo-consumer"),
    );
    let expected = [stage_config(), stage_topics(), stage_workloads()].concat();
    let (result, _, ctx) = run(&qs, world, expected).await;
    let err = result.unwrap_err();
    assert!(err.to_string().contains("applying Deployment demo-consumer"), "{err}");
    assert!(!err.is_permanent());
    let obj = Arc::new(dynamic(serde_json::to_value(&qs).unwrap()));
    assert_eq!(
        error_policy(obj.clone(), &err, ctx.clone()),
        Action::requeue(Duration::from_secs(5))
    );
    assert_eq!(
        error_policy(obj, &err, ctx.clone()),
        Action::requeue(Duration::from_secs(10))
    );
    let metrics = ctx.metrics.render();
    assert!(
        metrics.contains("reconcile_failures_total{error=\"api\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("reconcile_duration_seconds_count{outcome=\"error\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_missing_strimzi_crd_degrades_and_backs_off() {
    let qs = with_uid(minimal());
    let path = format!("/apis/kafka.strimzi.io/v1{NS}/kafkatopics/demo-events");
    let world = World::default().refusing(
        &Method::PATCH,
        &path,
        Refuse::like_api_server(404, "kafka.strimzi.io", "KafkaTopic", "kafkatopics", "demo-events"),
    );
    let expected = [stage_config(), stage_topics(), vec![status_patch(), event()]].concat();
    let (result, calls, ctx) = run(&qs, world, expected).await;
    let err = result.unwrap_err();
    assert!(matches!(err, Error::StrimziMissing));
    assert_eq!(
        condition(&status_of(&calls), "Degraded")["reason"],
        "KafkaTopicCrdMissing"
    );
    assert_eq!(
        events(&calls),
        [("Warning".to_owned(), "KafkaTopicCrdMissing".to_owned())]
    );
    let obj = Arc::new(dynamic(serde_json::to_value(&qs).unwrap()));
    assert_eq!(error_policy(obj, &err, ctx), Action::requeue(Duration::from_secs(5)));
}

/// Strimzi refuses a topic change it cannot make (here fewer partitions, as its Topic Operator
/// words it): the QuakeStream is Degraded with Strimzi's reason and message.
#[tokio::test]
async fn strimzis_refusal_of_a_topic_change_is_surfaced() {
    let qs = with_uid(minimal());
    let world = World {
        topic_condition: Some(json!({"type": "Ready", "status": "False", "reason": "NotSupported",
                                     "message": "Decreasing partitions not supported"})),
        ..ready()
    };
    let (result, calls, _) = run(
        &qs,
        world,
        [applies(false, true), vec![status_patch(), event()]].concat(),
    )
    .await;
    assert_eq!(result.unwrap(), Action::requeue(REFUSED_REQUEUE));
    let status = status_of(&calls);
    let degraded = condition(&status, "Degraded");
    assert_eq!(degraded["reason"], "TopicRefused");
    assert!(
        degraded["message"]
            .as_str()
            .unwrap()
            .contains("topic demo-quakes: Decreasing partitions not supported")
    );
    assert_eq!(status["topics"][0]["reason"], "NotSupported");
    assert_eq!(events(&calls), [("Warning".to_owned(), "TopicRefused".to_owned())]);
}

#[tokio::test]
async fn an_invalid_spec_degrades_once_and_waits_for_a_change() {
    let mut qs = with_uid(minimal());
    qs.spec.frontend.autoscaling.min_replicas = 8;
    qs.spec.frontend.autoscaling.max_replicas = 2;
    let (result, calls, ctx) = run(&qs, World::default(), vec![status_patch(), event()]).await;
    let err = result.unwrap_err();
    assert!(matches!(err, Error::InvalidSpec(_)));
    assert!(err.is_permanent());
    let status = status_of(&calls);
    assert_eq!(condition(&status, "Degraded")["status"], "True");
    assert_eq!(condition(&status, "Degraded")["reason"], "InvalidSpec");
    assert!(
        condition(&status, "Degraded")["message"]
            .as_str()
            .unwrap()
            .contains("minReplicas (8)")
    );
    assert_eq!(condition(&status, "Ready")["status"], "False");
    assert_eq!(events(&calls), [("Warning".to_owned(), "InvalidSpec".to_owned())]);
    let obj = Arc::new(dynamic(serde_json::to_value(&qs).unwrap()));
    assert_eq!(error_policy(obj, &err, ctx.clone()), Action::await_change());
    assert!(
        ctx.metrics
            .render()
            .contains("reconcile_failures_total{error=\"invalid_spec\"} 1")
    );

    // The status write triggers one more pass (a watch event); it changes nothing and calls nothing.
    let (result, calls, _) = run(&with_status(&qs, status), World::default(), vec![]).await;
    assert!(matches!(result, Err(Error::InvalidSpec(_))));
    assert!(calls.is_empty());
}

/// A stored object this version cannot read (here: an older client wrote a string where the
/// types want a number) degrades that one object; the watch, and every other QuakeStream, go on.
#[tokio::test]
async fn an_unreadable_object_is_degraded_alone() {
    let mut obj = serde_json::to_value(with_uid(minimal())).unwrap();
    obj["spec"]["consumer"]["replicas"] = json!("many");
    obj["status"] = json!({"observedGeneration": 1, "url": "http://demo-frontend.quakes.svc:8080/"});
    let (result, calls, ctx) = run_raw(obj.clone(), World::default(), vec![status_patch(), event()]).await;
    let err = result.unwrap_err();
    assert!(matches!(err, Error::Unreadable(_)));
    let status = status_of(&calls);
    let degraded = condition(&status, "Degraded");
    assert_eq!(degraded["reason"], "UnreadableObject");
    assert!(
        degraded["message"]
            .as_str()
            .unwrap()
            .contains("cannot read the stored object"),
        "{degraded}"
    );
    assert_eq!(
        status["url"], "http://demo-frontend.quakes.svc:8080/",
        "what the status said is kept"
    );
    assert_eq!(events(&calls), [("Warning".to_owned(), "UnreadableObject".to_owned())]);
    assert_eq!(error_policy(Arc::new(dynamic(obj)), &err, ctx), Action::await_change());
}

/// Children the spec dropped are deleted only when this QuakeStream owns them: same labels and
/// its controller owner reference, and the delete is conditional on the uid seen.
#[tokio::test]
async fn pruning_touches_only_owned_children() {
    let mut qs = with_uid(minimal());
    qs.spec.network_policy.enabled = false;
    let owned = |name: &str, uid: &str| {
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
               "metadata": {"name": name, "namespace": "quakes", "uid": format!("uid-{name}"),
                            "labels": {"app.kubernetes.io/instance": "demo", "app.kubernetes.io/managed-by": "quakestream-operator"},
                            "ownerReferences": [{"apiVersion": "quakestream.io/v1alpha1", "kind": "QuakeStream",
                                                 "name": "demo", "uid": uid, "controller": true}]}})
    };
    let mut foreign = owned("hand-made", UID);
    foreign["metadata"].as_object_mut().unwrap().remove("ownerReferences");
    let mut world = World::default();
    world.lists.insert(
        ingresses(),
        vec![
            owned("demo-frontend", UID),
            owned("other-frontend", "another-quakestream"),
            foreign,
        ],
    );
    let mut np = owned("demo-consumer", UID);
    np["kind"] = json!("NetworkPolicy");
    world.lists.insert(network_policies(), vec![np]);
    let expected = [
        stage_config(),
        stage_topics(),
        stage_workloads(),
        stage_exposure(false, false),
        vec![
            list(&ingresses()),
            (Method::DELETE, format!("{}/demo-frontend", ingresses())),
            list(&network_policies()),
            (Method::DELETE, format!("{}/demo-consumer", network_policies())),
            status_patch(),
            event(),
        ],
    ]
    .concat();
    let (result, calls, _) = run(&qs, world, expected).await;
    assert!(result.is_ok(), "{result:?}");
    let delete = calls.iter().find(|c| c.method == Method::DELETE).unwrap();
    assert_eq!(delete.body["preconditions"]["uid"], "uid-demo-frontend");
    assert_eq!(delete.body["propagationPolicy"], "Background");
}

/// Turning the analytics off removes its Deployment, ConfigMap and ServiceAccount (those this
/// QuakeStream owns), applies nothing of it, and leaves its KafkaTopics and their data alone.
#[tokio::test]
async fn turning_the_analytics_off_prunes_its_workload_and_keeps_its_topics() {
    let mut qs = with_uid(minimal());
    qs.spec.analytics.enabled = false;
    let owned = |api_version: &str, kind: &str, name: &str, uid: &str| {
        json!({"apiVersion": api_version, "kind": kind,
               "metadata": {"name": name, "namespace": "quakes", "uid": format!("uid-{name}"),
                            "labels": {"app.kubernetes.io/instance": "demo", "app.kubernetes.io/managed-by": "quakestream-operator"},
                            "ownerReferences": [{"apiVersion": "quakestream.io/v1alpha1", "kind": "QuakeStream",
                                                 "name": "demo", "uid": uid, "controller": true}]}})
    };
    let deployments = format!("/apis/apps/v1{NS}/deployments");
    let config_maps = format!("/api/v1{NS}/configmaps");
    let service_accounts = format!("/api/v1{NS}/serviceaccounts");
    let kafka_users = format!("/apis/kafka.strimzi.io/v1{NS}/kafkausers");
    let mut world = World::default();
    world.lists.insert(
        kafka_users.clone(),
        vec![{
            let mut u = owned("kafka.strimzi.io/v1", "KafkaUser", "demo-analytics", UID);
            u["spec"] = json!({"authentication": {"type": "tls"}, "authorization": {"type": "simple", "acls": []}});
            u
        }],
    );
    world.lists.insert(
        deployments.clone(),
        vec![
            owned("apps/v1", "Deployment", "demo-producer", UID),
            owned("apps/v1", "Deployment", "demo-analytics", UID),
            owned("apps/v1", "Deployment", "other-analytics", "another-quakestream"),
        ],
    );
    world.lists.insert(
        config_maps.clone(),
        vec![owned("v1", "ConfigMap", "demo-analytics", UID)],
    );
    world.lists.insert(
        service_accounts.clone(),
        vec![owned("v1", "ServiceAccount", "demo-analytics", UID)],
    );
    let three = &WORKLOADS[..3];
    let mut expected: Vec<(Method, String)> = Vec::new();
    for kind in ["serviceaccounts", "configmaps"] {
        for c in three {
            expected.push(patch(&format!("/api/v1{NS}/{kind}/demo-{c}")));
        }
    }
    for t in &TOPICS[..2] {
        expected.push(patch(&format!("/apis/kafka.strimzi.io/v1{NS}/kafkatopics/demo-{t}")));
    }
    for c in three {
        expected.push(patch(&format!("{kafka_users}/demo-{c}")));
    }
    for c in three {
        expected.push(patch(&format!("/apis/apps/v1{NS}/deployments/demo-{c}")));
    }
    let mut exposure = stage_exposure(false, true);
    exposure.retain(|(_, p)| !p.ends_with("/demo-analytics"));
    expected.extend(exposure);
    expected.extend([
        list(&ingresses()),
        list(&network_policies()),
        list(&deployments),
        (Method::DELETE, format!("{deployments}/demo-analytics")),
        list(&config_maps),
        (Method::DELETE, format!("{config_maps}/demo-analytics")),
        list(&service_accounts),
        (Method::DELETE, format!("{service_accounts}/demo-analytics")),
        list(&kafka_users),
        (Method::DELETE, format!("{kafka_users}/demo-analytics")),
        status_patch(),
        event(),
    ]);
    let (result, calls, _) = run(&qs, world, expected).await;
    assert!(result.is_ok(), "{result:?}");
    assert!(
        !calls
            .iter()
            .any(|c| c.path.contains("analytics") && c.method == Method::PATCH)
    );
    let status = status_of(&calls);
    assert!(status.get("analytics").is_none(), "{status}");
    assert_eq!(status["topicReadiness"], "0/2");
    assert_eq!(
        status["names"]["analyticsAppId"], "demo-analytics",
        "the names stay reserved for when it is turned on again"
    );
}

/// The analytics' pods: the instance id from the pod name, the ConfigMap from the contract,
/// and its topics co-partitioned with the events topic.
#[tokio::test]
async fn the_analytics_gets_its_topics_and_its_pod_name() {
    let mut qs = with_uid(minimal());
    qs.spec.kafka.topic.partitions = Some(12);
    let (result, calls, _) = run(
        &qs,
        World::default(),
        [applies(false, true), vec![status_patch(), event()]].concat(),
    )
    .await;
    assert!(result.is_ok(), "{result:?}");
    let body = |suffix: &str| &calls.iter().find(|c| c.path.ends_with(suffix)).unwrap().body;
    let d = body("/deployments/demo-analytics");
    assert_eq!(d["spec"]["replicas"], 2);
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["args"], json!(["analytics"]));
    assert_eq!(
        c["env"],
        json!([{"name": "QS_INSTANCE_ID", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}}])
    );
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    let cm = &body("/configmaps/demo-analytics")["data"];
    assert_eq!(cm["QS_STATS_TOPIC"], "demo-quake-stats");
    assert_eq!(cm["QS_ANALYTICS_APP_ID"], "demo-analytics");
    assert_eq!(cm["QS_GRACE"], "2d");
    assert_eq!(cm["QS_LISTEN"], "0.0.0.0:9093");
    let changelog = body("/kafkatopics/demo-analytics-events-changelog");
    assert_eq!(changelog["spec"]["topicName"], "demo-analytics-events-changelog");
    assert_eq!(
        changelog["spec"]["partitions"], 12,
        "co-partitioned with the events topic"
    );
    assert_eq!(changelog["spec"]["config"]["cleanup.policy"], "compact");
    let stats = body("/kafkatopics/demo-analytics-stats");
    assert_eq!(stats["spec"]["config"]["cleanup.policy"], "compact,delete");
    assert_eq!(stats["spec"]["config"]["retention.ms"], 35 * 86_400_000_i64);
    assert!(
        stats["metadata"].get("ownerReferences").is_none(),
        "retained like the others"
    );
}

#[tokio::test]
async fn a_pruning_refusal_degrades_too() {
    let mut qs = with_uid(minimal());
    qs.spec.network_policy.enabled = false;
    let world = World::default().refusing(
        &Method::GET,
        &network_policies(),
        Refuse::like_api_server(403, "networking.k8s.io", "NetworkPolicy", "networkpolicies", ""),
    );
    let expected = [applies(false, false), vec![status_patch(), event()]].concat();
    let (result, calls, _) = run(&qs, world, expected).await;
    assert!(matches!(result, Err(Error::Refused(r)) if r[0].code == 403));
    assert!(
        condition(&status_of(&calls), "Degraded")["message"]
            .as_str()
            .unwrap()
            .contains("cannot patch resource \"networkpolicies\"")
    );
}

#[tokio::test]
async fn topic_retention_policy_decides_their_owner_reference() {
    let mut qs = with_uid(minimal());
    qs.spec.kafka.topic_retention_policy = TopicRetentionPolicy::Delete;
    let (_, calls, _) = run(
        &qs,
        World::default(),
        [applies(false, true), vec![status_patch(), event()]].concat(),
    )
    .await;
    for c in calls.iter().filter(|c| c.path.contains("/kafkatopics/")) {
        assert_eq!(
            c.body["metadata"]["ownerReferences"][0]["uid"], UID,
            "Delete: garbage-collected with the QuakeStream"
        );
    }
}

#[tokio::test]
async fn deletion_is_left_to_garbage_collection() {
    let mut qs = with_uid(minimal());
    qs.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        Timestamp::from_second(1_800_000_000).unwrap(),
    ));
    let (result, calls, _) = run(&qs, World::default(), vec![]).await;
    assert_eq!(result.unwrap(), Action::await_change());
    assert!(calls.is_empty(), "no finalizer, no explicit deletes");
}

#[test]
fn backoff_is_capped_and_per_object() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let (client, _handle) = fake_api::pair();
    let ctx = context(client);
    let delays: Vec<u64> = (0..10).map(|_| ctx.backoff("ns/a").as_secs()).collect();
    assert_eq!(delays, [5, 10, 20, 40, 80, 160, 300, 300, 300, 300]);
    assert_eq!(ctx.backoff("ns/b").as_secs(), 5);
    ctx.reset_backoff("ns/a");
    assert_eq!(ctx.backoff("ns/a").as_secs(), 5);
}
