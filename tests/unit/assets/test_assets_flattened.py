"""Every `flattened` field caps the length of what it indexes, so an unknown value larger than
Lucene's term limit is kept in `_source`, unindexed, instead of failing its whole document
(which would be dead-lettered). noida-db enforces neither the term limit nor `ignore_above`,
so this is checked on the shipped templates themselves."""

from __future__ import annotations

import pytest

from poller.assets import composed_mapping, flatten_mapping, load_assets
from poller.documents import stream_fields
from poller.streams import STREAM_NAMES

COMPONENTS = load_assets().components_by_name()
# Lucene refuses a term above 32766 bytes; a character is at most 4 bytes of UTF-8.
LUCENE_MAX_TERM_CHARS = 32766 // 4


FLATTENED: dict[str, list[str]] = {
    stream: [spec.path for spec in stream_fields(stream) if spec.type == "flattened"]
    for stream in STREAM_NAMES
}


def test_only_the_computed_stream_has_no_flattened_field() -> None:
    """Every stream mapped from API objects keeps their unknown fields in a flattened field;
    the allocated costs are computed by the poller, with no unknown field to keep."""
    assert [stream for stream, paths in FLATTENED.items() if not paths] == ["allocated_costs"]


@pytest.mark.parametrize("stream", [stream for stream, paths in FLATTENED.items() if paths])
def test_every_flattened_field_ignores_values_above_the_term_limit(stream: str) -> None:
    mapping = flatten_mapping(composed_mapping(stream, COMPONENTS))
    for path in FLATTENED[stream]:
        assert mapping[path] == {"type": "flattened", "ignore_above": 1024}, path
        assert mapping[path]["ignore_above"] <= LUCENE_MAX_TERM_CHARS
