"""What a usage and a costs document share: one result of one time bucket, and its id."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from poller.documents.common import MappingContext, iso_time, put, skeleton
from poller.documents.fields import NAME_FIELDS, UNMAPPED, result_path, result_tree
from poller.documents.fitting import fit
from poller.documents.ids import bucket_doc_id
from poller.documents.model import Names
from poller.streams import get_stream

__all__ = ["bucket_source"]

# Lambdas, not `Names.project_name`: a protocol's own methods are stubs, not the implementation.
_LOOKUPS: Final[dict[str, Callable[[Names, str], str | None]]] = {
    "project_id": lambda names, ident: names.project_name(ident),
    "user_id": lambda names, ident: names.user_email(ident),
    "api_key_id": lambda names, ident: names.api_key_name(ident),
}


def _grouping(stream: str, ctx: MappingContext) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the stream's dimensions, the request's group_by in their order): the same grouping asked
    in another order is the same request, and must give the same ids."""
    endpoint = get_stream(stream).usage
    if endpoint is None:
        raise ValueError(f"{stream} is not a bucketed stream")
    if ctx.bucket_width not in endpoint.widths:
        raise ValueError(f"{stream} has no {ctx.bucket_width.value} buckets")
    unknown = sorted(set(ctx.group_by) - set(endpoint.dimensions))
    if unknown:
        raise ValueError(f"{stream} cannot be grouped by {', '.join(unknown)}")
    return endpoint.dimensions, tuple(name for name in endpoint.dimensions if name in ctx.group_by)


def bucket_source(
    ctx: MappingContext, stream: str, start_time: int, end_time: int, result: Mapping[str, Any]
) -> tuple[dict[str, Any], str]:
    """(source, doc id) of one result of the bucket [start_time, end_time).

    The id keys on the grouped dimensions plus any dimension the result fills although it was
    not asked for: two results of one bucket never share an id, even if the API over-groups.
    """
    dimensions, group_by = _grouping(stream, ctx)
    key = [
        (name, result.get(name))
        for name in dimensions
        if name in group_by or result.get(name) is not None
    ]
    doc_id = bucket_doc_id(
        organization_id=ctx.organization_id,
        stream=stream,
        start_time=start_time,
        bucket_width=ctx.bucket_width,
        group_by=group_by,
        key=key,
    )

    source = skeleton(stream, ctx, start_time, "metric")
    # Not the wall clock: the bucket's end is when its fact became complete, and re-reads of
    # the same bucket must produce the same document.
    source["event"]["created"] = iso_time(end_time)
    put(source, "openai.base.start_time", iso_time(start_time))
    put(source, "openai.base.end_time", iso_time(end_time))
    put(source, "openai.base.bucket_width", ctx.bucket_width.value)

    mapped, unmapped = fit(result, result_tree(stream))
    for name, value in mapped.items():
        put(source, result_path(stream, name), value)
    if ctx.names is not None:
        for dimension, lookup in _LOOKUPS.items():
            ident = mapped.get(dimension)
            display = lookup(ctx.names, ident) if isinstance(ident, str) else None
            if display:
                put(source, NAME_FIELDS[dimension], display)
    if unmapped:
        put(source, UNMAPPED, unmapped)
    return source, doc_id
