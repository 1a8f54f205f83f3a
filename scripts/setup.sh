#!/usr/bin/env bash
# Installs what building and testing QuakeStream needs on a Debian machine, idempotently.
# Run as root (or with passwordless sudo). Safe to run again: it installs only what is missing.
set -euo pipefail

# What each package is for:
#   cmake, g++, make: rdkafka builds librdkafka from source.
#   libcurl4-openssl-dev: librdkafka 2.12's rdkafka_conf.c includes curl.h even when built
#     without curl (an ifdef on a macro defined as 0); only the header is used.
#   kcat: a Kafka CLI for looking inside. prometheus: promtool, to check the metrics format.
#   Linters for scripts and manifests (shellcheck, yamllint, jq); chromium for the browser tests.
declare -A need=(
  [cmake]=cmake [g++]=g++ [make]=make [kcat]=kcat [promtool]=prometheus
  [shellcheck]=shellcheck [yamllint]=yamllint [jq]=jq [chromium]=chromium
)
missing=()
for cmd in "${!need[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${need[$cmd]}")
done
[ -e /usr/include/x86_64-linux-gnu/curl/curl.h ] || [ -e /usr/include/curl/curl.h ] || missing+=(libcurl4-openssl-dev)

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

for cmd in cargo node npm python3; do
  command -v "$cmd" >/dev/null 2>&1 || { echo "setup: $cmd not found (Rust via rustup, Node.js 20+ with npm, Python 3.11+)" >&2; exit 1; }
done
