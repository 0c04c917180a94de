"""Two orgs, each its own simulator: `report` shows both, labelled, and each one's totals are
that simulator's settled truth; `--org` narrows the report to one of them."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cli_run import poller

from poller.simulator.app import SimulatorApp
from poller.simulator.organization import Organization, build_organization
from poller.simulator.server import SimulatorServer

pytestmark = pytest.mark.integration

DAY = 86400
UNTIL = int(datetime.now(UTC).timestamp()) // DAY * DAY  # today's midnight: settled days only
SINCE = UNTIL - 2 * DAY
ORGS = {"alpha": 21, "beta": 22}  # name -> simulator seed (and its namespace)


@dataclass(frozen=True)
class TwoOrgs:
    cwd: Path
    env: dict[str, str]
    orgs: dict[str, Organization]


@pytest.fixture(scope="module")
def two_orgs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoOrgs]:
    cwd = tmp_path_factory.mktemp("two-orgs")
    orgs = {name: build_organization(seed=seed, size="small", settle_seconds=60)
            for name, seed in ORGS.items()}
    with ExitStack() as stack:
        servers = {name: SimulatorServer(SimulatorApp(org, admin_key=f"sk-admin-{name}"))
                   for name, org in orgs.items()}
        urls = {name: stack.enter_context(server).base_url for name, server in servers.items()}
        config = cwd / "poller.yaml"
        config.write_text("orgs:\n" + "".join(
            f"  - {{name: {name}, admin_key: sk-admin-{name}, base_url: '{url}', "
            f"namespace: {name}}}\n" for name, url in urls.items()
        ))
        env = {"POLLER_CONFIG": str(config), "POLLER_STORE_PATH": str(cwd / "s.sqlite3")}
        window = ("--since", datetime.fromtimestamp(SINCE, UTC).isoformat(),
                  "--until", datetime.fromtimestamp(UNTIL, UTC).isoformat())
        result = poller("backfill", *window, "--streams", "completions,costs", cwd=cwd,
                        env=env, timeout=120)
        assert result.returncode == 0, result.stderr
        yield TwoOrgs(cwd, env, orgs)


def _truth(org: Organization) -> tuple[float, int]:
    """Billed USD and completions input tokens over the window, as the simulator settled them."""
    billed = sum(float(record.amount) for day in range(SINCE, UNTIL, DAY)
                 for record in org.costs(day, day + DAY, math.inf).values())
    tokens = sum(metrics.get("input_tokens", 0) for day in range(SINCE, UNTIL, DAY)
                 for metrics in org.usage("completions", day, day + DAY, math.inf).values())
    return billed, tokens


def _report(two: TwoOrgs, *argv: str) -> list[dict[str, Any]]:
    result = poller("report", "--format", "json", *argv, cwd=two.cwd, env=two.env)
    assert result.returncode == 0, result.stderr
    spaces: list[dict[str, Any]] = json.loads(result.stdout)["namespaces"]
    return spaces


def test_each_org_is_shown_with_its_own_truth(two_orgs: TwoOrgs) -> None:
    spaces = _report(two_orgs)
    assert [(s["namespace"], s["orgs"]) for s in spaces] == [
        ("alpha", ["alpha"]), ("beta", ["beta"])
    ]
    for space in spaces:
        billed, tokens = _truth(two_orgs.orgs[space["namespace"]])
        assert billed > 0 and tokens > 0
        assert math.isclose(space["billed"]["total"]["cost_usd"], billed, abs_tol=1e-6)
        assert space["usage"]["completions"]["total"]["input_tokens"] == tokens
        [org_row] = space["billed_by_org"]["rows"]
        assert org_row["key"] == space["namespace"]


def test_org_narrows_the_report_to_one_org(two_orgs: TwoOrgs) -> None:
    [space] = _report(two_orgs, "--org", "beta")
    assert (space["namespace"], space["orgs"]) == ("beta", ["beta"])
    billed, _ = _truth(two_orgs.orgs["beta"])
    assert math.isclose(space["billed"]["total"]["cost_usd"], billed, abs_tol=1e-6)


def test_the_table_labels_each_org(two_orgs: TwoOrgs) -> None:
    result = poller("report", cwd=two_orgs.cwd, env=two_orgs.env)
    assert result.returncode == 0, result.stderr
    heads = [line for line in result.stdout.splitlines() if line.startswith("== ")]
    assert heads == ["== namespace alpha: alpha", "== namespace beta: beta"]


def test_days_not_billed_yet_are_named_pending(two_orgs: TwoOrgs) -> None:
    last = datetime.fromtimestamp(UNTIL - DAY, UTC).date().isoformat()
    today = datetime.fromtimestamp(UNTIL, UTC).date().isoformat()
    for space in _report(two_orgs):
        assert (space["billed"]["last_billed_day"], space["billed"]["pending_from"]) == (
            last, today
        )
    until = datetime.fromtimestamp(UNTIL, UTC).isoformat()
    for space in _report(two_orgs, "--until", until):  # a window of billed days only
        assert space["billed"]["last_billed_day"] is None
    table = poller("report", "--org", "alpha", cwd=two_orgs.cwd, env=two_orgs.env).stdout
    assert (f"billed through {last}; from {today} billed cost is pending (OpenAI bills a day "
            "once it is over)") in " ".join(table.split())
