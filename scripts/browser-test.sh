#!/usr/bin/env bash
# Browser tests of the live map (workloads/frontend/web/tests) in Debian's headless Chromium,
# driven by playwright-core, with axe-core checking accessibility. Idempotent: installs Chromium with apt-get only if it is missing,
# installs the npm packages from the lock file, builds the fixture (mock Kafka + dynoxide +
# frontend), runs the tests, and leaves screenshots in artifacts/.
#   scripts/browser-test.sh
# Environment: QS_FIXTURE  use this fixture binary instead of `cargo build`ing one.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

if ! command -v chromium >/dev/null 2>&1; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq chromium >/dev/null
fi
command -v node >/dev/null || { echo "Node.js (>= 18) and npm are required" >&2; exit 1; }

web="$root/workloads/frontend/web"
if [ ! -f "$web/node_modules/.package-lock.json" ] || [ "$web/package-lock.json" -nt "$web/node_modules/.package-lock.json" ]; then
  (cd "$web" && npm ci --no-audit --no-fund --loglevel=error)
fi

if [ -z "${QS_FIXTURE:-}" ]; then
  cargo build --locked --example fixture
  QS_FIXTURE="${CARGO_TARGET_DIR:-$root/target}/debug/examples/fixture"
fi
mkdir -p "$root/artifacts"
QS_FIXTURE="$QS_FIXTURE" QS_ARTIFACTS="$root/artifacts" CHROMIUM="$(command -v chromium)" \
  node --test "$web/tests/"
echo "screenshots:" "$root"/artifacts/frontend-*.png
