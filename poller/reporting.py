"""What `report` shows, read from the sink and independent of how it is printed.

A report covers one namespace's data streams (orgs that share a namespace share its streams;
the org totals split them by `organization.name`). Tables are lists of `Row`s sorted by cost,
then volume, then key, so both sinks print the same order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from poller.documents.fields import NAME_FIELDS, result_path
from poller.sinks import SinkReader, Sums
from poller.streams import StreamKind, get_stream, streams_of_kind

__all__ = [
    "BY_CHOICES",
    "NamespaceReport",
    "Row",
    "Table",
    "Window",
    "build_namespace",
]

# The friendly names of `--by` and the catalog dimension each stands for.
BY_CHOICES: Final = {
    "project": "project_id",
    "user": "user_id",
    "key": "api_key_id",
    "model": "model",
    "line_item": "line_item",
    "service_tier": "service_tier",
    "batch": "batch",
    "team": "group",  # no usage dimension: the allocated cost by team (reporting_allocated)
}
_ESTIMATE = "openai.base.cost_estimate_usd"
_UNPRICED = "openai.base.unpriced"
_BILLED = "openai.costs.amount.value"
_ORG = "organization.name"
_NONE = "(none)"
# A boolean dimension's key as the embedded store returns it (json_extract gives 0/1), spelt
# as Elasticsearch's terms aggregation does, so both sinks print the same groups.
_BOOLEAN_KEYS: Final = {"0": "false", "1": "true"}


@dataclass(frozen=True)
class Window:
    """`start <= @timestamp < end`; an open end is None."""

    start: datetime | None = None
    end: datetime | None = None

    def label(self) -> str:
        def day(moment: datetime | None, open_end: str) -> str:
            return open_end if moment is None else moment.strftime("%Y-%m-%dT%H:%MZ")

        return f"{day(self.start, 'start')}..{day(self.end, 'now')}"


@dataclass(frozen=True)
class Row:
    """One group: its key (None: documents without the field), its latest name, its counts,
    its cost in USD (None: nothing in it could be priced) and how many documents were not."""

    key: str | None
    name: str | None
    counts: Mapping[str, int]
    cost: float | None
    unpriced: int = 0

    @property
    def label(self) -> str:
        return _NONE if self.key is None else self.key


@dataclass(frozen=True)
class Table:
    title: str
    columns: tuple[str, ...]  # the counts, in catalog order
    rows: tuple[Row, ...]
    total: Row
    shown_of: int  # how many groups there were before --top


@dataclass(frozen=True)
class NamespaceReport:
    namespace: str
    orgs: tuple[str, ...]
    usage: tuple[Table, ...]
    billed: Table
    org_totals: Table
    reconciliation: tuple[tuple[str, str | None, float | None, float], ...] = ()
    audit_actions: Mapping[str, int] = field(default_factory=dict)
    audit_actors: Mapping[str, int] = field(default_factory=dict)
    allocated: Table | None = None  # `--by team`/`user`: poller.reporting_allocated


def _as_int(value: float) -> int:
    return round(value)


def _row(key: str | None, sums: Sums, counts: Sequence[str], cost_field: str) -> Row:
    values = sums.values
    unpriced = _as_int(values.get(_UNPRICED, 0.0)) if cost_field == _ESTIMATE else 0
    cost: float | None = values.get(cost_field, 0.0)
    if cost_field == _ESTIMATE and sums.count and unpriced == sums.count:
        cost = None  # every document is unpriced: a 0 here would read as free usage
    return Row(key, sums.name, {c: _as_int(values.get(f, 0.0)) for c, f in counts_of(counts)},
               cost, unpriced)


def counts_of(fields: Sequence[str]) -> list[tuple[str, str]]:
    """(column, field) of each count field: the column is the field's last part."""
    return [(f.rsplit(".", 1)[1], f) for f in fields]


def _sorted(rows: list[Row], columns: Sequence[str]) -> list[Row]:
    volume = columns[0] if columns else None
    return sorted(rows, key=lambda r: (
        -(r.cost or 0.0), -(r.counts.get(volume, 0) if volume else 0), r.key is None,
        r.key or "",
    ))


@dataclass(frozen=True)
class _Query:
    """One table: which stream, grouped by which field, summing which counts and cost."""

    data_stream: str
    title: str
    group: str
    counts: Sequence[str]
    cost_field: str
    boolean: bool = False


def _table(reader: SinkReader, query: _Query, window: Window, top: int | None) -> Table:
    fields = [*query.counts, query.cost_field]
    if query.cost_field == _ESTIMATE:
        fields.append(_UNPRICED)
    dimension = query.group.removeprefix("openai.base.")
    name_field = NAME_FIELDS.get(dimension) if dimension != query.group else None
    groups = reader.sums_by(query.data_stream, fields, query.group, name_field=name_field,
                            start=window.start, end=window.end)
    columns = tuple(c for c, _ in counts_of(query.counts))
    rows = _sorted([_row(_BOOLEAN_KEYS.get(k, k) if query.boolean and k else k, s,
                         query.counts, query.cost_field) for k, s in groups.items()], columns)
    everything = reader.sums(query.data_stream, fields, start=window.start, end=window.end)
    total = _row("total", everything, query.counts, query.cost_field)
    shown = rows[:top] if top is not None else rows
    return Table(query.title, columns, tuple(shown), total, len(rows))


def _dimensions(stream: str) -> tuple[str, ...]:
    endpoint = get_stream(stream).usage
    return () if endpoint is None else endpoint.dimensions


def _usage_counts(stream: str) -> list[str]:
    endpoint = get_stream(stream).usage
    metrics = () if endpoint is None else endpoint.metrics
    required = () if endpoint is None else endpoint.required_metrics
    return [result_path(stream, m) for m in metrics if m in required]


def build_namespace(
    reader: SinkReader,
    namespace: str,
    orgs: Sequence[str],
    *,
    by: str,
    window: Window,
    top: int | None = None,
) -> NamespaceReport:
    """Every usage stream holding `by`'s dimension, grouped by it; billed cost grouped by it
    when costs have it, else by project; per-org and per-project reconciliations; audit."""
    dimension = BY_CHOICES[by]
    usage: list[Table] = []
    for spec in streams_of_kind(StreamKind.USAGE):
        if dimension not in _dimensions(spec.name):
            continue  # a stream without the field would be one meaningless "(none)" row
        stream = f"logs-openai.{spec.name}-{namespace}"
        if reader.count(stream, start=window.start, end=window.end) == 0:
            continue
        query = _Query(stream, f"{spec.name} by {by}", result_path(spec.name, dimension),
                       _usage_counts(spec.name), _ESTIMATE, boolean=dimension == "batch")
        usage.append(_table(reader, query, window, top))
    costs = f"logs-openai.costs-{namespace}"
    billed_dim = dimension if dimension in _dimensions("costs") else "project_id"
    billed_by = next(k for k, v in BY_CHOICES.items() if v == billed_dim)
    billed_query = _Query(costs, f"billed cost by {billed_by}",
                          result_path("costs", billed_dim), (), _BILLED)
    billed = _table(reader, billed_query, window, top)
    return NamespaceReport(
        namespace, tuple(orgs), tuple(usage), billed,
        _org_totals(reader, namespace, window),
        _reconciliation(reader, namespace, window),
        _audit(reader, namespace, "event.action", window),
        _audit(reader, namespace, "user.email", window),
    )


def _org_totals(reader: SinkReader, namespace: str, window: Window) -> Table:
    """Billed cost per org: how orgs sharing a namespace split it."""
    query = _Query(f"logs-openai.costs-{namespace}", "billed cost by org", _ORG, (), _BILLED)
    return _table(reader, query, window, None)


def _reconciliation(
    reader: SinkReader, namespace: str, window: Window
) -> tuple[tuple[str, str | None, float | None, float], ...]:
    """Per project: (id, name, estimated at list prices or None, billed)."""
    project = "openai.base.project_id"
    estimated: dict[str | None, float] = {}
    names: dict[str | None, str | None] = {}
    for spec in streams_of_kind(StreamKind.USAGE):
        groups = reader.sums_by(f"logs-openai.{spec.name}-{namespace}", [_ESTIMATE], project,
                                name_field=NAME_FIELDS["project_id"],
                                start=window.start, end=window.end)
        for key, sums in groups.items():
            estimated[key] = estimated.get(key, 0.0) + sums.values.get(_ESTIMATE, 0.0)
            names[key] = sums.name or names.get(key)
    billed = reader.sums_by(f"logs-openai.costs-{namespace}", [_BILLED], project,
                            name_field=NAME_FIELDS["project_id"],
                            start=window.start, end=window.end)
    keys = sorted({k for k in (*estimated, *billed) if k is not None})
    return tuple(
        (key, (billed[key].name if key in billed else None) or names.get(key),
         estimated.get(key), billed[key].values.get(_BILLED, 0.0) if key in billed else 0.0)
        for key in keys
    )


def _audit(reader: SinkReader, namespace: str, group: str, window: Window) -> dict[str, int]:
    groups = reader.sums_by(f"logs-openai.audit-{namespace}", [], group,
                            start=window.start, end=window.end)
    ordered = sorted(groups.items(), key=lambda kv: (-kv[1].count, kv[0] is None, kv[0] or ""))
    return {(_NONE if k is None else k): s.count for k, s in ordered}
