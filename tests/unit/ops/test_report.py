"""`report` over a small embedded store: exact totals, and the latest name next to each id."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from poller.cli.report import ReportRequest, build_report, report
from poller.documents.model import Document
from poller.sinks import SinkReader
from poller.sinks.sqlite import SqliteSink

PROJECT = "openai.base.project_id"
COMPLETIONS = "logs-openai.completions-default"
COSTS = "logs-openai.costs-default"


def _completion(
    doc_id: str, day: int, base: dict[str, Any], tokens: tuple[int, int], cost: float
) -> Document:
    source = {
        "@timestamp": f"2026-11-0{day}T00:00:00.000Z",
        "openai": {
            "base": {**base, "num_model_requests": day, "cost_estimate_usd": cost},
            "completions": {"input_tokens": tokens[0], "output_tokens": tokens[1]},
        },
    }
    return Document("completions", COMPLETIONS, doc_id, source)


def _cost(doc_id: str, day: int, base: dict[str, Any], usd: float) -> Document:
    source = {
        "@timestamp": f"2026-11-0{day}T00:00:00.000Z",
        "openai": {"base": base, "costs": {"amount": {"value": usd, "currency": "usd"}}},
    }
    return Document("costs", COSTS, doc_id, source)


# Project p_a was renamed from "Old A" to "Alpha" on day 2; p_b has no name; u1's email is
# known on day 1 only.
ALPHA_OLD = {"project_id": "p_a", "project_name": "Old A"}
ALPHA = {"project_id": "p_a", "project_name": "Alpha"}
DOCUMENTS = (
    _completion("c1", 1, {**ALPHA_OLD, "user_id": "u1", "user_email": "ann@x", "model": "gpt-4o"},
                (100, 10), 0.5),
    _completion("c2", 2, {**ALPHA, "user_id": "u1", "model": "gpt-4o-mini"}, (200, 20), 0.25),
    _completion("c3", 1, {"project_id": "p_b", "model": "gpt-4o"}, (1, 1), 0.125),
    _cost("k1", 1, ALPHA_OLD, 1.5),
    _cost("k2", 2, ALPHA, 2.25),
    _cost("k3", 2, {"project_id": "p_b"}, 0.5),
)
BILLED = {
    "billed_usd_by_project": {"p_a": 3.75, "p_b": 0.5},
    "billed_usd_total": 4.25,
    "billed_project_names": {"p_a": "Alpha", "p_b": None},
}


@pytest.fixture
def reader(tmp_path: Path) -> Iterator[SinkReader]:
    with SqliteSink(tmp_path / "store.sqlite3") as sink:
        assert sink.write(list(DOCUMENTS)).created == len(DOCUMENTS)
        yield sink.reader()


def _build(reader: SinkReader, by: str) -> dict[str, Any]:
    return build_report(reader, namespace="default", by=by, start=None, end=None)


def _run(reader: SinkReader, by: str, *, as_json: bool) -> int:
    return report(reader, ReportRequest("default", by=by, as_json=as_json))


def _cells(text: str) -> list[list[str]]:
    """The body rows of every table `rich` printed, as lists of stripped cells."""
    return [
        [cell.strip() for cell in line.strip("│").split("│")]
        for line in text.splitlines()
        if line.startswith("│")
    ]


def test_groups_by_project_carry_the_latest_name(reader: SinkReader) -> None:
    assert _build(reader, PROJECT) == {
        "by": PROJECT,
        "usage": {
            "completions": {
                "p_a": {"documents": 2, "name": "Alpha", "input_tokens": 300.0,
                        "output_tokens": 30.0, "num_model_requests": 3.0,
                        "cost_estimate_usd": 0.75},
                "p_b": {"documents": 1, "name": None, "input_tokens": 1.0,
                        "output_tokens": 1.0, "num_model_requests": 1.0,
                        "cost_estimate_usd": 0.125},
            }
        },
        **BILLED,
    }


def test_groups_by_user_carry_the_latest_known_email(reader: SinkReader) -> None:
    usage = _build(reader, "openai.base.user_id")["usage"]["completions"]
    assert {key: (group["documents"], group["name"]) for key, group in usage.items()} == {
        "u1": (2, "ann@x"),
        "None": (1, None),
    }


def test_groups_by_model_have_no_name(reader: SinkReader) -> None:
    data = _build(reader, "openai.base.model")
    assert data["usage"]["completions"] == {
        "gpt-4o": {"documents": 2, "input_tokens": 101.0, "output_tokens": 11.0,
                   "num_model_requests": 2.0, "cost_estimate_usd": 0.625},
        "gpt-4o-mini": {"documents": 1, "input_tokens": 200.0, "output_tokens": 20.0,
                        "num_model_requests": 2.0, "cost_estimate_usd": 0.25},
    }
    assert {k: data[k] for k in BILLED} == BILLED


def test_json_output_is_the_built_report(
    reader: SinkReader, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(reader, PROJECT, as_json=True) == 0
    assert json.loads(capsys.readouterr().out) == _build(reader, PROJECT)


def test_text_tables_show_the_name_next_to_the_id(
    reader: SinkReader, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    assert _run(reader, PROJECT, as_json=False) == 0
    assert _cells(capsys.readouterr().out) == [
        ["p_a", "Alpha", "0.7500", "2", "300", "3", "30"],
        ["p_b", "", "0.1250", "1", "1", "1", "1"],
        ["p_a", "Alpha", "3.75"],
        ["p_b", "", "0.50"],
        ["total", "", "4.25"],
    ]


def test_text_tables_by_model_have_no_name_column(
    reader: SinkReader, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    assert _run(reader, "openai.base.model", as_json=False) == 0
    assert _cells(capsys.readouterr().out)[:2] == [
        ["gpt-4o", "0.6250", "2", "101", "2", "11"],
        ["gpt-4o-mini", "0.2500", "1", "200", "2", "20"],
    ]
