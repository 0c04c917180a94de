"""`report`'s budget section as a real process, against an organization whose owners set
spend limits and alerts (its own limit `enforcing`): the month-to-date spend, the limit, the
alert thresholds, the forecast and the day the limit is reached are those of the simulator's
bill and controls, judged by `poller.report_budget`."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cli_run import WIDTH, poller, widest

from poller.report_budget import Budget, DailySpend, SpendControls, budget_status, month_start
from poller.simulator.app import SimulatorApp
from poller.simulator.organization import Organization, build_organization
from poller.simulator.server import SimulatorServer

pytestmark = pytest.mark.integration

DAY = 86400
KEY = "sk-admin-budget-test"
NOW = int(datetime.now(UTC).timestamp())
TODAY = datetime.fromtimestamp(NOW, UTC).date()
FIRST = min(month_start(TODAY), TODAY - timedelta(days=7))


def _epoch(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


@pytest.fixture(scope="module")
def backfilled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Organization, Path]]:
    cwd = tmp_path_factory.mktemp("budget")
    org = build_organization(seed=7, size="small", settle_seconds=60, enforcing=True)
    with SimulatorServer(SimulatorApp(org, admin_key=KEY)) as server:
        env = {"OPENAI_ADMIN_KEY": KEY, "OPENAI_BASE_URL": server.base_url,
               "POLLER_STORE_PATH": str(cwd / "s.sqlite3")}
        since = datetime.fromtimestamp(_epoch(FIRST), UTC).isoformat()
        result = poller("backfill", "--since", since, "--streams",
                        "costs,spend_limits,spend_alerts", cwd=cwd, env=env, timeout=120)
        assert result.returncode == 0, result.stderr
        yield org, cwd


def _billed(org: Organization, project: str | None = None) -> dict[date, Decimal]:
    """The simulator's bill of each finished day, of the org or of one project (a day with no
    cost has no entry; a project's day is billed once the org's is)."""
    out: dict[date, Decimal] = {}
    day = FIRST
    while day < TODAY:
        records = org.costs(_epoch(day), _epoch(day) + DAY, math.inf)
        if records:
            out[day] = sum((Decimal(str(r.amount)) for dims, r in records.items()
                            if project is None or dims[0] == project), Decimal(0))
        day += timedelta(days=1)
    return {d: v for d, v in out.items() if project is None or v}


def _usd(value: Decimal | None) -> float | None:
    return None if value is None else float(round(value, 2))


def _report(cwd: Path, *argv: str) -> dict[str, Any]:
    result = poller("report", *argv, cwd=cwd, env={"POLLER_STORE_PATH": str(cwd / "s.sqlite3")})
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout)) if argv else {"text": result.stdout}


def test_the_org_budget_is_the_simulators_bill_against_its_controls(
    backfilled: tuple[Organization, Path],
) -> None:
    org, cwd = backfilled
    limit = org.spend.limit
    controls = SpendControls(limit["threshold_amount"], limit["enforcement"]["status"],
                             tuple(sorted(a["threshold_amount"] for a in org.spend.alerts)))
    want = budget_status(Budget(DailySpend(_billed(org), {}), controls), TODAY)
    assert want.enforcing and want.limit_usd is not None and want.thresholds_usd
    [space] = _report(cwd, "--format", "json")["namespaces"]
    got = space["budget"]["organization"]
    assert got["limit_usd"] == _usd(want.limit_usd)
    assert (got["limit_source"], got["enforcing"], got["severity"]) == ("openai", True,
                                                                       "critical")
    assert got["alert_thresholds_usd"] == [_usd(t) for t in want.thresholds_usd]
    assert got["alerts_crossed_usd"] == [_usd(t) for t in want.crossed_usd]
    for name in ("month_to_date_usd", "daily_pace_usd", "forecast_month_end_usd"):
        assert got[name] == pytest.approx(_usd(getattr(want, name)), abs=0.011), name
    reached = want.limit_reached_on
    assert got["limit_reached_on"] == (None if reached is None else reached.isoformat())


def test_each_project_with_a_limit_is_judged_against_it(
    backfilled: tuple[Organization, Path],
) -> None:
    org, cwd = backfilled
    [space] = _report(cwd, "--format", "json")["namespaces"]
    projects = {p["project_id"]: p for p in space["budget"]["projects"]}
    limited = {pid: lim for pid, lim in org.spend.project_limits.items()}
    assert limited and set(limited) <= set(projects)
    for pid, lim in limited.items():
        assert projects[pid]["limit_usd"] == _usd(Decimal(lim["threshold_amount"]) / 100)
        assert projects[pid]["enforcing"] == (lim["enforcement"]["status"] == "enforcing")
        alerts = tuple(sorted(a["threshold_amount"] for a in org.spend.project_alerts.get(pid, ())))
        controls = SpendControls(lim["threshold_amount"], lim["enforcement"]["status"], alerts)
        want = budget_status(Budget(DailySpend(_billed(org, pid), {}), controls), TODAY)
        for name in ("month_to_date_usd", "forecast_month_end_usd"):
            assert projects[pid][name] == pytest.approx(_usd(getattr(want, name)), abs=0.011)
        assert projects[pid]["severity"] == want.severity.value
    severities = [p["severity"] for p in space["budget"]["projects"]]
    rank = {"critical": 0, "warning": 1, "ok": 2}
    assert severities == sorted(severities, key=rank.__getitem__)  # the most severe first


def test_the_budget_table_fits_80_columns(backfilled: tuple[Organization, Path]) -> None:
    _, cwd = backfilled
    text = _report(cwd)["text"]
    assert widest(text) <= WIDTH
    lines = text.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("budget · month to date "))
    header = next(line for line in lines[head + 1:] if line.strip())
    assert header.split() == ["scope", "spent", "limit", "used", "forecast", "limit", "on",
                              "status"]
    org_row = next(line for line in lines[head:] if line.strip().startswith("organization"))
    assert org_row.split()[-1] == "enforcing"


def test_without_an_openai_limit_the_configured_budget_is_the_orgs_limit(
    backfilled: tuple[Organization, Path], tmp_path: Path,
) -> None:
    """The same bill with no spend controls collected: `alerts.monthly_budget_usd` is the
    org's limit, as the spend-limit rules take it."""
    org, _ = backfilled
    env = {"OPENAI_ADMIN_KEY": KEY, "POLLER_STORE_PATH": str(tmp_path / "s.sqlite3"),
           "POLLER_ALERTS__MONTHLY_BUDGET_USD": "120"}
    with SimulatorServer(SimulatorApp(org, admin_key=KEY)) as server:
        since = datetime.fromtimestamp(_epoch(FIRST), UTC).isoformat()
        result = poller("backfill", "--since", since, "--streams", "costs", cwd=tmp_path,
                        env={**env, "OPENAI_BASE_URL": server.base_url}, timeout=120)
        assert result.returncode == 0, result.stderr
    shown = poller("report", "--format", "json", cwd=tmp_path, env=env)
    assert shown.returncode == 0, shown.stderr
    got = json.loads(shown.stdout)["namespaces"][0]["budget"]["organization"]
    want = budget_status(Budget(DailySpend(_billed(org), {}), SpendControls(), Decimal(120)),
                         TODAY)
    assert (got["limit_usd"], got["limit_source"], got["enforcing"]) == (120.0, "setting", False)
    assert got["month_to_date_usd"] == pytest.approx(_usd(want.month_to_date_usd), abs=0.011)
    assert got["severity"] == want.severity.value
    reached = want.limit_reached_on
    assert got["limit_reached_on"] == (None if reached is None else reached.isoformat())
