#!/usr/bin/env bash
# Brings up QuakeStream on a local kind cluster, end to end:
#   kind cluster (kind-config.yaml) + cloud-provider-kind (LoadBalancer Services and Ingress),
#   our images (built here, `kind load`ed), metrics-server, Strimzi + a single-node KRaft Kafka,
#   dynoxide (DynamoDB API), Prometheus, Loki, Grafana (+ dashboards), Alloy, the operator chart,
#   and examples/quakestream.yaml; then waits until `kubectl get qs` says Ready and prints the URLs.
#
# Idempotent: run it again to rebuild the images and roll the workloads onto them.
#
# Environment (all optional):
#   CLUSTER_NAME            kind cluster name                          (quakestream)
#   IMAGE_REPOSITORY        registry/owner of our images               (ghcr.io/quakestream)
#   IMAGE_TAG               tag of the quakestream + operator images   (workspace version)
#   SKIP_BUILD=1            use images already in the local Docker
#   GRAFANA_ADMIN_PASSWORD  Grafana admin password                     (quakestream)
#   QS_TIMEOUT              how long to wait for the QuakeStream       (900s)
#   CLOUD_PROVIDER_KIND=0   don't start cloud-provider-kind (you run your own)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

# --- Pinned versions: every chart, image and tool version comes from deploy/pins.env ----------
# shellcheck source=/dev/null # deploy/pins.env: KEY=value lines (data, not a script)
source deploy/pins.env

# --- Settings ----------------------------------------------------------------------------------
CLUSTER_NAME=${CLUSTER_NAME:-quakestream}
KCTX="kind-${CLUSTER_NAME}"
WORKSPACE_VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
IMAGE_REPOSITORY=${IMAGE_REPOSITORY:-ghcr.io/quakestream}
IMAGE_TAG=${IMAGE_TAG:-${WORKSPACE_VERSION}}
QS_IMAGE="${IMAGE_REPOSITORY}/quakestream:${IMAGE_TAG}"
OPERATOR_IMAGE="${IMAGE_REPOSITORY}/quakestream-operator:${IMAGE_TAG}"
DYNOXIDE_IMAGE="ghcr.io/quakestream/dynoxide:${DYNOXIDE_VERSION}"
SKIP_BUILD=${SKIP_BUILD:-0}
GRAFANA_ADMIN_PASSWORD=${GRAFANA_ADMIN_PASSWORD:-quakestream}
QS_TIMEOUT=${QS_TIMEOUT:-900s}
CLOUD_PROVIDER_KIND=${CLOUD_PROVIDER_KIND:-1}
CPK_CONTAINER=quakestream-cloud-provider-kind

NS=quakestream                 # Kafka, dynoxide, the QuakeStream and its workloads
OPERATOR_NS=quakestream-system # the operator
MONITORING_NS=monitoring       # Prometheus, Loki, Grafana, Alloy
STRIMZI_NS=strimzi             # the Strimzi cluster operator
EXAMPLE=examples/quakestream.yaml
OPERATOR_CHART=charts/quakestream-operator

log() { printf '\n\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'kind-up: %s\n' "$*" >&2; exit 1; }
k() { kubectl --context "$KCTX" "$@"; }
h() { helm --kube-context "$KCTX" "$@"; }

# --- Prerequisites -----------------------------------------------------------------------------
need() {
  command -v "$1" >/dev/null 2>&1 || die "'$1' not found on PATH. $2"
}

check_prerequisites() {
  need docker "Install Docker (Engine or Desktop): https://docs.docker.com/get-docker/"
  need kind "Install kind v0.29 or newer: https://kind.sigs.k8s.io/docs/user/quick-start/#installation"
  need kubectl "Install kubectl: https://kubernetes.io/docs/tasks/tools/"
  need helm "Install Helm 3.8 or newer: https://helm.sh/docs/intro/install/"
  need curl "Install curl."
  docker info >/dev/null 2>&1 \
    || die "cannot talk to the Docker engine ('docker info' failed). Is Docker running, and may this user use it?"
  docker buildx version >/dev/null 2>&1 \
    || die "docker buildx is missing (it ships with Docker Desktop and docker-ce; Debian: apt-get install docker-buildx)."
  local helm_version
  helm_version=$(helm version --template '{{.Version}}' 2>/dev/null || true)
  case "$helm_version" in
    v3.[0-7].*) die "Helm ${helm_version} is too old; Helm 3.8 or newer is needed." ;;
    v3.* | v4.*) ;;
    *) die "cannot read Helm's version (got '${helm_version}'); Helm 3.8 or newer is needed." ;;
  esac
  [[ -n "$WORKSPACE_VERSION" ]] || die "cannot read the workspace version from Cargo.toml"
  [[ -f "$EXAMPLE" ]] || die "$EXAMPLE is missing"
  [[ -f "$OPERATOR_CHART/Chart.yaml" ]] || die "$OPERATOR_CHART/Chart.yaml is missing"
}

# --- Cluster -----------------------------------------------------------------------------------
create_cluster() {
  if kind get clusters 2>/dev/null | grep -qx "$CLUSTER_NAME"; then
    log "kind cluster '$CLUSTER_NAME' exists; reusing it"
  else
    log "Creating kind cluster '$CLUSTER_NAME'"
    kind create cluster --name "$CLUSTER_NAME" --config kind-config.yaml --image "$KIND_NODE_IMAGE" --wait 180s
  fi
  k cluster-info >/dev/null || die "cannot reach the cluster with context $KCTX"
  # cloud-provider-kind only sends load-balancer traffic to nodes without this label, and the
  # single kind node is a control-plane node.
  k label nodes --all node.kubernetes.io/exclude-from-external-load-balancers- >/dev/null 2>&1 || true
}

start_cloud_provider_kind() {
  if [[ "$CLOUD_PROVIDER_KIND" != 1 ]]; then
    log "CLOUD_PROVIDER_KIND=$CLOUD_PROVIDER_KIND: not starting cloud-provider-kind"
    return
  fi
  if [[ "$(docker inspect -f '{{.State.Running}}' "$CPK_CONTAINER" 2>/dev/null || true)" == true ]]; then
    log "cloud-provider-kind is running (container $CPK_CONTAINER)"
    return
  fi
  log "Starting cloud-provider-kind (LoadBalancer Services and Ingress class 'cloud-provider-kind')"
  docker rm -f "$CPK_CONTAINER" >/dev/null 2>&1 || true
  docker run -d --name "$CPK_CONTAINER" --restart unless-stopped --network kind \
    -v /var/run/docker.sock:/var/run/docker.sock "$CLOUD_PROVIDER_KIND_IMAGE" >/dev/null
}

wait_for_ingress_class() {
  for _ in $(seq 1 60); do
    if k get ingressclass cloud-provider-kind >/dev/null 2>&1; then
      return
    fi
    sleep 2
  done
  [[ "$CLOUD_PROVIDER_KIND" != 1 ]] \
    || die "IngressClass 'cloud-provider-kind' did not appear; see: docker logs $CPK_CONTAINER"
}

# --- Images ------------------------------------------------------------------------------------
build_images() {
  if [[ "$SKIP_BUILD" == 1 ]]; then
    log "SKIP_BUILD=1: using $QS_IMAGE, $OPERATOR_IMAGE and $DYNOXIDE_IMAGE from the local Docker"
  else
    log "Building images (the first build compiles librdkafka, aws-lc and the workspace: ~10-20 min)"
    local target image
    for target in quakestream operator dynoxide; do
      case "$target" in
        quakestream) image=$QS_IMAGE ;;
        operator) image=$OPERATOR_IMAGE ;;
        dynoxide) image=$DYNOXIDE_IMAGE ;;
      esac
      docker buildx build --load --provenance=false --target "$target" \
        --build-arg "DYNOXIDE_VERSION=$DYNOXIDE_VERSION" --build-arg "RUST_IMAGE=$RUST_IMAGE" \
        --build-arg "NODE_IMAGE=$NODE_IMAGE" --build-arg "RUNTIME_IMAGE=$RUNTIME_IMAGE" -t "$image" .
    done
  fi
  log "Loading images into kind"
  kind load docker-image --name "$CLUSTER_NAME" "$QS_IMAGE" "$OPERATOR_IMAGE" "$DYNOXIDE_IMAGE"
}

# --- Platform ----------------------------------------------------------------------------------
install_platform() {
  log "Namespaces"
  k apply -f deploy/kind/namespaces.yaml

  log "metrics-server $METRICS_SERVER_VERSION"
  h upgrade --install metrics-server metrics-server --repo "$METRICS_SERVER_REPO" \
    --version "$METRICS_SERVER_VERSION" --namespace kube-system \
    -f charts/values/metrics-server.yaml --wait --timeout 5m

  log "Strimzi $STRIMZI_VERSION"
  h upgrade --install strimzi strimzi-kafka-operator --repo "$STRIMZI_REPO" \
    --version "$STRIMZI_VERSION" --namespace "$STRIMZI_NS" \
    -f charts/values/strimzi.yaml --wait --timeout 10m

  log "Kafka (single-node KRaft) and dynoxide"
  k apply -f deploy/kind/kafka.yaml
  sed "s|image: ghcr.io/quakestream/dynoxide:.*|image: ${DYNOXIDE_IMAGE}|" deploy/kind/dynoxide.yaml | k apply -f -
}

install_observability() {
  log "Prometheus $PROMETHEUS_VERSION"
  h upgrade --install prometheus prometheus --repo "$PROMETHEUS_REPO" \
    --version "$PROMETHEUS_VERSION" --namespace "$MONITORING_NS" \
    -f charts/values/prometheus.yaml -f charts/values/prometheus-cost-rules.yaml --wait --timeout 10m

  log "Loki $LOKI_VERSION (monolithic)"
  h upgrade --install loki loki --repo "$GRAFANA_COMMUNITY_REPO" \
    --version "$LOKI_VERSION" --namespace "$MONITORING_NS" \
    -f charts/values/loki.yaml --wait --timeout 10m

  log "Grafana $GRAFANA_VERSION and dashboards"
  k apply --server-side --force-conflicts -k charts/dashboards
  h upgrade --install grafana grafana --repo "$GRAFANA_COMMUNITY_REPO" \
    --version "$GRAFANA_VERSION" --namespace "$MONITORING_NS" \
    -f charts/values/grafana.yaml --set-string "adminPassword=$GRAFANA_ADMIN_PASSWORD" \
    --wait --timeout 10m

  log "Alloy $ALLOY_VERSION (pod logs to Loki)"
  h upgrade --install alloy alloy --repo "$GRAFANA_REPO" \
    --version "$ALLOY_VERSION" --namespace "$MONITORING_NS" \
    -f charts/values/alloy.yaml --wait --timeout 5m
}

wait_for_backends() {
  log "Waiting for Kafka (first start pulls the Kafka image: a few minutes)"
  k wait kafka/quakestream -n "$NS" --for=condition=Ready --timeout=15m
  log "Waiting for dynoxide"
  k rollout status deployment/dynoxide -n "$NS" --timeout=5m
  log "Creating the DynamoDB table in dynoxide (quakestream table create)"
  k delete job quakestream-table-create -n "$NS" --ignore-not-found --wait=true >/dev/null
  sed "s|image: ghcr.io/quakestream/quakestream:.*|image: ${QS_IMAGE}|" deploy/kind/table-job.yaml | k apply -f -
  k wait job/quakestream-table-create -n "$NS" --for=condition=complete --timeout=5m
  k logs job/quakestream-table-create -n "$NS" || true
}

# --- QuakeStream -------------------------------------------------------------------------------
install_operator() {
  log "QuakeStream operator ($OPERATOR_IMAGE)"
  h upgrade --install quakestream-operator "$OPERATOR_CHART" --namespace "$OPERATOR_NS" \
    --set-string "image.repository=${OPERATOR_IMAGE%:*}" \
    --set-string "image.tag=${IMAGE_TAG}" \
    --set-string "image.pullPolicy=IfNotPresent" \
    --set-string "watchNamespace=${NS}" \
    --wait --timeout 5m
  # Helm never upgrades crds/: the operator applies its own CRD when it starts. Wait for that
  # version, so the example is validated by the schema this operator serves.
  k wait crd/quakestreams.quakestream.io --for=condition=Established --timeout=60s
  k wait crd/quakestreams.quakestream.io --timeout=120s \
    --for="jsonpath={.metadata.annotations.quakestream\.io/operator-version}=${WORKSPACE_VERSION}"
}

apply_example() {
  log "QuakeStream from $EXAMPLE"
  k apply -n "$NS" -f "$EXAMPLE"
  local name
  for name in $(k get qs -n "$NS" -o name); do
    # The example names the default image; point it at what was just built and loaded.
    k patch -n "$NS" "$name" --type merge \
      -p "{\"spec\":{\"image\":{\"repository\":\"${QS_IMAGE%:*}\",\"tag\":\"${IMAGE_TAG}\"}}}" >/dev/null
  done
}

restart_workloads() {
  # Same tag, new image: roll what already runs so it picks up the freshly loaded image.
  if [[ "$SKIP_BUILD" != 1 ]]; then
    k rollout restart deployment -n "$OPERATOR_NS" >/dev/null 2>&1 || true
    k rollout restart deployment -n "$NS" -l app.kubernetes.io/name=quakestream >/dev/null 2>&1 || true
  fi
}

wait_until_ready() {
  log "Waiting until the QuakeStream is Ready (timeout $QS_TIMEOUT)"
  if ! k wait qs --all -n "$NS" --for=condition=Ready --timeout="$QS_TIMEOUT"; then
    k get qs -n "$NS" -o wide || true
    k get qs -n "$NS" -o jsonpath='{range .items[*]}{.metadata.name}{": "}{range .status.conditions[*]}{.type}={.status} ({.reason}: {.message}){"; "}{end}{"\n"}{end}' || true
    k get pods -n "$NS" || true
    die "the QuakeStream did not become Ready; see the conditions above and 'kubectl --context $KCTX -n $NS describe qs'"
  fi
  k get qs -n "$NS"
}

lb_address() { # namespace service
  local addr
  for _ in $(seq 1 60); do
    addr=$(k get svc "$2" -n "$1" -o jsonpath='{.status.loadBalancer.ingress[0].ip}{.status.loadBalancer.ingress[0].hostname}' 2>/dev/null || true)
    if [[ -n "$addr" ]]; then
      printf '%s' "$addr"
      return
    fi
    sleep 2
  done
}

print_urls() {
  local url grafana
  url=$(k get qs -n "$NS" -o jsonpath='{.items[0].status.url}')
  grafana=$(lb_address "$MONITORING_NS" grafana)
  cat <<EOF

QuakeStream is Ready on kind cluster '$CLUSTER_NAME' (kubectl context $KCTX).

  Live map:  ${url:-<no URL in status yet: kubectl --context $KCTX -n $NS get qs>}
  Grafana:   ${grafana:+http://$grafana/}${grafana:-kubectl --context $KCTX -n $MONITORING_NS port-forward svc/grafana 3000:80, then http://localhost:3000/}
             dashboards "QuakeStream / Pipeline" and "QuakeStream / Follow one event (logs)";
             admin / ${GRAFANA_ADMIN_PASSWORD} (sign in; no anonymous access)

  If the addresses are not reachable from this machine (Docker Desktop on macOS/Windows):
    kubectl --context $KCTX -n $NS port-forward svc/$(k get qs -n "$NS" -o jsonpath='{.items[0].metadata.name}')-frontend 8080:8080   # http://localhost:8080/

  Tear down: scripts/kind-down.sh
EOF
}

main() {
  check_prerequisites
  create_cluster
  start_cloud_provider_kind
  build_images
  install_platform
  install_observability
  wait_for_backends
  wait_for_ingress_class
  install_operator
  apply_example
  restart_workloads
  wait_until_ready
  print_urls
}

main "$@"
