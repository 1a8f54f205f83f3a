#!/usr/bin/env python3
"""Check that Grafana dashboards only query metrics that really exist.

Loads every dashboard JSON (default: charts/dashboards/*.json), extracts the metric names from
every PromQL expression (panel targets, also inside rows, and Prometheus template variables),
and compares them with one or more files of Prometheus text exposition, i.e. real `/metrics`
output of the running binaries. A name is known when a file has it as a sample name or as a
metric family (`# TYPE`/`# HELP` name), or when it matches an allowlist pattern (for metrics of
other exporters: kube-state-metrics, cAdvisor, Kafka Exporter, ...).

With --rules FILE (a Prometheus rules file, e.g. cost/rules/quakestream-cost.rules.yml), the
series the rules record are known names too, and the metric names the rules' own expressions use
are checked like the dashboards' (reading the rules needs PyYAML).

Exit status: 0 when every name is known, 1 when some are unknown (listed with where they are
used), 2 on bad input (unreadable file, invalid JSON). Standard library only.

    scripts/check_dashboards.py producer.prom consumer.prom frontend.prom \
        --allow-file charts/dashboards/external-metrics.txt --allow 'kube_*'
    scripts/check_dashboards.py --list            # print the names the dashboards use
"""

from __future__ import annotations

import argparse
import fnmatch
import glob
import json
import os
import re
import sys

# PromQL words that look like identifiers but are not metric names.
KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
    "offset", "inf", "nan", "atan2", "start", "end",
}
IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def strip_promql(expr: str) -> str:
    """Removes everything from a PromQL expression that can hold identifiers other than metric
    names: comments, string literals, label matchers, ranges/subqueries, grouping clauses,
    Grafana template variables, offsets and numbers with units."""
    s = re.sub(r"#[^\n]*", " ", expr)
    s = re.sub(r'"(?:\\.|[^"\\])*"', '""', s)
    s = re.sub(r"'(?:\\.|[^'\\])*'", "''", s)
    s = re.sub(r"`[^`]*`", "``", s)
    s = re.sub(r"\$\{[^}]*\}|\$\w+|\[\[[^\]]*\]\]", " 1 ", s)
    s = re.sub(r"\{[^{}]*\}", " ", s)
    s = re.sub(r"\[[^\[\]]*\]", " ", s)
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", " ", s)
    s = re.sub(r"\boffset\s+-?[0-9A-Za-z_]+", " ", s)
    s = re.sub(r"@\s*[0-9.]+|@\s*(start|end)\s*\(\s*\)", " ", s)
    s = re.sub(r"\b[0-9][0-9A-Za-z_.]*", " ", s)  # numbers, durations, hex
    return s


def metric_names(expr: str) -> set[str]:
    s = strip_promql(expr)
    names = set()
    for m in IDENT.finditer(s):
        word = m.group(0)
        rest = s[m.end():].lstrip()
        if rest.startswith("("):  # function or aggregation call
            continue
        if word.lower() in KEYWORDS:
            continue
        names.add(word)
    # Selectors written as {__name__="x"} name their metric inside the braces.
    for m in re.finditer(r'__name__\s*=\s*"([A-Za-z_:][A-Za-z0-9_:]*)"', expr):
        names.add(m.group(1))
    return names


def variable_expr(query) -> str | None:
    """PromQL inside a Prometheus template-variable query (label_values, query_result, ...)."""
    q = query.get("query") if isinstance(query, dict) else query
    if not isinstance(q, str) or not q.strip():
        return None
    m = re.match(r"\s*label_values\s*\((.*)\)\s*$", q, re.S)
    if m:
        inner = m.group(1)
        # label_values(metric{...}, label) or label_values(label): the selector is before the last comma.
        depth, cut = 0, None
        for i, ch in enumerate(inner):
            if ch in "({[":
                depth += 1
            elif ch in ")}]":
                depth -= 1
            elif ch == "," and depth == 0:
                cut = i
        return inner[:cut] if cut is not None else None
    m = re.match(r"\s*query_result\s*\((.*)\)\s*$", q, re.S)
    if m:
        return m.group(1)
    if re.match(r"\s*(label_names|metrics)\s*\(", q):
        return None
    return q


def ds_type(ds, default: str) -> str:
    if isinstance(ds, dict):
        t = ds.get("type")
        if t:
            return t
        uid = str(ds.get("uid", ""))
        if "loki" in uid.lower():
            return "loki"
        if uid:
            return "prometheus" if "prom" in uid.lower() or uid.startswith("$") else default
    if isinstance(ds, str):
        return "loki" if "loki" in ds.lower() else "prometheus"
    return default


def iter_panels(panels):
    for p in panels or []:
        yield p
        yield from iter_panels(p.get("panels"))


def dashboard_exprs(path: str, dash: dict):
    """Yields (where, promql) for every Prometheus expression of a dashboard."""
    default_ds = "prometheus"
    for p in iter_panels(dash.get("panels")):
        pds = ds_type(p.get("datasource"), default_ds)
        for t in p.get("targets") or []:
            tds = ds_type(t.get("datasource"), pds) if t.get("datasource") is not None else pds
            if tds != "prometheus":
                continue
            expr = t.get("expr")
            if isinstance(expr, str) and expr.strip():
                yield f"{os.path.basename(path)}: panel {p.get('title')!r} ref {t.get('refId')}", expr
    for v in (dash.get("templating") or {}).get("list") or []:
        if v.get("type") != "query" or ds_type(v.get("datasource"), default_ds) != "prometheus":
            continue
        expr = variable_expr(v.get("query") if v.get("query") is not None else v.get("definition"))
        if expr:
            yield f"{os.path.basename(path)}: variable ${v.get('name')}", expr


def exposition_names(path: str) -> set[str]:
    names = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            if line.startswith("#"):
                parts = line.split()
                if len(parts) >= 3 and parts[1] in ("TYPE", "HELP", "UNIT"):
                    names.add(parts[2])
                continue
            m = IDENT.match(line)
            if m:
                names.add(m.group(0))
    return names


def source_names(root: str) -> set[str]:
    """Approximate the exported names from Rust sources (for offline checks without binaries):
    string literals that look like metric names in files that use the `prometheus` crate, with
    the `quakestream_<subsystem>_` prefix when the file builds names with
    `.namespace("...").subsystem("...")`, plus histogram suffixes."""
    names = set()
    for fn in glob.glob(os.path.join(root, "**", "*.rs"), recursive=True):
        with open(fn, encoding="utf-8") as f:
            src = f.read()
        if "prometheus" not in src:
            continue
        prefixes = [""]
        for ns, sub in re.findall(r'namespace\(\s*"([a-z_]+)"\s*\)\s*\.subsystem\(\s*"([a-z_]+)"\s*\)', src):
            prefixes.append(f"{ns}_{sub}_")
        # Registry::new_custom(Some("prefix"), ...) prefixes every name registered in it.
        for pre in re.findall(r'new_custom\(\s*Some\(\s*"([a-z_]+)"', src):
            prefixes.append(f"{pre}_")
        for lit in re.findall(r'"([a-z_:][a-z0-9_:]*)"', src):
            for pre in prefixes:
                n = pre + lit
                if not n.startswith("quakestream_") or n.count("_") < 2:
                    continue
                names.add(n)
                for suffix in ("_bucket", "_sum", "_count"):
                    names.add(n + suffix)
    return names


def load_rules(path: str) -> list[tuple[str, str, str]]:
    """(where, record, expr) of every recording rule in a Prometheus rules file."""
    try:
        import yaml  # only needed with --rules
    except ImportError as e:
        raise OSError(f"--rules needs PyYAML ({e})") from e
    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    out = []
    for g in (doc or {}).get("groups") or []:
        for r in g.get("rules") or []:
            if "record" in r:
                out.append((f"{os.path.basename(path)}: rule {r['record']}", r["record"], str(r.get("expr", ""))))
    return out


def load_patterns(files, extra) -> list[str]:
    pats = list(extra or [])
    for fn in files or []:
        with open(fn, encoding="utf-8") as f:
            for line in f:
                line = line.split("#", 1)[0].strip()
                if line:
                    pats.append(line)
    return pats


def main(argv=None) -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("metrics", nargs="*", help="files of Prometheus text exposition (real /metrics output)")
    ap.add_argument("--dashboards", nargs="+", default=None,
                    help="dashboard JSON files or directories (default: charts/dashboards)")
    ap.add_argument("--allow", action="append", default=[], metavar="PATTERN",
                    help="shell-style pattern of metric names to accept without exposition (repeatable)")
    ap.add_argument("--allow-file", action="append", default=[], metavar="FILE",
                    help="file of such patterns, one per line, # comments")
    ap.add_argument("--from-source", metavar="DIR", action="append", default=[],
                    help="also accept names found in the Rust sources under DIR (offline approximation; "
                         "CI should pass real /metrics output instead)")
    ap.add_argument("--rules", action="append", default=[], metavar="FILE",
                    help="Prometheus rules file: its recorded series are known names, and the names its "
                         "expressions use are checked too (repeatable)")
    ap.add_argument("--list", action="store_true", help="print the metric names each dashboard uses and exit")
    args = ap.parse_args(argv)

    targets = args.dashboards or [os.path.join(here, "..", "charts", "dashboards")]
    files = []
    for t in targets:
        files.extend(sorted(glob.glob(os.path.join(t, "*.json"))) if os.path.isdir(t) else [t])
    if not files:
        print("check_dashboards: no dashboard JSON found", file=sys.stderr)
        return 2

    used: dict[str, list[str]] = {}
    for fn in files:
        try:
            with open(fn, encoding="utf-8") as f:
                dash = json.load(f)
        except (OSError, ValueError) as e:
            print(f"check_dashboards: {fn}: {e}", file=sys.stderr)
            return 2
        if not isinstance(dash, dict) or not isinstance(dash.get("panels"), list) or not dash.get("uid"):
            print(f"check_dashboards: {fn}: not a Grafana dashboard (needs uid and panels)", file=sys.stderr)
            return 2
        for where, expr in dashboard_exprs(fn, dash):
            names = metric_names(expr)
            if not names:
                print(f"check_dashboards: {where}: no metric name found in {expr!r}", file=sys.stderr)
                return 2
            for n in names:
                used.setdefault(n, []).append(where)

    recorded: set[str] = set()
    for fn in args.rules:
        try:
            rules = load_rules(fn)
        except (OSError, ValueError) as e:
            print(f"check_dashboards: {fn}: {e}", file=sys.stderr)
            return 2
        for where, record, expr in rules:
            recorded.add(record)
            for n in metric_names(expr):
                used.setdefault(n, []).append(where)

    if args.list:
        for n in sorted(used):
            print(n)
        return 0

    if not args.metrics and not args.from_source:
        print("check_dashboards: give at least one file of /metrics output (or --from-source, --list)", file=sys.stderr)
        return 2
    known: set[str] = set(recorded)
    for root in args.from_source:
        known |= source_names(root)
    for fn in args.metrics:
        try:
            known |= exposition_names(fn)
        except OSError as e:
            print(f"check_dashboards: {fn}: {e}", file=sys.stderr)
            return 2
    try:
        patterns = load_patterns(args.allow_file, args.allow)
    except OSError as e:
        print(f"check_dashboards: {e}", file=sys.stderr)
        return 2

    unknown = {n: w for n, w in used.items()
               if n not in known and not any(fnmatch.fnmatchcase(n, p) for p in patterns)}
    if unknown:
        print(f"check_dashboards: {len(unknown)} metric name(s) used by dashboards are not exported:", file=sys.stderr)
        for n in sorted(unknown):
            print(f"  {n}", file=sys.stderr)
            for w in sorted(set(unknown[n])):
                print(f"      used in {w}", file=sys.stderr)
        return 1
    print(f"check_dashboards: {len(used)} metric names in {len(files)} dashboard(s), all exported or allowed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
