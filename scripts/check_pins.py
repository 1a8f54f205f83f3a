#!/usr/bin/env python3
"""Every pinned version of the cluster path comes from deploy/pins.env.

Files that can read the pins file must (kind-up.sh, the check scripts, the workflow, Terraform's
helm.tf) and may not name a pinned version themselves; files that cannot (a Dockerfile ARG
default, a manifest's image, kind-config.yaml, a workflow `uses:`, a Terraform module `version`)
must say exactly what the pins file says. So a bump is one edit in deploy/pins.env, and this
check names every other place that still disagrees.

Usage: check_pins.py [REPO_ROOT]    exits 1 with one line per problem.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]
PINS_FILE = ROOT / "deploy" / "pins.env"
LINE = re.compile(r"^([A-Z0-9_]+)=(\S+)$")

errors: list[str] = []


def err(where: str, msg: str) -> None:
    errors.append(f"{where}: {msg}")


def read_pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for n, raw in enumerate(PINS_FILE.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = LINE.match(line)
        if not m:
            err(f"deploy/pins.env:{n}", f"not KEY=value (no spaces, no quotes): {raw!r}")
            continue
        if m.group(1) in pins:
            err(f"deploy/pins.env:{n}", f"{m.group(1)} is pinned twice")
        pins[m.group(1)] = m.group(2)
    return pins


def text(rel: str) -> str:
    return (ROOT / rel).read_text()


def reads_pins(rel: str, marker: str = "deploy/pins.env") -> None:
    if marker not in text(rel):
        err(rel, "does not read deploy/pins.env")


def no_assignment(rel: str, pins: dict[str, str]) -> None:
    """A script that sources the pins file must not set a pinned name itself."""
    for n, line in enumerate(text(rel).splitlines(), 1):
        m = re.match(r"^\s*([A-Z0-9_]+)=", line)
        if m and m.group(1) in pins:
            err(f"{rel}:{n}", f"sets {m.group(1)} itself; it comes from deploy/pins.env")


def no_literal(rel: str, pins: dict[str, str], keys: list[str]) -> None:
    body = text(rel)
    for k in keys:
        if re.search(rf"(?<![\w.]){re.escape(pins[k])}(?![\w.])", body):
            err(rel, f"names {k}'s value {pins[k]!r} literally; use the pin from deploy/pins.env")


def equal(rel: str, pattern: str, key: str, pins: dict[str, str]) -> None:
    """Every match of `pattern` (one group) in `rel` must be the pinned value of `key`."""
    found = re.findall(pattern, text(rel), re.M)
    if not found:
        err(rel, f"no {key} found (pattern {pattern})")
    for v in found:
        if v != pins[key]:
            err(rel, f"{v!r} differs from deploy/pins.env {key}={pins[key]}")


def check(pins: dict[str, str]) -> None:
    chart_versions = [k for k in pins if k.endswith("_VERSION") and k not in ("DYNOXIDE_VERSION",)]

    # Scripts that source the pins file.
    for rel in ("scripts/kind-up.sh", "scripts/lib/k8s-tools.sh", "scripts/check-eks.sh"):
        reads_pins(rel)
        no_assignment(rel, pins)
    no_literal("scripts/kind-up.sh", pins, [k for k in pins if k.endswith(("_VERSION", "_IMAGE"))])
    no_literal("scripts/lib/k8s-tools.sh", pins, ["KUBERNETES_VALIDATE_VERSION", "HELM_BINARY_VERSION", "PYYAML_VERSION"])
    no_literal("scripts/check-eks.sh", pins, ["PYTHON_HCL2_VERSION", "PYTEST_VERSION", "PYYAML_VERSION"])
    if "source deploy/pins.env" not in text("scripts/check-cluster-files.sh"):
        err("scripts/check-cluster-files.sh", "--online must take the chart pins from deploy/pins.env")

    # Every `helm upgrade` of a third-party chart in kind-up.sh passes a pinned --version variable.
    script = text("scripts/kind-up.sh")
    for m in re.finditer(r"h upgrade --install (\S+) (\S+)((?:[^\n]*\\\n)*[^\n]*)", script):
        release, chart, rest = m.groups()
        if chart.startswith('"$OPERATOR_CHART"'):
            continue
        v = re.search(r'--version "\$([A-Z0-9_]+)"', rest)
        if not v or v.group(1) not in pins:
            err("scripts/kind-up.sh", f"helm release {release} does not use a --version from deploy/pins.env")

    # Files that cannot read it: exact equality.
    equal("kind-config.yaml", r"^\s*image:\s*(\S+)", "KIND_NODE_IMAGE", pins)
    equal("deploy/kind/dynoxide.yaml", r"image:\s*ghcr\.io/quakestream/dynoxide:(\S+)", "DYNOXIDE_VERSION", pins)
    for key in ("RUST_IMAGE", "NODE_IMAGE", "RUNTIME_IMAGE", "DYNOXIDE_VERSION"):
        equal("Dockerfile", rf"^ARG {key}=(\S+)", key, pins)

    # The workflow loads the pins file and pins its actions to the listed refs.
    wf = ".github/workflows/kind-e2e.yaml"
    reads_pins(wf)
    no_literal(wf, pins, ["KIND_VERSION", "HELM_VERSION", "PYTHON_VERSION"])
    refs = {"actions/checkout": "ACTIONS_CHECKOUT_REF", "azure/setup-helm": "AZURE_SETUP_HELM_REF",
            "actions/setup-python": "ACTIONS_SETUP_PYTHON_REF"}
    for action, ref in re.findall(r"uses:\s*([\w.-]+/[\w.-]+)@(\S+)", text(wf)):
        key = refs.get(action)
        if key is None:
            err(wf, f"action {action} has no pin in deploy/pins.env")
        elif ref != pins[key]:
            err(wf, f"{action}@{ref} differs from deploy/pins.env {key}={pins[key]}")

    # Terraform: chart versions from the pins file; module versions equal to the pins.
    helm_tf = "eks/helm.tf"
    reads_pins(helm_tf)
    no_literal(helm_tf, pins, [k for k in chart_versions if k in text(helm_tf)])
    for key in ("STRIMZI", "PROMETHEUS", "LOKI", "GRAFANA", "ALLOY", "AWS_LOAD_BALANCER_CONTROLLER", "EXTERNAL_DNS"):
        if f"local.pins.{key}_VERSION" not in text(helm_tf):
            err(helm_tf, f"chart version {key}_VERSION is not taken from local.pins")
    if re.search(r'version\s*=\s*"\d', text(helm_tf)):
        err(helm_tf, "a helm_release names a version literally")
    if re.search(r'default\s*=\s*\{\s*\n\s*aws_load_balancer_controller\s*=\s*"\d', text("eks/variables.tf")):
        err("eks/variables.tf", "chart versions are pinned in deploy/pins.env, not as variable defaults")
    for rel, key in (("eks/eks.tf", "TF_MODULE_EKS_VERSION"), ("eks/iam.tf", "TF_MODULE_IAM_VERSION"),
                     ("eks/vpc.tf", "TF_MODULE_VPC_VERSION")):
        equal(rel, r'^\s*version\s*=\s*"(\d+\.\d+\.\d+)"', key, pins)


def main() -> int:
    pins = read_pins()
    if not errors:
        check(pins)
    for e in errors:
        print(f"FAIL {e}", file=sys.stderr)
    if not errors:
        print(f"pins: {len(pins)} pins in deploy/pins.env; every consumer agrees")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
