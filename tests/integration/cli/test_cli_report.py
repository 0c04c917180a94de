"""`report` as a real process over a small embedded store: groupings, order, totals, unpriced
usage, formats, hostile names, and what it says when there is no store."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from cli_run import WIDTH, poller, widest

from poller.documents.model import Document
from poller.sinks.sqlite import SqliteSink

pytestmark = pytest.mark.integration

COMPLETIONS = "logs-openai.completions-default"
COSTS = "logs-openai.costs-default"
# Set by any org member, shown to the operator: an OSC-8 link, colours, rich markup, a bell.
HOSTILE = (
    "\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\ \x1b[31mred\x1b[0m [/] [bold]x\x07"
)


def _completion(doc_id: str, base: dict[str, Any], tokens: int, cost: float | None) -> Document:
    priced = {"cost_estimate_usd": cost} if cost is not None else {"unpriced": True}
    source = {
        "@timestamp": "2026-11-02T00:00:00.000Z",
        "organization": {"id": "org-1", "name": "prod"},
        "openai": {
            "base": {**base, "num_model_requests": 1, **priced},
            "completions": {"input_tokens": tokens, "output_tokens": 1, "batch": False},
        },
    }
    return Document("completions", COMPLETIONS, doc_id, source)


def _cost(doc_id: str, base: dict[str, Any], usd: float) -> Document:
    source = {
        "@timestamp": "2026-11-02T00:00:00.000Z",
        "organization": {"id": "org-1", "name": "prod"},
        "openai": {"base": base, "costs": {"amount": {"value": usd, "currency": "usd"},
                                           "line_item": "gpt-4o, input"}},
    }
    return Document("costs", COSTS, doc_id, source)


DOCUMENTS = (
    # p_cheap has the most tokens but costs less than p_dear: cost sorts first.
    _completion("c1", {"project_id": "p_dear", "project_name": HOSTILE, "model": "gpt-4o"},
                10, 3.0),
    _completion("c2", {"project_id": "p_cheap", "project_name": "Cheap", "model": "gpt-4o"},
                5000, 1.0),
    _completion("c3", {"project_id": "p_tie", "project_name": "Tie", "model": "gpt-4o"},
                7000, 1.0),
    _completion("c4", {"project_id": "p_ft", "project_name": "Tuned", "model": "ft:custom"},
                20, None),
    _cost("k1", {"project_id": "p_dear", "project_name": HOSTILE}, 2.5),
    _cost("k2", {"project_id": "p_cheap", "project_name": "Cheap"}, 0.75),
    _cost("k3", {"project_id": "p_markup", "project_name": "[/]"}, 0.0),  # crashed rich once
)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "store.sqlite3"
    with SqliteSink(path) as sink:
        assert sink.write(list(DOCUMENTS)).created == len(DOCUMENTS)
    return path


def _report(store: Path, *argv: str) -> tuple[int, str, str]:
    result = poller("report", *argv, cwd=store.parent, env={"POLLER_STORE_PATH": str(store)})
    return result.returncode, result.stdout, result.stderr


def _json(store: Path, *argv: str) -> dict[str, Any]:
    code, out, err = _report(store, "--format", "json", *argv)
    assert code == 0, err
    data: dict[str, Any] = json.loads(out)
    return data


def test_rows_are_sorted_by_cost_then_volume_with_exact_totals(store: Path) -> None:
    [space] = _json(store, "--by", "project")["namespaces"]
    table = space["usage"]["completions"]
    assert [row["key"] for row in table["rows"]] == ["p_dear", "p_tie", "p_cheap", "p_ft"]
    assert table["total"]["input_tokens"] == 12030
    assert table["total"]["cost_usd"] == 5.0
    assert table["total"]["unpriced_documents"] == 1
    assert space["billed"]["total"]["cost_usd"] == 3.25
    assert [r["key"] for r in space["billed"]["rows"]] == ["p_dear", "p_cheap", "p_markup"]


def test_json_keeps_integers_integers_and_unpriced_as_null(store: Path) -> None:
    [space] = _json(store, "--by", "project")["namespaces"]
    ft = space["usage"]["completions"]["rows"][-1]
    assert ft == {"key": "p_ft", "name": "Tuned", "input_tokens": 20, "output_tokens": 1,
                  "num_model_requests": 1, "cost_usd": None, "unpriced_documents": 1}
    assert isinstance(space["usage"]["completions"]["total"]["num_model_requests"], int)


def test_top_keeps_the_costliest_and_says_how_many_there_were(store: Path) -> None:
    [space] = _json(store, "--by", "project", "--top", "2")["namespaces"]
    table = space["usage"]["completions"]
    assert [row["key"] for row in table["rows"]] == ["p_dear", "p_tie"]
    assert table["groups"] == 4
    assert table["total"]["input_tokens"] == 12030  # the total stays the whole table's
    code, out, _ = _report(store, "--by", "project", "--top", "2")
    assert code == 0
    assert "completions by project, top 2 of 4" in out


def test_the_table_fits_80_columns_and_shows_unpriced_not_zero(store: Path) -> None:
    code, out, err = _report(store, "--by", "project")
    assert code == 0, err
    assert widest(out) <= WIDTH
    ft = next(line for line in out.splitlines() if line.startswith(" p_ft"))
    assert ft.split()[-1] == "unpriced"
    total = next(line for line in out.splitlines() if line.startswith(" total"))
    assert total.split()[-1] == "5.00+"
    assert "2026" not in out.splitlines()[0]  # the namespace line; headers carry the window
    assert re.search(r"completions by project · start\.\.now · 5\.00\+ USD", out)


def test_streams_without_the_grouping_field_have_no_none_row(store: Path) -> None:
    [space] = _json(store, "--by", "line_item")["namespaces"]
    assert space["usage"] == {}  # no usage stream has line_item
    assert [r["key"] for r in space["billed"]["rows"]] == ["gpt-4o, input"]


def test_a_boolean_grouping_reads_as_elasticsearch_spells_it(store: Path) -> None:
    [space] = _json(store, "--by", "batch")["namespaces"]
    assert [r["key"] for r in space["usage"]["completions"]["rows"]] == ["false"]


@pytest.mark.parametrize("fmt", ["table", "json", "csv"])
def test_hostile_names_cannot_reach_the_terminal(store: Path, fmt: str) -> None:
    code, out, err = _report(store, "--by", "project", "--format", fmt)
    assert code == 0, err
    assert "Traceback" not in err
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", out)
    if fmt == "json":
        names = [r["name"] for r in json.loads(out)["namespaces"][0]["billed"]["rows"]]
        assert names[0] == "]8;;https://evil.example/\\click]8;;\\ [31mred[0m [/] [bold]x"
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(out)))
        assert rows[0]["name"] == "]8;;https://evil.example/\\click]8;;\\ [31mred[0m [/] [bold]x"
    else:
        assert "]8;;https://evi" in out
        assert " p_markup   [/] " in out  # markup shown as text, not interpreted


def test_a_grouping_that_does_not_exist_is_a_usage_error(store: Path) -> None:
    code, out, err = _report(store, "--by", "openai.base.project")
    assert (code, out) == (2, "")
    assert err == (
        "error: openai-poller report: argument --by: invalid choice: 'openai.base.project' "
        "(choose from 'project', 'user', 'key', 'model', 'line_item', 'service_tier', "
        "'batch', 'team')\n"
    )


def test_an_org_that_is_not_configured_is_a_usage_error(store: Path) -> None:
    code, _, err = _report(store, "--org", "nope")
    assert code == 2
    assert err == "error: --org: unknown org 'nope' (configured: none configured)\n"


@pytest.mark.parametrize("command", [["report"], ["status"]])
def test_no_store_is_created_and_the_error_says_where_it_looked(
    tmp_path: Path, command: list[str]
) -> None:
    result = poller(*command, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        "error: point POLLER_STORE_PATH at the poller's store, or set ELASTICSEARCH_URL "
        f"\N{EM DASH} no embedded store at {tmp_path / 'openai-poller.sqlite3'}\n"
    )
    assert list(tmp_path.iterdir()) == []
