"""Source equality and timestamps: what both sinks count as `unchanged` and where a time falls."""

from __future__ import annotations

import math

import pytest

from poller.sinks import canonical_json, same_source, timestamp_millis


def test_equal_sources_in_another_shape_are_the_same() -> None:
    ours = {"a": 1.0, "b": {"y": None, "x": [1, 2.5]}, "c": "s"}
    stored = {"c": "s", "b": {"x": [1, 2.5]}, "a": 1}  # key order, null dropped, 1.0 as 1
    assert same_source(stored, ours)


@pytest.mark.parametrize(
    "stored",
    [
        {"a": 1, "b": {"x": [2.5, 1]}, "c": "s"},  # array order matters
        {"a": 2, "b": {"x": [1, 2.5]}, "c": "s"},  # a value changed
        {"a": 1, "b": {"x": [1, 2.5]}},  # a field went away
        {"a": 1, "b": {"x": [1, 2.5]}, "c": "s", "d": 0},  # a field appeared
    ],
)
def test_any_value_difference_is_a_revision(stored: dict[str, object]) -> None:
    assert not same_source(stored, {"a": 1, "b": {"x": [1, 2.5]}, "c": "s"})


def test_fields_set_by_an_ingest_pipeline_can_be_ignored() -> None:
    stored = {"event": {"ingested": "2026-11-15T10:00:01Z", "kind": "metric"}, "n": 1}
    ours = {"event": {"kind": "metric"}, "n": 1}
    assert not same_source(stored, ours)
    assert same_source(stored, ours, ignore=("event.ingested",))


def test_canonical_json_refuses_what_json_cannot_hold() -> None:
    assert canonical_json({"b": 1.0, "a": None}) == '{"b":1}'
    with pytest.raises(ValueError):
        canonical_json({"n": math.nan})
    with pytest.raises(ValueError):
        canonical_json({"s": {1, 2}})


@pytest.mark.parametrize(
    ("value", "millis"),
    [
        ("2026-01-01T00:00:00Z", 1_767_225_600_000),
        ("2026-01-01T00:00:00.123Z", 1_767_225_600_123),
        ("2026-01-01T01:00:00+01:00", 1_767_225_600_000),
        ("2026-01-01T00:00:00", 1_767_225_600_000),  # no offset: UTC, as Elasticsearch reads it
        ("2026-01-01", 1_767_225_600_000),
        (1_767_225_600_000, 1_767_225_600_000),  # epoch milliseconds
        ("yesterday", None),
        (None, None),
        (True, None),
    ],
)
def test_timestamp_millis(value: object, millis: int | None) -> None:
    assert timestamp_millis({"@timestamp": value}) == millis
