"""Cutting bulk requests to size: at most so many operations and so many bytes of NDJSON each.

Elasticsearch refuses a request body beyond `http.max_content_length` (100mb by default) with
413, and large bodies cost the cluster memory while they are parsed, so every bulk request the
sink sends (documents and dead letters) is bounded in bytes as well as in operations. The bytes
counted are the body's, as the client writes it: each line compact JSON in UTF-8, then a
newline.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

__all__ = ["batches", "ndjson_bytes"]

T = TypeVar("T")


def ndjson_bytes(*lines: Mapping[str, Any]) -> int:
    """The bytes `lines` take in a bulk body (the client's serializer: compact, not ASCII-only;
    types JSON lacks count as their text)."""
    return sum(
        len(json.dumps(line, ensure_ascii=False, separators=(",", ":"), default=str).encode())
        + 1
        for line in lines
    )


def batches(
    items: Sequence[T], size: Callable[[T], int], max_items: int, max_bytes: int
) -> Iterator[list[T]]:
    """`items` in order, in runs of at most `max_items` and `max_bytes`; an item larger than
    `max_bytes` alone goes in a run of its own."""
    run: list[T] = []
    total = 0
    for item in items:
        item_bytes = size(item)
        if run and (len(run) >= max_items or total + item_bytes > max_bytes):
            yield run
            run, total = [], 0
        run.append(item)
        total += item_bytes
    if run:
        yield run
