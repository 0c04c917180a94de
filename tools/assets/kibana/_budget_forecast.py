"""The Costs dashboard's forecast line: each organization's spend, day by day through the
month, against OpenAI's hard limit.

Per day of the current month (UTC), from the budget rules' own daily spend (`_budget_rules`:
a finished day's bill once billed, else its usage estimate; today's estimate):
- `month_to_date`: the spend from the 1st through that day, up to today;
- `projected`: from the last finished day on, the finished days' spend plus the average daily
  spend of the 7 finished days before today for each day from today through that one, as
  `poller.report_budget` forecasts (today's partial spend is replaced by a full day at the
  pace). It meets `month_to_date` at yesterday and crosses the limit on the day report's
  `limit_reached_on` names; at the month's last day it is the table's `forecast_month_end`;
- `limit_usd`: OpenAI's hard limit (the newest spend_limits snapshot).

ES|QL has no series generator nor running sum: each daily row is repeated for every day of
the month (`MV_EXPAND` over the offsets 0..30) and summed where it lies on or before that day.
`tests/integration/test_budget_forecast_line.py` does these steps in Python, since the test
Elasticsearch has no ES|QL.
"""

from __future__ import annotations

from typing import Any, Final

from tools.assets.kibana._budget_rules import _DAILY, SNAPSHOT_HOURS
from tools.assets.kibana._esql import EsqlColumn, EsqlTable

__all__ = ["FORECAST_LINE_ESQL", "forecast_line"]

_MS_PER_DAY: Final = 86_400_000  # times a `long`: 30 days of it overflow an `integer`
_OFFSETS: Final = ", ".join(str(n) for n in range(31))

FORECAST_LINE_ESQL: Final = (
    _DAILY.format(
        since="DATE_TRUNC(1 day, NOW()) - 38 days",  # the month, and the 7 days before it
        controls="spend_limits",
        hours=SNAPSHOT_HOURS,
        control="limit_usd",
        aggregate="MAX",
    )
    + f"""| WHERE scope == "organization"
| EVAL month = DATE_TRUNC(1 month, NOW()), offset = [{_OFFSETS}]
| MV_EXPAND offset
| EVAL calendar_day = TO_DATETIME(TO_LONG(month) + TO_LONG(offset) * {_MS_PER_DAY})
| WHERE calendar_day < month + 1 month
| EVAL through = CASE(day >= month AND day <= calendar_day, spend, 0.0),
       finished = CASE(day >= month AND day < today, spend, 0.0),
       recent = CASE(day >= today - 7 days AND day < today, spend, 0.0)
| STATS through = SUM(through), finished = SUM(finished), pace = SUM(recent) / 7,
        limit_usd = MAX(limit_usd)
    BY organization.id, calendar_day
| EVAL today = DATE_TRUNC(1 day, NOW()),
       month_to_date = CASE(calendar_day <= today, through),
       projected = CASE(calendar_day >= today - 1 day,
                        finished + pace * (DATE_DIFF("day", today, calendar_day) + 1))
| KEEP calendar_day, organization.id, month_to_date, projected, limit_usd
| SORT organization.id, calendar_day
| LIMIT 1000"""
)


class EsqlLine(EsqlTable):
    """A Lens line chart on an ES|QL query: the first column on the x axis, the second splits
    the series, the others are the lines."""

    visualization_type = "lnsXY"

    def visualization(self, layer_id: str) -> dict[str, Any]:
        x, split, *lines = (column.field for column in self.columns)
        return {
            "legend": {"isVisible": True, "position": "right"},
            "valueLabels": "hide",
            "fittingFunction": "None",
            "preferredSeriesType": "line",
            "layers": [
                {
                    "layerId": layer_id,
                    "layerType": "data",
                    "seriesType": "line",
                    "xAccessor": x,
                    "splitAccessor": split,
                    "accessors": lines,
                }
            ],
            "axisTitlesVisibilitySettings": {"x": True, "yLeft": True, "yRight": True},
            "tickLabelsVisibilitySettings": {"x": True, "yLeft": True, "yRight": True},
            "gridlinesVisibilitySettings": {"x": True, "yLeft": True, "yRight": True},
            "labelsOrientation": {"x": 0, "yLeft": 0, "yRight": 0},
        }


def forecast_line() -> EsqlLine:
    return EsqlLine(
        "Budget: month to date and forecast against the hard limit",
        FORECAST_LINE_ESQL,
        (
            EsqlColumn("calendar_day", "Day (UTC)", "date"),
            EsqlColumn("organization.id", "Organization", "string"),
            EsqlColumn("month_to_date", "Month to date (USD)"),
            EsqlColumn("projected", "Forecast at the 7-day pace (USD)"),
            EsqlColumn("limit_usd", "Hard limit (USD)"),
        ),
        description=(
            "Per organization and day of this month (UTC): spend since the 1st (billed cost of "
            "billed days, the usage estimate of the others) up to today; from yesterday on, the "
            "forecast at the average daily spend of the 7 finished days before today, which "
            "crosses the limit on the day the spend-limit-forecast rule names; and OpenAI's "
            "hard limit (newest spend_limits snapshot; no line where none is set). The "
            "monthly-budget and spend-limit rules' configured budget_usd is a rule parameter, "
            "which a dashboard cannot read: it is not drawn. Not cut by the time picker."
        ),
    )
