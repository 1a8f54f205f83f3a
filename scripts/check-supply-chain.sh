#!/usr/bin/env bash
# Supply-chain checks (docs/security.md, "Supply chain").
#
# Offline (scripts/test.sh runs these):
#   - cargo deny check licenses bans sources, with deny.toml: every crate's licence in the
#     allow-list (or an exception), duplicate versions listed as warnings, no wildcard versions,
#     every crate from crates.io;
#   - the advisory gate can fail: cargo deny check advisories with deny.toml's policy against a
#     one-advisory database (scripts/tests/fixtures/advisory-db, served as a local git
#     repository) must fail naming that advisory, and pass once the advisory is ignored;
#   - the page's npm packages (scripts/npm-licences.mjs, itself tested by scripts/tests/): every
#     package in package-lock.json, production and dev, under an allowed licence, and every npm
#     package bundled into the page credited in the THIRD-PARTY.txt the build writes;
#   - .github/workflows/supply-chain.yaml against GitHub's workflow schema (check-jsonschema's
#     bundled copy); every action in it pinned to a commit with its release beside it, every job
#     with a timeout, a read-only token (scripts/check_workflow.py); and its run: blocks pass
#     ShellCheck. (yamllint with the repository's config: scripts/check-cluster-files.sh.)
# --online (the supply-chain workflow; needs the network):
#   - cargo deny check advisories against the RustSec database;
#   - npm audit of the page's package-lock.json against the npm registry's advisories.
#   Both fail on any known vulnerability.
#
# Installs what it needs, idempotently: cargo-deny $CARGO_DENY_VERSION with `cargo install
# --locked` into ~/.cache/quakestream/cargo-deny-VERSION (skipped when that version is there or on
# PATH; about 5 CPU-minutes of compiling the first time), check-jsonschema from PyPI into
# .cache/supply-venv (.cache/ ignores itself), and the page's npm packages (npm ci) when missing.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

CARGO_DENY_VERSION=0.20.2
CHECK_JSONSCHEMA_VERSION=0.39.0
WORKFLOW=.github/workflows/supply-chain.yaml
WEB=workloads/frontend/web
CACHE="$ROOT/.cache"

ONLINE=0
for arg in "$@"; do
  case "$arg" in
    --online) ONLINE=1 ;;
    -h | --help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "check-supply-chain: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

FAILED=()
step() { printf '\n== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; FAILED+=("$1"); }

mkdir -p "$CACHE"
[[ -f "$CACHE/.gitignore" ]] || printf '# Tool caches of the check scripts\n*\n' >"$CACHE/.gitignore"

# --- Tools ------------------------------------------------------------------------------------
# cargo-deny goes to a versioned folder in the user's cache, outside the checkout, so that every
# clone and CI run on a machine shares one build (and another cargo-deny on PATH is left alone).
DENY_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/quakestream/cargo-deny-$CARGO_DENY_VERSION"
DENY=""
for candidate in "$(command -v cargo-deny 2>/dev/null || true)" "$DENY_ROOT/bin/cargo-deny"; do
  if [[ -n "$candidate" && -x "$candidate" ]] \
    && [[ "$("$candidate" --version 2>/dev/null)" == "cargo-deny $CARGO_DENY_VERSION" ]]; then
    DENY=$candidate
    break
  fi
done
if [[ -z "$DENY" ]]; then
  step "Installing cargo-deny $CARGO_DENY_VERSION into $DENY_ROOT (cargo install --locked)"
  CARGO_INCREMENTAL=0 cargo install --quiet --locked --version "$CARGO_DENY_VERSION" --root "$DENY_ROOT" cargo-deny
  DENY="$DENY_ROOT/bin/cargo-deny"
fi
deny() { "$DENY" --color never --locked "$@"; }

npm_ci_if_stale() {
  if [[ ! -f "$WEB/node_modules/.package-lock.json" || "$WEB/package-lock.json" -nt "$WEB/node_modules/.package-lock.json" ]]; then
    step "npm ci in $WEB"
    (cd "$WEB" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

# --- Online: the advisory databases -----------------------------------------------------------
if ((ONLINE)); then
  step "cargo deny check advisories (RustSec advisory database)"
  deny check --hide-inclusion-graph advisories || fail "cargo deny check advisories"

  step "npm audit of $WEB/package-lock.json (production and dev)"
  (cd "$WEB" && npm audit --package-lock-only --audit-level=low) || fail "npm audit"

  if ((${#FAILED[@]})); then
    printf '\ncheck-supply-chain --online: FAILED: %s\n' "${FAILED[*]}" >&2
    exit 1
  fi
  printf '\ncheck-supply-chain --online: no known vulnerability\n'
  exit 0
fi

# --- Offline: licences, bans, sources ---------------------------------------------------------
# cargo-deny reads the whole dependency graph, every platform's crates included (cargo metadata),
# but a build downloads only the host's: fetch the rest first (from the cache once it is there).
step "cargo fetch --locked (every platform's crates, for cargo deny's metadata)"
cargo fetch --locked --quiet || fail "cargo fetch --locked"

step "cargo deny check licenses bans sources (deny.toml)"
deny --offline check --hide-inclusion-graph licenses bans sources || fail "cargo deny check licenses bans sources"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# --- Offline: the advisory gate fails on a known vulnerability --------------------------------
step "cargo deny check advisories fails on a known vulnerability (a one-advisory database)"
# The database is a git repository, as RustSec's is; cargo-deny clones it from an https URL,
# which git's insteadOf sends to the local copy. The config is deny.toml with only the
# database's location added.
FAKE_DB_URL=https://advisories.invalid/quakestream-test-db
cp -r scripts/tests/fixtures/advisory-db "$TMP/db"
git -C "$TMP/db" init -q -b main
git -C "$TMP/db" add -A
git -C "$TMP/db" -c user.name=check-supply-chain -c user.email=check@localhost commit -q -m fixture
advisory_config() { # $1: the ignore list to put in place of deny.toml's
  sed -e "s|^\[advisories\]$|[advisories]\ndb-urls = [\"$FAKE_DB_URL\"]\ndb-path = \"$TMP/dbs\"|" \
    -e "s|^ignore = \[\]$|ignore = $1|" deny.toml
}
advisory_config '[]' >"$TMP/deny.toml"
advisory_config '[{ id = "QSTEST-2026-0001", reason = "the test accepts it" }]' >"$TMP/deny-ignored.toml"
if ! grep -q "^db-urls = \[\"$FAKE_DB_URL\"\]" "$TMP/deny.toml" || ! grep -q 'QSTEST-2026-0001' "$TMP/deny-ignored.toml"; then
  fail "deny.toml has no '[advisories]' table with 'ignore = []' to test"
else
  gitdb=(env GIT_CONFIG_COUNT=1 "GIT_CONFIG_KEY_0=url.file://$TMP/db.insteadOf" "GIT_CONFIG_VALUE_0=$FAKE_DB_URL")
  if "${gitdb[@]}" "$DENY" --color never --locked --config "$TMP/deny.toml" check --hide-inclusion-graph advisories \
    >"$TMP/advisories.log" 2>&1; then
    cat "$TMP/advisories.log"
    fail "cargo deny check advisories passed with a vulnerable crate in Cargo.lock"
  elif ! grep -q 'error\[vulnerability\]' "$TMP/advisories.log" || ! grep -q 'QSTEST-2026-0001' "$TMP/advisories.log"; then
    cat "$TMP/advisories.log"
    fail "cargo deny check advisories failed, but not on the test advisory"
  elif ! "${gitdb[@]}" "$DENY" --color never --locked --config "$TMP/deny-ignored.toml" check --hide-inclusion-graph \
    advisories >"$TMP/advisories-ignored.log" 2>&1; then
    cat "$TMP/advisories-ignored.log"
    fail "cargo deny check advisories still failed with the test advisory ignored"
  else
    echo "ok: error[vulnerability] QSTEST-2026-0001 (tokio) fails the check; ignored with a reason, it passes"
  fi
fi

# --- Offline: the page's npm packages ---------------------------------------------------------
step "npm licences (package-lock.json) and the page's THIRD-PARTY.txt credits"
npm_ci_if_stale
node --test scripts/tests/ || fail "scripts/tests (the npm licence checker's tests)"
node scripts/npm-licences.mjs "$WEB" || fail "npm licences / THIRD-PARTY.txt"

# --- Offline: the workflow --------------------------------------------------------------------
step "$WORKFLOW: GitHub's workflow schema, pinned actions, shellcheck of its run: blocks"
VENV="$CACHE/supply-venv"
if ! "$VENV/bin/check-jsonschema" --version 2>/dev/null | grep -q "version $CHECK_JSONSCHEMA_VERSION\$"; then
  step "Installing check-jsonschema $CHECK_JSONSCHEMA_VERSION into .cache/supply-venv"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "check-jsonschema==$CHECK_JSONSCHEMA_VERSION"
fi
"$VENV/bin/check-jsonschema" --builtin-schema vendor.github-workflows "$WORKFLOW" || fail "$WORKFLOW schema"
# Pinned actions, timeouts, a read-only token; the run: blocks through shellcheck.
if "$VENV/bin/python" scripts/check_workflow.py "$WORKFLOW" "$TMP/run"; then
  shellcheck -s bash "$TMP"/run/*.sh || fail "shellcheck of $WORKFLOW's run: blocks"
else
  fail "$WORKFLOW: pins, timeouts, permissions"
fi

if ((${#FAILED[@]})); then
  printf '\ncheck-supply-chain: FAILED: %s\n' "${FAILED[*]}" >&2
  exit 1
fi
printf '\ncheck-supply-chain: all checks passed\n'
