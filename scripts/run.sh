#!/usr/bin/env bash
# The one command to see QuakeStream on this machine: installs build tools if missing, builds
# (the first build takes several minutes), and runs `quakestream dev` (map on http://127.0.0.1:8080/).
# Extra arguments go to `quakestream dev`, e.g. `scripts/run.sh --replay FILE --speed 60`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec cargo run --release --locked -p quakestream -- dev "$@"
