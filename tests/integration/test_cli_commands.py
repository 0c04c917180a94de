"""`backfill`, `status`, `report` and `demo` as real processes against the simulator and the
embedded store: exit codes, what they print, and that a second backfill creates nothing."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from own_env import foreign_environ

from poller.simulator.app import SimulatorApp
from poller.simulator.organization import Organization, build_organization
from poller.simulator.server import SimulatorServer
from poller.sinks.sqlite import SqliteSink
from poller.streams import STREAM_NAMES

pytestmark = pytest.mark.integration

ADMIN_KEY = "sk-admin-SECRET-commands-0d9e2c"
STREAMS = ("completions", "costs", "audit", "rate_limits")
# A fixed window, so a repeat in a later minute has no newly collectable bucket to add.
UNTIL = int(time.time()) // 60 * 60 - 600
WINDOW = (
    "--since", datetime.fromtimestamp(UNTIL - 2 * 86400, tz=UTC).isoformat(),
    "--until", datetime.fromtimestamp(UNTIL, tz=UTC).isoformat(),
)
SUMMARY = re.compile(
    r"^backfill: (\d+) created, (\d+) updated, (\d+) unchanged, (\d+) dead-lettered; "
    r"(\d+) stream\(s\) failed$",
    re.MULTILINE,
)


def _poller(
    *argv: str, cwd: Path, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "poller", *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass(frozen=True)
class Summary:
    created: int
    updated: int
    unchanged: int
    dead_lettered: int
    failed: int


def _summary(stderr: str) -> Summary:
    found = SUMMARY.findall(stderr)
    assert len(found) == 1, stderr
    return Summary(*(int(n) for n in found[0]))


@dataclass(frozen=True)
class Backfilled:
    cwd: Path
    env: dict[str, str]
    store: Path
    first: subprocess.CompletedProcess[str]
    org: Organization


@pytest.fixture(scope="module")
def backfilled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backfilled]:
    """One backfill of four streams over two days, shared by the tests of this module."""
    cwd = tmp_path_factory.mktemp("commands")
    store = cwd / "s.sqlite3"
    org = build_organization(seed=2, size="small", settle_seconds=60)
    with SimulatorServer(SimulatorApp(org, admin_key=ADMIN_KEY)) as server:
        env = foreign_environ(
            OPENAI_ADMIN_KEY=ADMIN_KEY,
            OPENAI_BASE_URL=server.base_url,
            POLLER_STORE_PATH=str(store),
            POLLER_LOG_FORMAT="json",
        )
        first = _poller(
            "backfill", *WINDOW, "--streams", ",".join(STREAMS), cwd=cwd, env=env
        )
        yield Backfilled(cwd, env, store, first, org)


def test_backfill_collects_every_requested_stream(backfilled: Backfilled) -> None:
    result = backfilled.first
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    summary = _summary(result.stderr)
    assert summary.created > 0
    assert (summary.dead_lettered, summary.failed) == (0, 0)
    assert ADMIN_KEY not in result.stderr + result.stdout
    with SqliteSink(backfilled.store) as sink:
        reader = sink.reader()
        counts = {str(s): reader.count(f"logs-openai.{s}-default") for s in STREAM_NAMES}
    for stream in STREAMS:
        assert counts[stream] > 0, counts
    for stream in set(STREAM_NAMES) - set(STREAMS):
        assert counts[stream] == 0, counts
    assert sum(counts.values()) == summary.created


def test_status_json_lists_every_stream(backfilled: Backfilled) -> None:
    result = _poller("status", "--json", cwd=backfilled.cwd, env=backfilled.env)
    assert result.returncode == 0, result.stderr
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    by_stream = {row["stream"]: row for row in rows}
    assert sorted(by_stream) == sorted(STREAM_NAMES)
    assert len(rows) == len(STREAM_NAMES)
    assert {row["org"] for row in rows} == {"default"}
    for stream in ("completions", "costs", "rate_limits"):
        row = by_stream[stream]
        assert row["position"] is not None, row
        assert row["lag_seconds"] is not None and row["lag_seconds"] >= 0, row
        assert row["last_success"] is not None, row
        assert row["last_error"] is None, row
    for stream in set(STREAM_NAMES) - set(STREAMS):
        assert by_stream[stream]["position"] is None
        assert by_stream[stream]["last_success"] is None


def test_report_json_billed_total_matches_the_store(backfilled: Backfilled) -> None:
    result = _poller("report", "--json", cwd=backfilled.cwd, env=backfilled.env)
    assert result.returncode == 0, result.stderr
    [space] = json.loads(result.stdout)["namespaces"]
    with SqliteSink(backfilled.store) as sink:
        stored = sink.reader().sums("logs-openai.costs-default", ["openai.costs.amount.value"])
    billed = stored.values["openai.costs.amount.value"]
    assert billed > 0
    assert math.isclose(space["billed"]["total"]["cost_usd"], billed, rel_tol=1e-9)
    rows = space["billed"]["rows"]
    assert math.isclose(sum(row["cost_usd"] for row in rows), billed, rel_tol=1e-9)
    assert "completions" in space["usage"]


def _directory_names(org: Organization) -> dict[str, dict[str, str]]:
    """What the simulator's directory calls each id, per grouping `report --by` names."""
    directory = org.directory
    return {
        "project": {p["id"]: p["name"] for p in directory.projects},
        "user": {u["id"]: u["email"] for u in directory.users},
        "key": {
            k["id"]: k["name"] for keys in directory.project_api_keys.values() for k in keys
        },
    }


@pytest.mark.parametrize("by", ["project", "user", "key"])
def test_report_json_names_are_the_directory_names(backfilled: Backfilled, by: str) -> None:
    result = _poller("report", "--json", "--by", by, cwd=backfilled.cwd, env=backfilled.env)
    assert result.returncode == 0, result.stderr
    [space] = json.loads(result.stdout)["namespaces"]
    directory = _directory_names(backfilled.org)
    groups = {row["key"]: row["name"] for row in space["usage"]["completions"]["rows"]}
    assert groups.pop(None, None) is None
    assert len(groups) > 1
    assert groups == {key: directory[by][key] for key in groups}
    # Costs are grouped by project or key when asked, else by project.
    billed_by = by if by in ("project", "key") else "project"
    assert space["billed"]["title"] == f"billed cost by {billed_by}"
    billed = {row["key"]: row["name"] for row in space["billed"]["rows"]}
    billed.pop(None, None)
    assert len(billed) > 1
    assert billed == {key: directory[billed_by][key] for key in billed}


def test_second_backfill_creates_nothing(backfilled: Backfilled) -> None:
    # Defined after the tests that read the first backfill's results, so it runs after them.
    # rate_limits is a snapshot stream: a repeat in a later hour is a new snapshot by design.
    repeated = [s for s in STREAMS if s != "rate_limits"]
    with SqliteSink(backfilled.store) as sink:
        before = {s: sink.reader().count(f"logs-openai.{s}-default") for s in STREAMS}
    again = _poller(
        "backfill",
        *WINDOW,
        "--streams",
        ",".join(repeated),
        cwd=backfilled.cwd,
        env=backfilled.env,
    )
    assert again.returncode == 0, again.stderr
    summary = _summary(again.stderr)
    assert (summary.created, summary.dead_lettered, summary.failed) == (0, 0, 0)
    with SqliteSink(backfilled.store) as sink:
        after = {s: sink.reader().count(f"logs-openai.{s}-default") for s in STREAMS}
    assert after == before


def test_demo_runs_without_key_or_network(tmp_path: Path) -> None:
    result = _poller("demo", cwd=tmp_path, env=foreign_environ(), timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "billed cost" in result.stdout
    store = tmp_path / "openai-poller-demo.sqlite3"
    assert store.is_file()
    assert f"storing into {store}" in result.stderr
    env = f"POLLER_STORE_PATH={store}"
    assert result.stdout.endswith(
        f"The demo's data is in {store}. Next, try:\n"
        f"  {env} openai-poller status\n"
        f"  {env} openai-poller report --by project --top 5\n"
        f"  {env} openai-poller report --format csv > usage.csv\n\n"
    )
    # The commands it suggests work on that store from anywhere.
    for argv in (["status"], ["report", "--by", "project", "--top", "5"]):
        env_ = foreign_environ(POLLER_STORE_PATH=str(store))
        again = _poller(*argv, cwd=tmp_path.parent, env=env_)
        assert again.returncode == 0, again.stderr
    assert _summary(result.stderr).failed == 0
