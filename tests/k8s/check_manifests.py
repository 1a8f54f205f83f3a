#!/usr/bin/env python3
"""Offline checks of the manifests the operator renders and the operator chart produces.

kubernetes-validate checks the built-in kinds against the real Kubernetes schemas; this script
checks what it cannot:
  - apiVersions: only versions served by Kubernetes 1.32 (kubernetes-validate merely warns about
    removed ones) and Strimzi's kafka.strimzi.io/v1;
  - KafkaTopics against Strimzi's published KafkaTopic field rules (spec fields and their types,
    partitions >= 1, 1 <= replicas <= 32767, config a map, the strimzi.io/cluster label);
  - the operator's contract: hardened pods with /healthz and /readyz probes and Prometheus scrape
    annotations, a config-hash annotation, no replicas on the frontend Deployment, owner-free
    render output in one namespace;
  - the chart's RBAC: no wildcards, events create+patch, a single hardened operator replica, and
    the CRD role limited to get+patch on the one QuakeStream CRD (resourceNames);
  - KafkaUsers against Strimzi's published KafkaUser v1 fields (authentication tls or
    scram-sha-512, simple authorisation, ACL rules with `operations` lists, resource types and
    pattern types, no wildcards, no cluster rule), one per Deployment named like it, and every
    Deployment mounting its user's secret and the cluster CA with the env naming those files;
  - NetworkPolicies: a default-deny, and per workload no rule that admits or reaches everyone
    (an empty `from`/`to`), the producer and consumer reachable from one namespace only;
  - the chart's RBAC against the rendered objects: exactly create+patch (server-side apply) on
    every kind the operator renders, plus list+delete on the kinds it prunes and list+watch on
    the kinds it watches, and no permission on a resource it never touches; Roles, not
    ClusterRoles, unless scope=cluster.

Usage: check_manifests.py rendered EXAMPLE.yaml RENDERED.yaml
       check_manifests.py chart CHART-OUTPUT.yaml [release-namespace|other-namespace|cluster]
       check_manifests.py rbac CHART-OUTPUT.yaml RENDERED.yaml...
Exits 1 with one line per problem.
"""

from __future__ import annotations

import re
import sys

import yaml

# Group versions served by Kubernetes 1.32 that these manifests may use.
SERVED = {
    "v1",
    "apps/v1",
    "autoscaling/v2",
    "policy/v1",
    "networking.k8s.io/v1",
    "rbac.authorization.k8s.io/v1",
    "apiextensions.k8s.io/v1",
}
STRIMZI = "kafka.strimzi.io/v1"
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
KAFKA_TOPIC_NAME = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")

errors: list[str] = []


def err(where: str, msg: str) -> None:
    errors.append(f"{where}: {msg}")


def load(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d]


def ident(d: dict) -> str:
    md = d.get("metadata") or {}
    return f"{d.get('kind')}/{md.get('name')}"


def check_api_version(where: str, d: dict) -> None:
    api = d.get("apiVersion")
    if d.get("kind") in ("KafkaTopic", "KafkaUser"):
        if api != STRIMZI:
            err(where, f"{d.get('kind')} apiVersion must be {STRIMZI} (Strimzi 1.0 dropped v1beta2), got {api}")
    elif api not in SERVED:
        err(where, f"apiVersion {api} is not one Kubernetes 1.32 serves for these kinds")


def is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def check_kafka_topic(where: str, d: dict, cluster: str | None) -> None:
    """Strimzi's KafkaTopic v1 rules (packaging/install/cluster-operator/04x-Crd-kafkatopic.yaml)."""
    md = d.get("metadata") or {}
    name = md.get("name") or ""
    if not DNS_SUBDOMAIN.match(name) or len(name) > 253:
        err(where, f"metadata.name {name!r} is not a DNS subdomain")
    label = (md.get("labels") or {}).get("strimzi.io/cluster")
    if not label:
        err(where, "label strimzi.io/cluster is required (the Topic Operator ignores the topic without it)")
    elif cluster is not None and label != cluster:
        err(where, f"label strimzi.io/cluster is {label!r}, the QuakeStream names {cluster!r}")
    spec = d.get("spec")
    if not isinstance(spec, dict):
        err(where, "spec must be an object")
        return
    unknown = set(spec) - {"partitions", "replicas", "config", "topicName"}
    if unknown:
        err(where, f"unknown spec fields {sorted(unknown)}")
    if "partitions" in spec and (not is_int(spec["partitions"]) or spec["partitions"] < 1):
        err(where, f"spec.partitions must be an integer >= 1, got {spec['partitions']!r}")
    if "replicas" in spec and (not is_int(spec["replicas"]) or not 1 <= spec["replicas"] <= 32767):
        err(where, f"spec.replicas must be an integer in 1..32767, got {spec['replicas']!r}")
    config = spec.get("config", {})
    if not isinstance(config, dict):
        err(where, "spec.config must be a map")
    else:
        for k, v in config.items():
            if not isinstance(k, str) or not isinstance(v, (str, int, float, bool, list)):
                err(where, f"spec.config[{k!r}] must be a string, number, boolean or list")
    topic = spec.get("topicName", name)
    if not isinstance(topic, str) or not KAFKA_TOPIC_NAME.match(topic) or topic in (".", ".."):
        err(where, f"topic name {topic!r} is not a legal Kafka topic name")
    if "status" in d:
        err(where, "status must not be rendered")


def pod_checks(where: str, pod: dict, probes: bool = True) -> None:
    spec = pod.get("spec") or {}
    psc = spec.get("securityContext") or {}
    if psc.get("runAsNonRoot") is not True:
        err(where, "pod securityContext.runAsNonRoot must be true")
    if (psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        err(where, "pod seccompProfile must be RuntimeDefault")
    for c in spec.get("containers") or []:
        cw = f"{where} container {c.get('name')}"
        sc = c.get("securityContext") or {}
        if sc.get("allowPrivilegeEscalation") is not False:
            err(cw, "allowPrivilegeEscalation must be false")
        if sc.get("readOnlyRootFilesystem") is not True:
            err(cw, "readOnlyRootFilesystem must be true")
        if sc.get("privileged") not in (None, False):
            err(cw, "must not be privileged")
        if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
            err(cw, "capabilities must drop ALL")
        if (sc.get("capabilities") or {}).get("add"):
            err(cw, "must not add capabilities")
        if probes:
            for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
                got = ((c.get(probe) or {}).get("httpGet") or {}).get("path")
                if got != path:
                    err(cw, f"{probe} must GET {path}, got {got!r}")
        if not (c.get("resources") or {}).get("requests"):
            err(cw, "resources.requests must be set")


KAFKA_USER_AUTH = {"tls", "scram-sha-512"}
ACL_RESOURCE_TYPES = {"topic", "group", "transactionalId", "cluster"}
ACL_OPERATIONS = {"Read", "Write", "Create", "Delete", "Alter", "Describe", "ClusterAction",
                  "AlterConfigs", "DescribeConfigs", "IdempotentWrite", "All"}


def check_kafka_user(where: str, d: dict, cluster: str | None) -> None:
    """Strimzi's KafkaUser v1 fields (the AclRule schema reference: `operations`, not v1beta2's
    `operation`), and the operator's own rules: no wildcard, no cluster-wide rule, allow only."""
    md = d.get("metadata") or {}
    if (md.get("labels") or {}).get("strimzi.io/cluster") != cluster:
        err(where, f"label strimzi.io/cluster must be {cluster!r} (the User Operator ignores the user without it)")
    spec = d.get("spec")
    if not isinstance(spec, dict):
        err(where, "spec must be an object")
        return
    unknown = set(spec) - {"authentication", "authorization", "quotas", "template"}
    if unknown:
        err(where, f"unknown spec fields {sorted(unknown)}")
    if (spec.get("authentication") or {}).get("type") not in KAFKA_USER_AUTH:
        err(where, f"spec.authentication.type must be one of {sorted(KAFKA_USER_AUTH)}")
    authz = spec.get("authorization") or {}
    if authz.get("type") != "simple":
        err(where, "spec.authorization.type must be simple")
    acls = authz.get("acls")
    if not isinstance(acls, list) or not acls:
        err(where, "spec.authorization.acls must be a non-empty list")
        return
    for i, a in enumerate(acls):
        w = f"{where}: acls[{i}]"
        if set(a) - {"resource", "operations", "type", "host"}:
            err(w, f"unknown fields {sorted(set(a) - {'resource', 'operations', 'type', 'host'})}")
        if a.get("type", "allow") != "allow":
            err(w, "only allow rules")
        r = a.get("resource") or {}
        if r.get("type") not in ACL_RESOURCE_TYPES:
            err(w, f"resource.type must be one of {sorted(ACL_RESOURCE_TYPES)}")
        if r.get("type") == "cluster":
            err(w, "no cluster-wide rule: no workload needs one")
        if r.get("patternType", "literal") not in ("literal", "prefix"):
            err(w, "resource.patternType must be literal or prefix")
        if not r.get("name") or "*" in r.get("name", ""):
            err(w, "resource.name must name one resource (no wildcard)")
        ops = a.get("operations")
        if not isinstance(ops, list) or not ops or not set(ops) <= ACL_OPERATIONS:
            err(w, f"operations must be a non-empty list of {sorted(ACL_OPERATIONS)}")
        elif "All" in ops:
            err(w, "operation All grants far more than a workload uses")


def check_kafka_mounts(where: str, dep: dict, users: dict, configmaps: dict, cluster: str | None) -> None:
    """A Deployment of an authenticated pipeline mounts its user's secret and the cluster CA at
    the paths its ConfigMap names."""
    name = dep["metadata"]["name"]
    if name not in users:
        err(where, f"no KafkaUser {name!r} for the Deployment")
        return
    pod = dep["spec"]["template"]["spec"]
    secrets = {v.get("secret", {}).get("secretName") for v in pod.get("volumes") or []}
    for want in (name, f"{cluster}-cluster-ca-cert"):
        if want not in secrets:
            err(where, f"no volume of secret {want!r}")
    mounts = {m["mountPath"] for m in pod["containers"][0].get("volumeMounts") or [] if m.get("readOnly")}
    env = configmaps.get(name) or {}
    auth = users[name]["spec"]["authentication"]["type"]
    files = ["QS_KAFKA_CA_FILE"] + (["QS_KAFKA_CERT_FILE", "QS_KAFKA_KEY_FILE"] if auth == "tls"
                                    else ["QS_KAFKA_SASL_PASSWORD_FILE"])
    for var in files:
        path = env.get(var)
        if not path or not any(path.startswith(m.rstrip("/") + "/") for m in mounts):
            err(where, f"{var}={path!r} is not inside a read-only secret mount {sorted(mounts)}")
    want_protocol = "ssl" if auth == "tls" else "sasl_ssl"
    if env.get("QS_KAFKA_SECURITY_PROTOCOL") != want_protocol:
        err(where, f"QS_KAFKA_SECURITY_PROTOCOL must be {want_protocol} for a {auth} user")


def check_network_policies(where: str, docs: list[dict]) -> None:
    nps = [d for d in docs if d.get("kind") == "NetworkPolicy"]
    if not nps:
        return
    if not any(not (d["spec"].get("ingress") or d["spec"].get("egress"))
               and set(d["spec"].get("policyTypes") or []) == {"Ingress", "Egress"} for d in nps):
        err(where, "no default-deny NetworkPolicy (Ingress and Egress, no rules)")
    for d in nps:
        w = f"{where}: {ident(d)}"
        for r in d["spec"].get("ingress") or []:
            if not r.get("from"):
                err(w, "an ingress rule without `from` admits every source")
        for r in d["spec"].get("egress") or []:
            if not r.get("to"):
                err(w, "an egress rule without `to` reaches every destination")
            if not r.get("ports"):
                err(w, "an egress rule without ports reaches every port")


def check_rendered(example_path: str, rendered_path: str) -> None:
    examples = [d for d in load(example_path) if d.get("kind") == "QuakeStream"]
    if len(examples) != 1:
        err(example_path, "expected exactly one QuakeStream")
        return
    qs = examples[0]
    name = qs["metadata"]["name"]
    cluster = ((qs.get("spec") or {}).get("kafka") or {}).get("clusterName")
    docs = load(rendered_path)
    kinds = [d.get("kind") for d in docs]
    for required in ("ServiceAccount", "ConfigMap", "KafkaTopic", "Deployment", "Service",
                     "HorizontalPodAutoscaler", "PodDisruptionBudget"):
        if required not in kinds:
            err(rendered_path, f"no {required} rendered")
    analytics = ((qs.get("spec") or {}).get("analytics") or {}).get("enabled", True)
    # events and dead letters, then the analytics' seven (statistics and sequences: outputs, changelogs, repartitions)
    want_topics = 9 if analytics else 2
    if kinds.count("KafkaTopic") != want_topics:
        err(rendered_path, f"expected {want_topics} KafkaTopics, got {kinds.count('KafkaTopic')}")
    namespaces = {(d.get("metadata") or {}).get("namespace") for d in docs}
    if len(namespaces) != 1 or None in namespaces:
        err(rendered_path, f"every object must be in the QuakeStream's namespace, got {namespaces}")
    topic_names = set()
    users = {d["metadata"]["name"]: d for d in docs if d.get("kind") == "KafkaUser"}
    configmaps = {d["metadata"]["name"]: d.get("data") or {} for d in docs if d.get("kind") == "ConfigMap"}
    auth = ((qs.get("spec") or {}).get("kafka") or {}).get("authentication", "tls")
    if auth != "none" and len(users) != kinds.count("Deployment"):
        err(rendered_path, f"authentication {auth}: one KafkaUser per Deployment, got {sorted(users)}")
    check_network_policies(rendered_path, docs)
    for d in docs:
        where = f"{rendered_path}: {ident(d)}"
        check_api_version(where, d)
        labels = (d.get("metadata") or {}).get("labels") or {}
        for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/managed-by"):
            if key not in labels:
                err(where, f"label {key} missing")
        if labels.get("app.kubernetes.io/instance") != name:
            err(where, f"app.kubernetes.io/instance must be {name!r}")
        kind = d.get("kind")
        if kind == "KafkaTopic":
            check_kafka_topic(where, d, cluster)
            topic_names.add((d.get("spec") or {}).get("topicName"))
        if kind == "KafkaUser":
            check_kafka_user(where, d, cluster)
        if kind == "Deployment" and auth != "none":
            check_kafka_mounts(where, d, users, configmaps, cluster)
        if kind == "Deployment":
            spec = d["spec"]
            tpl = spec["template"]
            pod_checks(where, tpl)
            ann = (tpl.get("metadata") or {}).get("annotations") or {}
            for key in ("quakestream.io/config-hash", "prometheus.io/scrape", "prometheus.io/port"):
                if key not in ann:
                    err(where, f"pod annotation {key} missing")
            component = labels.get("app.kubernetes.io/component")
            if component == "frontend" and "replicas" in spec:
                err(where, "the frontend Deployment must not set replicas (the HPA owns them)")
            if component == "producer" and (spec.get("replicas") != 1 or spec["strategy"]["type"] != "Recreate"):
                err(where, "the producer must run one replica with the Recreate strategy")
            if component == "analytics":
                env = tpl["spec"]["containers"][0].get("env") or []
                ids = [e for e in env if e.get("name") == "QS_INSTANCE_ID"]
                path = ((ids[0].get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath") if ids else None
                if path != "metadata.name":
                    err(where, "the analytics' QS_INSTANCE_ID must come from the pod name (its transactional id)")
            env_from = tpl["spec"]["containers"][0].get("envFrom") or []
            cms = [e["configMapRef"]["name"] for e in env_from if "configMapRef" in e]
            known = {(x.get("metadata") or {}).get("name") for x in docs if x.get("kind") == "ConfigMap"}
            for cm in cms:
                if cm not in known:
                    err(where, f"envFrom ConfigMap {cm!r} is not rendered")
        if kind == "HorizontalPodAutoscaler":
            target = d["spec"]["scaleTargetRef"]["name"]
            deps = {(x.get("metadata") or {}).get("name") for x in docs if x.get("kind") == "Deployment"}
            if target not in deps:
                err(where, f"scaleTargetRef {target!r} is not a rendered Deployment")
    if len(topic_names) != kinds.count("KafkaTopic"):
        err(rendered_path, f"the KafkaTopics must name different topics, got {topic_names}")
    for d in docs:
        if d.get("kind") != "KafkaTopic" or "changelog" not in ((d.get("spec") or {}).get("topicName") or ""):
            continue
        if ((d.get("spec") or {}).get("config") or {}).get("cleanup.policy") != "compact":
            err(f"{rendered_path}: {ident(d)}", "a changelog topic must be compacted")


def check_chart(path: str, variant: str = "release-namespace") -> None:
    docs = load(path)
    kinds = [d.get("kind") for d in docs]
    roles = [d for d in docs if d.get("kind") in ("Role", "ClusterRole")
             and not (d.get("metadata") or {}).get("name", "").endswith("-crd")]
    want = "ClusterRole" if variant == "cluster" else "Role"
    if [r["kind"] for r in roles] != [want]:
        err(path, f"scope {variant}: expected one {want} for reconcile, got {[r['kind'] for r in roles]}")
    if variant != "cluster":
        ns = "quakestream" if variant == "other-namespace" else "quakestream-system"
        for r in roles:
            if r["metadata"].get("namespace") != ns:
                err(path, f"the Role must be in the watched namespace {ns!r}")
    for required in ("ServiceAccount", "Deployment", "Service", "CustomResourceDefinition"):
        if required not in kinds:
            err(path, f"no {required} in the chart output (render with --include-crds)")
    if not ({"ClusterRole", "Role"} & set(kinds)):
        err(path, "no (Cluster)Role in the chart output")
    for d in docs:
        where = f"{path}: {ident(d)}"
        check_api_version(where, d)
        kind = d.get("kind")
        if kind == "ClusterRole" and (d.get("metadata") or {}).get("name", "").endswith("-crd"):
            check_crd_role(where, d)
            continue
        if kind in ("ClusterRole", "Role"):
            rules = d.get("rules") or []
            for r in rules:
                for field in ("apiGroups", "resources", "verbs"):
                    if "*" in (r.get(field) or []):
                        err(where, f"wildcard in {field}: {r}")
                if "events" in (r.get("resources") or []):
                    if sorted(r.get("verbs") or []) != ["create", "patch"]:
                        err(where, f"events need exactly create and patch, got {r.get('verbs')}")
                    if r.get("apiGroups") != ["events.k8s.io"]:
                        err(where, "events are published through events.k8s.io")
            if not any("events" in (r.get("resources") or []) for r in rules):
                err(where, "no rule for events")
            for forbidden in ("secrets", "pods/exec", "roles", "clusterroles", "rolebindings"):
                if any(forbidden in (r.get("resources") or []) for r in rules):
                    err(where, f"the operator needs no access to {forbidden}")
        if kind == "Deployment":
            spec = d["spec"]
            if spec.get("replicas") != 1 or (spec.get("strategy") or {}).get("type") != "Recreate":
                err(where, "the operator runs one replica with Recreate (no leader election)")
            pod_checks(where, spec["template"])
        if kind == "CustomResourceDefinition":
            if d["metadata"]["name"] != "quakestreams.quakestream.io":
                err(where, "unexpected CRD")


def check_crd_role(where: str, d: dict) -> None:
    """The start-up CRD upgrade: get and patch on quakestreams.quakestream.io, nothing else."""
    want = [{"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"],
             "resourceNames": ["quakestreams.quakestream.io"], "verbs": ["get", "patch"]}]
    rules = [{k: sorted(v) for k, v in r.items()} for r in d.get("rules") or []]
    if rules != want:
        err(where, f"the CRD role must grant exactly {want}, got {d.get('rules')}")


# Kind -> (API group, resource) of what the operator applies.
RESOURCES = {
    "ServiceAccount": ("", "serviceaccounts"),
    "ConfigMap": ("", "configmaps"),
    "Service": ("", "services"),
    "Deployment": ("apps", "deployments"),
    "HorizontalPodAutoscaler": ("autoscaling", "horizontalpodautoscalers"),
    "PodDisruptionBudget": ("policy", "poddisruptionbudgets"),
    "Ingress": ("networking.k8s.io", "ingresses"),
    "NetworkPolicy": ("networking.k8s.io", "networkpolicies"),
    "KafkaTopic": ("kafka.strimzi.io", "kafkatopics"),
    "KafkaUser": ("kafka.strimzi.io", "kafkausers"),
}
# Kinds the operator lists and deletes when the spec no longer asks for them (apply.rs `prune`).
PRUNED = {"Ingress", "NetworkPolicy", "KafkaUser", "Deployment", "ConfigMap", "ServiceAccount"}
# Kinds the controller watches (controller.rs `.owns`).
WATCHED = {"Deployment", "ConfigMap", "Ingress"}
# Resources the operator uses besides its children, with exactly the verbs it uses.
OWN = {
    ("quakestream.io", "quakestreams"): {"list", "watch"},
    ("quakestream.io", "quakestreams/status"): {"patch"},
    ("events.k8s.io", "events"): {"create", "patch"},
    ("apiextensions.k8s.io", "customresourcedefinitions"): {"get", "patch"},
}


def check_rbac(chart_path: str, rendered_paths: list[str]) -> None:
    grants: dict[tuple[str, str], set[str]] = {}
    for d in load(chart_path):
        if d.get("kind") in ("ClusterRole", "Role"):
            for r in d.get("rules") or []:
                for g in r.get("apiGroups") or []:
                    for res in r.get("resources") or []:
                        grants.setdefault((g, res), set()).update(r.get("verbs") or [])
    # What reconcile does, from the rendered objects: the exact verbs per resource.
    need: dict[tuple[str, str], set[str]] = {k: set(v) for k, v in OWN.items()}
    for path in rendered_paths:
        for d in load(path):
            kind = d.get("kind")
            if kind not in RESOURCES:
                err(path, f"{kind} is rendered but the RBAC check does not know its resource")
                continue
            need.setdefault(RESOURCES[kind], set()).update({"create", "patch"})
    for kind in PRUNED:
        need.setdefault(RESOURCES[kind], set()).update({"list", "delete"})
    for kind in WATCHED:
        need.setdefault(RESOURCES[kind], set()).update({"list", "watch"})
    for key in sorted(set(grants) | set(need)):
        have, want = grants.get(key, set()), need.get(key, set())
        if have - want:
            err(chart_path, f"{key}: verbs {sorted(have - want)} that reconcile never uses")
        if want - have:
            err(chart_path, f"{key}: reconcile needs {sorted(want - have)}")


def main(argv: list[str]) -> int:
    if len(argv) == 4 and argv[1] == "rendered":
        check_rendered(argv[2], argv[3])
    elif len(argv) in (3, 4) and argv[1] == "chart":
        check_chart(argv[2], *argv[3:])
    elif len(argv) >= 4 and argv[1] == "rbac":
        check_rbac(argv[2], argv[3:])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    for e in dict.fromkeys(errors):
        print(f"FAIL {e}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
