"""Costs-dashboard panels of the budget: OpenAI's hard limits and alert thresholds (the newest
spend_limits / spend_alerts snapshot) next to month-to-date spend.

Month to date here is billed cost plus the estimate over the whole month: Lens cannot switch a
day from estimate to bill. The exact figure and the forecast are the budget rules'
(`_budget_rules`) and `poller.report_budget`'s.
"""

from __future__ import annotations

from tools.assets.kibana._budget_rules import SNAPSHOT_HOURS
from tools.assets.kibana._columns import USD, Metric, Terms
from tools.assets.kibana._common import kql_dataset
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
