"""Schemathesis hooks for the QuakeStream API: the rules OpenAPI cannot state.

OpenAPI describes each parameter alone. The API also has rules between two values, stated in
openapi.json's descriptions and in docs/api.md: since <= until (until defaults to now),
minmag <= maxmag, mindepth <= maxdepth, a bbox's minlat <= maxlat, and (for /api/stats) region
or at, not both. A request that is valid value by value but
breaks one of them is a 400 by design (the Rust tests check those). For the requests Schemathesis
generates as valid (positive mode), this hook restores the rule by swapping the two values (or, for a `since` in the future without `until`, giving `until` the
same value; or dropping `at` beside `region`), so
that `positive_data_acceptance` still holds the server to everything else the schema says.
Negative requests are sent as generated.
"""

from datetime import datetime, timezone

import schemathesis


def _time(value):
    try:
        t = datetime.fromisoformat(str(value).replace("z", "Z").replace("t", "T"))
    except ValueError:
        return None  # e.g. a leap second, which Python cannot parse; sent as generated
    return t if t.tzinfo is not None else t.replace(tzinfo=timezone.utc)


def _number(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _ordered(query, low, high, parse):
    a, b = parse(query.get(low)), parse(query.get(high))
    if a is not None and b is not None and a > b:
        query[low], query[high] = query[high], query[low]


def _bbox_lats_ordered(query):
    parts = str(query.get("bbox", "")).split(",")
    if len(parts) == 4 and _number(parts[1]) is not None and _number(parts[3]) is not None:
        if float(parts[1]) > float(parts[3]):
            parts[1], parts[3] = parts[3], parts[1]
            query["bbox"] = ",".join(parts)


@schemathesis.hook
def before_call(context, case, kwargs):
    meta = getattr(case, "meta", None)
    if meta is None or not meta.generation.mode.is_positive or not case.query:
        return
    query = dict(case.query)
    since = _time(query.get("since"))
    if "until" not in query and since is not None and since > datetime.now(timezone.utc):
        query["until"] = query["since"]
    _ordered(query, "since", "until", _time)
    _ordered(query, "minmag", "maxmag", _number)
    _ordered(query, "mindepth", "maxdepth", _number)
    _bbox_lats_ordered(query)
    # /api/stats takes a region by name or by point, not both.
    if "region" in query and "at" in query:
        del query["at"]
    if query != case.query:
        case.query = query
