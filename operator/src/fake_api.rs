//! A scripted stand-in for the Kubernetes API server, for scenario tests (after kube-rs's
//! controller-rs): the client talks to it through `tower-test`, and it answers every request as
//! a real API server would — server-side apply returns the object with server-set metadata and
//! a status, lists are `*List` objects, and failures are `Status` bodies with `kind`,
//! `apiVersion`, `status`, `message`, `reason`, `details` and `code` — while asserting that the
//! requests come in exactly the expected order.
//!
//! No sleeps: each request is answered as it arrives; a missing or extra request fails the test
//! (the client under test would otherwise wait for an answer forever, so callers bound it with a
//! generous timeout).

use std::collections::HashMap;

use http::{Method, Request, Response, StatusCode};
use kube::client::Body;
use serde_json::{Value, json};

/// The client side of the fake.
pub type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

/// A new client and the handle that answers it.
pub fn pair() -> (kube::Client, Handle) {
    let (svc, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    (kube::Client::new(svc, "default"), handle)
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Call {
    /// HTTP method.
    pub method: Method,
    /// Path.
    pub path: String,
    /// Query string.
    pub query: String,
    /// JSON body (`null` when empty).
    pub body: Value,
}

/// A refusal the fake answers a path with.
#[derive(Clone, Debug)]
pub struct Refuse {
    /// HTTP code.
    pub code: u16,
    /// Status reason.
    pub reason: &'static str,
    /// Status message.
    pub message: String,
}

impl Refuse {
    /// How a real API server answers each refusal, for an object `kind`/`name` of `group`
    /// (resource `plural`): the message formats are the API server's own.
    pub fn like_api_server(code: u16, group: &str, kind: &str, plural: &str, name: &str) -> Self {
        let gk = if group.is_empty() {
            kind.to_owned()
        } else {
            format!("{kind}.{group}")
        };
        let gr = if group.is_empty() {
            plural.to_owned()
        } else {
            format!("{plural}.{group}")
        };
        let (reason, message) = match code {
            400 => (
                "BadRequest",
                format!(
                    "admission webhook \"vingress.elbv2.k8s.aws\" denied the request: invalid ingress class: {gk} {name}"
                ),
            ),
            403 => (
                "Forbidden",
                format!(
                    "{gr} \"{name}\" is forbidden: User \"system:serviceaccount:quakestream-system:quakestream-operator\" cannot patch resource \"{plural}\" in API group \"{group}\" in the namespace \"quakes\""
                ),
            ),
            409 => (
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {gr} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
                ),
            ),
            422 => (
                "Invalid",
                format!(
                    "{gk} \"{name}\" is invalid: spec.template.spec.containers[0].resources.requests[cpu]: Invalid value: \"1 core\": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
                ),
            ),
            500 => (
                "InternalError",
                "Internal error occurred: etcdserver: request timed out".to_owned(),
            ),
            404 => (
                "NotFound",
                format!("the server could not find the requested resource ({gr} {name})"),
            ),
            _ => ("Unknown", "unexpected".to_owned()),
        };
        Self { code, reason, message }
    }

    fn body(&self, call: &Call) -> Value {
        let name = call.path.rsplit('/').next().unwrap_or_default();
        json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "details": {"name": name, "kind": call.path.rsplit('/').nth(1).unwrap_or_default()},
            "code": self.code,
        })
    }
}

/// How the fake behaves.
#[derive(Clone, Default)]
pub struct World {
    /// Deployments report all replicas ready, KafkaTopics Ready=True.
    pub ready: bool,
    /// The address an ingress controller gives Ingresses.
    pub ingress_address: Option<String>,
    /// The KafkaTopics' `Ready` condition instead of the default one.
    pub topic_condition: Option<Value>,
    /// Requests (`METHOD path`) answered with a refusal.
    pub refuse: HashMap<String, Refuse>,
    /// Items of LIST requests by path.
    pub lists: HashMap<String, Vec<Value>>,
    /// Objects GET requests by path find.
    pub objects: HashMap<String, Value>,
    /// The object status patches apply to.
    pub quakestream: Value,
    /// A CRD just applied is not `Established` yet (a later GET finds what `objects` holds).
    pub crd_pending: bool,
}

impl World {
    /// Refuse `method path` like the API server would.
    pub fn refusing(mut self, method: &Method, path: &str, refuse: Refuse) -> Self {
        self.refuse.insert(format!("{method} {path}"), refuse);
        self
    }
}

fn kind_of_list(path: &str) -> (&'static str, &'static str) {
    if path.ends_with("/ingresses") {
        ("IngressList", "networking.k8s.io/v1")
    } else if path.ends_with("/networkpolicies") {
        ("NetworkPolicyList", "networking.k8s.io/v1")
    } else if path.ends_with("/deployments") {
        ("DeploymentList", "apps/v1")
    } else if path.ends_with("/configmaps") {
        ("ConfigMapList", "v1")
    } else if path.ends_with("/serviceaccounts") {
        ("ServiceAccountList", "v1")
    } else {
        ("List", "v1")
    }
}

/// Answer one request like an API server would.
pub fn answer(world: &World, call: &Call) -> (u16, Value) {
    if let Some(r) = world.refuse.get(&format!("{} {}", call.method, call.path)) {
        return (r.code, r.body(call));
    }
    match call.method {
        Method::GET if world.lists.contains_key(&call.path) || call.query.contains("labelSelector") => {
            let (kind, api_version) = kind_of_list(&call.path);
            let items = world.lists.get(&call.path).cloned().unwrap_or_default();
            (
                200,
                json!({"kind": kind, "apiVersion": api_version, "metadata": {"resourceVersion": "100"}, "items": items}),
            )
        }
        Method::GET => match world.objects.get(&call.path) {
            Some(o) => (200, o.clone()),
            None => (404, Refuse::like_api_server(404, "", "", "", "").body(call)),
        },
        Method::DELETE => (
            200,
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                   "details": {"name": call.path.rsplit('/').next()}}),
        ),
        Method::POST => (201, call.body.clone()),
        Method::PATCH if call.path.ends_with("/status") => {
            let mut obj = world.quakestream.clone();
            obj["status"] = call.body["status"].clone();
            (200, obj)
        }
        Method::PATCH => (200, applied(world, call)),
        _ => panic!("unexpected method {}", call.method),
    }
}

/// The object a server-side apply stores: the body, server-set metadata, and a status.
fn applied(world: &World, call: &Call) -> Value {
    let mut obj = call.body.clone();
    let name = obj["metadata"]["name"].as_str().unwrap_or_default().to_owned();
    obj["metadata"]["generation"] = json!(1);
    obj["metadata"]["uid"] = json!(format!("uid-{name}"));
    obj["metadata"]["resourceVersion"] = json!("101");
    match obj["kind"].as_str() {
        Some("Deployment") => {
            let replicas = obj["spec"]["replicas"].as_i64().unwrap_or(2);
            let n = if world.ready { replicas } else { 0 };
            obj["status"] = json!({"observedGeneration": 1, "replicas": n, "readyReplicas": n, "updatedReplicas": n});
        }
        Some("KafkaTopic") => {
            let cond = world
                .topic_condition
                .clone()
                .or_else(|| world.ready.then(|| json!({"type": "Ready", "status": "True"})));
            if let Some(c) = cond {
                obj["status"] = json!({"observedGeneration": 1, "conditions": [c]});
            }
        }
        Some("Ingress") => {
            if let Some(a) = &world.ingress_address {
                obj["status"] = json!({"loadBalancer": {"ingress": [{"ip": a}]}});
            }
        }
        Some("CustomResourceDefinition") => {
            let established = if world.crd_pending { "False" } else { "True" };
            obj["status"] = json!({"conditions": [{"type": "Established", "status": established}]});
        }
        _ => {}
    }
    obj
}

/// Serve exactly `expected` requests (method and path, in order), then return what was received.
pub async fn serve(mut handle: Handle, world: World, expected: Vec<(Method, String)>) -> Vec<Call> {
    let mut calls = Vec::new();
    for (i, (method, path)) in expected.into_iter().enumerate() {
        // Bounded: a call the operator never makes fails the test instead of hanging it.
        let (req, send) = tokio::time::timeout(std::time::Duration::from_secs(10), handle.next_request())
            .await
            .ok()
            .flatten()
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
        assert_eq!(
            (&call.method, call.path.as_str()),
            (&method, path.as_str()),
            "call {i}: {}",
            call.query
        );
        let (code, body) = answer(&world, &call);
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
