"""Integrity drills: configuration changes and damaged state between real `backfill` runs.

A cost tool's worst defect is a wrong number nobody notices. Each drill changes what shapes
document ids (`group_by`, the bucket width), or damages the saved state (deleted, a cursor in the
future, not JSON), and then checks the store exactly against the simulator's settled truth for
what the state says was collected: per coverage segment, the truth projected on the grouping it
was stored with (the simulator groups by projection), so a bucket stored in two shapes shows as
too many documents and too large a sum.
"""

from __future__ import annotations

import json
import math
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from drill_support import (
    DAY,
    Check,
    SqliteStore,
    Store,
    backfill_cmd,
    day_window,
    poller_env,
    record,
    run_to_end,
    simulator,
    window,
)
from elasticsearch import Elasticsearch
from test_drill_elasticsearch import _es_env, _store

from poller.simulator.organization import Organization
from poller.streams import BUCKET_SECONDS, USAGE_ENDPOINTS

if TYPE_CHECKING:
    from tests.conftest import EsNamespace

pytestmark = pytest.mark.drill

HOUR = 3600
STATE_CMD = ["-m", "poller", "state", "rebuild"]
FEWER = "project_id,model"  # completions grouped by these, costs by project_id


def _projected(dims: tuple[Any, ...], names: tuple[str, ...], group_by: tuple[str, ...]) -> Any:
    return tuple(v if n in group_by else None for v, n in zip(dims, names, strict=True))


def exact(store: Store, org: Organization, stream: str) -> Check:
    """The stream's documents against the truth of its coverage, segment by segment, each
    projected on the segment's own grouping."""
    check = Check()
    docs = store.documents(stream)
    names = USAGE_ENDPOINTS[stream].dimensions
    rows, total = 0, 0.0
    for seg in store.state(stream).coverage.segments:
        assert seg.group_by is not None, seg
        step = BUCKET_SECONDS[seg.width]
        for start in range(seg.start, seg.end, step):
            if stream == "costs":
                costs = org.costs(start, start + step, math.inf)
                rows += len({(_projected(d, names, seg.group_by), r.currency)
                             for d, r in costs.items()})
                total += sum(float(r.amount) for r in costs.values())
            else:
                usage = org.usage(stream, start, start + step, math.inf)
                rows += len({_projected(d, names, seg.group_by) for d in usage})
                total += sum(m.get("input_tokens", 0) for m in usage.values())
    if stream == "costs":
        got = sum(d["openai"]["costs"]["amount"]["value"] for d in docs)
    else:
        got = sum(d["openai"][stream].get("input_tokens", 0) for d in docs)
    check.expected, check.found = rows, len(docs)
    if len(docs) != rows:
        check.mismatches.append(f"{stream}: {len(docs)} documents, truth {rows}")
    if not math.isclose(got, total, abs_tol=1e-6):
        check.mismatches.append(f"{stream}: total {got} != truth {total} ({got / total:.3f}x)")
    return check


def _assert_exact(check: Check) -> None:
    assert check.mismatches == []
    assert check.found == check.expected > 0


def _sqlite_state(store: Path, stream: str, text: str | None) -> None:
    """Replace (or delete, with None) the saved state of `stream` behind the poller's back."""
    db = sqlite3.connect(store)
    try:
        if text is None:
            db.execute("DELETE FROM state WHERE key = ?", (f"default/{stream}",))
        else:
            db.execute("UPDATE state SET state = ? WHERE key = ?", (text, f"default/{stream}"))
        db.commit()
    finally:
        db.close()


def _one_error_line(log: Path, offset: int, *needles: str) -> str:
    text = log.read_text(errors="replace")[offset:]
    assert "Traceback" not in text, text
    lines = [line for line in text.splitlines() if all(n in line for n in needles)]
    assert len(lines) == 1, text
    return lines[0]


def _rebuild(env: dict[str, str], log: Path, stream: str) -> int:
    return run_to_end([sys.executable, *STATE_CMD, "--streams", stream], env, log)


# --- configuration changes ------------------------------------------------------------------------


@pytest.mark.parametrize("change", ["group_by", "width"])
def test_a_shape_change_between_backfills_never_double_counts(tmp_path: Path, change: str) -> None:
    """Completions at 1h and costs, then again over a window reaching 2 hours further with
    fewer dimensions (or at 1m): the re-read stretch is read in its stored shape, the new one
    in the new shape, and the store equals the truth."""
    store, log = tmp_path / "store.sqlite3", tmp_path / "poller.log"
    since, until = window(1)
    first_until = until - 2 * HOUR
    cost_since, cost_until = day_window(5)
    with simulator() as sim:
        env = poller_env(sim.base_url, store)
        assert run_to_end([*backfill_cmd(since, first_until, ["completions"]),
                           "--bucket-width", "1h"], env, log) == 0
        assert run_to_end(backfill_cmd(cost_since, cost_until, ["costs"]), env, log) == 0
        width = "1h"
        if change == "group_by":
            env["POLLER_ORG_DEFAULTS__DEFAULTS__GROUP_BY"] = FEWER
        else:
            width = "1m"
        assert run_to_end([*backfill_cmd(since, until, ["completions"]),
                           "--bucket-width", width], env, log) == 0
        assert run_to_end(backfill_cmd(cost_since, cost_until, ["costs"]), env, log) == 0
        view = SqliteStore(store)
        checks = [exact(view, sim.org, s) for s in ("completions", "costs")]
        shapes = view.state("completions").shapes
    record(f"{change} change between runs", 0, checks[0], f"shapes={len(shapes)}")
    for check in checks:
        _assert_exact(check)
    fewer = ("project_id", "model") if change == "group_by" else None
    all_dimensions = USAGE_ENDPOINTS["completions"].dimensions
    assert [(s.width.value, s.group_by) for _, s in shapes] == [
        ("1h", all_dimensions), (width, fewer or all_dimensions)]
    assert shapes[1][0] == first_until - first_until % HOUR  # where the first run ended


# --- damaged state --------------------------------------------------------------------------------


def test_lost_state_then_a_backfill_at_another_width_refuses_then_rebuild_is_exact(
    tmp_path: Path,
) -> None:
    """The state is deleted, then the same window is asked at 1m instead of 1h: the backfill
    refuses in one line naming the stored width and the fix, writes nothing; `state rebuild`
    finds the stored 1h coverage, and the backfill then re-reads in that shape: exact."""
    store, log = tmp_path / "store.sqlite3", tmp_path / "poller.log"
    since, until = window(1)
    with simulator() as sim:
        env = poller_env(sim.base_url, store)
        cmd = backfill_cmd(since, until, ["completions"])
        assert run_to_end([*cmd, "--bucket-width", "1h"], env, log) == 0
        _sqlite_state(store, "completions", None)
        offset = log.stat().st_size
        refused = run_to_end([*cmd, "--bucket-width", "1m"], env, log)
        line = _one_error_line(log, offset, "is stored at 1h", "--bucket-width 1h")
        assert SqliteStore(store).state("completions").coverage.segments == ()
        assert _rebuild(env, log, "completions") == 0
        assert run_to_end([*cmd, "--bucket-width", "1m"], env, log) == 0
        check = exact(SqliteStore(store), sim.org, "completions")
    record("lost state, other width", 0, check, f"refused exit={refused}")
    assert refused == 1
    assert "state rebuild --org default --streams completions" in line
    _assert_exact(check)


def _future(store: Path, stream: str) -> None:
    state = json.loads(SqliteStore(store)._query(
        "SELECT state FROM state WHERE key = ?", (f"default/{stream}",))[0][0])
    last = state["coverage"][-1]
    state["coverage"].append([last[1], last[1] + 30 * DAY, *last[2:]])
    _sqlite_state(store, stream, json.dumps(state))


@pytest.mark.parametrize("damage", ["future cursor", "not JSON"])
def test_damaged_sqlite_state_is_one_line_and_rebuild_repairs_it(
    tmp_path: Path, damage: str
) -> None:
    store, log = tmp_path / "store.sqlite3", tmp_path / "poller.log"
    since, until = window(1)
    with simulator() as sim:
        env = poller_env(sim.base_url, store)
        cmd = [*backfill_cmd(since, until, ["completions"]), "--bucket-width", "1h"]
        assert run_to_end(cmd, env, log) == 0
        if damage == "not JSON":
            _sqlite_state(store, "completions", "{not json")
        else:
            _future(store, "completions")
        offset = log.stat().st_size
        failed = run_to_end(cmd, env, log)
        line = _one_error_line(log, offset, "default/completions", "state rebuild")
        assert _rebuild(env, log, "completions") == 0
        assert run_to_end(cmd, env, log) == 0
        check = exact(SqliteStore(store), sim.org, "completions")
    record(f"sqlite state: {damage}", 1, check, f"exit={failed}")
    assert failed == 1
    assert ("unreadable" if damage == "not JSON" else "after the API's now") in line
    assert SqliteStore(store).state("completions").coverage.end == until - until % HOUR
    _assert_exact(check)


# --- Elasticsearch ----------------------------------------------------------------------------


@pytest.fixture
def es(
    tmp_path: Path, es_client: Elasticsearch, es_namespace: EsNamespace, elasticsearch_url: str
) -> Iterator[tuple[Any, Any, Any]]:
    with simulator() as sim:
        yield sim, _es_env(sim, tmp_path, es_namespace, elasticsearch_url), _store(
            es_client, es_namespace)


def test_elasticsearch_group_by_change_and_garbage_state(
    tmp_path: Path, es: tuple[Any, Any, Any], es_client: Elasticsearch,
    es_namespace: EsNamespace,
) -> None:
    """On Elasticsearch: a group_by change between backfills is exact; then the state doc's
    coverage becomes "garbage": one line, exit 1; `state rebuild` finds both shapes again."""
    sim, env, store = es
    log = tmp_path / "poller.log"
    since, until = window(1)
    assert run_to_end([*backfill_cmd(since, until - 2 * HOUR, ["completions"]),
                       "--bucket-width", "1h"], env, log) == 0
    env["POLLER_ORG_DEFAULTS__DEFAULTS__GROUP_BY"] = FEWER
    cmd = [*backfill_cmd(since, until, ["completions"]), "--bucket-width", "1h"]
    assert run_to_end(cmd, env, log) == 0
    before = store.state("completions")
    changed = exact(store, sim.org, "completions")
    es_client.index(index=es_namespace.state_index, id="default/completions",
                    document={"state": {"version": 2, "coverage": "garbage"}}, refresh=True)
    offset = log.stat().st_size
    failed = run_to_end(cmd, env, log)
    line = _one_error_line(log, offset, "default/completions", "unreadable")
    assert _rebuild(env, log, "completions") == 0
    after = [shape.group_by for _, shape in store.state("completions").shapes]
    assert run_to_end(cmd, env, log) == 0
    check = exact(store, sim.org, "completions")
    record("es group_by change, garbage state", 1, check, f"exit={failed}")
    _assert_exact(changed)
    assert failed == 1 and "state rebuild" in line
    assert after == [shape.group_by for _, shape in before.shapes]
    _assert_exact(check)
