use super::*;
use crate::fake_api::{self, Refuse, World};
use http::Method;
use serde_json::json;

const PATH: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/quakestreams.quakestream.io";

#[test]
fn versions_compare_numerically() {
    assert!(is_newer("0.10.0", "0.9.9"));
    assert!(is_newer("1.0.0", "0.99.0"));
    assert!(!is_newer("0.1.0", "0.1.0"));
    assert!(!is_newer("0.1.0", "0.2.0"));
    assert!(
        !is_newer("garbage", "0.1.0"),
        "an unreadable annotation never blocks an upgrade"
    );
    assert!(!is_newer("0.2.0-rc.1", "0.2.0"));
}

#[test]
fn the_crd_names_its_version() {
    let c = crd();
    assert_eq!(c.annotations()[VERSION_ANNOTATION], env!("CARGO_PKG_VERSION"));
    assert!(crate::crd_yaml().unwrap().contains(VERSION_ANNOTATION));
}

async fn run(world: World, expected: Vec<(Method, String)>) -> (Result<CrdOutcome, kube::Error>, Vec<fake_api::Call>) {
    let (client, handle) = fake_api::pair();
    let server = tokio::spawn(fake_api::serve(handle, world, expected));
    let outcome = tokio::time::timeout(Duration::from_secs(10), ensure_crd(&client, Duration::ZERO))
        .await
        .expect("ensure_crd finished (an unexpected extra call would block it)");
    (outcome, server.await.unwrap())
}

fn installed(version: &str, established: bool) -> serde_json::Value {
    json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "quakestreams.quakestream.io", "annotations": {VERSION_ANNOTATION: version}},
           "spec": {"group": "quakestream.io", "names": {"kind": "QuakeStream", "plural": "quakestreams"},
                    "scope": "Namespaced", "versions": []},
           "status": {"conditions": [{"type": "Established", "status": if established { "True" } else { "False" }}]}})
}

#[tokio::test]
async fn an_older_crd_is_upgraded_with_server_side_apply() {
    let mut world = World::default();
    world.objects.insert(PATH.into(), installed("0.0.1", true));
    let (outcome, calls) = run(world, vec![(Method::GET, PATH.into()), (Method::PATCH, PATH.into())]).await;
    assert_eq!(
        outcome.unwrap(),
        CrdOutcome::Applied {
            previous: Some("0.0.1".into())
        }
    );
    let patch = &calls[1];
    assert!(patch.query.contains("fieldManager=quakestream-operator") && patch.query.contains("force=true"));
    assert_eq!(
        patch.body["metadata"]["annotations"][VERSION_ANNOTATION],
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(patch.body["spec"]["names"]["shortNames"], json!(["qs"]));
}

#[tokio::test]
async fn a_missing_crd_is_created() {
    let (outcome, _) = run(
        World::default(),
        vec![(Method::GET, PATH.into()), (Method::PATCH, PATH.into())],
    )
    .await;
    assert_eq!(outcome.unwrap(), CrdOutcome::Applied { previous: None });
}

#[tokio::test]
async fn a_newer_crd_is_never_downgraded() {
    let mut world = World::default();
    world.objects.insert(PATH.into(), installed("999.0.0", true));
    let (outcome, calls) = run(world, vec![(Method::GET, PATH.into())]).await;
    assert_eq!(outcome.unwrap(), CrdOutcome::NewerInstalled("999.0.0".into()));
    assert_eq!(calls.len(), 1, "no PATCH");
}

#[tokio::test]
async fn without_permission_the_error_says_so() {
    let world = World::default().refusing(
        &Method::PATCH,
        PATH,
        Refuse::like_api_server(
            403,
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            "quakestreams.quakestream.io",
        ),
    );
    let (outcome, _) = run(world, vec![(Method::GET, PATH.into()), (Method::PATCH, PATH.into())]).await;
    let Err(kube::Error::Api(s)) = outcome else {
        panic!("a 403 is an error");
    };
    assert_eq!(s.code, 403);
    assert!(
        s.message
            .contains("cannot patch resource \"customresourcedefinitions\""),
        "{}",
        s.message
    );
}

#[tokio::test]
async fn waits_until_the_crd_is_established() {
    let mut world = World {
        crd_pending: true,
        ..World::default()
    };
    world.objects.insert(PATH.into(), installed("0.0.1", true));
    let expected = vec![
        (Method::GET, PATH.into()),
        (Method::PATCH, PATH.into()),
        (Method::GET, PATH.into()),
    ];
    let (outcome, calls) = run(world, expected).await;
    assert_eq!(
        outcome.unwrap(),
        CrdOutcome::Applied {
            previous: Some("0.0.1".into())
        }
    );
    assert_eq!(
        calls.len(),
        3,
        "one more look after an apply that was not established yet"
    );
}
