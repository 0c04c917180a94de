"""`report`: usage and cost summary read back from the configured sink."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from poller.documents.fields import NAME_FIELDS
from poller.errors import ConfigError
from poller.sinks import SinkReader, Sums
from poller.streams import StreamKind, streams_of_kind

from .when import parse_when

__all__ = ["ReportRequest", "build_report", "report", "report_request"]

_COUNTS = {
    spec.name: tuple(m for m in spec.usage.metrics if m in spec.usage.required_metrics)
    for spec in streams_of_kind(StreamKind.USAGE)
    if spec.usage is not None
}
# A grouping field → the name written next to it (`openai.base.project_id` → `…project_name`).
_NAMES = {f"openai.base.{dimension}": name for dimension, name in NAME_FIELDS.items()}
_PROJECT = "openai.base.project_id"
_BILLED = "openai.costs.amount.value"


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
    """Totals per usage stream grouped by `by`, estimated cost, and billed cost by project.

    A group of a field with a name counterpart (project, user, api key) carries its latest
    `name` (None when no document had one); billed projects' names go in `billed_project_names`
    because `billed_usd_by_project` maps to bare numbers that existing readers expect.
    """
    name_field = _NAMES.get(by)
    usage: dict[str, Any] = {}
    for stream, metrics in _COUNTS.items():
        fields = [_field(stream, m) for m in metrics] + ["openai.base.cost_estimate_usd"]
        groups = reader.sums_by(
            f"logs-openai.{stream}-{namespace}",
            fields,
            by,
            name_field=name_field,
            start=start,
            end=end,
        )
        if groups:
            usage[stream] = {
                str(key): _row(s, named=name_field is not None)
                for key, s in sorted(groups.items(), key=lambda kv: str(kv[0]))
            }
    costs = reader.sums_by(
        f"logs-openai.costs-{namespace}",
        [_BILLED],
        _PROJECT,
        name_field=_NAMES[_PROJECT],
        start=start,
        end=end,
    )
    billed = {str(k): s.values.get(_BILLED, 0) for k, s in costs.items()}
    return {"by": by, "usage": usage, "billed_usd_by_project": billed,
            "billed_usd_total": sum(billed.values()),
            "billed_project_names": {str(k): s.name for k, s in costs.items()}}


def _row(sums: Sums, *, named: bool) -> dict[str, Any]:
    """One group: its document count, its `name` when the grouping has names, its sums."""
    name = {"name": sums.name} if named else {}
    return {"documents": sums.count, **name,
            **{f.rsplit(".", 1)[1]: v for f, v in sums.values.items()}}


@dataclass(frozen=True)
class ReportRequest:
    """`report`: sums of `namespace`'s documents in `[start, end)` (open ends: None)."""

    namespace: str
    by: str = "openai.base.model"
    start: datetime | None = None
    end: datetime | None = None
    as_json: bool = False


def report_request(args: argparse.Namespace, *, namespace: str, now: int) -> ReportRequest:
    """The validated request; built before the sink is opened, so bad input opens nothing."""
    start = _when(args.since, now, "--since")
    end = _when(args.until, now, "--until")
    if start is not None and end is not None and start >= end:
        raise ConfigError(f"--since must be before --until (got {args.since!r} .. {args.until!r})")
    by = args.by or "openai.base.model"
    return ReportRequest(namespace, by, start, end, as_json=args.json)


def report(reader: SinkReader, request: ReportRequest) -> int:
    by = request.by
    data = build_report(
        reader, namespace=request.namespace, by=by, start=request.start, end=request.end
    )
    if request.as_json:
        print(json.dumps(data, indent=2, default=float))
        return 0
    console = Console()
    for stream, groups in data["usage"].items():
        console.print(_usage_table(f"{stream} by {by}", by, groups, named=by in _NAMES))
    console.print(_billed_table(data))
    return 0


def _usage_table(title: str, by: str, groups: dict[str, Any], *, named: bool) -> Table:
    table = Table(title=title)
    columns = sorted({c for g in groups.values() for c in g} - {"name"})
    table.add_column(by)
    if named:
        table.add_column("name")
    for column in columns:
        table.add_column(column, justify="right")
    for key, values in groups.items():
        name = [values["name"] or ""] if named else []
        table.add_row(key, *name, *[_fmt(values.get(c, 0)) for c in columns])
    return table


def _billed_table(data: dict[str, Any]) -> Table:
    table = Table(title="billed cost (Costs API) by project")
    table.add_column("project")
    table.add_column("name")
    table.add_column("usd", justify="right")
    names = data["billed_project_names"]
    for key, value in data["billed_usd_by_project"].items():
        table.add_row(key, names[key] or "", f"{value:,.2f}")
    table.add_row("total", "", f"{data['billed_usd_total']:,.2f}")
    return table


def _when(text: str | None, now: int, flag: str) -> datetime | None:
    if not text:
        return None
    return datetime.fromtimestamp(parse_when(text, now=now, flag=flag), tz=UTC)


def _fmt(value: object) -> str:
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.4f}"
    return f"{int(value):,}" if isinstance(value, int | float) else str(value)
