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

# A clean CI build gains nothing from incremental caches; they cost gigabytes of disk.
[ -n "${CI:-}" ] && export CARGO_INCREMENTAL=0

step "setup" scripts/setup.sh || exit 1
[ ${#failed[@]} -eq 0 ] || { echo "setup failed; nothing else can run" >&2; exit 1; }

step "repository stands alone" scripts/check-standalone.sh
step "rustfmt" cargo fmt --all --check
step "clippy" cargo clippy --workspace --all-targets --locked -- -D warnings
step "cargo test (workspace)" cargo test --workspace --locked --no-fail-fast
# cargo test built the operator's bins (its integration tests need them) and the frontend's
# examples; the later steps reuse them, because `cargo build -p` would rebuild shared dependencies
# with one package's feature set alone (minutes of CPU and gigabytes of disk).
target=${CARGO_TARGET_DIR:-target}
step "API against its OpenAPI document (schemathesis)" env QS_FIXTURE="$target/debug/examples/fixture" scripts/schemathesis.sh
step "CRD is fresh" bash -c "$target/debug/crdgen | diff -u crds/quakestream.yaml -"
step "operator manifests and chart" env QSO_BIN="$target/debug/quakestream-operator" scripts/check-k8s.sh
step "cluster files (kind, dashboards, images)" scripts/check-cluster-files.sh
step "EKS Terraform" scripts/check-eks.sh
step "supply chain (cargo deny: licences, bans, sources; npm licences and credits)" scripts/check-supply-chain.sh
if [ -x scripts/browser-test.sh ]; then
  step "browser tests (headless Chromium)" env QS_FIXTURE="$target/debug/examples/fixture" scripts/browser-test.sh
fi

if ((${#failed[@]})); then
  printf 'FAILED steps:\n' >&2
  printf '  - %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "all test steps passed" >&2
