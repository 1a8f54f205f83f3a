"""Checks a GitHub Actions workflow beyond its schema (scripts/check-supply-chain.sh runs it):

- every `uses:` names an action by a full commit SHA with its release in a comment
  (`owner/repo@<40 hex> # v1.2.3`), because a tag can be moved to another commit;
- every job has a timeout, and the workflow's token is read-only unless a job says otherwise;
- the `run:` blocks are written out as bash scripts (expressions replaced by a placeholder) into
  OUT_DIR, for shellcheck.

usage: python3 scripts/check_workflow.py WORKFLOW OUT_DIR   (exit 1 listing every problem)
"""

import re
import sys
from pathlib import Path

from ruamel.yaml import YAML

PINNED = re.compile(r"^\s*(-\s+)?uses:\s+[\w.-]+/[\w./-]+@[0-9a-f]{40} # v?\d+\.\d+\.\d+\s*$")
USES = re.compile(r"^\s*(-\s+)?uses:")
EXPRESSION = re.compile(r"\$\{\{.*?\}\}", re.S)


def pin_problems(text):
    """Lines with a `uses:` that is not OWNER/REPO@SHA # vX.Y.Z."""
    return [
        f"line {n}: action not pinned as OWNER/REPO@<commit SHA> # vX.Y.Z: {line.strip()}"
        for n, line in enumerate(text.splitlines(), 1)
        if USES.match(line) and not PINNED.match(line)
    ]


def structure_problems(workflow):
    problems = []
    if not isinstance(workflow, dict) or not workflow.get("jobs"):
        return ["no jobs"]
    if workflow.get("permissions") != {"contents": "read"}:
        problems.append("the workflow's permissions are not `contents: read`")
    for name, job in workflow["jobs"].items():
        if "timeout-minutes" not in job:
            problems.append(f"job {name}: no timeout-minutes")
        for i, step in enumerate(job.get("steps") or []):
            if ("run" in step) == ("uses" in step):
                problems.append(f"job {name} step {i}: exactly one of run/uses")
    return problems


def write_run_blocks(workflow, out_dir):
    """Writes each run: block as OUT_DIR/NN-JOB.sh; returns how many."""
    out_dir.mkdir(parents=True, exist_ok=True)
    n = 0
    for name, job in workflow["jobs"].items():
        env = {**(workflow.get("env") or {}), **(job.get("env") or {})}
        for step in job.get("steps") or []:
            if "run" not in step:
                continue
            n += 1
            names = {**env, **(step.get("env") or {})}
            # The env: of the workflow, job and step, assigned, so shellcheck knows them.
            header = "".join(f"{k}=EXPR\nexport {k}\n" for k in names)
            body = EXPRESSION.sub("EXPR", str(step["run"]))
            (out_dir / f"{n:02d}-{name}.sh").write_text(f"#!/usr/bin/env bash\nset -euo pipefail\n{header}{body}")
    return n


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    path, out_dir = Path(argv[1]), Path(argv[2])
    text = path.read_text()
    workflow = YAML(typ="safe").load(text)
    problems = pin_problems(text) + structure_problems(workflow)
    if not any(USES.match(line) for line in text.splitlines()):
        problems.append("no `uses:` at all (the pin check checked nothing)")
    if not problems and write_run_blocks(workflow, out_dir) == 0:
        problems.append("no run: blocks (nothing for shellcheck)")
    for p in problems:
        print(f"{path}: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
