#!/usr/bin/env bash
# Feed-to-browser latency of `quakestream dev` (docs/benchmarks.md, "dev: feed to browser"): a
# local websocket server sends fresh EMSC-format frames to `quakestream dev --emsc-url ws://…`,
# an SSE client on /api/stream timestamps their arrival; prints p50/p90/p99/max, then dev's CPU
# use while idle (no frames, one stream open).
#   scripts/bench/feed-latency.sh            # QS_BENCH_RATE (20/s), QS_BENCH_SECONDS (30), QS_BENCH_IDLE (10)
#   QS_BENCH_PROFILE=dev scripts/bench/feed-latency.sh   # the debug build (default: release)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
profile="${QS_BENCH_PROFILE:-release}"
dir=release
flag=(--release)
if [[ "$profile" == dev ]]; then dir=debug; flag=(); fi
cargo build "${flag[@]}" --workspace --locked --bin quakestream --example feed_latency
exec "target/$dir/examples/feed_latency" "target/$dir/quakestream" \
  "${QS_BENCH_RATE:-20}" "${QS_BENCH_SECONDS:-30}" "${QS_BENCH_IDLE:-10}"
