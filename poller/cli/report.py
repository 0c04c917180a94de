"""`report`: usage and cost summary read back from the configured sink."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from poller.sinks.reader import SinkReader
from poller.streams import USAGE_ENDPOINTS

from .when import parse_when

__all__ = ["build_report", "report"]

_COUNTS = {
    name: tuple(m for m in endpoint.metrics if m in endpoint.required_metrics)
    for name, endpoint in USAGE_ENDPOINTS.items()
    if name != "costs"
}


def _field(stream: str, metric: str) -> str:
    base = metric == "num_model_requests"
    return f"openai.base.{metric}" if base else f"openai.{stream}.{metric}"


def build_report(
    reader: SinkReader,
    *,
    namespace: str,
    by: str,
    start: datetime | None,
    end: datetime | None,
) -> dict[str, Any]:
    """Totals per usage stream grouped by `by`, estimated cost, and billed cost by project."""
    usage: dict[str, Any] = {}
    for stream, metrics in _COUNTS.items():
        fields = [_field(stream, m) for m in metrics] + ["openai.base.cost_estimate_usd"]
        groups = reader.sums_by(
            f"logs-openai.{stream}-{namespace}", fields, by, start=start, end=end
        )
        if groups:
            usage[stream] = {
                str(key): {"documents": s.count, **{f.rsplit(".", 1)[1]: v for f, v in
                                                   s.values.items()}}
                for key, s in sorted(groups.items(), key=lambda kv: str(kv[0]))
            }
    costs = reader.sums_by(
        f"logs-openai.costs-{namespace}",
        ["openai.costs.amount.value"],
        "openai.base.project_id",
        start=start,
        end=end,
    )
    billed = {str(k): s.values.get("openai.costs.amount.value", 0) for k, s in costs.items()}
    return {"by": by, "usage": usage, "billed_usd_by_project": billed,
            "billed_usd_total": sum(billed.values())}


def report(reader: SinkReader, args: argparse.Namespace, *, namespace: str, now: int) -> int:
    start = _when(args.since, now, "--since")
    end = _when(args.until, now, "--until")
    by = args.by or "openai.base.model"
    data = build_report(reader, namespace=namespace, by=by, start=start, end=end)
    if args.json:
        print(json.dumps(data, indent=2, default=float))
        return 0
    console = Console()
    for stream, groups in data["usage"].items():
        table = Table(title=f"{stream} by {by}")
        columns = sorted({c for g in groups.values() for c in g})
        table.add_column(by)
        for column in columns:
            table.add_column(column, justify="right")
        for key, values in groups.items():
            table.add_row(key, *[_fmt(values.get(c, 0)) for c in columns])
        console.print(table)
    table = Table(title="billed cost (Costs API) by project")
    table.add_column("project")
    table.add_column("usd", justify="right")
    for key, value in data["billed_usd_by_project"].items():
        table.add_row(key, f"{value:,.2f}")
    table.add_row("total", f"{data['billed_usd_total']:,.2f}")
    console.print(table)
    return 0


def _when(text: str | None, now: int, flag: str) -> datetime | None:
    if not text:
        return None
    return datetime.fromtimestamp(parse_when(text, now=now, flag=flag), tz=UTC)


def _fmt(value: object) -> str:
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.4f}"
    return f"{int(value):,}" if isinstance(value, int | float) else str(value)
