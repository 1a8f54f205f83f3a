#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this). Installs what it needs first.
# Every step runs even if an earlier one failed; the summary at the end lists the failures.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

failed=()
step() {
  local name=$1; shift
  echo "==> $name" >&2
  local start=$SECONDS
  if "$@"; then
    echo "<== $name: ok ($((SECONDS - start)) s)" >&2
  else
    echo "<== $name: FAILED ($((SECONDS - start)) s)" >&2
    failed+=("$name")
  fi
}

step "setup" scripts/setup.sh || exit 1
[ ${#failed[@]} -eq 0 ] || { echo "setup failed; nothing else can run" >&2; exit 1; }

step "rustfmt" cargo fmt --all --check
step "clippy" cargo clippy --workspace --all-targets --locked -- -D warnings
step "cargo test (workspace)" cargo test --workspace --locked --no-fail-fast
# cargo test built crdgen (the operator's integration tests need its bins); `cargo run -p` would
# rebuild shared dependencies with the operator's feature set alone.
step "CRD is fresh" bash -c 'target/debug/crdgen | diff -u crds/quakestream.yaml -'
step "operator manifests and chart" scripts/check-k8s.sh
step "cluster files (kind, dashboards, images)" scripts/check-cluster-files.sh
step "EKS Terraform" scripts/check-eks.sh
if [ -x scripts/browser-test.sh ]; then
  step "browser tests (headless Chromium)" scripts/browser-test.sh
fi

if ((${#failed[@]})); then
  printf 'FAILED steps:\n' >&2
  printf '  - %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "all test steps passed" >&2
