"""What every mapper shares: the mapping context, the ECS skeleton, times and nested trees.

Documents are pure functions of the API data and this context. Nothing here reads the clock,
because the sink detects a revision by comparing a re-read document with the stored one: any
wall-clock value would make every re-read look like a revision.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final, Protocol

from poller.documents.model import Document, Names
from poller.streams import BucketWidth, get_stream

__all__ = [
    "ECS_VERSION",
    "MappingContext",
    "PriceEstimator",
    "Skeleton",
    "iso_time",
    "make_document",
    "merge",
    "put",
    "skeleton",
]

ECS_VERSION: Final = "8.17.0"



class PriceEstimator(Protocol):
    """What the usage mapper needs from `poller.pricing.PriceTable`.

    Declared here, structurally, so that documents depend on the behaviour and not on the module.
    """

    @property
    def version(self) -> str: ...

    def estimate_usd(self, stream: str, result: Mapping[str, Any], at: int) -> Decimal | None: ...


@dataclass(frozen=True)
class MappingContext:
    """Everything a mapper needs besides the API object itself.

    `bucket_width` and `group_by` describe the request that returned a usage or costs result;
    their defaults are the API's own (`1d`, ungrouped). Derive a per-request context from a
    per-org one with `dataclasses.replace`.
    """

    organization_id: str
    organization_name: str | None = None
    namespace: str = "default"
    bucket_width: BucketWidth = BucketWidth.DAY
    group_by: tuple[str, ...] = ()
    names: Names | None = None
    price_table: PriceEstimator | None = None


def iso_time(seconds: int) -> str:
    """Unix seconds as ISO-8601 UTC with milliseconds and `Z`, the form ECS dates take."""
    stamp = datetime.fromtimestamp(seconds, tz=UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def put(tree: dict[str, Any], path: str, value: Any) -> None:
    """Set `value` at a dotted `path`, creating the objects on the way (documents never hold
    dotted keys)."""
    *parents, leaf = path.split(".")
    for key in parents:
        tree = tree.setdefault(key, {})
    tree[leaf] = value


def merge(into: dict[str, Any], other: Mapping[str, Any]) -> None:
    """Deep-merge `other` into `into`, copying its objects (so inputs are never mutated later);
    on a clash between an object and anything else, `other` wins."""
    for key, value in other.items():
        if isinstance(value, Mapping):
            current = into.get(key)
            if not isinstance(current, dict):
                current = into[key] = {}
            merge(current, value)
        else:
            into[key] = value


@dataclass(frozen=True)
class Skeleton:
    """The fields every document of one stream and org carries (docs/interface.md), worked out once
    so that a mapper of many documents only stamps them."""

    dataset: str
    namespace: str
    organization: tuple[tuple[str, str], ...]
    tag: str

    @classmethod
    def of(
        cls, stream: str, organization_id: str, organization_name: str | None, namespace: str
    ) -> Skeleton:
        organization: tuple[tuple[str, str], ...] = (("id", organization_id),)
        if organization_name:
            organization += (("name", organization_name),)
        tag = f"openai-{stream.replace('_', '-')}"
        return cls(get_stream(stream).dataset, namespace, organization, tag)

    def source(self, stamp: str, kind: str) -> dict[str, Any]:
        """A new document stamped `stamp` (an `iso_time`), sharing no object with another."""
        return {
            "@timestamp": stamp,
            "data_stream": {"type": "logs", "dataset": self.dataset, "namespace": self.namespace},
            "ecs": {"version": ECS_VERSION},
            "event": {"dataset": self.dataset, "module": "openai", "kind": kind},
            "organization": dict(self.organization),
            "tags": [self.tag],
        }


def skeleton(stream: str, ctx: MappingContext, timestamp: int, kind: str) -> dict[str, Any]:
    """The fields every document carries (docs/interface.md), for a document stamped `timestamp`."""
    parts = Skeleton.of(stream, ctx.organization_id, ctx.organization_name, ctx.namespace)
    return parts.source(iso_time(timestamp), kind)


def make_document(
    stream: str, ctx: MappingContext, doc_id: str, source: dict[str, Any]
) -> Document:
    return Document(
        stream=stream,
        data_stream=get_stream(stream).data_stream(ctx.namespace),
        doc_id=doc_id,
        source=source,
    )
