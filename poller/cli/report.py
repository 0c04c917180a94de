"""`report`: usage, estimated and billed cost, and audit activity, read back from the sink.

Every value that came from OpenAI (ids, names, emails) is rendered through `safe`/`plain`:
names are set by any org member and must not drive the terminal.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from rich.console import Console
from rich.table import Table as RichTable

from poller.errors import ConfigError
from poller.report_limits import RateLimits, build_rate_limits
from poller.report_spend import BudgetSection, build_budget
from poller.reporting import (
    BY_CHOICES,
    NamespaceReport,
    Reading,
    Row,
    Scope,
    Table,
    Window,
    build_namespace,
)
from poller.reporting_allocated import allocated_table
from poller.sinks import Sink, SinkReader
from poller.state import load_stream_state

from ._budget import budget_json, print_budget
from ._grid import grid
from ._limits import limits_json, print_limits
from ._text import plain, safe
from .when import parse_when

__all__ = [
    "BY_CHOICES",
    "FORMATS",
    "ReportRequest",
    "billed_through",
    "build_report",
    "report",
    "report_request",
]

FORMATS = ("table", "json", "csv")
Format = Literal["table", "json", "csv"]
_SHORT = {
    "input_tokens": "in tok", "output_tokens": "out tok", "num_model_requests": "requests",
    "num_requests": "calls", "num_sessions": "sessions", "usage_bytes": "bytes",
    "characters": "chars", "seconds": "seconds", "images": "images",
}


@dataclass(frozen=True)
class ReportRequest:
    """`report` of each scope (a namespace, or one org of a shared one) in `window`."""

    scopes: tuple[Scope, ...]
    by: str = "model"
    window: Window = field(default_factory=Window)
    top: int | None = None
    format: Format = "table"
    now: datetime | None = None  # of the budget and rate-limit sections; None: no such sections
    budget_usd: Decimal | None = None  # `alerts.monthly_budget_usd`: the limit if OpenAI has none


def report_request(
    args: argparse.Namespace, *, orgs: Sequence[tuple[str, str, str]], now: int,
    budget_usd: float | None = None,
) -> ReportRequest:
    """The validated request; built before the sink is opened, so bad input opens nothing.
    `orgs` are (name, namespace, organization id) of the configured orgs; none configured
    reads `default`, whoever wrote it."""
    start = _when(args.since, now, "--since")
    end = _when(args.until, now, "--until")
    if start is not None and end is not None and start >= end:
        raise ConfigError(f"--since must be before --until (got {args.since!r} .. {args.until!r})")
    sharing: dict[str, int] = {}
    for _, namespace, _ in orgs:
        sharing[namespace] = sharing.get(namespace, 0) + 1
    if args.org is not None:
        chosen = [org for org in orgs if org[0] == args.org]
        if not chosen:
            known = ", ".join(n for n, _, _ in orgs) or "none configured"
            raise ConfigError(f"--org: unknown org {args.org!r} (configured: {known})")
        orgs = chosen
    fmt: Format = "json" if args.json else args.format
    return ReportRequest(_scopes(orgs, sharing), args.by, Window(start, end), args.top, fmt,
                         datetime.fromtimestamp(now, tz=UTC),
                         None if budget_usd is None else Decimal(str(budget_usd)))


def _scopes(orgs: Sequence[tuple[str, str, str]], sharing: Mapping[str, int]) -> tuple[Scope, ...]:
    """One scope per namespace an org writes into alone, one per org where orgs share one
    (filtered by its organization id); none configured: `default`, whoever wrote it."""
    if not orgs:
        return (Scope("default"),)
    scopes: dict[tuple[str, str | None], Scope] = {}
    for name, namespace, organization in orgs:
        if sharing[namespace] > 1:
            scopes[(namespace, organization)] = Scope(namespace, (name,), organization)
        else:
            scopes[(namespace, None)] = Scope(namespace, (name,))
    return tuple(scopes.values())


@dataclass(frozen=True)
class Extra:
    """A scope's sections judged as of the request's `now`."""

    budget: BudgetSection
    limits: RateLimits


def build_report(reader: SinkReader, request: ReportRequest) -> list[NamespaceReport]:
    return [
        replace(build_namespace(reader, scope, by=request.by, window=request.window,
                                top=request.top),
                allocated=allocated_table(reader, scope, request.by, request.window,
                                          request.top))
        for scope in request.scopes
    ]


def billed_through(sink: Sink, request: ReportRequest) -> dict[Scope, int | None]:
    """Per scope, the end of the last day whose costs every org in it has collected (Unix
    seconds); days after it are pending: OpenAI bills a day once it is over. None when the
    orgs are not known (none configured) or have not collected costs."""
    through: dict[Scope, int | None] = {}
    for scope in request.scopes:
        ends = [load_stream_state(sink, org, "costs").position for org in scope.orgs]
        known = [end for end in ends if end is not None]
        through[scope] = min(known) if scope.orgs and len(known) == len(ends) else None
    return through


def report(
    reader: SinkReader, request: ReportRequest, billed: Mapping[Scope, int | None] | None = None
) -> int:
    """Print the report; `billed` is `billed_through`'s answer, for the pending-days note."""
    reports = build_report(reader, request)
    billed = billed or {}
    extra: dict[Scope, Extra] = {}
    if request.now is not None:
        for scope in request.scopes:
            read = Reading(reader, request.window, scope)
            extra[scope] = Extra(
                build_budget(read.narrowed(Window()), request.now.date(), request.budget_usd),
                build_rate_limits(read, request.window.end or request.now),
            )
    if request.format == "json":
        print(json.dumps(_json(reports, request, billed, extra), indent=2))
    elif request.format == "csv":
        _csv(reports)
    else:
        _print_tables(reports, request, billed, extra)
    return 0


def _pending(through: int | None, window: Window) -> tuple[str, str] | None:
    """(last billed day, first pending day) when the window reaches past the billed days."""
    if through is None or (window.end is not None and window.end.timestamp() <= through):
        return None
    last = datetime.fromtimestamp(through - 86400, tz=UTC).date().isoformat()
    first = datetime.fromtimestamp(through, tz=UTC).date().isoformat()
    return last, first


# -- JSON and CSV: plain text, integers stay integers ------------------------------------------


def _row_json(row: Row) -> dict[str, Any]:
    return {"key": None if row.key is None else plain(row.key),
            "name": None if row.name is None else plain(row.name),
            **row.counts, "cost_usd": row.cost, "unpriced_documents": row.unpriced}


def _table_json(table: Table) -> dict[str, Any]:
    return {"title": table.title, "groups": table.shown_of,
            "rows": [_row_json(r) for r in table.rows], "total": _row_json(table.total)}


def _json(
    reports: list[NamespaceReport],
    request: ReportRequest,
    billed: Mapping[Scope, int | None],
    extra: Mapping[Scope, Extra],
) -> dict[str, Any]:
    window = request.window
    return {
        "by": request.by,
        "since": None if window.start is None else window.start.isoformat(),
        "until": None if window.end is None else window.end.isoformat(),
        "namespaces": [
            {
                "namespace": r.namespace,
                "orgs": list(r.orgs),
                "usage": {t.title.split(" by ")[0]: _table_json(t) for t in r.usage},
                "billed": {**_table_json(r.billed),
                           **_pending_json(_pending(billed.get(r.scope), window))},
                "billed_by_org": _table_json(r.org_totals),
                **({"allocated": _table_json(r.allocated)} if r.allocated else {}),
                "reconciliation": [
                    {"project_id": plain(k), "name": None if n is None else plain(n),
                     "estimated_usd": e, "billed_usd": b}
                    for k, n, e, b in r.reconciliation
                ],
                "audit_by_type": {plain(k): v for k, v in r.audit_types.items()},
                "audit_by_actor": {plain(k): v for k, v in r.audit_actors.items()},
                "budget": budget_json(extra[r.scope].budget, request.top) if r.scope in extra
                else None,
                "rate_limits": limits_json(extra[r.scope].limits) if r.scope in extra
                else None,
            }
            for r in reports
        ],
    }


def _pending_json(pending: tuple[str, str] | None) -> dict[str, str | None]:
    last, first = pending if pending is not None else (None, None)
    return {"last_billed_day": last, "pending_from": first}


def _csv_rows(reports: list[NamespaceReport]) -> Iterator[dict[str, Any]]:
    for r in reports:
        for table in (*r.usage, r.billed, r.org_totals, *([r.allocated] if r.allocated else [])):
            for row in (*table.rows, table.total):
                yield {"namespace": r.namespace, "table": table.title, **_row_json(row)}


def _csv(reports: list[NamespaceReport]) -> None:
    rows = list(_csv_rows(reports))
    columns = list(dict.fromkeys(c for row in rows for c in row))
    writer = csv.DictWriter(sys.stdout, columns, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)


# -- tables -------------------------------------------------------------------------------------


def _money(row: Row) -> str:
    if row.cost is None:
        return "unpriced"
    text = f"{row.cost:,.2f}"
    return f"{text}+" if row.unpriced else text


def _header(table: Table, window: Window) -> str:
    cut = f", top {len(table.rows)} of {table.shown_of}" if len(table.rows) < table.shown_of else ""
    dot = " \N{MIDDLE DOT} "
    return safe(f"{table.title}{cut}{dot}{window.label()}{dot}{_money(table.total)} USD")


def _count(value: int) -> str:
    """Exact below a million; above, three significant digits keep a table in 80 columns
    (`--format json` and `csv` keep every digit)."""
    for size, unit in ((10**9, "G"), (10**6, "M")):
        if value >= size:
            return f"{value / size:.3g}{unit}"
    return f"{value:,}"


def _rich(table: Table, *, named: bool, width: int) -> RichTable:
    headers = ["id", *(["name"] if named else []),
               *(_SHORT.get(c, c) for c in table.columns), "USD"]
    rows = [
        [safe(row.label), *([safe(row.name or "")] if named else []),
         *(_count(row.counts[c]) for c in table.columns), _money(row)]
        for row in (*table.rows, table.total)
    ]
    out = grid(headers, rows, texts=2 if named else 1, width=width)
    if table.rows:
        out.rows[len(table.rows) - 1].end_section = True
    return out


def _print_table(console: Console, table: Table, window: Window, *, named: bool) -> None:
    console.print(_header(table, window), style="bold")
    console.print(_rich(table, named=named, width=console.width))


def _reconciliation(report: NamespaceReport, width: int) -> RichTable:
    rows = [
        [safe(name or key), "unpriced" if estimated is None else f"{estimated:,.2f}",
         f"{billed:,.2f}", "" if estimated is None else f"{billed - estimated:+,.2f}"]
        for key, name, estimated, billed in report.reconciliation
    ]
    return grid(["project", "estimated", "billed", "difference"], rows, texts=1, width=width)


def _top(counts: Mapping[str, int], limit: int = 6) -> str:
    shown = [f"{k} {v}" for k, v in list(counts.items())[:limit]]
    more = len(counts) - limit
    return ", ".join(shown) + (f", {more} more" if more > 0 else "")


def _print_tables(
    reports: list[NamespaceReport],
    request: ReportRequest,
    billed: Mapping[Scope, int | None],
    extra: Mapping[Scope, Extra],
) -> None:
    console = Console()
    window = request.window
    named = BY_CHOICES[request.by] in ("project_id", "user_id", "api_key_id")
    for r in reports:
        orgs = ", ".join(r.orgs) or "every org in the store"
        console.print(safe(f"== namespace {r.namespace}: {orgs}"), style="bold")
        for table in r.usage:
            _print_table(console, table, window, named=named)
        if any(row.unpriced for t in r.usage for row in (*t.rows, t.total)):
            console.print("+ : some usage has no list price; `unpriced`: none of it has one")
        _print_table(console, r.billed, window,
                     named=r.billed.title.endswith(("project", "key")))
        pending = _pending(billed.get(r.scope), window)
        if pending is not None:
            console.print(f"billed through {pending[0]}; from {pending[1]} billed cost is "
                          "pending (OpenAI bills a day once it is over)")
        if len(r.org_totals.rows) > 1:
            _print_table(console, r.org_totals, window, named=False)
        if r.allocated is not None:
            _print_table(console, r.allocated, window, named=True)
        if r.reconciliation:
            console.print(safe(f"estimated (list prices) vs billed per project \N{MIDDLE DOT} "
                               f"{window.label()}"), style="bold")
            console.print(_reconciliation(r, console.width))
        if r.audit_types:
            console.print(safe(f"audit events by type: {_top(r.audit_types)}"))
            console.print(safe(f"audit events by actor: {_top(r.audit_actors)}"))
        if r.scope in extra:
            print_limits(console, extra[r.scope].limits, request.top)
            print_budget(console, extra[r.scope].budget, request.top)


def _when(text: str | None, now: int, flag: str) -> datetime | None:
    if not text:
        return None
    return datetime.fromtimestamp(parse_when(text, now=now, flag=flag), tz=UTC)
