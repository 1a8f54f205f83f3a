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

fn frontend_pod(docs: &[Value]) -> &Value {
    &find(docs, "Deployment", "quakestream-frontend")["spec"]["template"]["spec"]
}

#[test]
fn kind_example_uses_dynoxide_one_broker_and_cloud_provider_kind() {
    let docs = render("quakestream.yaml");
    let cm = find(&docs, "ConfigMap", "quakestream-consumer");
    assert_eq!(cm["data"]["QS_DYNAMODB_ENDPOINT"], "http://dynoxide:8000");
    assert_eq!(cm["data"]["AWS_REGION"], "us-east-1");
    // deploy/kind/kafka.yaml's only listener: TLS with client certificates.
    assert_eq!(
        cm["data"]["KAFKA_BOOTSTRAP_SERVERS"],
        "quakestream-kafka-bootstrap:9093"
    );
    assert_eq!(cm["data"]["QS_KAFKA_SECURITY_PROTOCOL"], "ssl");
    let user = find(&docs, "KafkaUser", "quakestream-consumer");
    assert_eq!(user["spec"]["authentication"]["type"], "tls");
    assert_eq!(user["metadata"]["labels"]["strimzi.io/cluster"], "quakestream");
    // Called `quakestream`, it keeps the historical names (the table deploy/kind creates).
    assert_eq!(cm["data"]["QS_TABLE"], "quakes");
    assert_eq!(cm["data"]["QS_GROUP_ID"], "quakestream-consumer");
    assert!(
        cm["data"].get("AWS_ACCESS_KEY_ID").is_none(),
        "no credentials in a ConfigMap"
    );
    for (t, name) in [("quakestream-events", "quakes"), ("quakestream-dlq", "quakes.dlq")] {
        let topic = find(&docs, "KafkaTopic", t);
        assert_eq!(topic["spec"]["replicas"], 1);
        assert_eq!(topic["spec"]["topicName"], name);
        assert_eq!(topic["metadata"]["labels"]["strimzi.io/cluster"], "quakestream");
    }
    let ing = find(&docs, "Ingress", "quakestream-frontend");
    assert_eq!(ing["spec"]["ingressClassName"], "cloud-provider-kind");
    assert!(
        ing["metadata"].get("annotations").is_none(),
        "no ALB annotations on kind"
    );
    let pod = frontend_pod(&docs);
    assert_eq!(pod["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"], 5);
    assert_eq!(pod["terminationGracePeriodSeconds"], 30);
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
    assert_eq!(ann["alb.ingress.kubernetes.io/target-type"], "ip");
    assert_eq!(
        ann["alb.ingress.kubernetes.io/target-group-attributes"],
        "deregistration_delay.timeout_seconds=30"
    );
    // The pre-stop delay outlasts the ALB's deregistration delay; the grace period both.
    let pod = frontend_pod(&docs);
    let sleep = pod["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"]
        .as_i64()
        .unwrap();
    assert!(sleep > 30, "{sleep}");
    assert!(pod["terminationGracePeriodSeconds"].as_i64().unwrap() > sleep + 10);
    let hpa = find(&docs, "HorizontalPodAutoscaler", "quakestream-frontend");
    assert_eq!(hpa["spec"]["maxReplicas"], 20);
}
