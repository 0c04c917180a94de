"""Telling a data stream whose mapping is wrong from a few poison documents.

A document Elasticsearch refuses for good is dead-lettered, so one bad value never stalls its
stream. But when a data stream's mapping itself is wrong (an index created by hand before the
templates, a field mapped with another type), it refuses *every* document, and dead-lettering
them would empty the stream into the dead-letter index while the cursor moves on: the data
would look collected and be missing from every sum.

So a write's refusals are grouped by data stream, mapping reason (`document_parsing_exception`
and its kin) and field. A group holding at least `MIN_ITEMS` documents and at least half of
what the write sent to that data stream is systemic: the write raises `MappingConflictError`,
naming the data stream, the field and the fix, before anything is dead-lettered, so the cursor
holds until the mapping is fixed. Smaller groups are poison items, dead-lettered as before.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Final

from poller.errors import MappingConflictError
from poller.sinks.elasticsearch._deadletters import Refused

__all__ = ["MAPPING_REASONS", "MIN_ITEMS", "field_of", "systemic_conflict"]

# Error types of a bulk item that say the document does not fit the index's mapping.
MAPPING_REASONS: Final = frozenset({
    "document_parsing_exception",  # 8.x: a value does not parse as the mapped type
    "mapper_parsing_exception",  # 7.x and some 8.x paths: the same
    "illegal_argument_exception",  # a dynamic mapping that would change a field's type
    "strict_dynamic_mapping_exception",  # `dynamic: strict` refuses an unmapped field
    "mapper_exception",
})
# Fewer refusals than this of one reason are poison items, however small the write.
MIN_ITEMS: Final = 2

_FIELD: Final = (
    re.compile(r"failed to parse field \[([^\]]+)\]"),
    re.compile(r"mapper \[([^\]]+)\]"),
    re.compile(r"introduction of \[([^\]]+)\] within \[([^\]]+)\]"),
    re.compile(r"field \[([^\]]+)\]"),
)
_TYPE: Final = re.compile(r"of type \[([^\]]+)\]")


def field_of(reason: str) -> str | None:
    """The field a mapping refusal's reason names, or None."""
    for pattern in _FIELD:
        match = pattern.search(reason)
        if match is None:
            continue
        if len(match.groups()) == 2:  # strict: "[leaf] within [parent]"
            leaf, parent = match.groups()
            return leaf if parent in ("_doc", "") else f"{parent}.{leaf}"
        return match.group(1)
    return None


def systemic_conflict(
    refused: Sequence[Refused], sent: Mapping[str, int]
) -> MappingConflictError | None:
    """The error of the largest systemic group of `refused`, or None when every refusal is a
    poison item. `sent` is how many documents the write sent to each data stream."""
    groups = Counter(
        (r.doc.data_stream, r.kind, field_of(r.reason))
        for r in refused
        if r.kind in MAPPING_REASONS
    )
    for (data_stream, kind, field), count in groups.most_common():
        total = sent.get(data_stream, count)
        if count >= MIN_ITEMS and 2 * count >= total:
            example = next(
                r for r in refused
                if (r.doc.data_stream, r.kind, field_of(r.reason)) == (data_stream, kind, field)
            )
            typed = _TYPE.search(example.reason)
            what = f"field {field}" if field else "a field"
            mapped = f" is mapped as {typed.group(1)}" if typed else " does not fit its mapping"
            return MappingConflictError(
                f"{data_stream} refused {count} of {total} documents: {what}{mapped} "
                f"({kind}); cursor held, nothing dead-lettered -- fix: run openai-poller "
                "doctor",
                data_stream=data_stream,
                field=field,
            )
    return None
