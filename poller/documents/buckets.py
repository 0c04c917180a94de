"""What a usage and a costs document share: one result of one time bucket, and its id.

A page holds up to thousands of results per bucket, so what depends on the stream alone
(`_layout`) or on the bucket alone (`_bucket`: its times, the id's shared key, the document's
common fields) is worked out once and reused, never once per result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any, Final

from poller.documents.common import MappingContext, Skeleton, iso_time, put
from poller.documents.fields import NAME_FIELDS, UNMAPPED, result_path, result_tree
from poller.documents.fitting import KEYWORD, Tree, fit
from poller.documents.groups import put_user_groups
from poller.documents.ids import BucketIds
from poller.documents.model import Names
from poller.streams import BucketWidth, get_stream

__all__ = ["bucket_source"]

Lookup = Callable[[Names, str], str | None]
# Where a field goes under the document's `openai` object: (child object, key).
Slot = tuple[str, str]


def _slot(path: str) -> Slot:
    """The slot of a dotted `openai.<object>.<key>` path."""
    root, child, key = path.split(".")
    if root != "openai":
        raise ValueError(f"{path} is not a field under openai")
    return child, key


# Lambdas, not `Names.project_name`: a protocol's own methods are stubs, not the implementation.
_LOOKUPS: Final[dict[str, Lookup]] = {
    "project_id": lambda names, ident: names.project_name(ident),
    "user_id": lambda names, ident: names.user_email(ident),
    "api_key_id": lambda names, ident: names.api_key_name(ident),
}
_NAME_SLOTS: Final = {dimension: _slot(path) for dimension, path in NAME_FIELDS.items()}


@dataclass(frozen=True)
class _Layout:
    """A bucketed stream's dimensions, the result fields it declares, and each one's slot."""

    dimensions: tuple[str, ...]
    widths: frozenset[BucketWidth]
    tree: Tree
    slots: Mapping[str, Slot]
    # Keyword dimensions whose "" is written as sent: see `_layout`.
    kept_empty: tuple[str, ...]


@cache
def _layout(stream: str) -> _Layout:
    endpoint = get_stream(stream).usage
    if endpoint is None:
        raise ValueError(f"{stream} is not a bucketed stream")
    tree = result_tree(stream)
    slots = {name: _slot(result_path(stream, name)) for name in tree}
    # A dimension the API sends as "" (usage no project, user or key is known for) is kept, as
    # Elastic's usage pipelines keep it: a terms chart then shows that usage as its own bucket
    # instead of silently leaving it out of every per-project total (docs/elastic-parity.md).
    kept_empty = tuple(name for name in endpoint.dimensions if tree.get(name) == KEYWORD)
    return _Layout(endpoint.dimensions, frozenset(endpoint.widths), tree, slots, kept_empty)


def _grouping(
    layout: _Layout, stream: str, width: BucketWidth, group_by: tuple[str, ...]
) -> tuple[str, ...]:
    """The request's group_by in the stream's dimension order: the same grouping asked in
    another order is the same request, and must give the same ids."""
    if width not in layout.widths:
        raise ValueError(f"{stream} has no {width.value} buckets")
    unknown = sorted(set(group_by) - set(layout.dimensions))
    if unknown:
        raise ValueError(f"{stream} cannot be grouped by {', '.join(unknown)}")
    return tuple(name for name in layout.dimensions if name in group_by)


@dataclass(frozen=True)
class _Bucket:
    """What every result of one bucket of one request shares."""

    layout: _Layout
    group_by: tuple[str, ...]
    ids: BucketIds
    skeleton: Skeleton
    start: str
    end: str
    width: str

    def source(self) -> dict[str, Any]:
        """A new document holding the bucket's fields."""
        source = self.skeleton.source(self.start, "metric")
        # Not the wall clock: the bucket's end is when its fact became complete, and re-reads of
        # the same bucket must produce the same document.
        source["event"]["created"] = self.end
        base = {"start_time": self.start, "end_time": self.end, "bucket_width": self.width}
        source["openai"] = {"base": base}
        return source


# Typed: 1 and 1.0 are equal keys, but not the same id. Results of a page come bucket by bucket;
# the size only spares a re-computation when job threads interleave pages.
@lru_cache(maxsize=256, typed=True)
def _bucket(
    stream: str,
    start_time: int,
    end_time: int,
    *,
    organization_id: str,
    organization_name: str | None,
    namespace: str,
    width: BucketWidth,
    group_by: tuple[str, ...],
) -> _Bucket:
    layout = _layout(stream)
    grouping = _grouping(layout, stream, width, group_by)
    ids = BucketIds.of(
        organization_id=organization_id,
        stream=stream,
        start_time=start_time,
        bucket_width=width,
        group_by=grouping,
    )
    skeleton = Skeleton.of(stream, organization_id, organization_name, namespace)
    start, end = iso_time(start_time), iso_time(end_time)
    return _Bucket(layout, grouping, ids, skeleton, start, end, width.value)


def bucket_source(
    ctx: MappingContext, stream: str, start_time: int, end_time: int, result: Mapping[str, Any]
) -> tuple[dict[str, Any], str]:
    """(source, doc id) of one result of the bucket [start_time, end_time).

    The id keys on the grouped dimensions plus any dimension the result fills although it was
    not asked for: two results of one bucket never share an id, even if the API over-groups.
    """
    bucket = _bucket(
        stream,
        start_time,
        end_time,
        organization_id=ctx.organization_id,
        organization_name=ctx.organization_name,
        namespace=ctx.namespace,
        width=ctx.bucket_width,
        group_by=ctx.group_by,
    )
    key = [
        (name, result.get(name))
        for name in bucket.layout.dimensions
        if name in bucket.group_by or result.get(name) is not None
    ]
    doc_id = bucket.ids.doc_id(key)

    source = bucket.source()
    openai = source["openai"]
    mapped, unmapped = fit(result, bucket.layout.tree)
    for name in bucket.layout.kept_empty:
        if result.get(name) == "":
            mapped[name] = ""
    slots = bucket.layout.slots
    for name, value in mapped.items():
        child, field = slots[name]
        openai.setdefault(child, {})[field] = value
    if ctx.names is not None:
        for dimension, lookup in _LOOKUPS.items():
            ident = mapped.get(dimension)
            display = lookup(ctx.names, ident) if isinstance(ident, str) and ident else None
            if display:
                child, field = _NAME_SLOTS[dimension]
                openai.setdefault(child, {})[field] = display
        user = mapped.get("user_id")
        if isinstance(user, str) and user:
            put_user_groups(source, ctx.names.user_groups(user))
    if unmapped:
        put(source, UNMAPPED, unmapped)
    return source, doc_id
