"""The costs dashboard: billed cost (Costs API) and the price-table estimate against it."""

from __future__ import annotations

from typing import Any

from tools.assets.kibana._budget_panels import budget_panels
from tools.assets.kibana._chargeback_panels import chargeback_panels
from tools.assets.kibana._columns import USD, Date, Metric, Ratio, Terms, count, total
from tools.assets.kibana._common import COSTS_DASHBOARD_ID, NAV, kql_dataset
from tools.assets.kibana._lens import Lens
from tools.assets.kibana._panels import Markdown, Panel, dashboard


def costs_dashboard() -> dict[str, Any]:
    billed = "openai.costs.amount.value"
    estimate = "openai.base.cost_estimate_usd"
    panels: list[Panel] = [
        Markdown(
            "### OpenAI costs\n"
            "**Billed** cost comes from the Costs API in daily UTC buckets (revised for 3 days). "
            "**Estimated** cost is computed by openai-poller from usage and its price table; "
            "usage of a model the table does not price is flagged `openai.base.unpriced`. "
            "*Month to date* needs the time range to include the 1st of the month (the default, "
            f"last 31 days, does).\n\n{NAV}",
            h=5,
        ),
        Lens("Billed cost", "metric", {"v": total(billed, "Billed cost", USD)}, w=12, h=6),
        Lens(
            "Billed cost, month to date",
            "metric",
            {"v": Metric("sum", billed, "Month to date", fmt=USD, kql='@timestamp >= "now/M"')},
            w=12,
            h=6,
        ),
        Lens("Estimated cost", "metric", {"v": total(estimate, "Estimated cost", USD)}, w=12, h=6),
        Lens(
            "Estimate / billed",
            "metric",
            {"ratio": Ratio("Estimate / billed", estimate, billed)},
            w=12,
            h=6,
            description=(
                "Above 100%: the price table over-estimates; below: usage it does not price."
            ),
        ),
        Lens(
            "Daily billed cost by project",
            "bar_stacked",
            {
                "time": Date("1d"),
                "project": Terms("openai.base.project_label", "Project", size=10, order_by="cost"),
                "cost": total(billed, "Billed cost", USD),
            },
            kql=kql_dataset("costs"),
        ),
        Lens(
            "Daily billed cost by line item",
            "bar_stacked",
            {
                "time": Date("1d"),
                "item": Terms("openai.costs.line_item", "Line item", size=10, order_by="cost"),
                "cost": total(billed, "Billed cost", USD),
            },
            kql=kql_dataset("costs"),
        ),
        Lens(
            "Estimated vs billed cost per day",
            "line",
            {
                "time": Date("1d"),
                "billed": total(billed, "Billed", USD),
                "estimated": total(estimate, "Estimated", USD),
            },
        ),
        Lens(
            "Estimated cost by model",
            "bar_stacked",
            {
                "time": Date("1d"),
                "model": Terms("openai.base.model", "Model", size=10, order_by="cost"),
                "cost": total(estimate, "Estimated cost", USD),
            },
        ),
        Lens(
            "Billed cost by project and line item",
            "table",
            {
                "project": Terms("openai.base.project_id", "Project id", size=20, order_by="cost"),
                "name": Terms(
                    "openai.base.project_name",
                    "Project",
                    size=1,
                    order_by="cost",
                    missing=True,
                    other=False,
                ),
                "item": Terms("openai.costs.line_item", "Line item", size=10, order_by="cost"),
                "cost": total(billed, "Billed cost", USD),
            },
            kql=kql_dataset("costs"),
        ),
        Lens(
            "Unpriced usage (no price table entry)",
            "table",
            {
                "model": Terms(
                    "openai.base.model", "Model", size=20, order_by="docs", missing=True
                ),
                "stream": Terms("data_stream.dataset", "Stream", size=10, order_by="docs"),
                "requests": total("openai.base.num_model_requests", "Requests"),
                "docs": count("Buckets"),
            },
            kql="openai.base.unpriced : true",
        ),
        *budget_panels(),
        *chargeback_panels(),
    ]
    return dashboard(
        COSTS_DASHBOARD_ID,
        "[OpenAI poller] Costs",
        "Billed daily cost by project and line item, month to date, and the price-table estimate "
        "against it.",
        panels,
        "now-31d/d",
    )
