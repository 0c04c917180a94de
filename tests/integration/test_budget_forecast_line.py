"""The Costs dashboard's forecast line (FORECAST_LINE_ESQL), run in Python over a store, draws
what `poller.report_budget` computes, day by day.

As for the budget rules (`test_budget_rules.py`, whose steps for the shared head this reuses):
the test Elasticsearch has no ES|QL, so the query is parsed for syntax and its steps are done
here in the query's order. The expected series comes from `poller.report_budget`: a day's
month to date is `DailySpend.between` the 1st and it, the projection adds
`budget_status`'s daily pace per day from today on to the finished days' spend.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from test_budget_rules import (
    NOW,
    Row,
    budgets,
    constant_rate,
    daily,
    esql_syntax_errors,
    stored,
)

from poller.report_budget import Budget, budget_status, month_start
from tools.assets.kibana._budget_forecast import FORECAST_LINE_ESQL

pytestmark = pytest.mark.integration

Point = dict[str, Any]  # month_to_date, projected, limit (None: no point on that line)


def test_the_forecast_line_is_valid_esql() -> None:
    assert esql_syntax_errors(FORECAST_LINE_ESQL) == []
    assert esql_syntax_errors(FORECAST_LINE_ESQL.replace("MV_EXPAND offset", "MV_EXPAND")) != []


def forecast_line(docs: list[Row], now: datetime) -> dict[tuple[str, date], Point]:
    """FORECAST_LINE_ESQL's steps: rows by (organization.id, calendar_day)."""
    today = now.date()
    month = today.replace(day=1)
    groups = daily(docs, today - timedelta(days=38), "spend_limits", now)
    # | WHERE scope == "organization"
    days = {(org, day): row for (org, scope, day), row in groups.items() if scope == "organization"}
    # | EVAL month, offset = [0..30] | MV_EXPAND offset | EVAL calendar_day = month + offset days
    # | WHERE calendar_day < month + 1 month
    shown = [month + timedelta(n) for n in range(31) if (month + timedelta(n)).month == month.month]
    out = {}
    for org in {org for org, _ in days}:
        for calendar_day in shown:
            # | EVAL through, finished, recent = CASE(...) | STATS ... BY organization.id, day
            through = finished = recent = 0.0
            limit: float | None = None
            for (row_org, day), row in days.items():
                if row_org != org:
                    continue
                through += row["spend"] if month <= day <= calendar_day else 0.0
                finished += row["spend"] if month <= day < today else 0.0
                recent += row["spend"] if today - timedelta(days=7) <= day < today else 0.0
                if row["c"]:
                    limit = max([*row["c"], limit or 0.0])
            # | EVAL today, month_to_date = CASE(...), projected = CASE(...)
            ahead = (calendar_day - today).days + 1
            out[org, calendar_day] = {
                "month_to_date": through if calendar_day <= today else None,
                "projected": finished + recent / 7 * ahead if ahead >= 0 else None,
                "limit": limit,
            }
    return out


def report_line(budget: Budget, today: date) -> dict[date, Point]:
    """The same series from `poller.report_budget`, without the configured fallback (a
    dashboard cannot read the rules' `budget_usd`)."""
    budget = dataclasses.replace(budget, fallback_limit_usd=None)
    status = budget_status(budget, today)
    first, yesterday = month_start(today), today - timedelta(days=1)
    finished = budget.spend.between(first, yesterday, today)
    line = {}
    day = first
    while day.month == first.month:
        ahead = (day - today).days + 1
        line[day] = {
            "month_to_date": budget.spend.between(first, day, today) if day <= today else None,
            "projected": finished + status.daily_pace_usd * ahead if ahead >= 0 else None,
            "limit": status.limit_usd,
        }
        day += timedelta(days=1)
    return line


def _close(ours: Any, report: Decimal | None) -> bool:
    if report is None or ours is None:
        return ours is None and report is None
    return math.isclose(ours, report, abs_tol=1e-6)


def test_at_a_constant_daily_rate_every_point_is_exact() -> None:
    """On 10 March, $10 a day, a $150 limit: $10, $20, ... $100 through today; the projection
    leaves yesterday's $90 at $10 a day, $110 tomorrow, crosses $150 on the 15th, the day
    report names, and ends the month at $310, report's forecast."""
    now = datetime(2026, 3, 10, 11, 0, tzinfo=UTC)
    docs = constant_rate(150.0, now)
    line = forecast_line(docs, now)
    march = [date(2026, 3, d) for d in range(1, 32)]
    assert sorted(line) == [("org-1", d) for d in march]
    points = [line["org-1", d] for d in march]
    assert [p["month_to_date"] for p in points] == [10.0 * d for d in range(1, 11)] + [None] * 21
    assert [p["projected"] for p in points] == [None] * 8 + [10.0 * d for d in range(9, 32)]
    assert {p["limit"] for p in points} == {150.0}
    crossing = next(d for d, p in zip(march, points, strict=True) if (p["projected"] or 0) >= 150)
    assert crossing == date(2026, 3, 15)

    budget = budgets(docs, now)["org-1", "organization"]
    status = budget_status(dataclasses.replace(budget, fallback_limit_usd=None), now.date())
    assert status.limit_reached_on == crossing
    assert status.forecast_month_end_usd == Decimal(points[-1]["projected"])
    report = report_line(budget, now.date())
    for day in march:
        assert all(_close(line["org-1", day][k], report[day][k]) for k in report[day]), day


def test_without_a_limit_there_is_no_limit_line() -> None:
    """The configured budget is a rule parameter: the dashboard draws no limit for it."""
    now = datetime(2026, 3, 10, 11, 0, tzinfo=UTC)
    line = forecast_line(constant_rate(None, now), now)
    assert {p["limit"] for p in line.values()} == {None}
    assert line["org-1", date(2026, 3, 31)]["projected"] == 310.0


def test_the_line_over_the_store_equals_the_budget_report(tmp_path: Path) -> None:
    now = datetime.fromtimestamp(NOW, UTC)
    today = now.date()
    with stored(tmp_path) as docs:
        line = forecast_line(docs, now)
        scopes = budgets(docs, now)
    orgs = {org for (org, scope) in scopes if scope == "organization"}
    assert {org for org, _ in line} == orgs
    limited = 0
    for org in orgs:
        report = report_line(scopes[org, "organization"], today)
        assert {day for o, day in line if o == org} == set(report)
        for day, expected in report.items():
            ours = line[org, day]
            assert all(_close(ours[k], expected[k]) for k in expected), (org, day)
        limited += report[today]["limit"] is not None
        # Not vacuous: spend so far, and a projection beyond it.
        assert report[today]["month_to_date"] > 0
        assert report[max(report)]["projected"] > report[today]["month_to_date"]
    assert limited > 0
