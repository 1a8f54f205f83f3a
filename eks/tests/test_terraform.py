"""Static checks of eks/*.tf that run without AWS, providers or a network.

- every .tf file parses (python-hcl2);
- providers and modules are pinned;
- the DynamoDB table is the one `quakestream table create` creates (keys, attribute types, GSI
  name, keys and projection, TTL attribute), read from the store code
  (workloads/store/src/lib.rs `Store::create_table` and the `attr` constants of item.rs), or from
  `quakestream table describe --json` when that subcommand exists (or QS_TABLE_DESCRIBE_JSON names
  a file with its output);
- no IAM policy grants a wildcard DynamoDB action or resource; the consumer only writes (plus the
  GetItem of its merge), the frontend only reads, the producer and the operator get nothing;
- the DynamoDB calls the code makes are exactly the ones the roles are built for;
- IRSA trust names the ServiceAccounts the operator creates;
- the edge (WAF rate rule, managed rules, HTTPS redirect annotations) and Kafka sizing;
- examples/quakestream-eks.yaml agrees with the Terraform, when it exists.

Run with scripts/check-eks.sh.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import hcl2
import pytest

EKS = Path(__file__).resolve().parents[1]
REPO = EKS.parent
STORE_SRC = REPO / "workloads" / "store" / "src"
TF_FILES = sorted(EKS.glob("*.tf"))

# --------------------------------------------------------------------------------------------
# HCL loading and normalisation
# --------------------------------------------------------------------------------------------


def _unquote(s: str) -> str:
    if len(s) >= 2 and s[0] == '"' and s[-1] == '"':
        return s[1:-1]
    return s


def _norm(v: Any) -> Any:
    """python-hcl2 keeps quotes on labels and string literals and adds bookkeeping keys."""
    if isinstance(v, dict):
        return {
            _unquote(k): _norm(x) for k, x in v.items() if k not in ("__is_block__", "__comments__", "__inline_comments__")
        }
    if isinstance(v, list):
        return [_norm(x) for x in v]
    if isinstance(v, str):
        return _unquote(v)
    return v


@functools.cache
def parsed() -> dict[str, dict]:
    out = {}
    for f in TF_FILES:
        with f.open() as fh:
            out[f.name] = _norm(hcl2.load(fh))
    return out


def blocks(kind: str) -> list[dict]:
    """All top-level blocks of a kind (`resource`, `data`, `module`, `locals`, ...) across files."""
    found = []
    for doc in parsed().values():
        found.extend(doc.get(kind, []))
    return found


def typed(kind: str, type_: str) -> dict[str, dict]:
    """`resource`/`data` blocks of one type, by name."""
    out = {}
    for b in blocks(kind):
        for t, named in b.items():
            if t == type_:
                out.update(named)
    return out


@functools.cache
def all_locals() -> dict:
    merged: dict = {}
    for b in blocks("locals"):
        merged.update(b)
    return merged


def variable_default(name: str) -> Any:
    for b in blocks("variable"):
        if name in b:
            return b[name].get("default")
    raise KeyError(name)


LOCAL_REF = re.compile(r"^\$\{local\.([A-Za-z0-9_.]+)\}$")


def resolve(v: Any) -> Any:
    """Resolves `${local.a.b}` references (recursively) to their literal values."""
    if isinstance(v, str):
        m = LOCAL_REF.match(v)
        if m:
            cur: Any = all_locals()
            for part in m.group(1).split("."):
                cur = cur[part]
            return resolve(cur)
        return v
    if isinstance(v, list):
        return [resolve(x) for x in v]
    if isinstance(v, dict):
        return {k: resolve(x) for k, x in v.items()}
    return v


def one(blocks_: list) -> dict:
    assert isinstance(blocks_, list) and len(blocks_) == 1, blocks_
    return blocks_[0]


def tf_text() -> str:
    return "\n".join(f.read_text() for f in TF_FILES)


# --------------------------------------------------------------------------------------------
# Parsing and pinning
# --------------------------------------------------------------------------------------------


def test_there_are_terraform_files():
    names = {f.name for f in TF_FILES}
    for expected in ("versions.tf", "variables.tf", "outputs.tf", "dynamodb.tf", "iam.tf", "edge.tf", "helm.tf"):
        assert expected in names


@pytest.mark.parametrize("path", TF_FILES, ids=lambda p: p.name)
def test_file_parses(path: Path):
    with path.open() as fh:
        doc = hcl2.load(fh)
    assert doc, f"{path.name} parsed to nothing"


def test_providers_are_pinned():
    tf = one(blocks("terraform"))
    assert tf.get("required_version"), "terraform.required_version missing"
    providers = one(tf["required_providers"])
    assert set(providers) >= {"aws", "helm", "kubernetes"}
    for name, spec in providers.items():
        assert spec.get("source", "").startswith("hashicorp/"), name
        assert re.match(r"^(~>\s*)?\d+\.\d+", spec.get("version", "")), f"provider {name} is not pinned: {spec}"


def test_modules_are_pinned_exactly():
    mods = {}
    for b in blocks("module"):
        mods.update(b)
    assert {"vpc", "eks", "ebs_csi_irsa", "lb_controller_irsa"} <= set(mods)
    for name, m in mods.items():
        assert m["source"].startswith("terraform-aws-modules/"), name
        assert re.fullmatch(r"\d+\.\d+\.\d+", m.get("version", "")), f"module {name} must pin an exact version"


def pins() -> dict[str, str]:
    """deploy/pins.env, the one file naming every pin (scripts/check_pins.py checks its consumers)."""
    text = (REPO / "deploy" / "pins.env").read_text()
    return dict(re.findall(r"^([A-Z0-9_]+)=(\S+)$", text, re.M))


def test_helm_charts_are_pinned():
    releases = typed("resource", "helm_release")
    for name, r in releases.items():
        if r["chart"].startswith("${path.module}") or r["chart"].startswith("${local."):
            continue  # local charts: versioned with this repository
        assert r.get("version", "").startswith("${local.chart_versions."), f"helm_release.{name} is not pinned"
        assert r.get("repository", "").startswith("${local.chart_repositories."), f"helm_release.{name}"
    helm_tf = (EKS / "helm.tf").read_text()
    assert "deploy/pins.env" in helm_tf, "eks/helm.tf reads its chart pins from deploy/pins.env"
    for key, v in pins().items():
        if key.endswith("_VERSION") and f"local.pins.{key}" in helm_tf:
            assert re.fullmatch(r"\d+\.\d+\.\d+", v), f"{key}={v!r} is not an exact version"
    assert variable_default("chart_versions") == {}, "versions live in deploy/pins.env; the variable only overrides"


# --------------------------------------------------------------------------------------------
# The table: Terraform vs the store code
# --------------------------------------------------------------------------------------------


def _rust_sources() -> str:
    return "\n".join(p.read_text() for p in sorted(STORE_SRC.glob("*.rs")))


def _rust_consts(src: str) -> dict[str, Any]:
    """`const NAME: &str = "v";` and `const NAME: [&str; N] = [A, B, "c"];` (by name, last wins)."""
    consts: dict[str, Any] = {}
    for m in re.finditer(r'const\s+([A-Z][A-Z0-9_]*)\s*:\s*&(?:\'static\s+)?str\s*=\s*"([^"]*)"\s*;', src):
        consts[m.group(1)] = m.group(2)
    for m in re.finditer(r"const\s+([A-Z][A-Z0-9_]*)\s*:\s*\[\s*&(?:'static\s+)?str\s*;\s*\d+\s*\]\s*=\s*\[(.*?)\]\s*;", src, re.S):
        items = []
        for tok in re.split(r",", m.group(2)):
            tok = tok.strip()
            if not tok:
                continue
            if tok.startswith('"'):
                items.append(tok.strip('"'))
            else:
                items.append(tok.split("::")[-1])  # resolved below
        consts[m.group(1)] = items
    for k, v in list(consts.items()):
        if isinstance(v, list):
            consts[k] = [x if x not in consts or not isinstance(consts[x], str) else consts[x] for x in v]
    return consts


def _value(expr: str, consts: dict[str, Any]) -> Any:
    """A string literal or a constant (`attr::UNID`); None for anything else (closure parameters)."""
    expr = expr.strip().lstrip("&*")
    if expr.startswith('"'):
        return expr.strip('"')
    return consts.get(expr.split("::")[-1])


def _fn_body(src: str, name: str) -> str:
    m = re.search(r"fn\s+" + name + r"\b[^{]*\{", src)
    assert m, f"fn {name} not found in workloads/store/src"
    depth, i = 1, m.end()
    while depth:
        c = src[i]
        depth += c == "{"
        depth -= c == "}"
        i += 1
    return src[m.end() : i - 1]


def table_from_rust() -> dict:
    """The table `Store::create_table` creates, as {hash_key, attributes, gsis, ttl_attribute, billing}."""
    src = _rust_sources()
    consts = _rust_consts(src)
    body = _fn_body(src, "create_table")

    attributes = {}
    # def(attr::X) with a closure fixing the type, or explicit AttributeDefinition builders.
    def_type = re.search(r"attribute_type\(ScalarAttributeType::(\w)\)", body)
    for m in re.finditer(r"\.attribute_definitions\(\s*def\(([^)]*)\)\s*\)", body):
        attributes[_value(m.group(1), consts)] = def_type.group(1) if def_type else "?"
    for m in re.finditer(
        r"AttributeDefinition::builder\(\)\s*\.attribute_name\(([^)]*)\)\s*\.attribute_type\(ScalarAttributeType::(\w)\)", body
    ):
        attributes[_value(m.group(1), consts)] = m.group(2)
    attributes.pop(None, None)

    def keys(segment: str) -> dict[str, str]:
        out = {}
        for m in re.finditer(r"key\(([^,()]+),\s*KeyType::(Hash|Range)\)", segment):
            out[m.group(2).upper()] = _value(m.group(1), consts)
        for m in re.finditer(
            r"KeySchemaElement::builder\(\)\s*\.attribute_name\(([^)]*)\)\s*\.key_type\(KeyType::(Hash|Range)\)", segment
        ):
            out[m.group(2).upper()] = _value(m.group(1), consts)
        return {k: v for k, v in out.items() if v is not None}

    gsi_start = body.index("GlobalSecondaryIndex::builder()")
    gsi_end = body.index(".build()", body.index("projection(", gsi_start))
    # The GSI's own `.build()` follows the Projection's.
    gsi_end = body.index(".build()", gsi_end + 1)
    gsi_seg = body[gsi_start:gsi_end]
    table_seg = body[body.index(".create_table()") :]

    proj = re.search(r"ProjectionType::(\w+)", gsi_seg).group(1).upper()
    non_key = None
    m = re.search(r"set_non_key_attributes\(Some\(([\w:]+)\.iter", gsi_seg) or re.search(
        r"non_key_attributes\(([\w:]+)\)", gsi_seg
    )
    if m:
        non_key = _value(m.group(1), consts)

    index_name = _value(re.search(r"\.index_name\(([^)]*)\)", gsi_seg).group(1), consts)
    ttl = re.search(r"TimeToLiveSpecification::builder\(\)(.*?)\.build\(\)", src, re.S)
    ttl_attr = _value(re.search(r"\.attribute_name\(([^)]*)\)", ttl.group(1)).group(1), consts) if ttl else None
    billing = re.search(r"BillingMode::(\w+)", table_seg).group(1)

    return {
        "hash_key": keys(table_seg).get("HASH"),
        "range_key": keys(table_seg).get("RANGE"),
        "attributes": attributes,
        "gsis": {
            index_name: {
                "hash_key": keys(gsi_seg).get("HASH"),
                "range_key": keys(gsi_seg).get("RANGE"),
                "projection_type": proj,
                "non_key_attributes": sorted(non_key) if non_key else None,
            }
        },
        "ttl_attribute": ttl_attr,
        "billing": {"PayPerRequest": "PAY_PER_REQUEST", "Provisioned": "PROVISIONED"}.get(billing, billing),
    }


def table_from_describe_json(doc: dict) -> dict:
    """The DynamoDB CreateTable/DescribeTable JSON shape (optionally under "Table")."""
    t = doc.get("Table", doc)

    def keys(schema):
        return {k["KeyType"].upper(): k["AttributeName"] for k in schema}

    gsis = {}
    for g in t.get("GlobalSecondaryIndexes", []):
        k = keys(g["KeySchema"])
        p = g.get("Projection", {})
        gsis[g["IndexName"]] = {
            "hash_key": k.get("HASH"),
            "range_key": k.get("RANGE"),
            "projection_type": p.get("ProjectionType", "").upper(),
            "non_key_attributes": sorted(p["NonKeyAttributes"]) if p.get("NonKeyAttributes") else None,
        }
    base = keys(t["KeySchema"])
    ttl = t.get("TimeToLiveSpecification") or t.get("TimeToLiveDescription") or {}
    billing = t.get("BillingMode") or (t.get("BillingModeSummary") or {}).get("BillingMode")
    return {
        "hash_key": base.get("HASH"),
        "range_key": base.get("RANGE"),
        "attributes": {a["AttributeName"]: a["AttributeType"] for a in t["AttributeDefinitions"]},
        "gsis": gsis,
        "ttl_attribute": ttl.get("AttributeName"),
        "billing": billing,
    }


def _quakestream_binary() -> str | None:
    for p in (REPO / "target" / "release" / "quakestream", REPO / "target" / "debug" / "quakestream"):
        if p.is_file() and os.access(p, os.X_OK):
            return str(p)
    return shutil.which("quakestream")


@functools.cache
def expected_table() -> tuple[str, dict]:
    """(where it came from, the table) — the describe JSON if available, else the Rust source."""
    path = os.environ.get("QS_TABLE_DESCRIBE_JSON")
    if path:
        return f"QS_TABLE_DESCRIBE_JSON={path}", table_from_describe_json(json.loads(Path(path).read_text()))
    binary = _quakestream_binary()
    if binary:
        try:
            out = subprocess.run(
                [binary, "table", "describe", "--json"], capture_output=True, text=True, timeout=30, check=False
            )
            if out.returncode == 0 and out.stdout.strip().startswith("{"):
                return f"{binary} table describe --json", table_from_describe_json(json.loads(out.stdout))
        except (OSError, subprocess.TimeoutExpired):
            pass
    return "workloads/store/src (Store::create_table)", table_from_rust()


def table_from_terraform() -> dict:
    t = resolve(typed("resource", "aws_dynamodb_table")["quakes"])
    gsis = {}
    for g in t.get("global_secondary_index", []):
        gsis[g["name"]] = {
            "hash_key": g["hash_key"],
            "range_key": g.get("range_key"),
            "projection_type": g["projection_type"],
            "non_key_attributes": sorted(g["non_key_attributes"]) if g.get("non_key_attributes") else None,
        }
    return {
        "hash_key": t["hash_key"],
        "range_key": t.get("range_key"),
        "attributes": {a["name"]: a["type"] for a in t["attribute"]},
        "gsis": gsis,
        "ttl_attribute": one(t["ttl"])["attribute_name"],
        "billing": t["billing_mode"],
    }


def test_store_code_parses_to_the_documented_schema():
    """Guards the Rust parser itself: the store documents `unid` + GSI keyed by day/time."""
    origin, code = expected_table()
    assert code["hash_key"] == "unid", origin
    assert len(code["gsis"]) == 1, origin
    (gsi,) = code["gsis"].values()
    assert gsi["hash_key"] and gsi["range_key"], origin
    assert set(code["attributes"]) == {code["hash_key"], gsi["hash_key"], gsi["range_key"]}


@pytest.mark.parametrize("field", ["hash_key", "range_key", "attributes", "gsis", "ttl_attribute", "billing"])
def test_table_matches_the_code(field):
    origin, code = expected_table()
    tf = table_from_terraform()
    assert tf[field] == code[field], f"{field}: Terraform {tf[field]!r} != {origin} {code[field]!r}"


def test_table_operations_settings():
    t = resolve(typed("resource", "aws_dynamodb_table")["quakes"])
    assert t["billing_mode"] == "PAY_PER_REQUEST"
    assert one(t["point_in_time_recovery"])["enabled"] is True
    assert one(t["ttl"])["enabled"] is True
    assert t["stream_enabled"] is True and t["stream_view_type"] == "NEW_AND_OLD_IMAGES"
    assert "provisioned_throughput" not in t and "read_capacity" not in t
    replica = one(t["dynamic"])["replica"]
    assert replica["for_each"] == '${var.replica_region == "" ? [] : [var.replica_region]}'
    content = one(replica["content"])
    assert content["region_name"] == "${replica.value}"
    assert content["point_in_time_recovery"] is True
    assert variable_default("replica_region")
    assert variable_default("table_name") == "quakes"


# --------------------------------------------------------------------------------------------
# IAM
# --------------------------------------------------------------------------------------------

DYNAMODB_WRITE = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem"}
DYNAMODB_READ = {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGetItem"}
DYNAMODB_METADATA = {"dynamodb:DescribeTable"}

# The SDK calls of workloads/store and who makes them. `table create` (admin) is not a workload:
# on EKS Terraform creates the table. A new call in the code fails test_code_calls_are_the_granted_ones
# until IAM (iam.tf) and this map are updated together.
CODE_CALLS = {
    "put_item": ("consumer", "dynamodb:PutItem"),
    "get_item": ("consumer+frontend", "dynamodb:GetItem"),  # the consumer's merge reads the item back
    "query": ("frontend", "dynamodb:Query"),
    "create_table": ("admin", "dynamodb:CreateTable"),
    "update_time_to_live": ("admin", "dynamodb:UpdateTimeToLive"),
    "wait_until_table_exists": ("admin", "dynamodb:DescribeTable"),
    "describe_table": ("consumer+frontend", "dynamodb:DescribeTable"),  # Store::probe, for readiness
}


def policy_documents() -> dict[str, dict]:
    return typed("data", "aws_iam_policy_document")


def statements(doc: dict) -> list[dict]:
    return resolve(doc.get("statement", []))


def _strip_interpolations(s: str) -> str:
    """`${...}` is a reference (an ARN from state), not a literal wildcard; look outside it."""
    out, depth, i = [], 0, 0
    while i < len(s):
        if s.startswith("${", i):
            depth += 1
            i += 2
            continue
        if depth and s[i] == "{":
            depth += 1
        elif depth and s[i] == "}":
            depth -= 1
        elif not depth:
            out.append(s[i])
        i += 1
    return "".join(out)


def _as_list(v: Any) -> list:
    if isinstance(v, list):
        return v
    return [v]


def test_no_wildcard_dynamodb_action_or_resource():
    problems = []
    for name, doc in policy_documents().items():
        for st in statements(doc):
            assert "not_actions" not in st and "not_resources" not in st, f"{name}: NotAction/NotResource"
            actions = [a for a in _as_list(st.get("actions", []))]
            flat = [a for a in actions if isinstance(a, str)]
            dynamo = [a for a in flat if a.lower().startswith("dynamodb:") or a == "*"]
            for a in dynamo:
                if "*" in a or "?" in a:
                    problems.append(f"{name}: wildcard action {a}")
            if dynamo:
                for r in _as_list(st.get("resources", [])):
                    r = r if isinstance(r, str) else json.dumps(r)
                    literal = _strip_interpolations(r)
                    if "*" in literal or "?" in literal:
                        problems.append(f"{name}: wildcard resource {r}")
                    # Indirect lists must come from the table's own ARNs.
                    if r.startswith("${") and "aws_dynamodb_table.quakes" not in r and "local.table_arn" not in r:
                        if "replica_table_arns" not in r:
                            problems.append(f"{name}: resource {r} is not the quakes table")
    # Inline JSON policies anywhere (aws_iam_policy / aws_iam_role_policy with jsonencode).
    for m in re.finditer(r'"dynamodb:[^"]*[*?][^"]*"', tf_text()):
        problems.append(f"wildcard DynamoDB action in text: {m.group(0)}")
    assert not problems, "\n".join(problems)


def test_no_managed_dynamodb_policies():
    text = tf_text()
    assert not re.search(r"AmazonDynamoDB\w*Access", text), "use the inline least-privilege policies"
    for name, att in typed("resource", "aws_iam_role_policy_attachment").items():
        assert "DynamoDB" not in att.get("policy_arn", ""), name


def _role_actions(role: str) -> dict[str, set[str]]:
    """Resource kind ('table' or 'index') -> actions granted to the role's inline policy."""
    policy = typed("resource", "aws_iam_role_policy")[role]
    assert policy["role"] == f"${{aws_iam_role.{role}.id}}"
    doc_name = re.fullmatch(r"\$\{data\.aws_iam_policy_document\.(\w+)\.json\}", policy["policy"]).group(1)
    out: dict[str, set[str]] = {"table": set(), "index": set()}
    for st in statements(policy_documents()[doc_name]):
        assert st.get("effect", "Allow") == "Allow"
        res = st["resources"]
        kind = "index" if isinstance(res, str) and "/index/" in res else "table"
        out[kind] |= set(st["actions"])
    return out


def test_consumer_only_writes_the_table():
    acts = _role_actions("consumer")
    assert acts["index"] == set(), "the consumer never touches the index"
    assert "dynamodb:PutItem" in acts["table"]
    assert acts["table"] <= DYNAMODB_WRITE | DYNAMODB_METADATA | {"dynamodb:GetItem"}
    assert not acts["table"] & {"dynamodb:Query", "dynamodb:Scan", "dynamodb:BatchGetItem"}
    doc = statements(policy_documents()["consumer"])
    for st in doc:
        # Primary region only: conditional writes are atomic per region.
        assert st["resources"] == ["${aws_dynamodb_table.quakes.arn}"], st["resources"]


def test_frontend_only_reads_the_table_and_index():
    acts = _role_actions("frontend")
    assert acts["table"] <= DYNAMODB_READ | DYNAMODB_METADATA
    assert acts["index"] <= {"dynamodb:Query"}
    assert acts["index"], "the frontend queries by_day"
    assert not (acts["table"] | acts["index"]) & (DYNAMODB_WRITE | {"dynamodb:Scan"})
    gsi = resolve("${local.table.gsi_name}")
    index_st = [st for st in statements(policy_documents()["frontend"]) if "Query" in str(st["actions"])]
    assert index_st
    for st in index_st:
        res = str(st["resources"])
        assert f"/index/{gsi}" in res or "/index/${local.table.gsi_name}" in res, res


def test_code_calls_are_the_granted_ones():
    src = _rust_sources()
    for extra in ("consumer", "frontend"):
        d = REPO / "workloads" / extra / "src"
        if d.is_dir():
            src += "\n".join(p.read_text() for p in sorted(d.glob("*.rs")))
    ops = set(
        re.findall(
            r"\.(put_item|update_item|delete_item|get_item|batch_get_item|batch_write_item|query|scan|"
            r"describe_table|create_table|update_time_to_live|describe_time_to_live|transact_write_items|"
            r"transact_get_items|update_table|delete_table|wait_until_table_exists)\(\)",
            src,
        )
    )
    unknown = ops - set(CODE_CALLS)
    assert not unknown, f"the code now calls {sorted(unknown)}: grant it in eks/iam.tf (or not) and update CODE_CALLS"
    granted = {
        "consumer": set().union(*_role_actions("consumer").values()),
        "frontend": set().union(*_role_actions("frontend").values()),
    }
    for op in ops:
        who, action = CODE_CALLS[op]
        for role in who.split("+"):
            if role in granted:
                assert action in granted[role], f"{role} calls {op} but lacks {action}"
    assert "scan" not in ops, "the design never Scans"


def test_only_consumer_and_frontend_have_roles():
    roles = typed("resource", "aws_iam_role")
    assert set(roles) == {"consumer", "frontend"}
    spec = all_locals()["quakestream_spec"]
    assert "producer" not in spec, "the producer gets no AWS identity"
    operator = (EKS / "helm.tf").read_text().split('resource "helm_release" "quakestream_operator"')[1].split("\n}\n")[0]
    assert "role-arn" not in operator and "aws_iam_role" not in operator, "the operator gets no AWS identity"


def test_irsa_trust_is_scoped_to_the_operator_service_accounts():
    trust = policy_documents()["irsa_trust"]
    assert trust["for_each"] == '${toset(["consumer", "frontend"])}'
    st = one(trust["statement"])
    assert st["actions"] == ["sts:AssumeRoleWithWebIdentity"]
    conds = {c["variable"]: (c["test"], c["values"]) for c in st["condition"]}
    assert conds["${local.oidc_provider}:sub"] == (
        "StringEquals",
        ["system:serviceaccount:${var.namespace}:${local.service_accounts[each.key]}"],
    )
    assert conds["${local.oidc_provider}:aud"] == ("StringEquals", ["sts.amazonaws.com"])
    sas = all_locals()["service_accounts"]
    for component in ("producer", "consumer", "frontend"):
        assert sas[component] == f"${{var.quakestream_name}}-{component}"
    # The operator names ServiceAccounts `<name>-<component>` (operator/src/builders.rs child_name).
    builders = REPO / "operator" / "src" / "builders.rs"
    if builders.exists():
        src = builders.read_text()
        assert re.search(r'format!\("\{\}-\{\}",\s*qs\.name_any\(\),\s*component\.as_str\(\)\)', src), (
            "operator child_name changed: update local.service_accounts in eks/main.tf"
        )
        assert 'ROLE_ARN_ANNOTATION: &str = "eks.amazonaws.com/role-arn"' in src


# --------------------------------------------------------------------------------------------
# Edge, cluster, Kafka
# --------------------------------------------------------------------------------------------


def test_waf_rate_limit_and_managed_rules():
    acl = typed("resource", "aws_wafv2_web_acl")["frontend"]
    assert acl["scope"] == "REGIONAL"
    rules = {r["name"]: r for r in acl["rule"]}
    rate = one(one(rules["per-ip-rate-limit"]["statement"])["rate_based_statement"])
    assert rate["limit"] == "${var.waf_rate_limit}"
    assert rate["aggregate_key_type"] == "IP"
    assert rate["evaluation_window_sec"] == "${var.waf_rate_window_seconds}"
    assert variable_default("waf_rate_limit") == 500
    assert variable_default("waf_rate_window_seconds") == 300
    managed = [
        one(one(r["statement"])["managed_rule_group_statement"])
        for r in acl["rule"]
        if "managed_rule_group_statement" in one(r["statement"])
    ]
    assert {"vendor_name": "AWS", "name": "AWSManagedRulesCommonRuleSet"} in [
        {"vendor_name": m["vendor_name"], "name": m["name"]} for m in managed
    ]


def ingress_annotations() -> dict:
    return all_locals()["frontend_ingress_annotations"]


def test_ingress_annotations_https_redirect_and_waf():
    a = ingress_annotations()
    assert a["alb.ingress.kubernetes.io/wafv2-acl-arn"] == "${aws_wafv2_web_acl.frontend.arn}"
    assert a["alb.ingress.kubernetes.io/certificate-arn"] == "${local.certificate_arn}"
    assert a["alb.ingress.kubernetes.io/ssl-redirect"] == "443"
    assert re.sub(r"\s", "", a["alb.ingress.kubernetes.io/listen-ports"]) == "${jsonencode([{HTTP=80},{HTTPS=443}])}"
    assert a["alb.ingress.kubernetes.io/scheme"] == "internet-facing"
    assert a["alb.ingress.kubernetes.io/target-type"] == "ip"
    spec = all_locals()["quakestream_spec"]
    ing = spec["frontend"]["ingress"]
    assert ing["className"] == "alb" and ing["annotations"] == "${local.frontend_ingress_annotations}"
    assert spec["consumer"]["serviceAccount"]["roleArn"] == "${aws_iam_role.consumer.arn}"
    assert spec["frontend"]["serviceAccount"]["roleArn"] == "${aws_iam_role.frontend.arn}"
    assert spec["storage"]["table"] == "${aws_dynamodb_table.quakes.name}"


def test_cluster_addons_and_node_group():
    eks = next(b["eks"] for b in blocks("module") if "eks" in b)
    addons = eks["cluster_addons"]
    assert {"vpc-cni", "coredns", "kube-proxy", "metrics-server", "aws-ebs-csi-driver"} <= set(addons)
    assert eks["enable_irsa"] is True
    assert eks["subnet_ids"] == "${module.vpc.private_subnets}"
    ng = eks["eks_managed_node_groups"]["default"]
    assert ng["min_size"] >= 3
    assert variable_default("node_count") >= 3


def test_kafka_three_brokers_rf3_min_isr2():
    kafka = typed("resource", "helm_release")["kafka"]
    assert kafka["chart"] == "${path.module}/charts/kafka-cluster"
    helm_tf = (EKS / "helm.tf").read_text()
    block = helm_tf.split('resource "helm_release" "kafka"')[1].split("\n}\n")[0]
    assert re.search(r"\breplicas\s*=\s*3\b", block)
    assert re.search(r"\breplicationFactor\s*=\s*3\b", block)
    assert re.search(r"\bminInsyncReplicas\s*=\s*2\b", block)
    tpl = (EKS / "charts" / "kafka-cluster" / "templates" / "kafka.yaml").read_text()
    assert "apiVersion: kafka.strimzi.io/v1\n" in tpl and "v1beta2" not in tpl
    assert "topologyKey: topology.kubernetes.io/zone" in tpl
    for key in ("default.replication.factor", "min.insync.replicas", "offsets.topic.replication.factor"):
        assert key in tpl


def test_quakestream_is_applied_last():
    releases = typed("resource", "helm_release")
    deps = set(releases["quakestream"]["depends_on"])
    for r in ("quakestream_operator", "kafka", "aws_load_balancer_controller"):
        assert f"${{helm_release.{r}}}" in deps
    assert "${aws_iam_role_policy.consumer}" in deps and "${aws_iam_role_policy.frontend}" in deps


def test_referenced_files_exist():
    text = tf_text()
    for m in re.finditer(r'file\("\$\{local\.shared_values_dir\}/([^"]+)"\)', text):
        assert (REPO / "charts" / "values" / m.group(1)).is_file(), m.group(1)
    for chart in ("kafka-cluster", "quakestream-instance"):
        assert (EKS / "charts" / chart / "Chart.yaml").is_file()


def test_operator_chart_exists():
    chart = REPO / "charts" / "quakestream-operator" / "Chart.yaml"
    if not chart.exists():
        pytest.skip("charts/quakestream-operator not written yet")
    assert chart.is_file()


def test_outputs():
    outputs = {}
    for b in blocks("output"):
        outputs.update(b)
    assert {"url", "grafana_url"} <= set(outputs)
    assert outputs["url"]["value"] == "https://${var.domain_name}/"


# --------------------------------------------------------------------------------------------
# examples/quakestream-eks.yaml (written by the operator's authors) agrees with the Terraform
# --------------------------------------------------------------------------------------------


def _example() -> dict | None:
    path = REPO / "examples" / "quakestream-eks.yaml"
    if not path.exists():
        return None
    yaml = pytest.importorskip("yaml")
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d and d.get("kind") == "QuakeStream"]
    return docs[0] if docs else None


def test_example_matches_terraform():
    ex = _example()
    if ex is None:
        pytest.skip("examples/quakestream-eks.yaml not written yet")
    spec = ex["spec"]
    assert spec["storage"]["table"] == variable_default("table_name")
    assert spec["kafka"]["clusterName"] == variable_default("kafka_cluster_name")
    # The example's IRSA roles are where Terraform's outputs go; the producer has none.
    assert "roleArn" not in (spec.get("producer") or {}).get("serviceAccount", {})
    for c in ("consumer", "frontend"):
        assert re.match(r"^arn:aws[a-z-]*:iam::\d{12}:role/.+", spec[c]["serviceAccount"]["roleArn"]), c
    ing = spec["frontend"]["ingress"]
    assert ing.get("className") == "alb"
    tf_keys = set(ingress_annotations())
    ex_keys = set(ing.get("annotations", {}))
    missing = {k for k in ex_keys - tf_keys if k.startswith("alb.ingress.kubernetes.io/")}
    assert not missing, f"the example uses ALB annotations Terraform does not set: {sorted(missing)}"
    for needed in ("alb.ingress.kubernetes.io/wafv2-acl-arn", "alb.ingress.kubernetes.io/certificate-arn"):
        assert needed in ex_keys, f"example lacks {needed}"


def test_chart_versions_match_the_kind_stack():
    """charts/values/*.yaml are shared with scripts/kind-up.sh: both take the charts from deploy/pins.env."""
    kind_up = (REPO / "scripts" / "kind-up.sh").read_text()
    assert "source deploy/pins.env" in kind_up
    helm_tf = (EKS / "helm.tf").read_text()
    for chart, key in (
        ("strimzi", "STRIMZI"),
        ("prometheus", "PROMETHEUS"),
        ("loki", "LOKI"),
        ("grafana", "GRAFANA"),
        ("alloy", "ALLOY"),
    ):
        assert re.search(rf"\b{chart}\s*=\s*local\.pins\.{key}_VERSION\b", helm_tf), chart
        assert f'--version "${key}_VERSION"' in kind_up, chart


def test_namespace_injects_the_alb_readiness_gate():
    """The ALB targets pods: rollouts wait for new pods to be healthy targets (pod readiness gate)."""
    ns = typed("resource", "kubernetes_namespace_v1")["quakestream"]
    labels = one(ns["metadata"])["labels"]
    assert labels.get("elbv2.k8s.aws/pod-readiness-gate-inject") == "enabled"


def test_operator_keeps_the_crd_current():
    """Helm never upgrades crds/: the operator chart's crd.manage (default true) must stay on."""
    values = (EKS / "helm.tf").read_text().split('resource "helm_release" "quakestream_operator"')[1].split("\n}\n")[0]
    assert "manage" not in values or re.search(r"manage\s*=\s*true", values), "crd.manage is switched off"
    yaml = pytest.importorskip("yaml")
    chart_values = yaml.safe_load((REPO / "charts" / "quakestream-operator" / "values.yaml").read_text())
    assert chart_values["crd"]["manage"] is True


def test_grafana_is_not_anonymous_or_a_load_balancer_on_eks():
    grafana = (EKS / "helm.tf").read_text().split('resource "helm_release" "grafana"')[1].split("\n}\n")[0]
    assert re.search(r'"auth\.anonymous"\s*=\s*\{\s*enabled\s*=\s*false\s*\}', grafana)
    assert re.search(r'service\s*=\s*\{\s*type\s*=\s*"ClusterIP"', grafana)


@pytest.mark.parametrize("chart", ["kafka-cluster", "quakestream-instance"])
def test_local_charts_are_valid_yaml(chart):
    yaml = pytest.importorskip("yaml")
    meta = yaml.safe_load((EKS / "charts" / chart / "Chart.yaml").read_text())
    assert meta["apiVersion"] == "v2" and meta["name"] == chart and re.fullmatch(r"\d+\.\d+\.\d+", meta["version"])
    assert isinstance(yaml.safe_load((EKS / "charts" / chart / "values.yaml").read_text()), dict)
    # Templates are Go templates; with the actions blanked out they must still be YAML documents.
    for tpl in (EKS / "charts" / chart / "templates").glob("*.yaml"):
        text = re.sub(r"\{\{-?.*?-?\}\}", "x", tpl.read_text())
        docs = [d for d in yaml.safe_load_all(text) if d]
        assert docs and all("apiVersion" in d and "kind" in d for d in docs), tpl.name


# --------------------------------------------------------------------------------------------
# The Grafana login (cognito.tf): Cognito at the ALB in front of a public Grafana
# --------------------------------------------------------------------------------------------


def _cognito(kind: str) -> dict:
    return typed("resource", kind)["grafana"]


def test_login_exists_exactly_when_grafana_is_public():
    for kind in ("aws_cognito_user_pool", "aws_cognito_user_pool_domain", "aws_cognito_user_pool_client",
                 "aws_cognito_user", "random_password"):
        r = typed("resource", kind)
        assert set(r) == {"grafana" if kind != "random_password" else "grafana_login"}, kind
        res = next(iter(r.values()))
        assert res["count"] == "${var.grafana_public ? 1 : 0}", kind


def test_only_administrators_create_users_with_a_strong_policy():
    pool = _cognito("aws_cognito_user_pool")
    assert one(pool["admin_create_user_config"])["allow_admin_create_user_only"] is True
    policy = one(pool["password_policy"])
    assert policy["minimum_length"] >= 12
    assert all(policy[k] is True for k in ("require_lowercase", "require_uppercase", "require_numbers", "require_symbols"))


def test_the_alb_is_the_oauth_client():
    client = _cognito("aws_cognito_user_pool_client")
    assert client["generate_secret"] is True, "the ALB needs a client secret"
    assert client["allowed_oauth_flows"] == ["code"]
    assert "openid" in client["allowed_oauth_scopes"]
    assert client["callback_urls"] == ["https://${local.grafana_host}/oauth2/idpresponse"]
    assert client["supported_identity_providers"] == ["COGNITO"]


def test_first_user_has_a_sensitive_temporary_password():
    user = _cognito("aws_cognito_user")
    assert user["temporary_password"] == "${random_password.grafana_login[0].result}"
    assert user["message_action"] == "SUPPRESS"
    outputs = {}
    for b in blocks("output"):
        outputs.update(b)
    assert outputs["grafana_login_temporary_password"]["sensitive"] is True
    assert outputs["grafana_login_password_command"]["value"] == "terraform output -raw grafana_login_temporary_password"
    assert "grafana_logout_url" in outputs and "grafana_login_user_pool_id" in outputs


def test_grafana_ingress_authenticates_with_cognito_and_the_map_does_not():
    ann = all_locals()["grafana_auth_annotations"]
    text = (EKS / "cognito.tf").read_text()
    for key in ("auth-type", "auth-idp-cognito", "auth-on-unauthenticated-request", "auth-scope", "auth-session-timeout"):
        assert f'"alb.ingress.kubernetes.io/{key}"' in text, key
    assert '"alb.ingress.kubernetes.io/auth-type" = "cognito"' in text
    for field in ("userPoolARN", "userPoolClientID", "userPoolDomain"):
        assert re.search(rf"\b{field}\s*=", text), field
    assert isinstance(ann, str) and "var.grafana_public" in ann
    grafana = (EKS / "helm.tf").read_text().split('resource "helm_release" "grafana"')[1].split("\n}\n")[0]
    assert "local.grafana_auth_annotations" in grafana, "Grafana's Ingress must carry the auth annotations"
    assert "signout_redirect_url = local.grafana_logout_url" in grafana
    # The public map and API: no authentication on the frontend's Ingress.
    assert not any("auth-" in k for k in ingress_annotations()), "the map must stay public"


def test_cost_rules_are_installed_with_prometheus():
    prometheus = (EKS / "helm.tf").read_text().split('resource "helm_release" "prometheus"')[1].split("\n}\n")[0]
    assert 'file("${local.shared_values_dir}/prometheus-cost-rules.yaml")' in prometheus
