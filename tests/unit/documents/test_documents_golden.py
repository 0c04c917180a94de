"""Every golden case maps to exactly its expected document; mapping is pure.

The `doc_id` literals in the golden files also pin the id scheme: changing it would give every
stored document a new id, and every re-read would then duplicate instead of revise.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import time
from datetime import datetime
from typing import Any

import pytest
from golden_support import all_cases, context, load_cases, map_case, parsed_result

from poller.documents import PriceEstimator, common, map_usage_result
from poller.documents.fields import AUDIT_UNMAPPED, UNMAPPED
from poller.pricing import load_price_table
from poller.streams import STREAM_NAMES

CASES = all_cases()
IDS = [f"{stream}: {case['name']}" for stream, case in CASES]


def test_every_stream_has_golden_cases() -> None:
    assert all(load_cases(stream) for stream in STREAM_NAMES)


@pytest.mark.parametrize(("stream", "case"), CASES, ids=IDS)
def test_golden_document(stream: str, case: dict[str, Any]) -> None:
    expected = case["expected"]
    document = map_case(stream, case)
    assert document.stream == stream
    assert document.data_stream == expected["data_stream"]
    assert document.source == expected["source"]
    # `==` holds for True == 1 and 2 == 2.0; the JSON text does not, and types matter to a mapping.
    assert json.dumps(document.source, sort_keys=True) == json.dumps(
        expected["source"], sort_keys=True
    )
    assert document.doc_id == expected["doc_id"]


class _NoClock(datetime):
    @classmethod
    def now(cls, tz: Any = None) -> Any:
        raise AssertionError("a mapper read the wall clock")

    @classmethod
    def utcnow(cls) -> Any:
        raise AssertionError("a mapper read the wall clock")


def _no_clock() -> float:
    raise AssertionError("a mapper read the wall clock")


@pytest.mark.parametrize(("stream", "case"), CASES, ids=IDS)
def test_mapping_is_pure(
    stream: str, case: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(common, "datetime", _NoClock)
    monkeypatch.setattr(time, "time", _no_clock)
    monkeypatch.setattr(time, "time_ns", _no_clock)
    before = copy.deepcopy(case)
    first = map_case(stream, case)
    second = map_case(stream, copy.deepcopy(case))
    assert first == second
    assert case == before, "the mapper changed its input"


def _dotted_keys(tree: dict[str, Any], path: str = "") -> list[str]:
    found = []
    for key, value in tree.items():
        here = f"{path}{key}"
        if "." in key:
            found.append(here)
        if isinstance(value, dict) and here not in (UNMAPPED, AUDIT_UNMAPPED):
            found.extend(_dotted_keys(value, f"{here}."))
    return found


@pytest.mark.parametrize(("stream", "case"), CASES, ids=IDS)
def test_documents_are_plain_nested_json(stream: str, case: dict[str, Any]) -> None:
    source = map_case(stream, case).source
    assert json.loads(json.dumps(source)) == source
    assert _dotted_keys(dict(source)) == []


@pytest.mark.parametrize(
    ("stream", "case"),
    [(s, c) for s, c in CASES if c["context"].get("prices")],
    ids=[i for i, (_, c) in zip(IDS, CASES, strict=True) if c["context"].get("prices")],
)
def test_the_packaged_price_table_fits_the_mapper(stream: str, case: dict[str, Any]) -> None:
    """The real `PriceTable` satisfies `PriceEstimator`: every priced case gets an estimate or
    `unpriced`, stamped with the table's version, and never both."""
    table: PriceEstimator = load_price_table()
    ctx = dataclasses.replace(context(case["context"]), price_table=table)
    start, end = case["bucket"]["start_time"], case["bucket"]["end_time"]
    result = parsed_result(case)
    base = map_usage_result(ctx, stream, start, end, result).source["openai"]["base"]
    assert base["price_table_version"] == table.version
    assert ("cost_estimate_usd" in base) != ("unpriced" in base)
    if "cost_estimate_usd" in base:
        assert base["cost_estimate_usd"] > 0
