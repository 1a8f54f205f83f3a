#!/usr/bin/env bash
# Static checks of the EKS Terraform (eks/), runnable offline and in CI:
#   1. `terraform fmt -check -recursive eks/` when a terraform CLI is on PATH (skipped otherwise;
#      providers are never downloaded, so nothing else of terraform runs);
#   2. pytest eks/tests: every .tf parses (python-hcl2), providers/modules/charts are pinned,
#      the DynamoDB table matches `quakestream table create` (workloads/store), IAM has no
#      DynamoDB wildcard and is least privilege, edge and Kafka settings.
# Idempotent: the venv (eks/.cache/venv, git-ignored) is created once and reused; the pinned
# packages are installed only when missing or at another version.
#
# Environment:
#   EKS_CHECK_VENV           venv path (default eks/.cache/venv)
#   PYTHON                   interpreter that creates the venv (default python3)
#   QS_TABLE_DESCRIBE_JSON   a file with `quakestream table describe --json` output to compare with
#                            (default: that command if a quakestream binary exists, else the Rust source)
#   SKIP_TERRAFORM_FMT=1     skip the fmt check even when terraform is installed
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${EKS_CHECK_VENV:-$repo/eks/.cache/venv}"
python="${PYTHON:-python3}"

# Pinned in deploy/pins.env: python-hcl2's output format changes between majors, and the tests read it.
# shellcheck source=/dev/null # deploy/pins.env: KEY=value lines (data, not a script)
source "$repo/deploy/pins.env"
requirements=(
  "python-hcl2==$PYTHON_HCL2_VERSION"
  "pytest==$PYTEST_VERSION"
  "PyYAML==$PYYAML_VERSION"
)

log() { printf '==> %s\n' "$*" >&2; }

if [[ ! -x "$venv/bin/python" ]]; then
  log "creating venv $venv"
  "$python" -m venv "$venv"
fi

missing=()
for req in "${requirements[@]}"; do
  name="${req%%==*}"
  want="${req##*==}"
  have="$("$venv/bin/python" -m pip show "$name" 2>/dev/null | sed -n 's/^Version: //p' || true)"
  if [[ "$have" != "$want" ]]; then
    missing+=("$req")
  fi
done
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${missing[@]}"
fi

if [[ "${SKIP_TERRAFORM_FMT:-0}" != 1 ]] && command -v terraform >/dev/null 2>&1; then
  log "terraform fmt -check -recursive eks/"
  # fmt needs no providers; an empty CLI config silences the missing ~/.terraformrc warning.
  if ! (cd "$repo" && TF_CLI_CONFIG_FILE="${TF_CLI_CONFIG_FILE:-/dev/null}" terraform fmt -check -recursive -diff eks/); then
    log "terraform fmt: files above need formatting (run: terraform fmt -recursive eks/)"
    exit 1
  fi
else
  log "terraform not found (or SKIP_TERRAFORM_FMT=1): skipping the fmt check"
fi

log "pytest eks/tests"
cd "$repo"
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider eks/tests "$@"
