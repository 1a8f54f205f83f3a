use super::*;
use crate::fixtures::minimal;
use kube::CustomResourceExt;
use kube::core::cel::{ScopeContext, Validator, WarningKind, analyze_rule, compile_schema};
use serde_json::{Value, json};

fn crd() -> Value {
    serde_json::to_value(QuakeStream::crd()).unwrap()
}

fn schema() -> Value {
    crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
}

fn spec_schema() -> Value {
    schema()["properties"]["spec"].clone()
}

/// A minimal object as the API server would hold it, with `patch` merged into its spec.
fn object(patch: Value) -> Value {
    let mut v = json!({
        "apiVersion": "quakestream.io/v1alpha1",
        "kind": "QuakeStream",
        "metadata": {"name": "demo", "namespace": "quakes"},
        "spec": {"kafka": {"clusterName": "events"}, "storage": {"region": "eu-west-1"}}
    });
    merge(&mut v["spec"], patch);
    v
}

fn merge(into: &mut Value, patch: Value) {
    match (into, patch) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (slot, v) => *slot = v,
    }
}

/// The CEL verdict of the API server on a create (`old` = None) or an update.
fn cel(new: &Value, old: Option<&Value>) -> Result<(), String> {
    Validator::new()
        .validate(&schema(), new, old)
        .map_err(|e| e.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))
}

#[test]
fn defaults_fill_a_minimal_spec() {
    let qs = minimal();
    assert_eq!(
        qs.spec.kafka.topic,
        TopicSpec::default(),
        "topic fields default in resolve, not here"
    );
    assert_eq!(qs.spec.consumer.replicas, contract::consumer::DEFAULT_REPLICAS);
    assert_eq!(qs.spec.frontend.autoscaling.min_replicas, 2);
    assert_eq!(qs.spec.frontend.autoscaling.max_replicas, 10);
    assert_eq!(qs.spec.source.backfill_limit, 500);
    assert_eq!(qs.spec.source.backfill_max_age, "24h");
    assert_eq!(qs.spec.kafka.topic_retention_policy, TopicRetentionPolicy::Retain);
    assert!(qs.spec.network_policy.enabled);
    assert!(qs.spec.analytics.enabled, "the analytics is on by default");
    assert_eq!(qs.spec.analytics.replicas, contract::analytics::DEFAULT_REPLICAS);
    assert_eq!(qs.spec.analytics.grace, "48h");
    assert!(qs.spec.storage.table.is_none() && qs.spec.consumer.group_id.is_none());
}

#[test]
fn crd_has_names_columns_and_required_fields() {
    let crd = crd();
    assert_eq!(crd["metadata"]["name"], "quakestreams.quakestream.io");
    assert_eq!(crd["spec"]["names"]["shortNames"], json!(["qs"]));
    assert_eq!(crd["spec"]["scope"], "Namespaced");
    let v = &crd["spec"]["versions"][0];
    assert_eq!(v["name"], "v1alpha1");
    assert_eq!(v["subresources"]["status"], json!({}));
    let cols: Vec<(&str, &str)> = v["additionalPrinterColumns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["jsonPath"].as_str().unwrap()))
        .collect();
    assert_eq!(
        cols,
        [
            ("Ready", ".status.conditions[?(@.type==\"Ready\")].status"),
            ("Reason", ".status.conditions[?(@.type==\"Ready\")].reason"),
            ("Producer", ".status.producer.readiness"),
            ("Consumer", ".status.consumer.readiness"),
            ("Frontend", ".status.frontend.readiness"),
            ("Analytics", ".status.analytics.readiness"),
            ("Topics", ".status.topicReadiness"),
            ("URL", ".status.url"),
            ("Age", ".metadata.creationTimestamp"),
        ]
    );
    let required: Vec<_> = spec_schema()["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(required, ["kafka", "storage"]);
}

/// Every column reads a field the status type really has.
#[test]
fn printer_columns_read_status_fields_that_exist() {
    let status = crate::status::tests::ready_status();
    let v = serde_json::to_value(&status).unwrap();
    for field in ["readiness"] {
        for c in ["producer", "consumer", "frontend", "analytics"] {
            assert!(v[c][field].is_string(), "{c}.{field} in {v}");
        }
    }
    assert!(v["topicReadiness"].is_string());
    assert!(v["url"].is_string());
}

#[test]
fn bounds_come_from_the_contract() {
    let s = spec_schema();
    // The schema writes bounds as numbers (`1.0`); compare them as such.
    let bound = |v: &Value| v.as_f64().unwrap();
    let limit = &s["properties"]["source"]["properties"]["backfillLimit"];
    assert_eq!(bound(&limit["minimum"]), contract::producer::BACKFILL_LIMIT.min as f64);
    assert_eq!(bound(&limit["maximum"]), contract::producer::BACKFILL_LIMIT.max as f64);
    assert_eq!(limit["default"], json!(contract::producer::DEFAULT_BACKFILL_LIMIT));
    let replicas = &s["properties"]["consumer"]["properties"]["replicas"];
    assert_eq!(bound(&replicas["minimum"]), contract::consumer::REPLICAS.min as f64);
    assert_eq!(bound(&replicas["maximum"]), contract::consumer::REPLICAS.max as f64);
    let rate = &s["properties"]["frontend"]["properties"]["rateLimit"];
    assert_eq!(bound(&rate["maximum"]), contract::frontend::RATE_LIMIT.max as f64);
    let a = &s["properties"]["analytics"]["properties"];
    assert_eq!(
        bound(&a["replicas"]["minimum"]),
        contract::analytics::REPLICAS.min as f64
    );
    assert_eq!(
        bound(&a["replicas"]["maximum"]),
        contract::analytics::REPLICAS.max as f64
    );
    assert_eq!(a["replicas"]["default"], json!(contract::analytics::DEFAULT_REPLICAS));
    assert_eq!(a["grace"]["default"], contract::analytics::DEFAULT_GRACE);
    assert_eq!(a["retention"]["default"], contract::analytics::DEFAULT_RETENTION);
    assert_eq!(
        a["commitInterval"]["default"],
        contract::analytics::DEFAULT_COMMIT_INTERVAL
    );
    assert_eq!(a["enabled"]["default"], json!(true));
    assert_eq!(a["appId"]["maxLength"], json!(MAX_APP_ID_LEN));
    for path in [
        &s["properties"]["source"]["properties"]["backfillMaxAge"],
        &s["properties"]["frontend"]["properties"]["window"],
        &s["properties"]["storage"]["properties"]["retention"],
        &a["grace"],
        &a["retention"],
        &a["commitInterval"],
    ] {
        assert_eq!(path["pattern"], duration::PATTERN);
        assert_eq!(path["maxLength"], json!(duration::MAX_LEN));
    }
    assert_eq!(
        s["properties"]["source"]["properties"]["websocketUrl"]["default"],
        contract::producer::DEFAULT_EMSC_URL
    );
}

#[test]
fn quantities_annotation_keys_and_dns_names_are_checked_by_the_schema() {
    let s = spec_schema();
    let frontend = &s["properties"]["frontend"]["properties"];
    let requests = &frontend["resources"]["properties"]["requests"];
    assert_eq!(requests["additionalProperties"]["pattern"], QUANTITY_PATTERN);
    assert_eq!(requests["additionalProperties"]["x-kubernetes-int-or-string"], true);
    assert_eq!(requests["maxProperties"], json!(MAX_RESOURCE_NAMES));
    let ingress = &frontend["ingress"]["properties"];
    assert_eq!(ingress["className"]["pattern"], DNS_SUBDOMAIN_PATTERN);
    assert_eq!(
        ingress["tls"]["properties"]["secretName"]["pattern"],
        DNS_SUBDOMAIN_PATTERN
    );
    assert_eq!(ingress["annotations"]["maxProperties"], json!(MAX_ANNOTATIONS));
    let rule = ingress["annotations"]["x-kubernetes-validations"][0]["rule"]
        .as_str()
        .unwrap();
    assert!(rule.contains(ANNOTATION_KEY_PATTERN), "{rule}");
    let sa = &frontend["serviceAccount"]["properties"]["annotations"];
    assert_eq!(sa["x-kubernetes-validations"][0]["rule"], rule);
}

/// Every CEL rule compiles, uses only what a CRD rule may use, and stays within the cost the
/// estimator can see (kube-cel's coarse estimate; the API server's own runs in the kind e2e).
#[test]
fn every_rule_compiles_and_is_bounded() {
    let schema = schema();
    let compiled = compile_schema(&schema);
    assert!(!compiled.has_errors(), "{:?}", compiled.compilation_errors());
    let mut rules = Vec::new();
    collect_rules(&schema, &mut rules);
    assert!(rules.len() >= 9, "{rules:?}");
    for rule in &rules {
        // The scope check does not know comprehension variables (`k` of `self.all(k, ...)`).
        let mut bound = Vec::new();
        for m in ["all", "exists", "exists_one", "map", "filter"] {
            let call = format!(".{m}(");
            for (i, _) in rule.match_indices(&call) {
                let var = rule[i + call.len()..].split(',').next().unwrap_or_default().trim();
                bound.push(format!("variable '{var}'"));
            }
        }
        let warnings = analyze_rule(rule, &compiled, ScopeContext::CrdValidation);
        let serious: Vec<_> = warnings
            .iter()
            .filter(|w| match w.kind {
                WarningKind::WrongScope => !bound.iter().any(|b| w.message.starts_with(b.as_str())),
                WarningKind::CostExceeded => true,
                _ => false,
            })
            .collect();
        assert!(serious.is_empty(), "{rule}: {serious:?}");
    }
}

fn collect_rules(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "x-kubernetes-validations" {
                    out.extend(
                        x.as_array()
                            .unwrap()
                            .iter()
                            .map(|r| r["rule"].as_str().unwrap().to_owned()),
                    );
                } else {
                    collect_rules(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_rules(x, out)),
        _ => {}
    }
}

#[test]
fn creation_rules() {
    assert_eq!(cel(&object(json!({})), None), Ok(()));
    let e = cel(
        &object(json!({"frontend": {"autoscaling": {"minReplicas": 5, "maxReplicas": 3}}})),
        None,
    )
    .unwrap_err();
    assert!(
        e.contains("minReplicas must be less than or equal to maxReplicas"),
        "{e}"
    );
    let e = cel(
        &object(json!({"frontend": {"ingress": {"tls": {"secretName": "s"}}}})),
        None,
    )
    .unwrap_err();
    assert!(e.contains("tls.secretName needs a host"), "{e}");
    let mut long = object(json!({}));
    long["metadata"]["name"] = json!("x".repeat(51));
    assert!(cel(&long, None).unwrap_err().contains("at most 50 characters"));
}

#[test]
fn annotation_keys_are_refused_at_apply_time() {
    let ok = object(json!({"frontend": {"ingress": {"annotations": {
        "alb.ingress.kubernetes.io/scheme": "internet-facing", "team": "seismo", "example.com/Name_1": "x"}}}}));
    assert_eq!(cel(&ok, None), Ok(()));
    for bad in ["bad key", "a/b/c", "/x", "x/", "Upper.Prefix/x", "-x"] {
        let o = object(json!({"consumer": {"serviceAccount": {"annotations": {bad: "v"}}}}));
        let e = cel(&o, None).unwrap_err();
        assert!(e.contains("annotation keys must be"), "{bad}: {e}");
    }
}

#[test]
fn topic_renames_and_shrinks_are_refused_by_transition_rules() {
    let before = object(json!({"kafka": {"topic": {"name": "quakes", "partitions": 6, "replicas": 3}}}));
    let update = |patch: Value| {
        let mut after = before.clone();
        merge(&mut after["spec"], patch);
        cel(&after, Some(&before))
    };
    assert_eq!(
        update(json!({"kafka": {"topic": {"partitions": 12}}})),
        Ok(()),
        "partitions may grow"
    );
    assert_eq!(
        update(json!({"kafka": {"topic": {"replicas": 1}}})),
        Ok(()),
        "a replication-factor change is Strimzi's to accept or refuse"
    );
    let e = update(json!({"kafka": {"topic": {"name": "quakes-v2"}}})).unwrap_err();
    assert!(e.contains("Strimzi does not rename topics"), "{e}");
    let e = update(json!({"kafka": {"topic": {"partitions": 3}}})).unwrap_err();
    assert!(e.contains("never shrink"), "{e}");
    let mut unset = before.clone();
    unset["spec"]["kafka"]["topic"].as_object_mut().unwrap().remove("name");
    assert!(
        cel(&unset, Some(&before))
            .unwrap_err()
            .contains("Strimzi does not rename topics")
    );
    // Removing the whole block is an unset too (the API server defaults `topic` to `{}`).
    let mut removed = before.clone();
    removed["spec"]["kafka"].as_object_mut().unwrap().remove("topic");
    assert!(
        cel(&removed, Some(&before))
            .unwrap_err()
            .contains("Strimzi does not rename topics")
    );
    // The same rules guard the dead-letter topic.
    let before = object(json!({"kafka": {"dlqTopic": {"partitions": 2}}}));
    let mut after = before.clone();
    after["spec"]["kafka"]["dlqTopic"]["partitions"] = json!(1);
    assert!(cel(&after, Some(&before)).unwrap_err().contains("never shrink"));
    // Creating with any name is fine; the rules only look at changes.
    assert_eq!(
        cel(
            &object(json!({"kafka": {"topic": {"name": "x", "partitions": 1}}})),
            None
        ),
        Ok(())
    );
}

/// The analytics' app id and statistics topic name topics, so they cannot change once set.
#[test]
fn analytics_names_are_refused_to_change_by_transition_rules() {
    let before = object(json!({"analytics": {"appId": "a1", "statsTopic": "s1", "grace": "48h"}}));
    let update = |patch: Value| {
        let mut after = before.clone();
        merge(&mut after["spec"], patch);
        cel(&after, Some(&before))
    };
    assert_eq!(update(json!({"analytics": {"grace": "6h", "replicas": 3}})), Ok(()));
    let e = update(json!({"analytics": {"appId": "a2"}})).unwrap_err();
    assert!(e.contains("appId cannot change"), "{e}");
    let e = update(json!({"analytics": {"statsTopic": "s2"}})).unwrap_err();
    assert!(e.contains("statsTopic cannot change"), "{e}");
    let mut unset = before.clone();
    unset["spec"]["analytics"].as_object_mut().unwrap().remove("appId");
    assert!(cel(&unset, Some(&before)).unwrap_err().contains("appId cannot change"));
    assert_eq!(cel(&object(json!({"analytics": {"enabled": false}})), None), Ok(()));
}

#[test]
fn partial_topic_keeps_the_other_fields_unset() {
    let mut v = serde_json::to_value(minimal()).unwrap();
    v["spec"]["kafka"]["dlqTopic"] = json!({"replicas": 1});
    let qs: QuakeStream = serde_json::from_value(v).unwrap();
    assert_eq!(qs.spec.kafka.dlq_topic.replicas, Some(1));
    assert_eq!(
        qs.spec.kafka.dlq_topic.partitions, None,
        "resolve fills the DLQ's own default"
    );
    assert!(
        spec_schema()["properties"]["kafka"]["properties"]["dlqTopic"]["properties"]["partitions"]
            .get("default")
            .is_none()
    );
}

/// Objects written under the previous CRD (with its server-side defaults) still read.
#[test]
fn objects_of_the_previous_version_still_read() {
    let old = json!({
        "apiVersion": "quakestream.io/v1alpha1", "kind": "QuakeStream",
        "metadata": {"name": "demo", "namespace": "quakes", "uid": "u", "generation": 3},
        "spec": {
            "kafka": {"clusterName": "events", "topic": {"partitions": 6, "replicas": 3, "retentionMs": 604800000},
                      "dlqTopic": {"partitions": 1, "replicas": 3}},
            "storage": {"table": "quakes", "region": "eu-west-1"},
            "consumer": {"replicas": 2, "groupId": "quakestream-consumer",
                         "resources": {"requests": {"cpu": 1, "memory": "128Mi"}}}
        },
        "status": {"observedGeneration": 3, "producer": {"desiredReplicas": 1, "readyReplicas": 1, "ready": true},
                   "topics": [{"name": "demo-events", "topicName": "quakes", "ready": "True"}]}
    });
    let qs: QuakeStream = serde_json::from_value(old).unwrap();
    assert_eq!(qs.spec.storage.table.as_deref(), Some("quakes"));
    let cpu = &qs
        .spec
        .consumer
        .workload
        .resources
        .as_ref()
        .unwrap()
        .requests
        .as_ref()
        .unwrap()["cpu"];
    assert_eq!(cpu.0, "1", "an integer quantity reads as its string");
    assert_eq!(
        qs.status.unwrap().producer.unwrap().readiness,
        "",
        "new status fields default"
    );
}
