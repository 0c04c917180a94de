"""The budget rules: month-to-date spend against OpenAI's own spend alerts and hard limits.

They compute what `poller.report_budget` computes, in ES|QL: a finished day's spend is its
billed cost once the Costs API billed it (the day has a costs document), else the usage
estimate; today's is the estimate. Each scope is the organization (every document) and each
project (documents with its id), so a usage or costs document counts twice: once for its
project, once for the organization. OpenAI's limits and alerts are read from the newest
spend_limits / spend_alerts snapshot, i.e. documents of the last `SNAPSHOT_HOURS` (the streams
are collected hourly by default). `tests/integration/test_budget_rules.py` runs the same steps
in Python over a store, next to these texts, since the test Elasticsearch has no ES|QL.
"""

from __future__ import annotations

from typing import Final

from tools.assets.kibana._rules import Rule, _dsl, _esql

__all__ = [
    "BUDGET_TABLE_ESQL",
    "ENFORCING_SLUG",
    "FORECAST_ESQL",
    "LIMIT_REACHED_ESQL",
    "SNAPSHOT_HOURS",
    "THRESHOLD_ESQL",
    "budget_rules",
]

SNAPSHOT_HOURS: Final = 2
ENFORCING_SLUG: Final = "spend-limit-enforcing"

# Rows: (organization.id, scope, day) with that day's spend; `{controls}` picks the snapshot.
_DAILY: Final = """FROM logs-openai.*
| WHERE (@timestamp >= {since}
        AND (event.dataset == "openai.costs" OR openai.base.cost_estimate_usd IS NOT NULL))
    OR (event.dataset == "openai.{controls}" AND @timestamp >= NOW() - {hours} hours)
| EVAL project = COALESCE(openai.{controls}.project_id, openai.base.project_id),
       scope = CASE(event.dataset == "openai.{controls}", COALESCE(project, "organization"),
                    project IS NULL, "organization",
                    MV_APPEND("organization", project)),
       day = DATE_TRUNC(1 day, @timestamp)
| MV_EXPAND scope
| STATS billed = SUM(openai.costs.amount.value), bills = COUNT(openai.costs.amount.value),
        estimated = SUM(openai.base.cost_estimate_usd),
        {control} = {aggregate}(openai.{controls}.threshold.usd)
    BY organization.id, scope, day
| EVAL today = DATE_TRUNC(1 day, NOW()),
       spend = CASE(day < today AND bills > 0, billed, COALESCE(estimated, 0.0))
"""

THRESHOLD_ESQL: Final = (
    _DAILY.format(
        since="DATE_TRUNC(1 month, NOW())",
        controls="spend_alerts",
        hours=SNAPSHOT_HOURS,
        control="threshold_usd",
        aggregate="VALUES",
    )
    + """| STATS month_to_date = SUM(spend), threshold_usd = VALUES(threshold_usd)
    BY organization.id, scope
| MV_EXPAND threshold_usd
| WHERE month_to_date >= threshold_usd
| SORT organization.id, scope, threshold_usd
| LIMIT 1000"""
)

# Rows: (organization.id, scope) with the finished days' spend, today's, the pace and the limit.
_BUDGET_STATS: Final = _DAILY.format(
    since="DATE_TRUNC(1 day, NOW()) - 38 days",  # the month, and the 7 days before it
    controls="spend_limits",
    hours=SNAPSHOT_HOURS,
    control="limit_usd",
    aggregate="MAX",
) + """| EVAL finished = CASE(day >= DATE_TRUNC(1 month, NOW()) AND day < today, spend, 0.0),
       current = CASE(day == today, spend, 0.0),
       recent = CASE(day >= today - 7 days AND day < today, spend, 0.0)
| STATS finished = SUM(finished), current = SUM(current), pace = SUM(recent) / 7,
        limit_usd = MAX(limit_usd)
    BY organization.id, scope
"""
# The rules' fallback: `budget_usd` (alerts.monthly_budget_usd) is the organization's limit
# where OpenAI reports none, as in `poller.report_budget`.
_FALLBACK: Final = """| EVAL limit_source = CASE(limit_usd IS NOT NULL, "openai",
                            scope == "organization", "setting"),
       limit_usd = COALESCE(limit_usd, CASE(scope == "organization", TO_DOUBLE(${budget_usd})))
"""
_BUDGET_EVAL: Final = """| EVAL month_to_date = finished + current,
       days_left = DATE_DIFF("day", DATE_TRUNC(1 day, NOW()), DATE_TRUNC(1 month, NOW()) + 1 month),
       days_to_limit = CASE(month_to_date >= limit_usd, 0.0,
                            pace > 0, CEIL((limit_usd - finished) / pace)),
       forecast_month_end = finished + pace * days_left
"""

FORECAST_ESQL: Final = (
    _BUDGET_STATS
    + _FALLBACK
    + _BUDGET_EVAL
    + """| WHERE limit_usd IS NOT NULL AND days_to_limit IS NOT NULL AND days_to_limit <= days_left
| SORT organization.id, scope
| LIMIT 1000"""
)

LIMIT_REACHED_ESQL: Final = (
    _BUDGET_STATS
    + _FALLBACK
    + _BUDGET_EVAL
    + """| WHERE limit_usd IS NOT NULL AND month_to_date >= limit_usd
| SORT organization.id, scope
| LIMIT 1000"""
)

# The Costs dashboard's budget table: every scope, with or without a limit. A dashboard takes
# no parameters, so its limits are OpenAI's only.
BUDGET_TABLE_ESQL: Final = (
    _BUDGET_STATS
    + _BUDGET_EVAL
    + """| EVAL used = ROUND(month_to_date / limit_usd, 3)
| KEEP organization.id, scope, month_to_date, limit_usd, used, pace, forecast_month_end,
       days_to_limit
| SORT month_to_date DESC
| LIMIT 500"""
)


def budget_rules() -> list[Rule]:
    return [
        Rule(
            slug="spend-alert-threshold",
            name="[OpenAI poller] Month-to-date spend reached a spend alert threshold",
            tags=("severity:warning", "cost"),
            interval="1h",
            params=_esql(THRESHOLD_ESQL, (40, "d")),
            parameters={},
            description=(
                "One row per organization or project and spend alert threshold (OpenAI's own, "
                "from the spend_alerts stream) that month-to-date spend reached: billed cost of "
                "billed days plus the usage estimate of the others. Needs the costs, usage and "
                "spend_alerts streams."
            ),
        ),
        Rule(
            slug="spend-limit-forecast",
            name="[OpenAI poller] Hard spend limit reached this month at the current pace",
            tags=("severity:warning", "cost"),
            interval="1h",
            params=_esql(FORECAST_ESQL, (40, "d")),
            parameters={"budget_usd": 1000},
            description=(
                "An organization or project whose month-to-date spend, continued at the average "
                "daily spend of the 7 finished days before today, reaches its hard spend limit "
                "(OpenAI's, from the spend_limits stream; for an organization without one, "
                "`budget_usd`) before the month ends, or already has: `days_to_limit` counts "
                "today as day 1 (0: reached); `limit_source` says whose limit it is."
            ),
        ),
        Rule(
            slug="spend-limit-reached",
            name="[OpenAI poller] Month-to-date spend reached a hard spend limit",
            tags=("severity:critical", "cost"),
            interval="1h",
            params=_esql(LIMIT_REACHED_ESQL, (40, "d")),
            parameters={"budget_usd": 1000},
            description=(
                "An organization or project whose month-to-date spend (billed cost of billed "
                "days plus the usage estimate of the others) reached its hard spend limit "
                "(OpenAI's, from the spend_limits stream; for an organization without one, "
                "`budget_usd`): OpenAI may start refusing its requests. Critical, as `report` "
                "rates it."
            ),
        ),
        Rule(
            slug=ENFORCING_SLUG,
            name="[OpenAI poller] OpenAI is enforcing a hard spend limit",
            tags=("severity:critical", "cost"),
            interval="15m",
            params={
                **_dsl(
                    {"term": {"data_stream.dataset": "openai.spend_limits"}},
                    {"term": {"openai.spend_limits.enforcement.status": "enforcing"}},
                    agg=None,
                    group="organization.id",
                    threshold="1",
                    comparator=">=",
                    window=(SNAPSHOT_HOURS, "h"),
                ),
                "threshold": [1],
            },
            parameters={},
            description=(
                "OpenAI reports a hard spend limit (the organization's or a project's) as "
                "`enforcing`: it refuses the requests it covers. Critical at once."
            ),
        ),
    ]
