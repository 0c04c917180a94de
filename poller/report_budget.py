"""Month-to-date spend against OpenAI's own hard limits and alert thresholds, and when the
limit will be reached at the current pace. Pure: the caller reads the store, this only counts.

Spend of a finished day is its billed cost (Costs API) once the day is billed, else its usage
estimate (`openai.base.cost_estimate_usd`); today's is its estimate: costs arrive a day or more
late, estimates within minutes.
The pace is the average daily spend of the 7 finished days before today; the forecast replaces
today's partial spend by a full day at that pace. A limit that OpenAI is `enforcing` is critical
at once, whatever the numbers say: requests are being refused. The `monthly_budget_usd` setting
stands in for the organization's limit only where OpenAI reports none.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Final

__all__ = [
    "PACE_DAYS",
    "Budget",
    "BudgetStatus",
    "DailySpend",
    "LimitSource",
    "Severity",
    "SpendControls",
    "budget_status",
    "cents_to_usd",
    "month_start",
]

PACE_DAYS: Final = 7
_CENTS_PER_USD: Final = Decimal(100)
ENFORCING: Final = "enforcing"


class Severity(StrEnum):
    OK = "ok"
    WARNING = "warning"  # an alert threshold crossed, or the limit reached within the month
    CRITICAL = "critical"  # the limit reached, or OpenAI enforcing it


class LimitSource(StrEnum):
    OPENAI = "openai"  # the hard limit set in OpenAI (spend_limits stream)
    SETTING = "setting"  # `alerts.monthly_budget_usd`, where OpenAI reports no limit


def cents_to_usd(cents: int) -> Decimal:
    """OpenAI's whole cents as exact dollars."""
    return Decimal(cents) / _CENTS_PER_USD


def month_start(day: date) -> date:
    return day.replace(day=1)


def _month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


@dataclass(frozen=True)
class DailySpend:
    """One scope's (the organization's or a project's) spend per UTC day, in USD: `billed`
    holds the days the Costs API has billed (a day absent is not billed yet), `estimated` the
    usage estimate of every day."""

    billed: Mapping[date, Decimal]
    estimated: Mapping[date, Decimal]

    def on(self, day: date, today: date) -> Decimal:
        """A finished day's bill once there is one, else (and always today) its estimate."""
        if day < today and day in self.billed:
            return self.billed[day]
        return self.estimated.get(day, Decimal(0))

    def between(self, first: date, last: date, today: date) -> Decimal:
        """Spend from `first` to `last`, both included."""
        days = (last - first).days + 1
        return sum((self.on(first + timedelta(n), today) for n in range(days)), Decimal(0))


@dataclass(frozen=True)
class SpendControls:
    """What OpenAI reports for one scope (the newest spend_limits and spend_alerts snapshots):
    the hard limit and alert thresholds in cents, and the limit's `enforcement.status`."""

    limit_cents: int | None = None
    enforcement: str | None = None
    alert_cents: Sequence[int] = ()


@dataclass(frozen=True)
class Budget:
    """One scope's inputs: its spend, its controls, and the fallback limit (organization
    only: `alerts.monthly_budget_usd`)."""

    spend: DailySpend
    controls: SpendControls = SpendControls()
    fallback_limit_usd: Decimal | None = None


@dataclass(frozen=True)
class BudgetStatus:
    month_to_date_usd: Decimal
    limit_usd: Decimal | None
    limit_source: LimitSource | None
    enforcing: bool
    thresholds_usd: tuple[Decimal, ...]  # ascending
    crossed_usd: tuple[Decimal, ...]  # the thresholds month-to-date spend reached
    daily_pace_usd: Decimal  # average of the PACE_DAYS finished days before today
    forecast_month_end_usd: Decimal
    limit_reached_on: date | None  # the day whose spend reaches the limit, at the pace
    severity: Severity

    @property
    def limit_reached_this_month(self) -> bool:
        return self.limit_reached_on is not None


def _limit(budget: Budget) -> tuple[Decimal | None, LimitSource | None]:
    if budget.controls.limit_cents is not None:
        return cents_to_usd(budget.controls.limit_cents), LimitSource.OPENAI
    if budget.fallback_limit_usd is not None:
        return budget.fallback_limit_usd, LimitSource.SETTING
    return None, None


def _reached_on(
    limit: Decimal, *, finished: Decimal, pace: Decimal, today: date, mtd: Decimal
) -> date | None:
    """The first day of this month at whose end the spend reaches `limit` when the days from
    today on each spend `pace`; today when it already has; None when not this month."""
    if mtd >= limit:
        return today
    if pace <= 0:
        return None
    day = today + timedelta(days=math.ceil((limit - finished) / pace) - 1)
    return day if day <= _month_end(today) else None


def budget_status(budget: Budget, today: date) -> BudgetStatus:
    """Where one scope stands on `today` (a UTC day, the one in progress)."""
    spend, controls = budget.spend, budget.controls
    first = month_start(today)
    yesterday = today - timedelta(days=1)
    finished = spend.between(first, yesterday, today)
    mtd = finished + spend.on(today, today)
    pace = spend.between(today - timedelta(days=PACE_DAYS), yesterday, today) / PACE_DAYS
    days_left = (_month_end(today) - today).days + 1  # today included, at the pace
    limit, source = _limit(budget)
    thresholds = tuple(sorted(cents_to_usd(c) for c in controls.alert_cents))
    crossed = tuple(t for t in thresholds if mtd >= t)
    reached = None
    if limit is not None:
        reached = _reached_on(limit, finished=finished, pace=pace, today=today, mtd=mtd)
    enforcing = controls.enforcement == ENFORCING
    if enforcing or (limit is not None and mtd >= limit):
        severity = Severity.CRITICAL
    elif crossed or reached is not None:
        severity = Severity.WARNING
    else:
        severity = Severity.OK
    return BudgetStatus(
        month_to_date_usd=mtd,
        limit_usd=limit,
        limit_source=source,
        enforcing=enforcing,
        thresholds_usd=thresholds,
        crossed_usd=crossed,
        daily_pace_usd=pace,
        forecast_month_end_usd=finished + pace * days_left,
        limit_reached_on=reached,
        severity=severity,
    )
