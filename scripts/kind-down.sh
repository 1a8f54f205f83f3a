#!/usr/bin/env bash
# Tears down what scripts/kind-up.sh created: the kind cluster (with everything in it) and the
# cloud-provider-kind container with the load-balancer containers it started. Images stay in the
# local Docker, so the next kind-up.sh can reuse them with SKIP_BUILD=1.
# Idempotent: a second run finds nothing and succeeds.
set -euo pipefail

CLUSTER_NAME=${CLUSTER_NAME:-quakestream}
CPK_CONTAINER=quakestream-cloud-provider-kind

command -v kind >/dev/null 2>&1 || { echo "kind-down: 'kind' not found on PATH" >&2; exit 1; }
command -v docker >/dev/null 2>&1 || { echo "kind-down: 'docker' not found on PATH" >&2; exit 1; }

if kind get clusters 2>/dev/null | grep -qx "$CLUSTER_NAME"; then
  echo "Deleting kind cluster '$CLUSTER_NAME'"
  kind delete cluster --name "$CLUSTER_NAME"
else
  echo "No kind cluster '$CLUSTER_NAME'"
fi

# cloud-provider-kind serves every kind cluster on this machine: stop it only when none is left.
if [[ -z "$(kind get clusters 2>/dev/null)" ]]; then
  if docker inspect "$CPK_CONTAINER" >/dev/null 2>&1; then
    echo "Removing $CPK_CONTAINER"
    docker rm -f "$CPK_CONTAINER" >/dev/null
  fi
else
  echo "Other kind clusters remain; leaving $CPK_CONTAINER running"
fi

# Load-balancer containers cloud-provider-kind started for this cluster (kindccm-*).
lbs=$(docker ps -aq --filter "label=io.x-k8s.cloud-provider-kind.cluster=${CLUSTER_NAME}" 2>/dev/null || true)
if [[ -n "$lbs" ]]; then
  echo "Removing the cluster's load-balancer containers"
  # shellcheck disable=SC2086 # one container id per word
  docker rm -f $lbs >/dev/null
fi
