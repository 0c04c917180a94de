"""Query-string parsing and validation for the simulator: one set of rules for every encoding.

OpenAI's clients send arrays three ways: the official SDK `key[]=a&key[]=b`, requests-based scripts
`key=a&key=b`, Elastic's integration `key=a,b`. The real API accepts all three, so `Query` folds
them into one list before any rule runs. Every rule failure is an `ApiError` the app answers in
OpenAI's error envelope, with messages shaped like the real API's.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Final
from urllib.parse import parse_qsl

from poller.simulator.model import JSON
from poller.streams import (
    COSTS_DEFAULT_LIMIT,
    COSTS_MAX_LIMIT,
    DEFAULT_LIMIT,
    MAX_LIMIT,
    USAGE_ENDPOINTS,
    BucketWidth,
    UsageEndpoint,
)

__all__ = [
    "ApiError",
    "AuditQuery",
    "ListQuery",
    "Query",
    "UsageQuery",
    "encode_page",
    "invalid_value",
    "parse_audit",
    "parse_list",
    "parse_usage",
]

# Filters whose values the spec restricts to an enum; other filters take free strings.
ENUM_FILTERS: Final[dict[str, tuple[str, ...]]] = {
    "sources": ("image.generation", "image.edit", "image.variation"),
    "sizes": ("256x256", "512x512", "1024x1024", "1792x1792", "1024x1792"),
    "context_levels": ("low", "medium", "high"),
}
EFFECTIVE_AT_BOUNDS: Final = ("gt", "gte", "lt", "lte")
LIST_DEFAULT_LIMIT: Final = 20
LIST_MAX_LIMIT: Final = 100
_PAGE_PREFIX: Final = "page_"
_LIST_KEY = re.compile(r"(?P<name>[^\[\]]+)\[[0-9]*\]")  # key[] and key[0]: array items
_INTEGER = re.compile(r"-?[0-9]+")


class ApiError(Exception):
    """A request the API refuses; `body` is OpenAI's error envelope."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error_type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: JSON = {
            "error": {"message": message, "type": error_type, "param": param, "code": code}
        }
        self.headers = tuple(headers)


def invalid_value(param: str, message: str) -> ApiError:
    return ApiError(400, message, param=param, code="invalid_value")


class Query:
    """A parsed query string: array keys normalised, comma lists split, blank values dropped."""

    def __init__(self, query_string: str) -> None:
        self._values: dict[str, list[str]] = {}
        for key, value in parse_qsl(query_string, keep_blank_values=True):
            match = _LIST_KEY.fullmatch(key)
            name = match["name"] if match else key
            if value.strip():
                self._values.setdefault(name, []).append(value)

    def values(self, name: str) -> list[str]:
        """Every value of array parameter `name`, in order, comma-joined ones split."""
        return [
            item.strip()
            for value in self._values.get(name, [])
            for item in value.split(",")
            if item.strip()
        ]

    def scalar(self, name: str) -> str | None:
        """The last value of scalar parameter `name`, or None when absent or blank."""
        values = self._values.get(name)
        return values[-1].strip() if values else None

    def optional_integer(
        self, name: str, *, minimum: int | None = None, maximum: int | None = None
    ) -> int | None:
        raw = self.scalar(name)
        if raw is None:
            return None
        if not _INTEGER.fullmatch(raw):
            raise ApiError(
                400,
                f"Invalid type for '{name}': expected an integer, but got a string instead.",
                param=name,
                code="invalid_type",
            )
        value = int(raw)
        if minimum is not None and value < minimum:
            raise ApiError(
                400,
                f"Invalid '{name}': integer below minimum value. "
                f"Expected a value >= {minimum}, but got {value} instead.",
                param=name,
                code="integer_below_min_value",
            )
        if maximum is not None and value > maximum:
            raise ApiError(
                400,
                f"Invalid '{name}': integer above maximum value. "
                f"Expected a value <= {maximum}, but got {value} instead.",
                param=name,
                code="integer_above_max_value",
            )
        return value

    def integer(
        self, name: str, *, default: int, minimum: int | None = None, maximum: int | None = None
    ) -> int:
        value = self.optional_integer(name, minimum=minimum, maximum=maximum)
        return default if value is None else value

    def required_integer(self, name: str, *, minimum: int | None = None) -> int:
        value = self.optional_integer(name, minimum=minimum)
        if value is None:
            raise ApiError(
                400,
                f"Missing required parameter: '{name}'.",
                param=name,
                code="missing_required_parameter",
            )
        return value

    def boolean(self, name: str) -> bool | None:
        raw = self.scalar(name)
        if raw is None:
            return None
        lowered = raw.lower()
        if lowered not in ("true", "false"):
            raise ApiError(
                400,
                f"Invalid type for '{name}': expected a boolean, but got a string instead.",
                param=name,
                code="invalid_type",
            )
        return lowered == "true"

    def choices(self, name: str, allowed: Sequence[str]) -> list[str]:
        """Every value of array parameter `name`, each one of `allowed`."""
        values = self.values(name)
        _check_allowed(name, values, allowed)
        return values

    def choice(self, name: str, allowed: Sequence[str], default: str) -> str:
        raw = self.scalar(name)
        if raw is None:
            return default
        _check_allowed(name, [raw], allowed)
        return raw


def _check_allowed(param: str, values: Iterable[str], allowed: Sequence[str]) -> None:
    for value in values:
        if value not in allowed:
            supported = ", ".join(f"'{a}'" for a in allowed)
            raise invalid_value(
                param, f"Invalid value: '{value}'. Supported values are: {supported}."
            )


# --- usage and costs ------------------------------------------------------------------------


@dataclass(frozen=True)
class UsageQuery:
    """A validated usage or costs request. `page` is the bucket start a `next_page` points at."""

    path: str
    start: int
    end: int | None
    width: BucketWidth
    limit: int
    group_by: frozenset[str]
    filters: tuple[tuple[str, frozenset[str | bool]], ...]  # (dimension, allowed values)
    page: int | None = None

    @property
    def fingerprint(self) -> str:
        """What a page token must match: the query minus `limit` (clients may resize pages)."""
        canonical = json.dumps(
            [
                self.path,
                self.start,
                self.end,
                self.width.value,
                sorted(self.group_by),
                sorted((dim, sorted(map(str, allowed))) for dim, allowed in self.filters),
            ]
        )
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def parse_usage(endpoint: UsageEndpoint, query: Query) -> UsageQuery:
    """Validate a usage or costs query against `endpoint`'s rules (see poller.streams)."""
    start = query.required_integer("start_time", minimum=0)
    end = query.optional_integer("end_time")
    if end is not None and end <= start:
        raise invalid_value("end_time", "Invalid 'end_time': must be greater than 'start_time'.")
    width = BucketWidth(query.choice("bucket_width", [w.value for w in endpoint.widths], "1d"))
    default, maximum = _limit_bounds(endpoint, width)
    group_by = query.values("group_by")
    _check_allowed("group_by", group_by, endpoint.dimensions)
    filters: list[tuple[str, frozenset[str | bool]]] = []
    for param, dimension in endpoint.filters:
        if param == "batch":
            flag = query.boolean(param)
            if flag is not None:
                filters.append((dimension, frozenset([flag])))
            continue
        values = query.values(param)
        if param in ENUM_FILTERS:
            _check_allowed(param, values, ENUM_FILTERS[param])
        if values:
            filters.append((dimension, frozenset(values)))
    parsed = UsageQuery(
        path=endpoint.path,
        start=start,
        end=end,
        width=width,
        limit=query.integer("limit", default=default, minimum=1, maximum=maximum),
        group_by=frozenset(group_by),
        filters=tuple(filters),
    )
    token = query.scalar("page")
    if token is None:
        return parsed
    return replace(parsed, page=_decode_page(token, parsed))


def _limit_bounds(endpoint: UsageEndpoint, width: BucketWidth) -> tuple[int, int]:
    """(default, max) buckets per page: per width for usage, one pair for costs."""
    if endpoint.path == USAGE_ENDPOINTS["costs"].path:
        return COSTS_DEFAULT_LIMIT, COSTS_MAX_LIMIT
    return DEFAULT_LIMIT[width], MAX_LIMIT[width]


def encode_page(next_start: int, fingerprint: str) -> str:
    """An opaque `next_page` token: the next bucket start plus the query's fingerprint."""
    raw = f"{next_start}:{fingerprint}".encode()
    return _PAGE_PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_page(token: str, query: UsageQuery) -> int:
    bad = invalid_value("page", "Invalid 'page': not a cursor returned for this query.")
    if not token.startswith(_PAGE_PREFIX):
        raise bad
    payload = token[len(_PAGE_PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise bad from None
    position, _, token_fingerprint = raw.partition(":")
    if token_fingerprint != query.fingerprint or not _INTEGER.fullmatch(position):
        raise bad
    next_start = int(position)
    aligned = next_start % query.width.seconds == 0
    past_end = query.end is not None and next_start >= query.end
    if next_start <= query.start or not aligned or past_end:
        raise bad
    return next_start


# --- audit logs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditQuery:
    """A validated audit-log query; `lower` inclusive, `upper` exclusive (None: up to now)."""

    lower: int
    upper: int | None
    event_types: frozenset[str]
    actor_ids: frozenset[str]
    actor_emails: frozenset[str]
    project_ids: frozenset[str]
    resource_ids: frozenset[str]
    tenant_only: bool
    limit: int
    after: str | None
    before: str | None


def parse_audit(query: Query) -> AuditQuery:
    bounds = {b: query.optional_integer(f"effective_at[{b}]") for b in EFFECTIVE_AT_BOUNDS}
    lowers = [v for v in (bounds["gte"], _plus_one(bounds["gt"])) if v is not None]
    uppers = [v for v in (bounds["lt"], _plus_one(bounds["lte"])) if v is not None]
    cursor = parse_list(query)
    return AuditQuery(
        lower=max(lowers, default=0),
        upper=min(uppers, default=None),
        event_types=frozenset(query.values("event_types")),
        actor_ids=frozenset(query.values("actor_ids")),
        actor_emails=frozenset(e.lower() for e in query.values("actor_emails")),
        project_ids=frozenset(query.values("project_ids")),
        resource_ids=frozenset(query.values("resource_ids")),
        tenant_only=bool(query.boolean("tenant_only")),
        limit=cursor.limit,
        after=cursor.after,
        before=cursor.before,
    )


def _plus_one(value: int | None) -> int | None:
    return None if value is None else value + 1


# --- directory lists ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ListQuery:
    """Cursor paging of a list: at most one of `after` and `before`."""

    limit: int
    after: str | None
    before: str | None


def parse_list(
    query: Query, *, default_limit: int = LIST_DEFAULT_LIMIT, minimum: int = 1
) -> ListQuery:
    """`limit` is `minimum`..100; spend alerts take 0 (an empty page that says what remains)."""
    limit = query.integer("limit", default=default_limit, minimum=minimum, maximum=LIST_MAX_LIMIT)
    after, before = query.scalar("after"), query.scalar("before")
    if after is not None and before is not None:
        raise invalid_value("before", "Invalid 'before': 'after' and 'before' are exclusive.")
    return ListQuery(limit=limit, after=after, before=before)
