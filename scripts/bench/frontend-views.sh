#!/usr/bin/env bash
# Page-view benchmarks of the frontend's list API (docs/benchmarks.md, "Frontend: the page's
# list views"): the page's real 24-hour request (since rounded down to the minute, limit 20000),
# the same window spelt differently on every request, and the 7-day view, each with gzip as
# browsers ask, against the release `fixture` example (the USGS week retimed to end now, mock
# Kafka and dynoxide in-process, rate limit off). Prints wrk's report, the bytes per view and
# the store's Query count before and after (the 7-day view must not add any).
#   scripts/bench/frontend-views.sh              # QS_BENCH_SECONDS (10), QS_BENCH_CONNECTIONS (64)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }
cargo build --release --locked -p quakestream-frontend --example fixture
secs="${QS_BENCH_SECONDS:-10}"
conns="${QS_BENCH_CONNECTIONS:-64}"

tmp="$(mktemp -d)"
pid=""
cleanup() {
  exec 3>&- 2>/dev/null || true
  [[ -n "$pid" ]] && { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
  rm -rf "$tmp"
}
trap cleanup EXIT
mkfifo "$tmp/stdin"
target/release/examples/fixture --rate-limit 0 <"$tmp/stdin" >"$tmp/out" 2>"$tmp/err" &
pid=$!
exec 3>"$tmp/stdin"
url=""
for _ in $(seq 1200); do
  url="$(head -n1 "$tmp/out" 2>/dev/null | jq -r '.url // empty' 2>/dev/null || true)"
  [[ -n "$url" ]] && break
  sleep 0.1
done
[[ -n "$url" ]] || { cat "$tmp/err" >&2; exit 1; }

now=$(date -u +%s)
minute() { echo $(( ($1) / 60 * 60 )); }
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
day_since=$(minute "$now - 86400")
week_since=$(minute "$now - 7 * 86400")
queries() {
  curl -s "$url/metrics" | awk '/^quakestream_frontend_store_queries_total\{kind="window"/ { n += $2 } END { print n + 0 }'
}
size() { curl -s -o /dev/null -w '%{size_download}' -H "Accept-Encoding: $2" "$url$1"; }

day="/api/quakes?since=$(iso "$day_since")&limit=20000"
week="/api/quakes?since=$(iso "$week_since")&limit=20000"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for v in "24 h:$day" "7 d:$week"; do
  path="${v#*:}"
  count=$(curl -s "$url$path" | jq '.metadata.count')
  echo "${v%%:*} view: $count events, $(size "$path" identity) bytes plain, $(size "$path" gzip) bytes gzip, source $(curl -s "$url$path" | jq -r .metadata.source)"
done
before=$(queries)
echo "== the page's 24-hour request, repeated"
wrk -t2 -c"$conns" -d"${secs}s" --latency -H 'Accept-Encoding: gzip' "$url$day"
echo "== the same 24-hour window, spelt differently on every request"
wrk -t2 -c"$conns" -d"${secs}s" --latency -H 'Accept-Encoding: gzip' -s scripts/bench/spellings.lua "$url" -- "$day_since"
echo "== the 24-hour window with since unique to the microsecond on every request (no rounding)"
wrk -t2 -c"$conns" -d"${secs}s" --latency -H 'Accept-Encoding: gzip' -s scripts/bench/spellings.lua "$url" -- "$day_since" ms
echo "== the 7-day view"
wrk -t2 -c"$conns" -d"${secs}s" --latency -H 'Accept-Encoding: gzip' "$url$week"
after=$(queries)
echo "store Query calls for list requests during the runs: $((after - before))"
curl -s "$url/metrics" | grep -E '^quakestream_frontend_response_cache_(bytes|entries|total)'
