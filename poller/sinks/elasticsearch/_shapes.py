"""What an Elasticsearch answer must look like before any code reads it.

A proxy's error page, a load balancer answering 200 for a node that is gone, or a server that
only resembles Elasticsearch can answer with valid JSON of the wrong shape: a list where an
object belongs, `items` that is not a list, `hits` that is a string. Read as it is, that ends
in an AttributeError far from the request (a traceback instead of one line), or worse, in an
empty result read as "nothing stored". Checked once, where every answer passes (the transport),
each such answer becomes one `WrongShapeError` naming what is wrong, which the sink reports as
an unavailable cluster: nothing was acknowledged, so no cursor moves and the daemon retries.

Only what the poller reads is checked: the answer is an object; a bulk answer's `errors` and
`items`; a search's `hits` and `aggregations`; a count; a document's `found` and `_source`;
the cluster's version.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import parse_qsl

from elastic_transport import TransportError

__all__ = ["NotAnObjectError", "WrongShapeError", "check_answer"]

_BUCKET_KEYS: Final = frozenset({"key", "key_as_string", "doc_count", "from", "to"})


class WrongShapeError(TransportError):
    """A 2xx answer whose JSON is not shaped as Elasticsearch shapes it."""


class NotAnObjectError(WrongShapeError):
    """A 2xx answer that is no JSON object at all: empty (cut short), or a list, a string."""


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    return "a number"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _objects(value: Any, where: str) -> str | None:
    """Unless `value` is a list of objects, what is wrong with it."""
    if not isinstance(value, list):
        return f"{where} is {_kind(value)}, not a list"
    for i, item in enumerate(value):
        if not isinstance(item, Mapping):
            return f"{where}[{i}] is {_kind(item)}, not an object"
    return None


def _hits(value: Any, where: str) -> str | None:
    if not isinstance(value, Mapping):
        return f"{where} is {_kind(value)}, not an object"
    problem = _objects(value.get("hits", []), f"{where}.hits")
    if problem is not None:
        return problem
    for i, hit in enumerate(value.get("hits", [])):
        if "_source" in hit and not isinstance(hit["_source"], Mapping):
            return f"{where}.hits[{i}]._source is {_kind(hit['_source'])}, not an object"
    total = value.get("total", 0)
    if not (_is_int(total) or (isinstance(total, Mapping) and _is_int(total.get("value", 0)))):
        return f"{where}.total is {_kind(total)}, not a count"
    return None


def _aggregations(value: Any, where: str) -> str | None:
    """Each aggregation's result is an object; buckets are objects (listed or keyed), with a
    count and their own sub-aggregations; metric values are numbers or null."""
    if not isinstance(value, Mapping):
        return f"{where} is {_kind(value)}, not an object"
    for name, result in value.items():
        at = f"{where}.{name}"
        if not isinstance(result, Mapping):
            return f"{at} is {_kind(result)}, not an object"
        problem = _aggregation(result, at)
        if problem is not None:
            return problem
    return None


def _aggregation(result: Mapping[str, Any], at: str) -> str | None:
    if "value" in result and result["value"] is not None and (
        isinstance(result["value"], bool) or not isinstance(result["value"], int | float)
    ):
        return f"{at}.value is {_kind(result['value'])}, not a number"
    if "hits" in result:
        return _hits(result["hits"], f"{at}.hits")
    if "buckets" not in result:
        return None
    buckets = result["buckets"]
    listed = list(buckets.values()) if isinstance(buckets, Mapping) else buckets
    problem = _objects(listed, f"{at}.buckets")
    if problem is not None:
        return problem
    for i, bucket in enumerate(listed):
        if not _is_int(bucket.get("doc_count", 0)):
            return f"{at}.buckets[{i}].doc_count is {_kind(bucket['doc_count'])}, not a count"
        subs = {k: v for k, v in bucket.items() if k not in _BUCKET_KEYS}
        for name, sub in subs.items():
            if isinstance(sub, Mapping):
                problem = _aggregation(sub, f"{at}.buckets[{i}].{name}")
                if problem is not None:
                    return problem
    return None


def _bulk_items(items: Any) -> str | None:
    problem = _objects(items, "items")
    if problem is not None:
        return problem
    for i, item in enumerate(items):
        results = list(item.values())
        if len(results) != 1 or not isinstance(results[0], Mapping):
            return f"items[{i}] is not one operation's result"
        if "status" in results[0] and not _is_int(results[0]["status"]):
            return f"items[{i}].status is {_kind(results[0]['status'])}, not a number"
    return None


def check_answer(method: str, path: str, body: Any) -> None:
    """Raises `WrongShapeError` when a successful answer to `method path` is not shaped as
    Elasticsearch answers it."""
    if method == "HEAD":
        return
    if not isinstance(body, Mapping):
        raise NotAnObjectError(f"the answer is {_kind(body)}")
    problem = _problem(method, path, body)
    if problem is not None:
        raise WrongShapeError(problem)


def _problem(method: str, path: str, body: Mapping[str, Any]) -> str | None:
    route, _, query = path.partition("?")
    route = route.rstrip("/")
    params = dict(parse_qsl(query))
    named = params["filter_path"].split(",") if "filter_path" in params else None

    def kept(key: str) -> bool:
        """Whether the answer holds `key`, which Elasticsearch always sends: `filter_path`
        leaves out what it does not name (and an empty match leaves `{}`)."""
        return named is None or any(n == key or n.startswith(f"{key}.") for n in named)

    if route.endswith("/_bulk"):
        if kept("errors") and not isinstance(body.get("errors"), bool):
            return f"errors is {_kind(body.get('errors'))}, not a boolean"
        if kept("items") and "items" not in body:
            return "a bulk answer without items"
    if route == "" and kept("version"):
        version = body.get("version")
        if not isinstance(version, Mapping) or not isinstance(version.get("number"), str):
            return "it names no version"
    if route.endswith("/_count") and kept("count") and not _is_int(body.get("count")):
        return f"count is {_kind(body.get('count'))}, not a count"
    if route.endswith("/_search"):
        hits = body.get("hits")
        if named is None and not isinstance(hits, Mapping):
            return f"hits is {_kind(hits)}, not an object"
        # Elasticsearch counts the hits unless told not to, which the poller never does.
        if kept("hits.total") and (not isinstance(hits, Mapping) or "total" not in hits):
            return "a search answer without its total"
    if route.endswith("/_mget") and kept("docs") and "docs" not in body:
        return "an mget answer without docs"
    if method == "GET" and "/_doc/" in route and kept("found") and (
        not isinstance(body.get("found"), bool)
    ):
        return "a document answer that says neither found nor not found"
    if "items" in body:
        problem = _bulk_items(body["items"])
        if problem is not None:
            return problem
    checks = (
        ("hits", _hits),
        ("aggregations", _aggregations),
        ("docs", _objects),
    )
    for key, check in checks:
        if key in body:
            problem = check(body[key], key)
            if problem is not None:
                return problem
    if "_source" in body and not isinstance(body["_source"], Mapping):
        return f"_source is {_kind(body['_source'])}, not an object"
    return None
