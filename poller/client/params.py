"""Query parameters for the usage, costs and audit endpoints, checked before any request.

A `group_by` value, filter or limit the endpoint does not accept would cost a round trip and come
back as a 400 the poller cannot fix by retrying; worse, a string passed where a list belongs
would silently filter on its characters. So arguments are checked against the stream catalog
(`poller.streams`) and rejected with a `ValueError` naming the valid choices.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from poller.client.query import QueryValue
from poller.streams import USAGE_ENDPOINTS, BucketWidth, UsageEndpoint

__all__ = ["AUDIT_MAX_LIMIT", "LIST_LIMIT", "audit_params", "usage_params"]

AUDIT_MAX_LIMIT: Final = 100
LIST_LIMIT: Final = 100  # the documented maximum of every directory list
_EFFECTIVE_AT_KEYS: Final = frozenset({"gt", "gte", "lt", "lte"})
_BOOLEAN_FILTERS: Final = frozenset({"batch"})


def usage_params(
    stream: str,
    *,
    start_time: int,
    end_time: int | None,
    bucket_width: BucketWidth | str,
    group_by: Sequence[str],
    limit: int | None,
    filters: Mapping[str, Sequence[str] | bool] | None,
) -> tuple[UsageEndpoint, dict[str, QueryValue]]:
    """The endpoint of a usage or costs `stream` and its first page's query parameters."""
    endpoint = USAGE_ENDPOINTS.get(stream)
    if endpoint is None:
        raise ValueError(
            f"unknown usage stream {stream!r}; choose from: {', '.join(USAGE_ENDPOINTS)}"
        )
    try:
        width = BucketWidth(bucket_width)
    except ValueError:
        raise ValueError(f"bucket_width must be 1m, 1h or 1d, got {bucket_width!r}") from None
    if width not in endpoint.widths:
        allowed = ", ".join(w.value for w in endpoint.widths)
        raise ValueError(f"{stream} does not support bucket_width={width.value}; use {allowed}")
    if start_time < 0 or (end_time is not None and end_time <= start_time):
        raise ValueError(f"need 0 <= start_time < end_time, got {start_time} and {end_time}")
    _check_strings("group_by", group_by, allowed=endpoint.dimensions, stream=stream)
    max_limit = endpoint.max_limits[width]
    if limit is not None and not 1 <= limit <= max_limit:
        raise ValueError(f"{stream} limit at {width.value} must be 1..{max_limit}, got {limit}")
    params: dict[str, QueryValue] = {
        "start_time": start_time,
        "end_time": end_time,
        "bucket_width": width.value,
        "group_by": list(group_by),
    }
    for name, value in (filters or {}).items():
        if name not in endpoint.filter_params:
            choices = ", ".join(endpoint.filter_params)
            raise ValueError(f"{stream} has no filter {name!r}; choose from: {choices}")
        if name in _BOOLEAN_FILTERS:
            if not isinstance(value, bool):
                raise ValueError(f"filter {name!r} takes true or false, got {value!r}")
            params[name] = value
        else:
            if isinstance(value, bool):
                raise ValueError(f"filter {name!r} takes a list of strings, got {value!r}")
            _check_strings(name, value, allowed=None, stream=stream)
            params[name] = list(value)
    params["limit"] = limit
    return endpoint, params


def audit_params(
    *,
    effective_at: Mapping[str, int] | None,
    project_ids: Sequence[str],
    event_types: Sequence[str],
    actor_ids: Sequence[str],
    actor_emails: Sequence[str],
    resource_ids: Sequence[str],
    tenant_only: bool | None,
    limit: int,
) -> dict[str, QueryValue]:
    """The audit log query; array names get their `[]` from the encoder, as in the SDK."""
    bounds = dict(effective_at or {})
    unknown = set(bounds) - _EFFECTIVE_AT_KEYS
    if unknown:
        raise ValueError(f"effective_at takes gt, gte, lt, lte; got {sorted(unknown)}")
    if not 1 <= limit <= AUDIT_MAX_LIMIT:
        raise ValueError(f"audit log limit must be 1..{AUDIT_MAX_LIMIT}, got {limit}")
    lists = {
        "project_ids": project_ids,
        "event_types": event_types,
        "actor_ids": actor_ids,
        "actor_emails": actor_emails,
        "resource_ids": resource_ids,
    }
    for name, values in lists.items():
        _check_strings(name, values, allowed=None, stream="audit")
    return {
        "effective_at": {key: int(value) for key, value in bounds.items()},
        **{name: list(values) for name, values in lists.items()},
        "tenant_only": tenant_only,
        "limit": limit,
    }


def _check_strings(
    name: str, values: Sequence[str], *, allowed: Sequence[str] | None, stream: str
) -> None:
    if isinstance(values, str) or not all(isinstance(v, str) and v for v in values):
        raise ValueError(f"{name} takes a list of non-empty strings, got {values!r}")
    if allowed is not None:
        for value in values:
            if value not in allowed:
                raise ValueError(
                    f"{stream} cannot {name}={value!r}; choose from: {', '.join(allowed)}"
                )
