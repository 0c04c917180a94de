"""The budget section of `report`: each org's and project's month-to-date spend against the
hard limits and alert thresholds its owners set in OpenAI, read from the sink and judged by
`poller.report_budget` (pure).

Spend per UTC day comes from two streams: the bill (`costs`, whole finished days) and the list
price estimate of usage (`openai.base.cost_estimate_usd`, within minutes), summed per day and
project. The controls are the newest snapshot of `spend_limits` and `spend_alerts`: a limit's
`threshold.cents` and `enforcement.status` per project (none: the organization's), and every
alert's threshold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Final

from poller.report_budget import (
    PACE_DAYS,
    Budget,
    BudgetStatus,
    DailySpend,
    SpendControls,
    budget_status,
    month_start,
)
from poller.reporting import Reading, Window, newest_snapshot
from poller.sinks import Sums
from poller.streams import StreamKind, streams_of_kind

__all__ = ["BudgetSection", "ProjectBudget", "build_budget"]

_ESTIMATE: Final = "openai.base.cost_estimate_usd"
_BILLED: Final = "openai.costs.amount.value"
_PROJECT: Final = "openai.base.project_id"
_PROJECT_NAME: Final = "openai.base.project_name"
_LIMITS: Final = "spend_limits"
_ALERTS: Final = "spend_alerts"
_ORG: Final = None  # the key of the organization's own controls and spend


@dataclass(frozen=True)
class ProjectBudget:
    project_id: str
    name: str | None
    status: BudgetStatus


@dataclass(frozen=True)
class BudgetSection:
    """The organization's status, and each project's that has a limit or an alert of its own,
    the most severe and then the largest first; `today` is the UTC day it was judged on."""

    today: date
    organization: BudgetStatus
    projects: tuple[ProjectBudget, ...] = field(default_factory=tuple)


def _day_window(day: date) -> Window:
    start = datetime.combine(day, time(), tzinfo=UTC)
    return Window(start, start + timedelta(days=1))


def _usd(value: float) -> Decimal:
    """A float sum as the cents it stands for: float addition leaves noise below them."""
    return Decimal(str(round(value, 6)))


def _add(into: dict[str | None, dict[date, Decimal]], day: date,
         groups: Mapping[str | None, Sums], field_name: str) -> None:
    """Each project's part of the day, and all of it (documents without a project too) as the
    organization's (`_ORG`)."""
    parts = {k: _usd(s.values.get(field_name, 0.0)) for k, s in groups.items()}
    for key, usd in [*((k, v) for k, v in parts.items() if k is not None),
                     (_ORG, sum(parts.values(), Decimal(0)))]:
        per_day = into.setdefault(key, {})
        per_day[day] = per_day.get(day, Decimal(0)) + usd


def _spend(read: Reading, today: date, names: dict[str, str]) -> dict[str | None, DailySpend]:
    """Per project (and `_ORG` for all of it): billed and estimated spend of each day from the
    month's first (or the pace's first, if earlier) to today."""
    first = min(month_start(today), today - timedelta(days=PACE_DAYS))
    usage = [s.name for s in streams_of_kind(StreamKind.USAGE)]
    span = read.narrowed(Window(_day_window(first).start, _day_window(today).end))
    usage = [stream for stream in usage if span.count(stream)]
    billed: dict[str | None, dict[date, Decimal]] = {}
    estimated: dict[str | None, dict[date, Decimal]] = {}
    for n in range((today - first).days + 1):
        day = first + timedelta(days=n)
        on = read.narrowed(_day_window(day))
        costs = on.sums_by("costs", [_BILLED], _PROJECT, _PROJECT_NAME)
        if costs:  # a day the bill has not reached has no documents: not billed yet
            _add(billed, day, costs, _BILLED)
        for stream in usage:
            _add(estimated, day, on.sums_by(stream, [_ESTIMATE], _PROJECT), _ESTIMATE)
        names.update({k: s.name for k, s in costs.items() if k is not None and s.name})
    return {key: DailySpend(billed.get(key, {}), estimated.get(key, {}))
            for key in {*billed, *estimated}}


def _end(read: Reading) -> datetime:
    """`build_budget` reads up to the end of today; a window always has its end here."""
    if read.window.end is None:
        raise ValueError("the budget's reading needs a window end")
    return read.window.end


def _controls(read: Reading) -> dict[str | None, SpendControls]:
    """Per project (`_ORG`: the organization's), its limit, enforcement and alert thresholds."""
    limits: dict[str | None, Sums] = {}
    enforcement: dict[str | None, Sums] = {}
    snapshot = newest_snapshot(read, _LIMITS, now=_end(read))
    if snapshot is not None:
        cents = f"openai.{_LIMITS}.threshold.cents"
        project = f"openai.{_LIMITS}.project_id"
        status = f"openai.{_LIMITS}.enforcement.status"
        limits = snapshot.sums_by(_LIMITS, [cents], project)
        enforcement = {k: s for k, s in snapshot.sums_by(_LIMITS, [], project, status).items()
                       if k is not None}
        scopes = snapshot.sums_by(_LIMITS, [], f"openai.{_LIMITS}.scope", status)
        if "organization" in scopes:  # a group without a key has no name: ask by scope
            enforcement[_ORG] = scopes["organization"]
    alerts: dict[str | None, list[int]] = {}
    snapshot = newest_snapshot(read, _ALERTS, now=_end(read))
    if snapshot is not None:
        cents = f"openai.{_ALERTS}.threshold.cents"
        for alert in snapshot.sums_by(_ALERTS, [cents], f"openai.{_ALERTS}.id",
                                      f"openai.{_ALERTS}.project_id").values():
            alerts.setdefault(alert.name, []).append(round(alert.values.get(cents, 0.0)))
    out: dict[str | None, SpendControls] = {}
    for key in {*limits, *alerts}:
        limit = limits.get(key)
        cents_value = None if limit is None else round(next(iter(limit.values.values())))
        enforced = enforcement[key].name if key in enforcement else None
        out[key] = SpendControls(cents_value, enforced, tuple(sorted(alerts.get(key, ()))))
    return out


def build_budget(
    read: Reading, today: date, fallback_usd: Decimal | None = None
) -> BudgetSection:
    """Month-to-date status of the org and of each project with controls, as of `today`;
    `fallback_usd` (`alerts.monthly_budget_usd`) is the org's limit where OpenAI reports none,
    as the spend-limit rules take it."""
    everything = read.narrowed(Window(None, _day_window(today).end))
    names: dict[str, str] = {}
    spend = _spend(everything, today, names)
    controls = _controls(everything)
    nothing = DailySpend({}, {})
    org = budget_status(Budget(spend.get(_ORG, nothing), controls.get(_ORG, SpendControls()),
                               fallback_usd), today)
    projects = [
        ProjectBudget(key, names.get(key),
                      budget_status(Budget(spend.get(key, nothing), found), today))
        for key, found in controls.items() if key is not None
    ]
    rank = {"critical": 0, "warning": 1, "ok": 2}
    projects.sort(key=lambda p: (rank[p.status.severity.value], -p.status.month_to_date_usd,
                                 p.project_id))
    return BudgetSection(today, org, tuple(projects))
