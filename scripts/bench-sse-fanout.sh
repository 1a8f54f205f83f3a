#!/usr/bin/env bash
# SSE fan-out benchmark (docs/benchmarks.md): QS_FANOUT_CLIENTS (default 10000) concurrent
# /api/stream clients on one frontend; Kafka-record-to-delivery latency at every client and the
# frontend's RSS. Builds the release example, raises the open-file limit (each of the driver and
# the frontend holds one socket per client) and runs it, bounded in time.
#   scripts/bench-sse-fanout.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
cargo build --release -p quakestream-frontend --example sse_fanout
need=$(( ${QS_FANOUT_CLIENTS:-10000} + 1024 ))
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt "$need" ]; then
  echo "the hard open-file limit ($hard) is below $need; raise it (e.g. in /etc/security/limits.conf or with prlimit)" >&2
fi
ulimit -n "$hard"
timeout 600 "$root/target/release/examples/sse_fanout"
