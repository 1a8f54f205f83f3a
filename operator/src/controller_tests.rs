//! Controller tests against a mocked API server (`tower-test`): each scenario asserts the exact
//! sequence of API calls a reconcile makes, and what it sends.
//!
//! No sleeps: the fake API server answers each request as it arrives; a timeout only guards
//! against a reconcile that makes an unexpected extra call (it would wait forever for an answer).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::client::Body;
use kube::runtime::controller::Action;
use serde_json::{Value, json};

use super::{Context, Error, READY_REQUEUE, WAITING_REQUEUE, error_policy, reconcile};
use crate::crd::{QuakeStream, QuakeStreamStatus};
use crate::fixtures::{minimal, with_uid};
use crate::metrics::Metrics;

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

const NS: &str = "/namespaces/quakes";

/// One request the fake API server received.
#[derive(Debug, Clone)]
struct Call {
    method: Method,
    path: String,
    query: String,
    body: Value,
}

/// How the fake API server behaves.
#[derive(Clone, Default)]
struct World {
    /// Deployments report all replicas ready and KafkaTopics report Ready=True.
    ready: bool,
    /// Paths answered with this HTTP error status.
    fail: HashMap<String, u16>,
}

fn status_body(code: u16, reason: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": format!("fake {reason}"), "reason": reason, "code": code})
}

/// Answer one request like an API server would for an applied object.
fn answer(world: &World, qs: &Value, call: &Call) -> (u16, Value) {
    if let Some(code) = world.fail.get(&call.path) {
        let reason = if *code == 404 { "NotFound" } else { "InternalError" };
        return (*code, status_body(*code, reason));
    }
    match call.method {
        Method::DELETE => (404, status_body(404, "NotFound")),
        Method::POST => (201, call.body.clone()),
        Method::PATCH if call.path.ends_with("/status") => {
            let mut obj = qs.clone();
            obj["status"] = call.body["status"].clone();
            (200, obj)
        }
        Method::PATCH => {
            let mut obj = call.body.clone();
            obj["metadata"]["generation"] = json!(1);
            match obj["kind"].as_str() {
                Some("Deployment") => {
                    let replicas = obj["spec"]["replicas"].as_i64().unwrap_or(2);
                    let n = if world.ready { replicas } else { 0 };
                    obj["status"] =
                        json!({"observedGeneration": 1, "replicas": n, "readyReplicas": n, "updatedReplicas": n});
                }
                Some("KafkaTopic") if world.ready => {
                    obj["status"] =
                        json!({"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "True"}]});
                }
                _ => {}
            }
            (200, obj)
        }
        _ => panic!("unexpected method {}", call.method),
    }
}

/// Serve exactly `expected` requests (method and path, in order), then return what was received.
async fn serve(mut handle: Handle, world: World, qs: Value, expected: Vec<(Method, String)>) -> Vec<Call> {
    let mut calls = Vec::new();
    for (i, (method, path)) in expected.into_iter().enumerate() {
        let (req, send) = handle
            .next_request()
            .await
            .unwrap_or_else(|| panic!("call {i} ({method} {path}) never came"));
        let call = Call {
            method: req.method().clone(),
            path: req.uri().path().to_owned(),
            query: req.uri().query().unwrap_or_default().to_owned(),
            body: {
                let bytes = req.into_body().collect_bytes().await.unwrap();
                if bytes.is_empty() {
                    Value::Null
                } else {
                    serde_json::from_slice(&bytes).unwrap()
                }
            },
        };
        assert_eq!((&call.method, call.path.as_str()), (&method, path.as_str()), "call {i}");
        let (code, body) = answer(&world, &qs, &call);
        let resp = Response::builder()
            .status(StatusCode::from_u16(code).unwrap())
            .header("content-type", "application/json")
            .body(Body::from(serde_json::to_vec(&body).unwrap()))
            .unwrap();
        send.send_response(resp);
        calls.push(call);
    }
    calls
}

fn context(client: Client) -> Arc<Context> {
    let now = Timestamp::from_second(1_800_000_000).unwrap();
    Arc::new(Context::with_clock(client, Metrics::new(), Arc::new(move || now)))
}

/// Run one reconcile against the fake API server expecting exactly `expected` calls.
async fn run(
    qs: QuakeStream,
    world: World,
    expected: Vec<(Method, String)>,
) -> (Result<Action, Error>, Vec<Call>, Arc<Context>) {
    let (svc, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let ctx = context(Client::new(svc, "default"));
    let server = tokio::spawn(serve(handle, world, serde_json::to_value(&qs).unwrap(), expected));
    let result = tokio::time::timeout(Duration::from_secs(10), reconcile(Arc::new(qs), ctx.clone()))
        .await
        .expect("reconcile finished (an unexpected extra API call would block it)");
    let calls = server.await.expect("fake API server assertions");
    (result, calls, ctx)
}

fn patch(path: &str) -> (Method, String) {
    (Method::PATCH, path.to_owned())
}

/// Every server-side apply of the default children, in order.
fn applies(network_policies: bool) -> Vec<(Method, String)> {
    let mut v = Vec::new();
    for kind in ["serviceaccounts", "configmaps"] {
        for c in ["producer", "consumer", "frontend"] {
            v.push(patch(&format!("/api/v1{NS}/{kind}/demo-{c}")));
        }
    }
    for t in ["events", "dlq"] {
        v.push(patch(&format!("/apis/kafka.strimzi.io/v1{NS}/kafkatopics/demo-{t}")));
    }
    for c in ["producer", "consumer", "frontend"] {
        v.push(patch(&format!("/apis/apps/v1{NS}/deployments/demo-{c}")));
    }
    v.push(patch(&format!("/api/v1{NS}/services/demo-frontend")));
    v.push(patch(&format!(
        "/apis/autoscaling/v2{NS}/horizontalpodautoscalers/demo-frontend"
    )));
    v.push(patch(&format!(
        "/apis/policy/v1{NS}/poddisruptionbudgets/demo-frontend"
    )));
    v.push((
        Method::DELETE,
        format!("/apis/networking.k8s.io/v1{NS}/ingresses/demo-frontend"),
    ));
    if network_policies {
        for c in ["producer", "consumer", "frontend"] {
            v.push(patch(&format!(
                "/apis/networking.k8s.io/v1{NS}/networkpolicies/demo-{c}"
            )));
        }
    }
    v
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

#[tokio::test]
async fn create_applies_every_child_then_reports_progress() {
    let qs = with_uid(minimal());
    let expected = [applies(true), vec![status_patch(), event()]].concat();
    let (result, calls, _) = run(qs, World::default(), expected).await;
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
        let owner = &c.body["metadata"]["ownerReferences"][0];
        assert_eq!(owner["kind"], "QuakeStream", "{c:?}");
        assert_eq!(owner["controller"], true);
        assert!(c.body.get("status").is_none(), "no status in applies: {c:?}");
    }
    let frontend = calls
        .iter()
        .find(|c| c.path.ends_with("/deployments/demo-frontend"))
        .unwrap();
    assert!(
        frontend.body["spec"].get("replicas").is_none(),
        "the HPA owns the frontend replicas"
    );

    let status = &calls[calls.len() - 2].body["status"];
    assert_eq!(status["observedGeneration"], 1);
    assert_eq!(condition(status, "Ready")["status"], "False");
    assert_eq!(condition(status, "Progressing")["status"], "True");
    assert_eq!(condition(status, "Degraded")["status"], "False");
    assert_eq!(
        status["consumer"],
        json!({"desiredReplicas": 2, "readyReplicas": 0, "ready": false})
    );
    assert_eq!(status["topics"][0]["ready"], "Unknown");

    let ev = &calls.last().unwrap().body;
    assert_eq!(ev["reason"], "Applied");
    assert_eq!(ev["type"], "Normal");
    assert_eq!(ev["regarding"]["name"], "demo");
    assert_eq!(ev["reportingController"], "quakestream-operator");
}

#[tokio::test]
async fn create_with_ready_children_reports_ready_once() {
    let qs = with_uid(minimal());
    let world = World {
        ready: true,
        ..World::default()
    };
    let expected = [applies(true), vec![status_patch(), event(), event()]].concat();
    let (result, calls, _) = run(qs.clone(), world.clone(), expected).await;
    assert_eq!(result.unwrap(), Action::requeue(READY_REQUEUE));
    let n = calls.len();
    let status = calls[n - 3].body["status"].clone();
    assert_eq!(condition(&status, "Ready")["status"], "True");
    assert_eq!(status["url"], "http://demo-frontend.quakes.svc:8080/");
    assert_eq!(status["topics"][1]["topicName"], "quakes.dlq");
    assert_eq!(calls[n - 2].body["reason"], "Applied");
    assert_eq!(calls[n - 1].body["reason"], "Ready");

    // The next pass sees its own status: same children, no status write, no event.
    let mut again = qs;
    again.status = Some(serde_json::from_value::<QuakeStreamStatus>(status).unwrap());
    let (result, _, _) = run(again, world, applies(true)).await;
    assert_eq!(result.unwrap(), Action::requeue(READY_REQUEUE));
}

#[tokio::test]
async fn update_rolls_only_the_changed_workload_and_bumps_observed_generation() {
    let qs = with_uid(minimal());
    let world = World {
        ready: true,
        ..World::default()
    };
    let (_, first, _) = run(
        qs.clone(),
        world.clone(),
        [applies(true), vec![status_patch(), event(), event()]].concat(),
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

    let mut updated = qs;
    updated.metadata.generation = Some(2);
    updated.spec.frontend.rate_limit = 50;
    updated.status = Some(serde_json::from_value(first[first.len() - 3].body["status"].clone()).unwrap());
    let (result, second, _) = run(updated, world, [applies(true), vec![status_patch(), event()]].concat()).await;
    assert_eq!(result.unwrap(), Action::requeue(READY_REQUEUE));
    assert_eq!(hash(&first, "producer"), hash(&second, "producer"));
    assert_eq!(hash(&first, "consumer"), hash(&second, "consumer"));
    assert_ne!(hash(&first, "frontend"), hash(&second, "frontend"));
    let cm = second
        .iter()
        .find(|c| c.path.ends_with("/configmaps/demo-frontend"))
        .unwrap();
    assert_eq!(cm.body["data"]["QS_RATE_LIMIT"], "50");
    let status = &second[second.len() - 2].body["status"];
    assert_eq!(status["observedGeneration"], 2);
    assert_eq!(condition(status, "Ready")["observedGeneration"], 2);
    assert_eq!(second.last().unwrap().body["reason"], "Applied");
}

#[tokio::test]
async fn ingress_applied_and_disabled_network_policies_deleted() {
    let mut qs = with_uid(minimal());
    qs.spec.network_policy.enabled = false;
    qs.spec.frontend.ingress = Some(crate::crd::IngressSpec {
        host: Some("quakes.example.org".into()),
        ..Default::default()
    });
    let mut expected: Vec<_> = applies(false)
        .into_iter()
        .map(|(m, p)| {
            if m == Method::DELETE {
                (Method::PATCH, p)
            } else {
                (m, p)
            }
        })
        .collect();
    for c in ["producer", "consumer", "frontend"] {
        expected.push((
            Method::DELETE,
            format!("/apis/networking.k8s.io/v1{NS}/networkpolicies/demo-{c}"),
        ));
    }
    expected.extend([status_patch(), event()]);
    let (result, calls, _) = run(qs, World::default(), expected).await;
    assert!(result.is_ok());
    let ingress = calls
        .iter()
        .find(|c| c.path.ends_with("/ingresses/demo-frontend"))
        .unwrap();
    assert_eq!(ingress.body["spec"]["rules"][0]["host"], "quakes.example.org");
    assert_eq!(
        calls[calls.len() - 2].body["status"]["url"],
        "http://quakes.example.org/"
    );
}

#[tokio::test]
async fn invalid_spec_sets_degraded_once_and_waits_for_a_change() {
    let mut qs = with_uid(minimal());
    qs.spec.frontend.autoscaling.min_replicas = 8;
    qs.spec.frontend.autoscaling.max_replicas = 2;
    let (result, calls, ctx) = run(qs.clone(), World::default(), vec![status_patch(), event()]).await;
    let err = result.unwrap_err();
    assert!(matches!(err, Error::InvalidSpec(_)));
    assert!(err.is_permanent());
    let status = calls[0].body["status"].clone();
    assert_eq!(condition(&status, "Degraded")["status"], "True");
    assert_eq!(condition(&status, "Degraded")["reason"], "InvalidSpec");
    assert!(
        condition(&status, "Degraded")["message"]
            .as_str()
            .unwrap()
            .contains("minReplicas (8)")
    );
    assert_eq!(condition(&status, "Ready")["status"], "False");
    assert_eq!(calls[1].body["type"], "Warning");
    assert_eq!(calls[1].body["reason"], "InvalidSpec");
    // No requeue: the controller waits for the user to change the object.
    assert_eq!(
        error_policy(Arc::new(qs.clone()), &err, ctx.clone()),
        Action::await_change()
    );
    assert!(
        ctx.metrics
            .render()
            .contains("reconcile_failures_total{error=\"invalid_spec\"} 1")
    );

    // The status write triggers one more pass (a watch event); it changes nothing and calls nothing.
    let mut again = qs;
    again.status = Some(serde_json::from_value(status).unwrap());
    let (result, calls, _) = run(again, World::default(), vec![]).await;
    assert!(matches!(result, Err(Error::InvalidSpec(_))));
    assert!(calls.is_empty());
}

#[tokio::test]
async fn deletion_is_left_to_garbage_collection() {
    let mut qs = with_uid(minimal());
    qs.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        Timestamp::from_second(1_800_000_000).unwrap(),
    ));
    let (result, calls, _) = run(qs, World::default(), vec![]).await;
    assert_eq!(result.unwrap(), Action::await_change());
    assert!(calls.is_empty(), "no finalizer, no explicit deletes");
}

#[tokio::test]
async fn missing_strimzi_crd_degrades_and_backs_off() {
    let qs = with_uid(minimal());
    let world = World {
        fail: HashMap::from([(format!("/apis/kafka.strimzi.io/v1{NS}/kafkatopics/demo-events"), 404)]),
        ..World::default()
    };
    let mut expected = applies(true)[..7].to_vec();
    expected.extend([status_patch(), event()]);
    let (result, calls, ctx) = run(qs.clone(), world, expected).await;
    let err = result.unwrap_err();
    assert!(matches!(err, Error::StrimziMissing));
    let status = &calls[7].body["status"];
    assert_eq!(condition(status, "Degraded")["reason"], "KafkaTopicCrdMissing");
    assert_eq!(calls[8].body["reason"], "KafkaTopicCrdMissing");
    let qs = Arc::new(qs);
    assert_eq!(
        error_policy(qs.clone(), &err, ctx.clone()),
        Action::requeue(Duration::from_secs(5))
    );
    assert_eq!(
        error_policy(qs.clone(), &err, ctx.clone()),
        Action::requeue(Duration::from_secs(10))
    );
    assert_eq!(error_policy(qs, &err, ctx), Action::requeue(Duration::from_secs(20)));
}

#[tokio::test]
async fn transient_api_error_requeues_with_backoff_and_keeps_status() {
    let qs = with_uid(minimal());
    let path = format!("/apis/apps/v1{NS}/deployments/demo-consumer");
    let world = World {
        fail: HashMap::from([(path, 500)]),
        ..World::default()
    };
    let expected = applies(true)[..10].to_vec();
    let (result, _, ctx) = run(qs.clone(), world, expected).await;
    let err = result.unwrap_err();
    assert!(
        matches!(&err, Error::Apply { kind: "Deployment", name, .. } if name == "demo-consumer"),
        "{err}"
    );
    assert!(!err.is_permanent());
    assert_eq!(
        error_policy(Arc::new(qs), &err, ctx.clone()),
        Action::requeue(Duration::from_secs(5))
    );
    let metrics = ctx.metrics.render();
    assert!(
        metrics.contains("reconcile_failures_total{error=\"apply\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("reconcile_duration_seconds_count{outcome=\"error\"} 1"),
        "{metrics}"
    );
}

#[test]
fn backoff_is_capped_and_per_object() {
    let (svc, _handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let ctx = context(Client::new(svc, "default"));
    let delays: Vec<u64> = (0..10).map(|_| ctx.backoff("ns/a").as_secs()).collect();
    assert_eq!(delays, [5, 10, 20, 40, 80, 160, 300, 300, 300, 300]);
    assert_eq!(ctx.backoff("ns/b").as_secs(), 5);
    ctx.reset_backoff("ns/a");
    assert_eq!(ctx.backoff("ns/a").as_secs(), 5);
}
