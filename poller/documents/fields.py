"""Every field a mapper can write, with its Elasticsearch type.

This module is the one declaration of the documents' shape. The mappers place API values only
where it declares a field (through `fitting.fit`); whatever does not fit goes to one flattened
field per document, so a new or drifting API field can never grow or break an index mapping.
`stream_fields` lists the same declaration for the Elasticsearch templates.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Final

from poller.documents.allocated import ALLOCATED_FIELDS
from poller.documents.audit_payloads import PAYLOAD_FIELDS
from poller.documents.fitting import (
    BOOLEAN,
    CONSTANT_KEYWORD,
    DATE,
    DOUBLE,
    FLATTENED,
    GEO_POINT,
    IP,
    KEYWORD,
    LONG,
    Node,
    Tree,
)
from poller.documents.governance_fields import GOVERNANCE_FIELDS
from poller.documents.groups import USER_GROUP_FIELDS
from poller.documents.spend_fields import SPEND_API_FIELDS, SPEND_OWN_FIELDS
from poller.streams import STREAM_NAMES, StreamKind, UsageEndpoint, get_stream

__all__ = [
    "AUDIT_LOG_FIELDS",
    "AUDIT_UNMAPPED",
    "NAME_FIELDS",
    "RATE_LIMIT_FIELDS",
    "UNMAPPED",
    "USAGE_TOTALS",
    "FieldSpec",
    "all_stream_fields",
    "audit_payload_paths",
    "mapped_only_fields",
    "result_path",
    "result_tree",
    "stream_fields",
]


@dataclass(frozen=True)
class FieldSpec:
    """One field path and its Elasticsearch type; `indexed` False means stored in _source only;
    `text` True adds ECS's `<path>.text` (`match_only_text`) multi-field to a keyword."""

    path: str
    type: str
    indexed: bool = True
    text: bool = False


def _tree(paths: Mapping[str, str]) -> dict[str, Any]:
    """Dotted path → type, as a nested declaration. A path declared twice, or both as a leaf
    and as an object, is a bug: one of the two would silently win."""
    tree: dict[str, Any] = {}
    for path, es_type in paths.items():
        *parents, leaf = path.split(".")
        node = tree
        for key in parents:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise ValueError(f"{path!r}: {key!r} is declared both as a leaf and an object")
        if leaf in node:
            raise ValueError(f"{path!r} is declared twice")
        node[leaf] = es_type
    return tree


def _flatten(node: Node, path: str) -> Iterator[FieldSpec]:
    if isinstance(node, str):
        yield FieldSpec(path, node)
        return
    for name, child in node.items():
        yield from _flatten(child, f"{path}.{name}")


# ---- where values go -------------------------------------------------------------------------

UNMAPPED: Final = "openai.unmapped"  # usage, costs and rate-limit fields the catalog lacks
AUDIT_UNMAPPED: Final = "openai.audit.payload_unmapped"  # audit content the spec does not declare

# Result fields that Elastic's pipelines rename into the shared `openai.base.*` namespace.
_BASE_RESULT_FIELDS: Final = frozenset(
    {"project_id", "user_id", "api_key_id", "model", "num_model_requests"}
)
_RENAMED: Final = {"object": "openai.base.usage_object_type"}
_BOOLEAN_DIMENSIONS: Final = frozenset({"batch"})
# Result fields beyond dimensions and metrics, by kind: costs' amount is an object.
_KIND_RESULT_FIELDS: Final[Mapping[StreamKind, Tree]] = {
    StreamKind.COSTS: {
        "amount": {"value": DOUBLE, "currency": KEYWORD},
        "quantity": DOUBLE,
        "quantity_unit": KEYWORD,
    },
}

# Dimension → the display name written next to it when `Names` knows the id.
NAME_FIELDS: Final = {
    "project_id": "openai.base.project_name",
    "user_id": "openai.base.user_email",
    "api_key_id": "openai.base.api_key_name",
}
# Elastic's normalised totals (its 2.2 pipelines), which its rate-limit headroom queries read:
# stream → (the total's field under `openai.base`, the result fields it sums).
USAGE_TOTALS: Final[dict[str, tuple[str, tuple[str, ...]]]] = {
    "completions": (
        "usage_tokens",
        ("input_tokens", "output_tokens", "input_audio_tokens", "output_audio_tokens"),
    ),
    "embeddings": ("usage_tokens", ("input_tokens",)),
    "moderations": ("usage_tokens", ("input_tokens",)),
    "images": ("usage_images", ("images",)),
}
_COST_ESTIMATE: Final = (
    FieldSpec("openai.base.cost_estimate_usd", DOUBLE),
    FieldSpec("openai.base.price_table_version", KEYWORD),
    FieldSpec("openai.base.unpriced", BOOLEAN),
)


def _endpoint(stream: str) -> UsageEndpoint:
    endpoint = get_stream(stream).usage
    if endpoint is None:
        raise ValueError(f"{stream} is not a bucketed stream")
    return endpoint


@cache
def result_tree(stream: str) -> Tree:
    """The fields of a usage or costs result the catalog knows, with their types."""
    endpoint = _endpoint(stream)
    tree: dict[str, Node] = {"object": KEYWORD}
    for name in endpoint.dimensions:
        tree[name] = BOOLEAN if name in _BOOLEAN_DIMENSIONS else KEYWORD
    tree.update(dict.fromkeys(endpoint.metrics, LONG))
    tree.update(_KIND_RESULT_FIELDS.get(get_stream(stream).kind, {}))
    return tree


def result_path(stream: str, name: str) -> str:
    """Where a result field goes: `openai.base.*` for the shared ones, else `openai.<stream>.*`."""
    if name in _RENAMED:
        return _RENAMED[name]
    return f"openai.base.{name}" if name in _BASE_RESULT_FIELDS else f"openai.{stream}.{name}"


RATE_LIMIT_FIELDS: Final[Tree] = {
    "id": KEYWORD,
    "object": KEYWORD,
    "model": KEYWORD,
    **dict.fromkeys(
        (
            "max_requests_per_1_minute",
            "max_tokens_per_1_minute",
            "max_images_per_1_minute",
            "max_audio_megabytes_per_1_minute",
            "max_requests_per_1_day",
            "max_tokens_per_1_day",
            "batch_1_day_max_input_tokens",
        ),
        LONG,
    ),
}

_JSON_TO_ES: Final = {"string": KEYWORD, "integer": LONG, "number": DOUBLE, "boolean": BOOLEAN}
# The audit log without its payload: the spec's AuditLog and actor schemas, plus the session
# fields its examples show (user_agent, ja3, ja4, ip_address_details with numbers as strings).
_AUDIT_LOG: Final = {
    "id": KEYWORD,
    "object": KEYWORD,
    "type": KEYWORD,
    "effective_at": DATE,
    "project.id": KEYWORD,
    "project.name": KEYWORD,
    "actor.type": KEYWORD,
    "actor.session.user.id": KEYWORD,
    "actor.session.user.email": KEYWORD,
    "actor.session.ip_address": IP,
    "actor.session.user_agent": KEYWORD,
    "actor.session.ja3": KEYWORD,
    "actor.session.ja4": KEYWORD,
    "actor.session.ip_address_details.country": KEYWORD,
    "actor.session.ip_address_details.city": KEYWORD,
    "actor.session.ip_address_details.region": KEYWORD,
    "actor.session.ip_address_details.region_code": KEYWORD,
    "actor.session.ip_address_details.asn": LONG,
    "actor.session.ip_address_details.latitude": DOUBLE,
    "actor.session.ip_address_details.longitude": DOUBLE,
    "actor.api_key.id": KEYWORD,
    "actor.api_key.type": KEYWORD,
    "actor.api_key.user.id": KEYWORD,
    "actor.api_key.user.email": KEYWORD,
    "actor.api_key.service_account.id": KEYWORD,
}


def audit_payload_paths() -> dict[str, str]:
    """Every `openai.audit.*` path an event payload can fill, with the spec's JSON type."""
    return {
        f"openai.audit.{event_type}.{path}": json_type
        for event_type, fields in PAYLOAD_FIELDS.items()
        for path, json_type in fields.items()
    }


# The audit log object as the API keys it: payloads sit under their dotted event type, which
# the mapper then nests ("role.assignment.created" → role → assignment → created).
AUDIT_LOG_FIELDS: Final[Tree] = {
    **_tree(_AUDIT_LOG),
    **{
        event_type: _tree({path: _JSON_TO_ES[kind] for path, kind in fields.items()})
        for event_type, fields in PAYLOAD_FIELDS.items()
    },
}


# ---- the field lists ---------------------------------------------------------------------------

_COMMON: Final = (
    FieldSpec("@timestamp", DATE),
    FieldSpec("data_stream.type", CONSTANT_KEYWORD),
    FieldSpec("data_stream.dataset", CONSTANT_KEYWORD),
    FieldSpec("data_stream.namespace", CONSTANT_KEYWORD),
    FieldSpec("ecs.version", KEYWORD),
    FieldSpec("event.dataset", CONSTANT_KEYWORD),
    FieldSpec("event.module", CONSTANT_KEYWORD),
    FieldSpec("event.kind", KEYWORD),
    FieldSpec("organization.id", KEYWORD),
    FieldSpec("organization.name", KEYWORD, text=True),
    FieldSpec("tags", KEYWORD),
)


def _bucket_fields(stream: str) -> Iterator[FieldSpec]:
    dimensions = _endpoint(stream).dimensions
    yield FieldSpec("event.created", DATE)
    yield FieldSpec("openai.base.start_time", DATE)
    yield FieldSpec("openai.base.end_time", DATE)
    yield FieldSpec("openai.base.bucket_width", KEYWORD)
    for name, node in result_tree(stream).items():
        yield from _flatten(node, result_path(stream, name))
    for dimension, path in NAME_FIELDS.items():
        if dimension in dimensions:
            yield FieldSpec(path, KEYWORD)
    if "user_id" in dimensions:
        yield from (FieldSpec(path, kind) for path, kind in USER_GROUP_FIELDS.items())
    yield FieldSpec(UNMAPPED, FLATTENED)


def _usage_fields(stream: str) -> Iterator[FieldSpec]:
    yield from _bucket_fields(stream)
    yield from _COST_ESTIMATE
    if stream in USAGE_TOTALS:
        yield FieldSpec(f"openai.base.{USAGE_TOTALS[stream][0]}", LONG)


def _audit_fields(stream: str) -> Iterator[FieldSpec]:
    for path in ("event.action", "event.id", "event.category", "event.type", "event.outcome"):
        yield FieldSpec(path, KEYWORD)
    yield FieldSpec("event.original", KEYWORD, indexed=False)
    yield FieldSpec("observer.vendor", CONSTANT_KEYWORD)
    yield FieldSpec("observer.product", CONSTANT_KEYWORD)
    for path in ("user.id", "user.email", "user.domain", "service.id"):
        yield FieldSpec(path, KEYWORD)
    yield FieldSpec("user_agent.original", KEYWORD, text=True)
    yield FieldSpec("source.ip", IP)
    for name in ("city_name", "country_iso_code", "region_name", "region_iso_code"):
        yield FieldSpec(f"source.geo.{name}", KEYWORD)
    yield FieldSpec("source.geo.location", GEO_POINT)
    yield FieldSpec("source.as.number", LONG)
    yield FieldSpec("tls.client.ja3", KEYWORD)
    yield FieldSpec("related.ip", IP)
    yield FieldSpec("related.user", KEYWORD)
    yield from _flatten(AUDIT_LOG_FIELDS, "openai.audit")
    yield FieldSpec(AUDIT_UNMAPPED, FLATTENED)


def _rate_limit_fields(stream: str) -> Iterator[FieldSpec]:
    yield FieldSpec("event.created", DATE)
    yield from _flatten(RATE_LIMIT_FIELDS, "openai.rate_limits")
    for name in ("project_id", "project_name", "project_status"):
        yield FieldSpec(f"openai.rate_limits.{name}", KEYWORD)
    yield FieldSpec("openai.rate_limits.collected_at", DATE)
    yield FieldSpec(UNMAPPED, FLATTENED)


def _spend_fields(stream: str) -> Iterator[FieldSpec]:
    yield FieldSpec("event.created", DATE)
    yield from _flatten({**SPEND_API_FIELDS[stream], **SPEND_OWN_FIELDS}, f"openai.{stream}")
    yield FieldSpec(UNMAPPED, FLATTENED)


def _governance_fields(stream: str) -> Iterator[FieldSpec]:
    for path in ("event.created", "event.action", "event.category", "event.type"):
        yield FieldSpec(path, DATE if path == "event.created" else KEYWORD)
    yield from _flatten(GOVERNANCE_FIELDS, f"openai.{stream}")
    yield FieldSpec(UNMAPPED, FLATTENED)
def _allocation_fields(stream: str) -> Iterator[FieldSpec]:
    yield from (FieldSpec(path, kind) for path, kind in ALLOCATED_FIELDS.items())


_BY_KIND: Final = {
    StreamKind.USAGE: _usage_fields,
    StreamKind.COSTS: _bucket_fields,
    StreamKind.AUDIT: _audit_fields,
    StreamKind.RATE_LIMITS: _rate_limit_fields,
    StreamKind.SPEND: _spend_fields,
    StreamKind.GOVERNANCE: _governance_fields,
    StreamKind.ALLOCATION: _allocation_fields,
}


def stream_fields(stream: str) -> tuple[FieldSpec, ...]:
    """Every field the mapper of `stream` can write, sorted by path."""
    specific = _BY_KIND[get_stream(stream).kind](stream)
    return tuple(sorted((*_COMMON, *specific), key=lambda spec: spec.path))


def all_stream_fields() -> dict[str, tuple[FieldSpec, ...]]:
    """`stream_fields` for every stream, in catalog order."""
    return {name: stream_fields(name) for name in STREAM_NAMES}


# Fields other streams write that Elastic maps, never filled, in these streams too, so that its
# Usage Overview and rate-limit headroom dashboards resolve them when only some streams are
# enabled (elastic/integrations#19340). The templates map them; no mapper writes them here.
_MAPPED_ELSEWHERE: Final[dict[str, tuple[str, ...]]] = {
    **dict.fromkeys(
        ("completions", "audio_speeches", "audio_transcriptions"),
        ("openai.embeddings.input_tokens", "openai.moderations.input_tokens"),
    ),
    "rate_limits": ("openai.base.usage_images",),
}


def mapped_only_fields(stream: str) -> tuple[FieldSpec, ...]:
    """The fields `stream`'s template maps beyond what its mapper writes, typed as the stream
    that writes them types them."""
    paths = _MAPPED_ELSEWHERE.get(stream, ())
    if not paths:
        return ()
    written = {spec.path: spec for specs in all_stream_fields().values() for spec in specs}
    return tuple(written[path] for path in paths)
