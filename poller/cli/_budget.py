"""How `report` prints the budget section (`poller.report_spend`): a table of the org and its
projects with controls, and the same figures as JSON."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from rich.console import Console

from poller.report_budget import BudgetStatus
from poller.report_spend import BudgetSection

from ._grid import grid
from ._text import plain, safe

__all__ = ["budget_json", "print_budget"]


def _usd(value: Decimal | None) -> float | None:
    return None if value is None else float(round(value, 2))


def _status_json(status: BudgetStatus) -> dict[str, Any]:
    return {
        "month_to_date_usd": _usd(status.month_to_date_usd),
        "limit_usd": _usd(status.limit_usd),
        "limit_source": None if status.limit_source is None else status.limit_source.value,
        "enforcing": status.enforcing,
        "alert_thresholds_usd": [_usd(t) for t in status.thresholds_usd],
        "alerts_crossed_usd": [_usd(t) for t in status.crossed_usd],
        "daily_pace_usd": _usd(status.daily_pace_usd),
        "forecast_month_end_usd": _usd(status.forecast_month_end_usd),
        "limit_reached_on": None if status.limit_reached_on is None
        else status.limit_reached_on.isoformat(),
        "severity": status.severity.value,
    }


def budget_json(section: BudgetSection, top: int | None) -> dict[str, Any]:
    projects = section.projects[:top] if top is not None else section.projects
    return {
        "today": section.today.isoformat(),
        "organization": _status_json(section.organization),
        "projects": [{"project_id": plain(p.project_id),
                      "name": None if p.name is None else plain(p.name),
                      **_status_json(p.status)} for p in projects],
    }


def _money(value: Decimal | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def _cells(label: str, status: BudgetStatus) -> list[str]:
    limit = status.limit_usd
    used = "-" if not limit else f"{status.month_to_date_usd / limit:.0%}"
    reached = "-" if status.limit_reached_on is None else status.limit_reached_on.strftime("%m-%d")
    verdict = "enforcing" if status.enforcing else status.severity.value  # always critical
    return [safe(label), _money(status.month_to_date_usd), _money(limit), used,
            _money(status.forecast_month_end_usd), reached, verdict]


def print_budget(console: Console, section: BudgetSection, top: int | None) -> None:
    """The header names the month so far; `limit on` is the day the limit is reached at the
    pace of the last 7 days, `-` when not this month."""
    org = section.organization
    if org.limit_usd is None and not section.projects and not org.month_to_date_usd:
        return  # no controls and no spend this month: nothing to judge
    first = section.today.replace(day=1).isoformat()
    dot = " \N{MIDDLE DOT} "
    console.print(safe(f"budget{dot}month to date {first}..{section.today.isoformat()}{dot}"
                       "billed days, else estimates"), style="bold")
    projects = section.projects[:top] if top is not None else section.projects
    rows: Sequence[list[str]] = [
        _cells("organization", section.organization),
        *(_cells(p.name or p.project_id, p.status) for p in projects),
    ]
    headers = ["scope", "spent", "limit", "used", "forecast", "limit on", "status"]
    console.print(grid(headers, rows, texts=1, width=console.width))
