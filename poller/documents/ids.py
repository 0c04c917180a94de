"""Deterministic document ids: the same API fact always gets the same `_id`.

An id hashes what identifies a fact (org, stream, bucket, grouping) and never what it measures,
so a revised bucket keeps its id and replaces its earlier version instead of adding to it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any, Final

from poller.streams import BucketWidth

__all__ = ["bucket_doc_id", "rate_limit_doc_id"]

# Part of every hashed key, so that a future change of encoding is a deliberate new scheme.
_SCHEME: Final = "openai-poller/1"
# 128 bits: no collision in any realistic index, and short ids keep the _id index small.
_ID_HEX_CHARS: Final = 32


def _digest(*parts: Any) -> str:
    canonical = json.dumps(
        [_SCHEME, *parts], separators=(",", ":"), sort_keys=True, ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:_ID_HEX_CHARS]


def bucket_doc_id(
    *,
    organization_id: str,
    stream: str,
    start_time: int,
    bucket_width: BucketWidth,
    group_by: Sequence[str],
    key: Sequence[tuple[str, Any]],
) -> str:
    """The id of one usage or costs result.

    `group_by` is the request's grouping in a canonical order; `key` the (dimension, value) pairs
    that tell this result apart from its siblings in the bucket.
    """
    return _digest(
        organization_id,
        stream,
        start_time,
        bucket_width.value,
        list(group_by),
        [[name, value] for name, value in key],
    )


def rate_limit_doc_id(organization_id: str, project_id: str, model: Any, slot_start: int) -> str:
    """The id of one project's limit for one model in one collection slot."""
    return _digest(organization_id, "rate_limits", project_id, model, slot_start)
