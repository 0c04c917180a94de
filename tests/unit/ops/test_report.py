"""`report` over a small embedded store: exact totals, the latest name next to each id, the
estimate against the bill per project, and what the tables print."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from poller.cli.report import ReportRequest, report
from poller.documents.model import Document
from poller.report_limits import limited_model
from poller.reporting import NamespaceReport, Row, Scope, Window, build_namespace
from poller.sinks import SinkReader
from poller.sinks.sqlite import SqliteSink

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


@pytest.fixture
def reader(tmp_path: Path) -> Iterator[SinkReader]:
    with SqliteSink(tmp_path / "store.sqlite3") as sink:
        assert sink.write(list(DOCUMENTS)).created == len(DOCUMENTS)
        yield sink.reader()


def _build(reader: SinkReader, by: str, window: Window | None = None) -> NamespaceReport:
    return build_namespace(reader, Scope("default", ("prod",)), by=by, window=window or Window())


def _counts(tokens: tuple[int, int], requests: int) -> dict[str, int]:
    return {"input_tokens": tokens[0], "output_tokens": tokens[1],
            "num_model_requests": requests}


def test_groups_by_project_carry_the_latest_name_sorted_by_cost(reader: SinkReader) -> None:
    [table] = _build(reader, "project").usage
    assert table.title == "completions by project"
    assert table.rows == (
        Row("p_a", "Alpha", _counts((300, 30), 3), 0.75),
        Row("p_b", None, _counts((1, 1), 1), 0.125),
    )
    assert table.total == Row("total", None, _counts((301, 31), 4), 0.875)


def test_groups_by_user_carry_the_latest_known_email(reader: SinkReader) -> None:
    [table] = _build(reader, "user").usage
    assert [(row.key, row.name) for row in table.rows] == [("u1", "ann@x"), (None, None)]
    assert table.rows[1].label == "(none)"


def test_groups_by_model_have_no_name(reader: SinkReader) -> None:
    [table] = _build(reader, "model").usage
    assert table.rows == (
        Row("gpt-4o", None, _counts((101, 11), 2), 0.625),
        Row("gpt-4o-mini", None, _counts((200, 20), 2), 0.25),
    )


def test_billed_cost_and_the_estimate_per_project(reader: SinkReader) -> None:
    built = _build(reader, "model")
    assert built.billed.title == "billed cost by project"
    assert [(r.key, r.name, r.cost) for r in built.billed.rows] == [
        ("p_a", "Alpha", 3.75), ("p_b", None, 0.5)
    ]
    assert built.billed.total.cost == 4.25
    assert built.reconciliation == (("p_a", "Alpha", 0.75, 3.75), ("p_b", None, 0.125, 0.5))


def test_the_window_is_start_inclusive_end_exclusive(reader: SinkReader) -> None:
    day2 = Window(datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC))
    built = _build(reader, "project", day2)
    assert [(r.key, r.cost) for r in built.usage[0].rows] == [("p_a", 0.25)]
    assert built.billed.total.cost == 2.75
    assert day2.label() == "2026-11-02T00:00Z..2026-11-03T00:00Z"


def test_text_tables_show_the_name_next_to_the_id(
    reader: SinkReader, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    request = ReportRequest((Scope("default", ("prod",)),), by="project")
    assert report(reader, request) == 0
    assert _cells(capsys.readouterr().out) == [
        ["p_a", "Alpha", "300", "30", "3", "0.75"],
        ["p_b", "1", "1", "1", "0.12"],
        ["total", "301", "31", "4", "0.88"],
        ["p_a", "Alpha", "3.75"],
        ["p_b", "0.50"],
        ["total", "4.25"],
        ["Alpha", "0.75", "3.75", "+3.00"],
        ["p_b", "0.12", "0.50", "+0.38"],
    ]


def _cells(text: str) -> list[list[str]]:
    """The body rows of every table printed (indented lines but rules and headers), as the
    non-empty cells two or more spaces apart."""
    return [
        [c.strip() for c in line.strip().split("  ") if c.strip()]
        for line in text.splitlines()
        if line.startswith(" ") and line.strip()
        and not line.strip().startswith(("\N{BOX DRAWINGS LIGHT HORIZONTAL}", "id ", "project "))
    ]


def _audit(doc_id: str, kind: str, ecs: dict[str, Any]) -> Document:
    source = {"@timestamp": "2026-11-02T00:00:00.000Z", **ecs,
              "event": {"action": kind.replace(".", "-")},
              "openai": {"audit": {"id": doc_id, "type": kind}}}
    return Document("audit", "logs-openai.audit-default", doc_id, source)


def test_audit_is_summed_by_openais_type_and_by_actor(tmp_path: Path) -> None:
    with SqliteSink(tmp_path / "audit.sqlite3") as sink:
        sink.write([
            _audit("a1", "api_key.created", {"user": {"email": "ann@x"}}),
            _audit("a2", "api_key.created", {"service": {"id": "svc_1"}}),
            _audit("a3", "login.succeeded", {"user": {"email": "ann@x"}}),
            _audit("a4", "project.archived", {}),
        ])
        built = _build(sink.reader(), "model")
    assert built.audit_types == {"api_key.created": 2, "login.succeeded": 1,
                                 "project.archived": 1}
    assert built.audit_actors == {"ann@x": 2, "(none)": 1, "service account svc_1": 1}


def test_a_dated_snapshot_counts_against_its_models_limit() -> None:
    limited = {"gpt-4o", "gpt-4o-mini", "o3"}
    assert limited_model("gpt-4o-mini-2024-07-18", limited) == "gpt-4o-mini"
    assert limited_model("gpt-4o", limited) == "gpt-4o"
    assert limited_model("gpt-4o-2024-08-06", limited) == "gpt-4o"
    assert limited_model("gpt-4o-0613", limited) == "gpt-4o"
    assert limited_model("o3-pro", limited) is None
    assert limited_model("o1", limited) is None
