"""Costs-dashboard panels of the budget: OpenAI's hard limits and alert thresholds (the newest
spend_limits / spend_alerts snapshot) next to month-to-date spend.

The Lens metrics' month to date is billed cost plus the estimate over the whole month: Lens
cannot switch a day from estimate to bill. The budget table is exact: it runs the budget rules'
own ES|QL (`_budget_rules`), the figures `poller.report_budget` gives, with the forecast of the
month's end and the days until the limit at the pace of the last 7 days. The forecast line
(`_budget_forecast`) draws the same figures day by day.
"""

from __future__ import annotations

from tools.assets.kibana._budget_forecast import forecast_line
from tools.assets.kibana._budget_rules import BUDGET_TABLE_ESQL, SNAPSHOT_HOURS
from tools.assets.kibana._columns import USD, Metric, Terms
from tools.assets.kibana._common import kql_dataset
from tools.assets.kibana._esql import EsqlColumn, EsqlTable
from tools.assets.kibana._lens import Lens
from tools.assets.kibana._panels import Panel

__all__ = ["budget_panels"]

_LIMIT = "openai.spend_limits.threshold.usd"
_THRESHOLD = "openai.spend_alerts.threshold.usd"
_RECENT = f'@timestamp >= "now-{SNAPSHOT_HOURS}h"'
_MONTH = '@timestamp >= "now/M"'


def budget_panels() -> list[Panel]:
    org_limit = f'{kql_dataset("spend_limits")} and openai.spend_limits.scope : "organization"'
    return [
        EsqlTable(
            "Budget: month to date against the hard limit, and the forecast",
            BUDGET_TABLE_ESQL,
            (
                EsqlColumn("organization.id", "Organization", "string"),
                EsqlColumn("scope", "Organization or project id", "string"),
                EsqlColumn("month_to_date", "Month to date (USD)"),
                EsqlColumn("limit_usd", "Hard limit (USD)"),
                EsqlColumn("used", "Share of the limit"),
                EsqlColumn("pace", "Daily pace, last 7 days (USD)"),
                EsqlColumn("forecast_month_end", "Forecast, month end (USD)"),
                EsqlColumn("days_to_limit", "Limit reached in (days; 1 = today)"),
            ),
            description=(
                "Per organization and project: billed cost of billed days plus the usage "
                "estimate of the others since the 1st (UTC), OpenAI's hard limit (newest "
                "spend_limits snapshot; empty where none is set: the monthly-budget rule's "
                "budget_usd stands in for it there), the month-end forecast at the average "
                "daily spend of the 7 finished days before today, and the day the limit is "
                "reached at that pace. Not cut by the time picker. The same query as the "
                "spend-limit rules."
            ),
        ),
        forecast_line(),
        Lens(
            "Hard spend limit (organization)",
            "metric",
            {"v": Metric("max", _LIMIT, "Limit", fmt=USD, kql=f"{org_limit} and {_RECENT}")},
            w=12,
            h=6,
            description="OpenAI's monthly hard limit, as of the newest spend_limits snapshot.",
        ),
        Lens(
            "Estimated cost, month to date",
            "metric",
            {
                "v": Metric(
                    "sum",
                    "openai.base.cost_estimate_usd",
                    "Estimated, month to date",
                    fmt=USD,
                    kql=_MONTH,
                )
            },
            w=12,
            h=6,
            description="Usage estimate since the 1st (UTC): ahead of the bill by a day or more.",
        ),
        Lens(
            "Hard spend limits by project",
            "table",
            {
                "project": Terms("openai.spend_limits.project_id", "Project id", "limit", 50),
                "name": Terms(
                    "openai.spend_limits.project_name",
                    "Project",
                    "limit",
                    1,
                    missing=True,
                    other=False,
                ),
                "status": Terms(
                    "openai.spend_limits.enforcement.status",
                    "Enforcement",
                    "limit",
                    2,
                    other=False,
                ),
                "limit": Metric("max", _LIMIT, "Limit", fmt=USD),
            },
            kql=f"{kql_dataset('spend_limits')} and {_RECENT}",
            w=24,
        ),
        Lens(
            "Spend alert thresholds",
            "table",
            {
                "scope": Terms("openai.spend_alerts.scope", "Scope", "threshold", 2, other=False),
                "project": Terms(
                    "openai.spend_alerts.project_id",
                    "Project id",
                    "threshold",
                    50,
                    missing=True,
                    other=False,
                ),
                "alert": Terms("openai.spend_alerts.id", "Alert", "threshold", 100, other=False),
                "threshold": Metric("max", _THRESHOLD, "Threshold", fmt=USD),
            },
            kql=f"{kql_dataset('spend_alerts')} and {_RECENT}",
            w=24,
        ),
    ]
