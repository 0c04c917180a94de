"""What both sinks agree on about a document's source: equality, JSON text and its timestamp,
and about a time: the epoch milliseconds both stores compare `@timestamp` in.

Equality decides `unchanged` versus `updated`, so it must not flag a document as revised merely
because the store hands its source back in another shape. Both sides are normalised first:
object keys are unordered, `null` equals an absent field, and a float with an integral value
equals that integer (Elasticsearch's synthetic `_source` returns `1` for a stored `1.0` in a long
field). Arrays keep their order.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = [
    "canonical",
    "canonical_json",
    "epoch_millis",
    "same_source",
    "timestamp_millis",
    "without_fields",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def canonical(value: Any) -> Any:
    """`value` with keys sorted, nulls dropped from objects and integral floats made ints."""
    if isinstance(value, Mapping):
        return {str(k): canonical(v) for k, v in sorted(value.items()) if v is not None}
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return value


def canonical_json(source: Mapping[str, Any]) -> str:
    """Compact, key-sorted JSON of `source`. Raises ValueError when it is not valid JSON data
    (NaN, infinity, or a type JSON cannot hold)."""
    try:
        return json.dumps(canonical(source), sort_keys=True, separators=(",", ":"), allow_nan=False)
    except TypeError as exc:
        raise ValueError(str(exc)) from exc


def without_fields(source: Mapping[str, Any], fields: Collection[str]) -> Mapping[str, Any]:
    """`source` minus the dotted `fields` (e.g. `event.ingested`, set by an ingest pipeline)."""
    if not fields:
        return source
    out = dict(source)
    for dotted in fields:
        _drop(out, dotted.split("."))
    return out


def _drop(obj: dict[str, Any], path: list[str]) -> None:
    head, rest = path[0], path[1:]
    if not rest:
        obj.pop(head, None)
        return
    child = obj.get(head)
    if isinstance(child, Mapping):
        copy = dict(child)
        _drop(copy, rest)
        obj[head] = copy


def same_source(
    stored: Mapping[str, Any], new: Mapping[str, Any], *, ignore: Collection[str] = ()
) -> bool:
    """Whether `stored` (as the store returned it) holds the same values as `new`."""
    return bool(canonical(without_fields(stored, ignore)) == canonical(without_fields(new, ignore)))


def timestamp_millis(source: Mapping[str, Any]) -> int | None:
    """`@timestamp` as epoch milliseconds: an ISO-8601 string (UTC when it has no offset) or
    epoch milliseconds, as Elasticsearch's default date format reads it. None when absent or
    unreadable."""
    value = source.get("@timestamp")
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value) if math.isfinite(value) else None
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return (parsed - _EPOCH) // timedelta(milliseconds=1)


def epoch_millis(when: datetime) -> int:
    """`when` as epoch milliseconds: a bound of a reader's time range."""
    if when.tzinfo is None:
        raise ValueError("time range bounds must be timezone-aware datetimes")
    return (when - _EPOCH) // timedelta(milliseconds=1)
