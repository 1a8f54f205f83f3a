//! The shipped examples render (no cluster) into what their comments promise.

use std::path::Path;

use serde_json::Value;

fn render(example: &str) -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples").join(example);
    let text = std::fs::read_to_string(&path).unwrap();
    let out = quakestream_operator::render::render(&text, "quakestream").unwrap();
    serde_saphyr::from_multiple(&out).unwrap()
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("{kind}/{name} not rendered"))
}

#[test]
fn kind_example_uses_dynoxide_one_broker_and_cloud_provider_kind() {
    let docs = render("quakestream.yaml");
    let cm = find(&docs, "ConfigMap", "quakestream-consumer");
    assert_eq!(cm["data"]["QS_DYNAMODB_ENDPOINT"], "http://dynoxide:8000");
    assert_eq!(cm["data"]["AWS_REGION"], "us-east-1");
    assert_eq!(
        cm["data"]["KAFKA_BOOTSTRAP_SERVERS"],
        "quakestream-kafka-bootstrap:9092"
    );
    for t in ["quakestream-events", "quakestream-dlq"] {
        let topic = find(&docs, "KafkaTopic", t);
        assert_eq!(topic["spec"]["replicas"], 1);
        assert_eq!(topic["metadata"]["labels"]["strimzi.io/cluster"], "quakestream");
    }
    let ing = find(&docs, "Ingress", "quakestream-frontend");
    assert_eq!(ing["spec"]["ingressClassName"], "cloud-provider-kind");
}

#[test]
fn eks_example_uses_irsa_alb_and_no_endpoint() {
    let docs = render("quakestream-eks.yaml");
    for (sa, role) in [
        ("quakestream-consumer", true),
        ("quakestream-frontend", true),
        ("quakestream-producer", false),
    ] {
        let arn = &find(&docs, "ServiceAccount", sa)["metadata"]["annotations"]["eks.amazonaws.com/role-arn"];
        assert_eq!(
            arn.as_str()
                .is_some_and(|a| a.starts_with("arn:aws:iam::123456789012:role/")),
            role,
            "{sa}"
        );
    }
    for cm in ["quakestream-consumer", "quakestream-frontend"] {
        let data = &find(&docs, "ConfigMap", cm)["data"];
        assert!(data.get("QS_DYNAMODB_ENDPOINT").is_none());
        assert!(data.get("AWS_ACCESS_KEY_ID").is_none(), "credentials only from IRSA");
    }
    let ing = find(&docs, "Ingress", "quakestream-frontend");
    assert_eq!(ing["spec"]["ingressClassName"], "alb");
    let ann = &ing["metadata"]["annotations"];
    assert!(
        ann["alb.ingress.kubernetes.io/wafv2-acl-arn"]
            .as_str()
            .unwrap()
            .starts_with("arn:aws:wafv2:")
    );
    assert!(
        ann["alb.ingress.kubernetes.io/certificate-arn"]
            .as_str()
            .unwrap()
            .starts_with("arn:aws:acm:")
    );
    let hpa = find(&docs, "HorizontalPodAutoscaler", "quakestream-frontend");
    assert_eq!(hpa["spec"]["maxReplicas"], 20);
}
