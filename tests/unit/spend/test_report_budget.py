"""Month-to-date spend against limits and thresholds, and the forecast, on exact numbers."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from poller.report_budget import (
    Budget,
    DailySpend,
    LimitSource,
    Severity,
    SpendControls,
    budget_status,
    cents_to_usd,
)

D = Decimal


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(n) for n in range((last - first).days + 1)]


def constant(rate: str, first: date, last: date, billed_through: date | None) -> DailySpend:
    """`rate` dollars a day, estimated every day and billed up to `billed_through`."""
    daily = dict.fromkeys(days(first, last), D(rate))
    billed = {day: cost for day, cost in daily.items() if billed_through and day <= billed_through}
    return DailySpend(billed=billed, estimated=daily)


def test_billed_days_count_their_bill_and_other_days_their_estimate() -> None:
    spend = DailySpend(
        billed={
            date(2026, 3, 1): D("10.50"),
            date(2026, 3, 2): D("20"),
            date(2026, 3, 4): D("0.50"),  # today's partial bill: the estimate is further along
        },
        estimated={
            date(2026, 3, 1): D("9"),  # superseded by the bill
            date(2026, 3, 2): D("19"),
            date(2026, 3, 3): D("7.25"),  # not billed yet
            date(2026, 3, 4): D("1.75"),  # today, so far
            date(2026, 2, 28): D("100"),  # last month, not billed yet
        },
    )
    status = budget_status(Budget(spend), date(2026, 3, 4))
    assert status.month_to_date_usd == D("39.50")
    assert (status.limit_usd, status.limit_source) == (None, None)
    # Pace: Feb 25..Mar 3: Feb 28 (100), Mar 1 (10.50), Mar 2 (20) and Mar 3 (7.25).
    assert status.daily_pace_usd == D("137.75") / 7
    assert status.severity is Severity.OK


def test_a_constant_daily_rate_gives_the_exact_forecast_and_limit_date() -> None:
    today = date(2026, 3, 10)
    spend = constant("10", date(2026, 2, 20), today, billed_through=date(2026, 3, 8))
    controls = SpendControls(limit_cents=15_500, enforcement="inactive", alert_cents=[20_000])
    status = budget_status(Budget(spend, controls), today)
    assert status.month_to_date_usd == D("100")  # 9 finished days and today, 10 a day
    assert status.daily_pace_usd == D("10")
    assert status.forecast_month_end_usd == D("310")  # 31 days of March
    # 90 by the end of March 9, so 155 is reached during the 7th day from today: March 16
    # ends at 160, March 15 at 150.
    assert status.limit_reached_on == date(2026, 3, 16)
    assert (status.limit_usd, status.limit_source) == (D("155"), LimitSource.OPENAI)
    assert status.crossed_usd == ()
    assert status.severity is Severity.WARNING  # reached within the month


def test_a_limit_beyond_the_month_end_is_not_reached_this_month() -> None:
    today = date(2026, 3, 10)
    spend = constant("10", date(2026, 3, 1), today, billed_through=None)
    status = budget_status(Budget(spend, SpendControls(limit_cents=31_100)), today)
    assert status.forecast_month_end_usd == D("310")
    assert status.limit_reached_on is None
    assert status.severity is Severity.OK
    exactly = budget_status(Budget(spend, SpendControls(limit_cents=31_000)), today)
    assert exactly.limit_reached_on == date(2026, 3, 31)


def test_crossed_thresholds_are_those_month_to_date_spend_reached() -> None:
    today = date(2026, 4, 6)
    spend = constant("25", date(2026, 3, 25), today, billed_through=date(2026, 4, 4))
    controls = SpendControls(alert_cents=[50_000, 10_000, 15_000, 15_001])
    status = budget_status(Budget(spend, controls), today)
    assert status.month_to_date_usd == D("150")
    assert status.thresholds_usd == (D("100"), D("150"), D("150.01"), D("500"))
    assert status.crossed_usd == (D("100"), D("150"))
    assert status.severity is Severity.WARNING
    assert status.limit_reached_on is None  # no limit at all


def test_enforcing_is_critical_at_once() -> None:
    today = date(2026, 3, 2)
    spend = constant("0", date(2026, 2, 20), today, billed_through=None)
    controls = SpendControls(limit_cents=100_000, enforcement="enforcing")
    status = budget_status(Budget(spend, controls), today)
    assert (status.month_to_date_usd, status.enforcing) == (D("0"), True)
    assert status.severity is Severity.CRITICAL
    assert status.limit_reached_on is None  # no spend, no pace


def test_reaching_the_limit_is_critical_and_dated_today() -> None:
    today = date(2026, 3, 5)
    spend = constant("30", date(2026, 2, 26), today, billed_through=date(2026, 3, 3))
    status = budget_status(Budget(spend, SpendControls(limit_cents=15_000)), today)
    assert status.month_to_date_usd == D("150")
    assert status.limit_reached_on == today
    assert status.severity is Severity.CRITICAL


def test_the_setting_stands_in_only_where_openai_reports_no_limit() -> None:
    today = date(2026, 3, 5)
    spend = constant("30", date(2026, 2, 26), today, billed_through=None)
    fallback = budget_status(Budget(spend, fallback_limit_usd=D("140")), today)
    assert (fallback.limit_usd, fallback.limit_source) == (D("140"), LimitSource.SETTING)
    assert fallback.severity is Severity.CRITICAL
    openai = budget_status(
        Budget(spend, SpendControls(limit_cents=100_000), fallback_limit_usd=D("140")), today
    )
    assert (openai.limit_usd, openai.limit_source) == (D("1000"), LimitSource.OPENAI)
    assert openai.severity is Severity.OK


def test_the_first_day_of_the_month_has_no_finished_days() -> None:
    today = date(2026, 3, 1)
    spend = constant("12", date(2026, 2, 1), today, billed_through=date(2026, 2, 27))
    status = budget_status(Budget(spend, SpendControls(limit_cents=36_000)), today)
    assert status.month_to_date_usd == D("12")  # today's estimate only
    assert status.forecast_month_end_usd == D("372")
    assert status.limit_reached_on == date(2026, 3, 30)


def test_cents_are_exact_dollars() -> None:
    assert cents_to_usd(123_456) == D("1234.56")
    assert cents_to_usd(5) == D("0.05")
