"""The budget rules' ES|QL, run in Python over a store, equals `poller.report_budget`.

The test Elasticsearch has no ES|QL, so each rule's query is parsed (esql-parser) for syntax,
and its steps are done here, one function per query, step by step in the query's order, over
the documents a backfill from the simulator stored (SQLite). The same documents then go
through the pure budget computation the `report` uses: both must name the same thresholds
crossed and the same limits reached this month, with the same numbers.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from antlr4 import CommonTokenStream, InputStream  # type: ignore[import-untyped]
from antlr4.error.ErrorListener import ErrorListener  # type: ignore[import-untyped]
from esql_parser.EsqlBaseLexer import EsqlBaseLexer  # type: ignore[import-untyped]
from esql_parser.EsqlBaseParser import EsqlBaseParser  # type: ignore[import-untyped]

from poller.collect import backfill_org
from poller.report_budget import Budget, DailySpend, SpendControls, budget_status
from poller.runtime import org_runtime
from poller.settings import load_settings
from poller.simulator.app import SimulatorApp
from poller.simulator.organization import build_organization
from poller.simulator.server import SimulatorServer
from poller.sinks import SqliteSink
from poller.sources import BackfillWindow
from poller.streams import STREAM_NAMES
from tools.assets.kibana._budget_rules import (
    BUDGET_TABLE_ESQL,
    FORECAST_ESQL,
    LIMIT_REACHED_ESQL,
    SNAPSHOT_HOURS,
    THRESHOLD_ESQL,
)

pytestmark = pytest.mark.integration

KEY = "sk-admin-budget-rules-key"
NOW = 1_795_000_000 - 1_795_000_000 % 86400 - 86400 + 40_000  # 2026-11-17, 11:06
DAY = 86400
Row = dict[str, Any]


class _Errors(ErrorListener):  # type: ignore[misc]
    def __init__(self) -> None:
        self.errors: list[str] = []

    def syntaxError(self, *args: Any) -> None:
        line, column, message = args[2], args[3], args[4]
        self.errors.append(f"{line}:{column} {message}")


def esql_syntax_errors(query: str) -> list[str]:
    errors = _Errors()
    lexer = EsqlBaseLexer(InputStream(query))
    parser = EsqlBaseParser(CommonTokenStream(lexer))
    for part in (lexer, parser):
        part.removeErrorListeners()
        part.addErrorListener(errors)
    parser.singleStatement()
    return errors.errors


@pytest.mark.parametrize(
    "query", [THRESHOLD_ESQL, FORECAST_ESQL, LIMIT_REACHED_ESQL, BUDGET_TABLE_ESQL]
)
def test_budget_queries_are_valid_esql(query: str) -> None:
    query = query.replace("${budget_usd}", "1000")  # as setup renders it
    assert esql_syntax_errors(query) == []
    assert esql_syntax_errors(query.replace("BY organization.id", "BY BY")) != []


# ---- the queries' steps, in Python ---------------------------------------------------------


def _day(stamp: str) -> date:
    return datetime.fromisoformat(stamp).astimezone(UTC).date()


def _get(doc: Mapping[str, Any], path: str) -> Any:
    for key in path.split("."):
        if not isinstance(doc, Mapping) or key not in doc:
            return None
        doc = doc[key]
    return doc


def daily(
    docs: list[Row], since: date, controls: str, now: datetime
) -> dict[tuple[str, str, date], Row]:
    """The shared head of both queries (`_DAILY`), up to `EVAL spend`."""
    recent = now - timedelta(hours=SNAPSHOT_HOURS)
    groups: dict[tuple[str, str, date], Row] = {}
    for doc in docs:
        dataset, stamp = doc["event"]["dataset"], datetime.fromisoformat(doc["@timestamp"])
        estimate, billed = _get(doc, "openai.base.cost_estimate_usd"), None
        # | WHERE (@timestamp >= since AND (costs OR estimate IS NOT NULL)) OR (controls, recent)
        if dataset == "openai.costs" and stamp.date() >= since:
            billed = _get(doc, "openai.costs.amount.value")
        elif not (estimate is not None and stamp.date() >= since) and not (
            dataset == f"openai.{controls}" and stamp >= recent
        ):
            continue
        # | EVAL project = COALESCE(...), scope = CASE(...)  | MV_EXPAND scope
        project = _get(doc, f"openai.{controls}.project_id") or _get(doc, "openai.base.project_id")
        if dataset == f"openai.{controls}":
            scopes = [project or "organization"]
        else:
            scopes = ["organization"] + ([project] if project else [])
        # | STATS billed = SUM, bills = COUNT, estimated = SUM, control BY org, scope, day
        for scope in scopes:
            key = (doc["organization"]["id"], scope, _day(doc["@timestamp"]))
            row = groups.setdefault(key, {"billed": 0.0, "bills": 0, "estimated": None, "c": []})
            if billed is not None:
                row["billed"] += billed
                row["bills"] += 1
            if estimate is not None:
                row["estimated"] = (row["estimated"] or 0.0) + estimate
            if (control := _get(doc, f"openai.{controls}.threshold.usd")) is not None:
                row["c"].append(control)
    # | EVAL today = DATE_TRUNC(1 day, NOW()), spend = CASE(day < today AND bills > 0, ...)
    for (_, _, day), row in groups.items():
        billed_day = day < now.date() and row["bills"] > 0
        row["spend"] = row["billed"] if billed_day else (row["estimated"] or 0.0)
    return groups


def threshold_rule(docs: list[Row], now: datetime) -> set[tuple[str, str, float]]:
    """THRESHOLD_ESQL: (organization.id, scope, threshold_usd) rows."""
    groups = daily(docs, now.date().replace(day=1), "spend_alerts", now)
    # | STATS month_to_date = SUM(spend), threshold_usd = VALUES(threshold_usd) BY org, scope
    totals: dict[tuple[str, str], Row] = defaultdict(lambda: {"mtd": 0.0, "t": set()})
    for (org, scope, _), row in groups.items():
        totals[org, scope]["mtd"] += row["spend"]
        totals[org, scope]["t"] |= set(row["c"])
    # | MV_EXPAND threshold_usd | WHERE month_to_date >= threshold_usd
    return {(o, s, t) for (o, s), row in totals.items() for t in row["t"] if row["mtd"] >= t}


def budget_rows(
    docs: list[Row], now: datetime, budget_usd: float | None = None
) -> dict[tuple[str, str], Row]:
    """The head of FORECAST_ESQL and LIMIT_REACHED_ESQL (`_BUDGET_STATS`, `_FALLBACK` with
    `budget_usd`, `_BUDGET_EVAL`; without it, BUDGET_TABLE_ESQL's): rows by (organization.id,
    scope)."""
    today = now.date()
    groups = daily(docs, today - timedelta(days=38), "spend_limits", now)
    totals: dict[tuple[str, str], Row] = defaultdict(
        lambda: {"finished": 0.0, "current": 0.0, "recent": 0.0, "limit": None}
    )
    for (org, scope, day), row in groups.items():
        # | EVAL finished = CASE(...), current = CASE(...), recent = CASE(...)  | STATS ... BY
        total = totals[org, scope]
        total["finished"] += row["spend"] if today.replace(day=1) <= day < today else 0.0
        total["current"] += row["spend"] if day == today else 0.0
        total["recent"] += row["spend"] if today - timedelta(days=7) <= day < today else 0.0
        if row["c"]:
            total["limit"] = max([*row["c"], total["limit"] or 0.0])
    out = {}
    next_month = (today.replace(day=28) + timedelta(days=4)).replace(day=1)
    for key, row in totals.items():
        # | EVAL limit_source = CASE(...), limit_usd = COALESCE(limit_usd, CASE(org, budget))
        source = "openai" if row["limit"] is not None else None
        if row["limit"] is None and key[1] == "organization" and budget_usd is not None:
            row["limit"], source = budget_usd, "setting"
        # | EVAL month_to_date, days_left, days_to_limit = CASE(...), forecast_month_end
        pace, limit = row["recent"] / 7, row["limit"]
        mtd, days_left = row["finished"] + row["current"], (next_month - today).days
        days_to_limit = None
        if limit is not None and mtd >= limit:
            days_to_limit = 0.0
        elif limit is not None and pace > 0:
            days_to_limit = math.ceil((limit - row["finished"]) / pace)
        out[key] = {
            "limit": limit,
            "limit_source": source,
            "days_left": days_left,
            "days_to_limit": days_to_limit,
            "month_to_date": mtd,
            "forecast": row["finished"] + pace * days_left,
        }
    return out


def forecast_rule(
    docs: list[Row], now: datetime, budget_usd: float = 1000
) -> dict[tuple[str, str], Row]:
    """FORECAST_ESQL: | WHERE limit_usd IS NOT NULL AND days_to_limit IS NOT NULL AND
    days_to_limit <= days_left"""
    return {
        key: row
        for key, row in budget_rows(docs, now, budget_usd).items()
        if row["limit"] is not None
        and row["days_to_limit"] is not None
        and row["days_to_limit"] <= row["days_left"]
    }


def limit_reached_rule(
    docs: list[Row], now: datetime, budget_usd: float = 1000
) -> dict[tuple[str, str], Row]:
    """LIMIT_REACHED_ESQL: | WHERE limit_usd IS NOT NULL AND month_to_date >= limit_usd"""
    return {
        key: row
        for key, row in budget_rows(docs, now, budget_usd).items()
        if row["limit"] is not None and row["month_to_date"] >= row["limit"]
    }


# ---- the same documents through poller.report_budget -----------------------------------------


def budgets(
    docs: list[Row], now: datetime, budget_usd: float = 1000
) -> dict[tuple[str, str], Budget]:
    """Each scope's daily bills and estimates, its newest limit and alert thresholds, and for
    the organization the configured budget (`alerts.monthly_budget_usd`) as the fallback."""
    billed: dict[tuple[str, str], dict[date, Decimal]] = defaultdict(dict)
    estimated: dict[tuple[str, str], dict[date, Decimal]] = defaultdict(dict)
    controls: dict[tuple[str, str], Row] = defaultdict(lambda: {"alerts": []})
    recent = now - timedelta(hours=SNAPSHOT_HOURS)
    for doc in docs:
        org, day = doc["organization"]["id"], _day(doc["@timestamp"])
        dataset = doc["event"]["dataset"]
        if dataset in ("openai.spend_limits", "openai.spend_alerts"):
            fields = doc["openai"][dataset.removeprefix("openai.")]
            if datetime.fromisoformat(doc["@timestamp"]) < recent:
                continue
            scope = controls[org, fields.get("project_id") or "organization"]
            if dataset == "openai.spend_limits":
                scope["limit"] = fields["threshold"]["cents"]
                scope["enforcement"] = fields["enforcement"]["status"]
            else:
                scope["alerts"].append(fields["threshold"]["cents"])
            continue
        project = _get(doc, "openai.base.project_id")
        for scope_key in [(org, "organization")] + ([(org, project)] if project else []):
            cost = _get(doc, "openai.costs.amount.value")
            into = billed if cost is not None else estimated
            value = cost if cost is not None else _get(doc, "openai.base.cost_estimate_usd")
            if value is not None:
                into[scope_key][day] = into[scope_key].get(day, Decimal(0)) + Decimal(str(value))
    return {
        key: Budget(
            DailySpend(billed.get(key, {}), estimated.get(key, {})),
            SpendControls(
                limit_cents=controls[key].get("limit"),
                enforcement=controls[key].get("enforcement"),
                alert_cents=tuple(controls[key]["alerts"]),
            ),
            fallback_limit_usd=Decimal(budget_usd) if key[1] == "organization" else None,
        )
        for key in {*billed, *estimated, *controls}
    }


@contextmanager
def stored(tmp_path: Path) -> Iterator[list[Row]]:
    """Every document a backfill of the month and the 7 days before it stored."""
    org = build_organization(seed=26, size="small", settle_seconds=600, enforcing=True)
    app = SimulatorApp(org, admin_key=KEY, clock=lambda: NOW)
    path = tmp_path / "budget.sqlite3"
    with SimulatorServer(app) as server, SqliteSink(str(path)) as sink:
        settings = load_settings(
            orgs=[{"name": "b", "admin_key": KEY, "base_url": server.base_url}]
        )
        with org_runtime(settings.orgs[0]) as rt:
            window = BackfillWindow(since=NOW - 40 * DAY, until=NOW, now=NOW)
            result = backfill_org(rt, sink, STREAM_NAMES, window)
            assert (result.failures, result.interrupted) == (0, False)
    with SqliteSink(str(path), read_only=True) as sink:
        reader = sink.reader()
        yield [dict(source) for data_stream in reader.data_streams()
               for source in reader.all_documents(data_stream).values()]


def test_the_rules_steps_over_the_store_equal_the_budget_report(tmp_path: Path) -> None:
    now = datetime.fromtimestamp(NOW, UTC)
    today = now.date()
    with stored(tmp_path) as docs:
        statuses = {key: budget_status(b, today) for key, b in budgets(docs, now).items()}
        crossed = threshold_rule(docs, now)
        forecast = forecast_rule(docs, now)

    assert crossed == {
        (org, scope, float(t)) for (org, scope), s in statuses.items() for t in s.crossed_usd
    }
    reached = {key: s for key, s in statuses.items() if s.limit_reached_on is not None}
    assert forecast.keys() == reached.keys()
    for key, status in reached.items():
        assert status.limit_reached_on is not None and status.limit_usd is not None
        days = (
            0
            if status.month_to_date_usd >= status.limit_usd
            else ((status.limit_reached_on - today).days + 1)
        )
        assert forecast[key]["days_to_limit"] == days
        assert math.isclose(forecast[key]["month_to_date"], status.month_to_date_usd, abs_tol=1e-6)
        assert math.isclose(forecast[key]["forecast"], status.forecast_month_end_usd, abs_tol=1e-6)
    # Not vacuous: something crossed, something did not, limits are reached in days to come.
    assert crossed
    assert len(crossed) < sum(len(s.thresholds_usd) for s in statuses.values())
    assert sorted(f["days_to_limit"] for f in forecast.values()) == [2, 4]
    assert limit_reached_rule(docs, now).keys() == {
        key for key, s in statuses.items() if s.limit_usd and s.month_to_date_usd >= s.limit_usd
    }


# ---- a constant daily rate, where every figure is known ----------------------------------------


def _doc(dataset: str, stamp: datetime, fields: Mapping[str, Any]) -> Row:
    doc: Row = {
        "@timestamp": stamp.isoformat(),
        "event": {"dataset": dataset},
        "organization": {"id": "org-1"},
    }
    doc.update(fields)
    return doc


def constant_rate(limit_usd: float | None, now: datetime) -> list[Row]:
    """$10 a day since the 20th of last month, billed up to yesterday; today's $10 only
    estimated; the organization's hard limit as of an hour ago (None: OpenAI reports none)."""
    docs = []
    day = datetime(now.year, now.month, 1, tzinfo=UTC) - timedelta(days=9)
    while day.date() < now.date():
        docs.append(_doc("openai.costs", day, {"openai": {"costs": {"amount": {"value": 10.0}}}}))
        day += timedelta(days=1)
    estimate = {"openai": {"base": {"cost_estimate_usd": 10.0}}}
    docs.append(_doc("openai.completions", now.replace(hour=1), estimate))
    if limit_usd is not None:
        threshold = {"usd": limit_usd, "cents": round(limit_usd * 100)}
        fields = {"threshold": threshold, "enforcement": {"status": "inactive"}}
        limit = {"openai": {"spend_limits": fields}}
        docs.append(_doc("openai.spend_limits", now - timedelta(hours=1), limit))
    return docs


@pytest.mark.parametrize(
    ("limit_usd", "budget_usd", "days_to_limit", "reached_on", "source"),
    [
        (150.0, 120.0, 6, date(2026, 3, 15), "openai"),
        (100.0, 1000.0, 0, date(2026, 3, 10), "openai"),
        (400.0, 150.0, 31, None, "openai"),
        (None, 150.0, 6, date(2026, 3, 15), "setting"),
        (None, 90.0, 0, date(2026, 3, 10), "setting"),
    ],
)
def test_at_a_constant_daily_rate_the_forecast_and_its_date_are_exact(
    limit_usd: float | None,
    budget_usd: float,
    days_to_limit: int,
    reached_on: date | None,
    source: str,
) -> None:
    """On 10 March, $10 a day: $90 for the 9 finished days, $100 with today; 22 days left at
    $10 give $310 at the month's end. A $150 limit is reached on the 6th day counting today
    (the 15th), $100 today; $400 not this month (31 days). The configured budget stands in only
    where OpenAI reports no limit."""
    now = datetime(2026, 3, 10, 11, 0, tzinfo=UTC)
    docs = constant_rate(limit_usd, now)
    org = ("org-1", "organization")
    assert budget_rows(docs, now, budget_usd)[org] == {
        "limit": limit_usd or budget_usd,
        "limit_source": source,
        "days_left": 22,
        "days_to_limit": days_to_limit,
        "month_to_date": 100.0,
        "forecast": 310.0,
    }
    in_month = set() if reached_on is None else {org}
    assert forecast_rule(docs, now, budget_usd).keys() == in_month
    reached = limit_reached_rule(docs, now, budget_usd)
    assert reached.keys() == ({org} if days_to_limit == 0 else set())
    status = budget_status(budgets(docs, now, budget_usd)[org], now.date())
    assert status.limit_reached_on == reached_on
    assert status.forecast_month_end_usd == Decimal(310)
    assert status.limit_source == source
