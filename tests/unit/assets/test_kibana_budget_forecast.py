"""The Costs dashboard's forecast line as shipped: a Lens line chart on the ES|QL query, next
to the budget table, on the same days, spend and limits as the budget rules."""

from __future__ import annotations

import json
from typing import Any

from poller.assets import load_assets
from tools.assets.kibana._budget_forecast import FORECAST_LINE_ESQL
from tools.assets.kibana._budget_rules import BUDGET_TABLE_ESQL

OBJECTS = {(o["type"], o["id"]): o for o in load_assets().saved_objects}
TITLE = "Budget: month to date and forecast against the hard limit"


def _costs_panels() -> list[dict[str, Any]]:
    dashboard = OBJECTS["dashboard", "openai-poller-costs"]
    return list(json.loads(dashboard["attributes"]["panelsJSON"]))


def test_the_forecast_line_follows_the_budget_table_on_the_costs_dashboard() -> None:
    titles = [panel.get("title") for panel in _costs_panels()]
    table = titles.index("Budget: month to date against the hard limit, and the forecast")
    assert titles[table + 1] == TITLE


def test_the_forecast_line_is_an_esql_line_chart_by_day_and_organization() -> None:
    (panel,) = [p for p in _costs_panels() if p.get("title") == TITLE]
    attributes = panel["embeddableConfig"]["attributes"]
    state = attributes["state"]
    assert attributes["visualizationType"] == "lnsXY"
    assert attributes["references"] == []
    assert state["query"] == {"esql": FORECAST_LINE_ESQL}
    (layer_id, layer), = state["datasourceStates"]["textBased"]["layers"].items()
    assert layer["query"] == {"esql": FORECAST_LINE_ESQL}
    assert [(c["columnId"], c["meta"]["type"]) for c in layer["columns"]] == [
        ("calendar_day", "date"),
        ("organization.id", "string"),
        ("month_to_date", "number"),
        ("projected", "number"),
        ("limit_usd", "number"),
    ]
    assert layer["index"] in state["adHocDataViews"]
    assert "timeField" not in state["adHocDataViews"][layer["index"]]  # not cut by the picker
    (xy,) = state["visualization"]["layers"]
    assert xy == {
        "layerId": layer_id,
        "layerType": "data",
        "seriesType": "line",
        "xAccessor": "calendar_day",
        "splitAccessor": "organization.id",
        "accessors": ["month_to_date", "projected", "limit_usd"],
    }
    # The query returns exactly the columns the chart reads.
    keep = FORECAST_LINE_ESQL.split("| KEEP ")[1].split("\n")[0]
    assert keep.split(", ") == [c["columnId"] for c in layer["columns"]]
    assert "budget_usd" in attributes["description"]  # says why the configured budget is absent


def test_the_forecast_line_reads_the_rules_days_spend_and_limits() -> None:
    head = BUDGET_TABLE_ESQL.split("| EVAL finished")[0]
    assert FORECAST_LINE_ESQL.startswith(head)
    assert "${" not in FORECAST_LINE_ESQL  # a dashboard takes no rule parameters
