"""The allocated billed cost of `report --by team` and `--by user`, read from the sink.

The Costs API bills per project; `allocated_costs` splits each project's billed day over its
users, keys, models and teams (`poller.sources.allocation`). This table sums those whole cents,
so its total is the billed cost of the days that have a split, to the cent, and each team's or
user's row is its share of the bill rather than a list-price estimate. A user in several teams
is split between them (never counted twice); usage of no team is the `(none)` row.
"""

from __future__ import annotations

from typing import Final

from poller.documents.allocated import AMOUNT_CENTS
from poller.reporting import Row, Scope, Table, Window
from poller.sinks import SinkReader, Sums
from poller.streams import StreamName

__all__ = ["ALLOCATED_BY", "allocated_table"]

# `--by` → (the allocated documents' field, the field naming its value).
ALLOCATED_BY: Final = {
    "team": ("user.group.id", "user.group.name"),
    "user": ("openai.base.user_id", "openai.base.user_email"),
}


def _row(key: str | None, sums: Sums) -> Row:
    cents = round(sums.values.get(AMOUNT_CENTS, 0.0))  # sums of whole cents: exact
    return Row(key, sums.name, {}, cents / 100)


def allocated_table(
    reader: SinkReader, scope: Scope, by: str, window: Window, top: int | None = None
) -> Table | None:
    """Allocated billed cost grouped by `by` (a key of `ALLOCATED_BY`), costliest first; None
    for another `by`, or when the window holds no allocated cost."""
    if by not in ALLOCATED_BY:
        return None
    field, name_field = ALLOCATED_BY[by]
    data_stream = scope.data_stream(StreamName.ALLOCATED_COSTS)
    where = {"organization.id": scope.organization} if scope.organization else None
    if reader.count(data_stream, start=window.start, end=window.end, where=where) == 0:
        return None
    groups = reader.sums_by(data_stream, [AMOUNT_CENTS], field, name_field=name_field,
                            start=window.start, end=window.end, where=where)
    rows = sorted((_row(key, sums) for key, sums in groups.items()),
                  key=lambda r: (-(r.cost or 0.0), r.key is None, r.key or ""))
    total = _row("total", reader.sums(data_stream, [AMOUNT_CENTS],
                                      start=window.start, end=window.end, where=where))
    shown = rows[:top] if top is not None else rows
    return Table(f"allocated billed cost by {by}", (), tuple(shown), total, len(rows))
