"""Two orgs, each its own simulator: `report` shows both, labelled, and each one's totals are
that simulator's settled truth; `--org` narrows the report to one of them."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_run import poller

from poller.collect import BackfillRequest, backfill
from poller.runtime import open_sink
from poller.settings import load_settings
from poller.simulator.app import SimulatorApp
from poller.simulator.organization import Organization, build_organization
from poller.simulator.server import SimulatorServer
from poller.sources import BackfillWindow

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


# --- two orgs writing into one namespace ---------------------------------------------------------


@pytest.fixture(scope="module")
def simulators() -> Iterator[tuple[dict[str, Organization], dict[str, str]]]:
    orgs = {name: build_organization(seed=seed, size="small", settle_seconds=60)
            for name, seed in ORGS.items()}
    with ExitStack() as stack:
        urls = {name: stack.enter_context(
                    SimulatorServer(SimulatorApp(org, admin_key=f"sk-admin-{name}"))).base_url
                for name, org in orgs.items()}
        yield orgs, urls


def _shared(
    cwd: Path, urls: dict[str, str], namespace: str, env: dict[str, str]
) -> dict[str, str]:
    """Both orgs configured into `namespace` and backfilled over the window, in process."""
    orgs = [{"name": name, "organization_id": f"org-{name}", "admin_key": f"sk-admin-{name}",
             "base_url": url, "namespace": namespace} for name, url in urls.items()]
    config = cwd / "shared.yaml"
    config.write_text(yaml.safe_dump({"orgs": orgs}))
    settings = load_settings(
        orgs=orgs, store_path=env.get("POLLER_STORE_PATH", str(cwd / "unused.sqlite3")),
        elasticsearch={"url": env.get("ELASTICSEARCH_URL"),
                       "state_index": env.get("POLLER_ELASTICSEARCH__STATE_INDEX", "x"),
                       "deadletter_index": env.get("POLLER_ELASTICSEARCH__DEADLETTER_INDEX", "x")},
    )
    window = BackfillWindow(SINCE, UNTIL, int(datetime.now(UTC).timestamp()))
    jobs = tuple((org, ("completions", "costs", "audit", "rate_limits", "spend_limits"))
                 for org in settings.orgs)
    with open_sink(settings) as sink:
        neighbours = {org.name: settings.neighbours(org.name) for org in settings.orgs}
        result = backfill(BackfillRequest(window, jobs, neighbours=neighbours), sink,
                          stop=threading.Event())
    assert result.failures == 0 and not result.interrupted
    return {**env, "POLLER_CONFIG": str(config)}


def _each_org_has_its_own_truth(
    cwd: Path, env: dict[str, str], orgs: dict[str, Organization], namespace: str
) -> None:
    result = poller("report", "--format", "json", cwd=cwd, env=env)
    assert result.returncode == 0, result.stderr
    spaces = json.loads(result.stdout)["namespaces"]
    assert [(s["namespace"], s["orgs"]) for s in spaces] == [
        (namespace, ["alpha"]), (namespace, ["beta"])
    ]
    for space in spaces:
        billed, tokens = _truth(orgs[space["orgs"][0]])
        assert math.isclose(space["billed"]["total"]["cost_usd"], billed, abs_tol=1e-6)
        assert space["usage"]["completions"]["total"]["input_tokens"] == tokens
        assert [r["key"] for r in space["billed_by_org"]["rows"]] == space["orgs"]
        org = orgs[space["orgs"][0]]
        active = {p["id"] for p in org.directory.projects if p.get("status") != "archived"}
        assert {(r["project_id"], r["model"]) for r in space["rate_limits"]["limits"]} == {
            (pid, limit["model"]) for pid, limits in org.directory.project_rate_limits.items()
            if pid in active for limit in limits}
        limit = space["budget"]["organization"]["limit_usd"]
        assert limit == org.spend.limit["threshold_amount"] / 100
    assert spaces[0]["billed"]["total"] != spaces[1]["billed"]["total"]
    [beta] = json.loads(poller("report", "--format", "json", "--org", "beta", cwd=cwd,
                               env=env).stdout)["namespaces"]
    assert beta["orgs"] == ["beta"]
    assert beta["usage"]["completions"]["total"]["input_tokens"] == (
        spaces[1]["usage"]["completions"]["total"]["input_tokens"])
    table = poller("report", cwd=cwd, env=env).stdout
    heads = [line for line in table.splitlines() if line.startswith("== ")]
    assert heads == [f"== namespace {namespace}: alpha", f"== namespace {namespace}: beta"]


def test_orgs_sharing_a_namespace_each_show_their_own_truth_on_sqlite(
    simulators: tuple[dict[str, Organization], dict[str, str]], tmp_path: Path
) -> None:
    orgs, urls = simulators
    env = _shared(tmp_path, urls, "shared", {"POLLER_STORE_PATH": str(tmp_path / "s.sqlite3")})
    _each_org_has_its_own_truth(tmp_path, env, orgs, "shared")


def test_orgs_sharing_a_namespace_each_show_their_own_truth_on_elasticsearch(
    simulators: tuple[dict[str, Organization], dict[str, str]],
    tmp_path: Path,
    elasticsearch_url: str,
    elasticsearch_api_key: str | None,
    es_namespace: Any,
) -> None:
    orgs, urls = simulators
    es = {
        "ELASTICSEARCH_URL": elasticsearch_url,
        **({"ELASTICSEARCH_API_KEY": elasticsearch_api_key} if elasticsearch_api_key else {}),
        "POLLER_ELASTICSEARCH__STATE_INDEX": es_namespace.state_index,
        "POLLER_ELASTICSEARCH__DEADLETTER_INDEX": es_namespace.deadletter_index,
    }
    env = _shared(tmp_path, urls, es_namespace.name, es)
    _each_org_has_its_own_truth(tmp_path, env, orgs, es_namespace.name)
