#!/usr/bin/env bash
# The repository stands alone: no tracked file may read data or code from outside the checkout
# (an earlier layout read its samples from ../shared/data). Fails listing the offending lines.
set -euo pipefail
cd "$(dirname "$0")/.."
if hits=$(git grep -nE '\.\./shared|shared/data' -- ':!scripts/check-standalone.sh'); then
  echo "these lines reach outside the repository:" >&2
  echo "$hits" >&2
  exit 1
fi
