"""Deterministic document ids: the same API fact always gets the same `_id`.

An id hashes what identifies a fact (org, stream, bucket, grouping) and never what it measures,
so a revised bucket keeps its id and replaces its earlier version instead of adding to it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from poller.streams import BucketWidth

__all__ = ["BucketIds", "allocation_doc_id", "rate_limit_doc_id", "rejected_doc_id"]

# Part of every hashed key, so that a future change of encoding is a deliberate new scheme.
_SCHEME: Final = "openai-poller/1"
# 128 bits: no collision in any realistic index, and short ids keep the _id index small.
_ID_HEX_CHARS: Final = 32
_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def _hash(canonical: str) -> str:
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:_ID_HEX_CHARS]


def _digest(*parts: Any) -> str:
    return _hash(_ENCODER.encode([_SCHEME, *parts]))


@dataclass(frozen=True)
class BucketIds:
    """The ids of one bucket's results.

    What they share (org, stream, bucket, grouping) is encoded once per bucket: `_prefix` is the
    hashed key's text up to its last element, which a compact JSON array separates by a bare
    comma, so `doc_id` hashes exactly what encoding the whole key would give.
    """

    _prefix: str

    @classmethod
    def of(
        cls,
        *,
        organization_id: str,
        stream: str,
        start_time: int,
        bucket_width: BucketWidth,
        group_by: Sequence[str],
    ) -> BucketIds:
        """`group_by` is the request's grouping in a canonical order."""
        shared = [_SCHEME, organization_id, stream, start_time, bucket_width.value, list(group_by)]
        return cls(_ENCODER.encode(shared).removesuffix("]"))

    def doc_id(self, key: Sequence[tuple[str, Any]]) -> str:
        """The id of the result told apart from its siblings by the (dimension, value) `key`."""
        return _hash(f"{self._prefix},{_ENCODER.encode(key)}]")


def rate_limit_doc_id(organization_id: str, project_id: str, model: Any, slot_start: int) -> str:
    """The id of one project's limit for one model in one collection slot."""
    return _digest(organization_id, "rate_limits", project_id, model, slot_start)


def allocation_doc_id(organization_id: str, project_id: str, day: int, key: Sequence[str]) -> str:
    """The id of one row of a project's split bill of one day: a revised bill keeps it."""
    return _digest(organization_id, "allocated_costs", project_id, day, list(key))


def rejected_doc_id(organization_id: str, stream: str, raw: Mapping[str, Any]) -> str:
    """The id of an item no document can be built from: a digest of the whole item, keys
    sorted, so the same item rejected again (a re-read, a retry) is kept once."""
    return _digest(organization_id, "rejected", stream, raw)
