"""What `report` shows, read from the sink and independent of how it is printed.

A report section covers one namespace's data streams, or, where several configured orgs write
into one namespace, one org's documents in them (`Scope.organization`, its `organization.id`),
so each org's totals are its own. Tables are lists of `Row`s sorted by cost, then volume, then
key, so both sinks print the same order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from poller.documents.fields import NAME_FIELDS, result_path
from poller.sinks import SinkReader, Sums
from poller.streams import StreamKind, get_stream, streams_of_kind

__all__ = [
    "BY_CHOICES",
    "NamespaceReport",
    "Reading",
    "Row",
    "Scope",
    "Table",
    "Window",
    "build_namespace",
    "newest_snapshot",
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
_PROJECT = "openai.base.project_id"
_AUDIT_TYPE = "openai.audit.type"  # OpenAI's dotted type; `event.action` is Elastic's dashed
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
class Scope:
    """Whose documents a section reads: `namespace`'s data streams, written by `orgs`; with
    `organization` (an `organization.id`) only that org's documents in them."""

    namespace: str
    orgs: tuple[str, ...] = ()
    organization: str | None = None

    def data_stream(self, stream: str) -> str:
        return f"logs-openai.{stream}-{self.namespace}"


@dataclass(frozen=True)
class Reading:
    """A reader narrowed to one window and scope, and optionally to documents whose keyword
    fields hold given values (`terms`): every query of a section goes through it."""

    reader: SinkReader
    window: Window
    scope: Scope
    terms: Mapping[str, str] = field(default_factory=dict)

    def _where(self) -> dict[str, str] | None:
        found = dict(self.terms)
        if self.scope.organization is not None:
            found["organization.id"] = self.scope.organization
        return found or None

    def count(self, stream: str) -> int:
        return self.reader.count(self.scope.data_stream(stream), start=self.window.start,
                                 end=self.window.end, where=self._where())

    def sums(self, stream: str, fields: Sequence[str]) -> Sums:
        return self.reader.sums(self.scope.data_stream(stream), fields, start=self.window.start,
                                end=self.window.end, where=self._where())

    def sums_by(
        self, stream: str, fields: Sequence[str], group: str, name_field: str | None = None
    ) -> dict[str | None, Sums]:
        return self.reader.sums_by(
            self.scope.data_stream(stream), fields, group, name_field=name_field,
            start=self.window.start, end=self.window.end, where=self._where(),
        )

    def narrowed(self, window: Window) -> Reading:
        return Reading(self.reader, window, self.scope, self.terms)

    def matching(self, terms: Mapping[str, str]) -> Reading:
        """Also only documents whose keyword field (dotted name) has the value."""
        return Reading(self.reader, self.window, self.scope, {**self.terms, **terms})


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
    """One section: a namespace, or one org of a namespace several orgs write into."""

    scope: Scope
    usage: tuple[Table, ...]
    billed: Table
    org_totals: Table
    reconciliation: tuple[tuple[str, str | None, float | None, float], ...] = ()
    audit_types: Mapping[str, int] = field(default_factory=dict)
    audit_actors: Mapping[str, int] = field(default_factory=dict)
    allocated: Table | None = None  # `--by team`/`user`: poller.reporting_allocated

    @property
    def namespace(self) -> str:
        return self.scope.namespace

    @property
    def orgs(self) -> tuple[str, ...]:
        return self.scope.orgs


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

    stream: str
    title: str
    group: str
    counts: Sequence[str]
    cost_field: str
    boolean: bool = False


def _fields(query: _Query) -> list[str]:
    fields = [*query.counts, query.cost_field]
    if query.cost_field == _ESTIMATE:
        fields.append(_UNPRICED)
    return fields


def _grouped(read: Reading, query: _Query) -> dict[str | None, Sums]:
    dimension = query.group.removeprefix("openai.base.")
    name_field = NAME_FIELDS.get(dimension) if dimension != query.group else None
    return read.sums_by(query.stream, _fields(query), query.group, name_field)


def _table(
    read: Reading, query: _Query, top: int | None,
    groups: Mapping[str | None, Sums] | None = None,
) -> Table:
    """`groups`: `_grouped(read, query)` when the caller already has it."""
    fields = _fields(query)
    groups = _grouped(read, query) if groups is None else groups
    columns = tuple(c for c, _ in counts_of(query.counts))
    rows = _sorted([_row(_BOOLEAN_KEYS.get(k, k) if query.boolean and k else k, s,
                         query.counts, query.cost_field) for k, s in groups.items()], columns)
    total = _row("total", read.sums(query.stream, fields), query.counts, query.cost_field)
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
    reader: SinkReader, scope: Scope, *, by: str, window: Window, top: int | None = None
) -> NamespaceReport:
    """Every usage stream holding `by`'s dimension, grouped by it; billed cost grouped by it
    when costs have it, else by project; per-org and per-project reconciliations; audit."""
    read = Reading(reader, window, scope)
    dimension = BY_CHOICES[by]
    usage: list[Table] = []
    by_project: dict[str, Mapping[str | None, Sums]] = {}  # groups the reconciliation reuses
    for spec in streams_of_kind(StreamKind.USAGE):
        if dimension not in _dimensions(spec.name):
            continue  # a stream without the field would be one meaningless "(none)" row
        if read.count(spec.name) == 0:
            continue
        query = _Query(spec.name, f"{spec.name} by {by}", result_path(spec.name, dimension),
                       _usage_counts(spec.name), _ESTIMATE, boolean=dimension == "batch")
        groups = _grouped(read, query)
        if query.group == _PROJECT:
            by_project[spec.name] = groups
        usage.append(_table(read, query, top, groups))
    billed_dim = dimension if dimension in _dimensions("costs") else "project_id"
    billed_by = next(k for k, v in BY_CHOICES.items() if v == billed_dim)
    billed_query = _Query("costs", f"billed cost by {billed_by}",
                          result_path("costs", billed_dim), (), _BILLED)
    billed = _grouped(read, billed_query)
    if billed_query.group == _PROJECT:
        by_project["costs"] = billed
    return NamespaceReport(
        scope, tuple(usage), _table(read, billed_query, top, billed),
        _table(read, _Query("costs", "billed cost by org", _ORG, (), _BILLED), None),
        _reconciliation(read, by_project),
        _counted(read.sums_by("audit", [], _AUDIT_TYPE)),
        _actors(read),
    )


def _reconciliation(
    read: Reading, known: Mapping[str, Mapping[str | None, Sums]]
) -> tuple[tuple[str, str | None, float | None, float], ...]:
    """Per project: (id, name, estimated at list prices or None, billed). `known`: a stream's
    groups by project that its table already read (with the same name field, so the same
    names; and each group's sums add the same documents in the same order, so the same
    figures): a report by project reads each usage stream once, not twice."""
    estimated: dict[str | None, float] = {}
    names: dict[str | None, str | None] = {}
    for spec in streams_of_kind(StreamKind.USAGE):
        groups = known.get(spec.name)
        if groups is None:
            groups = read.sums_by(spec.name, [_ESTIMATE], _PROJECT, NAME_FIELDS["project_id"])
        for key, sums in groups.items():
            estimated[key] = estimated.get(key, 0.0) + sums.values.get(_ESTIMATE, 0.0)
            names[key] = sums.name or names.get(key)
    billed = known.get("costs")
    if billed is None:
        billed = read.sums_by("costs", [_BILLED], _PROJECT, NAME_FIELDS["project_id"])
    keys = sorted({k for k in (*estimated, *billed) if k is not None})
    return tuple(
        (key, (billed[key].name if key in billed else None) or names.get(key),
         estimated.get(key), billed[key].values.get(_BILLED, 0.0) if key in billed else 0.0)
        for key in keys
    )


def _counted(groups: Mapping[str | None, Sums]) -> dict[str, int]:
    """Document counts per group, the most first; documents without the field as `(none)`."""
    ordered = sorted(groups.items(), key=lambda kv: (-kv[1].count, kv[0] is None, kv[0] or ""))
    return {(_NONE if k is None else k): s.count for k, s in ordered}


def _actors(read: Reading) -> dict[str, int]:
    """Audit events per actor: the user's email (a session, or a user's API key), else the
    service account; events with neither (a system action) are `(none)`."""
    users = read.sums_by("audit", [], "user.email")
    services = read.sums_by("audit", [], "service.id")
    groups: dict[str | None, Sums] = {k: s for k, s in users.items() if k is not None}
    groups |= {f"service account {k}": s for k, s in services.items() if k is not None}
    rest = read.count("audit") - sum(s.count for s in groups.values())
    if rest > 0:
        groups[None] = Sums(rest)
    return _counted(groups)


def newest_snapshot(read: Reading, stream: str, *, now: datetime) -> Reading | None:
    """`read` narrowed to the newest collection slot of a snapshot stream (rate limits, spend
    controls) within its window (an open end: `now`); None when it holds none. Found by
    halving a time range with counts: grouping by a date field answers differently on each
    sink, counts do not."""
    end = read.window.end or now
    low = int((read.window.start or _FLOOR).timestamp())
    high = int(end.timestamp())
    if low >= high or not read.narrowed(Window(_at(low), end)).count(stream):
        return None
    while high - low > 1:  # a document at or after `low`, none at or after `high`
        middle = (low + high) // 2
        if read.narrowed(Window(_at(middle), end)).count(stream):
            low = middle
        else:
            high = middle
    return read.narrowed(Window(_at(low), _at(low + 1)))


_FLOOR: Final = datetime(2020, 1, 1, tzinfo=UTC)  # before OpenAI's admin APIs


def _at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)
