#!/usr/bin/env bash
# Schemathesis (PyPI, pinned) against the frontend's own OpenAPI document, with all checks, on a
# frontend this script starts on 127.0.0.1 with data: the `fixture` example (the USGS week on
# librdkafka's mock cluster and an in-process dynoxide, and the analytics engine grouping it, so
# /api/sequences has sequences and its links lead to real /api/sequences/{id} answers).
# /api/stream is left out: an event stream never ends, so no response can be checked (its
# parameters are the list's, tested in Rust).
# Idempotent: the venv (target/schemathesis-venv, git-ignored) is created once and reused; the
# pinned version is installed only when missing. The rules between two parameters that OpenAPI
# cannot state are in scripts/schemathesis/hooks.py.
#
# Environment:
#   QS_FIXTURE        the fixture binary (default target/debug/examples/fixture; built by cargo test)
#   ST_VENV           venv path (default target/schemathesis-venv)
#   ST_MAX_EXAMPLES   generated cases per operation and phase (default 150)
#   ST_SEED           a seed, to repeat a run
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"
fixture="${QS_FIXTURE:-$target/debug/examples/fixture}"
venv="${ST_VENV:-$target/schemathesis-venv}"
version="4.32.5"

log() { printf '==> %s\n' "$*" >&2; }

[[ -x "$fixture" ]] || { log "no fixture at $fixture (cargo test --workspace builds it)"; exit 1; }
if [[ ! -x "$venv/bin/python" ]]; then
  log "creating venv $venv"
  python3 -m venv "$venv"
fi
have="$("$venv/bin/python" -m pip show schemathesis 2>/dev/null | sed -n 's/^Version: //p' || true)"
if [[ "$have" != "$version" ]]; then
  log "installing schemathesis==$version"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "schemathesis==$version"
fi

tmp="$(mktemp -d)"
pid=""
cleanup() {
  exec 3>&- 2>/dev/null || true # closing the fixture's stdin stops it
  if [[ -n "$pid" ]]; then
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
mkfifo "$tmp/stdin"
# No rate limit: schemathesis sends thousands of requests from one address.
"$fixture" --listen 127.0.0.1:0 --rate-limit 0 --analytics <"$tmp/stdin" >"$tmp/out" 2>"$tmp/err" &
pid=$!
exec 3>"$tmp/stdin"

url=""
for _ in $(seq 1200); do
  url="$(head -n1 "$tmp/out" 2>/dev/null | jq -r '.url // empty' 2>/dev/null || true)"
  [[ -n "$url" ]] && break
  kill -0 "$pid" 2>/dev/null || { log "the fixture exited:"; cat "$tmp/err" >&2; exit 1; }
  sleep 0.1
done
[[ -n "$url" ]] || { log "the fixture did not start within 120 s"; cat "$tmp/err" >&2; exit 1; }
log "frontend fixture at $url"

args=(
  run "$url/api/openapi.json"
  --checks all
  --exclude-path /api/stream
  --max-examples "${ST_MAX_EXAMPLES:-150}"
  --request-timeout 20
  --workers 2
  --suppress-health-check too_slow
  --output-sanitize "${ST_SANITIZE:-true}"
)
[[ -n "${ST_SEED:-}" ]] && args+=(--seed "$ST_SEED")
# From the temporary directory: schemathesis keeps its caches in the working directory.
cd "$tmp"
SCHEMATHESIS_HOOKS="$repo/scripts/schemathesis/hooks.py" "$venv/bin/st" "${args[@]}"
