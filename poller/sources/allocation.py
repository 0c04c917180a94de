"""The `allocated_costs` source: each project's billed cost of a UTC day, split over the users,
API keys, models and teams whose usage ran it up, in proportion to their list-price estimate.

Where it is computed: from the API, in the stream's own cycle, not from what the sink stores.
For each day it reads the costs (grouped by project) and every usage endpoint at 1d, grouped by
project, user, key, model and the dimensions prices depend on (batch, service tier, image size
and source, search context), and prices them with the same table the usage documents use. So:

- the split does not depend on which usage streams an operator collects, at which width or
  grouping, or on whether their jobs have caught up when the bill arrives (the costs and usage
  jobs run independently; a split read from the sink could miss a usage stream's day);
- both sinks receive the very same documents, so the allocated sums equal the billed cents on
  SQLite and on Elasticsearch alike, with no multi-field aggregation the readers lack;
- it costs 1 costs call and 10 usage calls per 31 days read (more when the client cuts a
  large org's grouped pages to fewer days), once per interval (1 h), beside the directory
  snapshot the names and teams come from.

Days are covered as costs are (1d buckets, a settlement window of 3 days re-read each cycle),
so a revised bill is split again and its documents rewritten in place. A row a day's split
loses on a revision is written once more with 0 cents (`map_superseded`): which rows a day was
ever split into is remembered in the sink's state store under `<org>/allocated_costs/rows`,
saved before the documents are written, so a crash between the two can only remember more.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import partial
from typing import Any, Final, Protocol

from poller.coverage import Coverage, Segment
from poller.documents.allocated import DayOfProject, map_share, map_superseded
from poller.documents.allocation import ShareKey, split_by_group, split_day
from poller.documents.model import Document
from poller.errors import StateError
from poller.pipeline import Batch
from poller.settings import StreamConfig
from poller.sources._base import BackfillWindow, OrgAccess, OrgSource, seconds
from poller.sources.plans import backfill_segments, cycle_segments
from poller.state import StreamState
from poller.streams import BucketWidth, StreamKind, StreamName, streams_of_kind

__all__ = ["AllocationSource", "RowMemory", "backfill_source", "cycle_source"]

DAY: Final = 86400
_MAX_DAYS: Final = 31  # the most 1d buckets a usage page holds: one batch per 31 days
# The usage dimensions a list price depends on, beside who used it.
_PRICED_BY: Final = frozenset(
    {"project_id", "user_id", "api_key_id", "model", "batch", "service_tier", "size", "source",
     "context_level"}
)
_MEMORY_VERSION: Final = 1
Plan = Callable[[Coverage], list[Segment]]
Row = tuple[str, str, str, str, str]  # project, user, key, model, group


class RowMemory(Protocol):
    """Where the rows of past splits are remembered: the sink's state store."""

    def load_state(self, key: str) -> Mapping[str, Any] | None: ...

    def save_state(self, key: str, state: Mapping[str, Any]) -> None: ...


def memory_key(org: str) -> str:
    return f"{org}/{StreamName.ALLOCATED_COSTS}/rows"


@dataclass(frozen=True)
class AllocationSource(OrgSource):
    plan: Plan
    memory: RowMemory
    keep_days: int  # how far before the covered end a remembered day may still be re-read

    @property
    def stream(self) -> str:
        return StreamName.ALLOCATED_COSTS

    def batches(self, state: StreamState) -> Iterator[Batch]:
        shape = ((), self.access.context.organization_id)
        coverage = state.coverage.resolved(*shape)
        for segment in self.plan(coverage):
            piece = segment.resolved(*shape)
            for start in range(piece.start, piece.end, _MAX_DAYS * DAY):
                chunk = piece.span(start, min(piece.end, start + _MAX_DAYS * DAY))
                yield self._chunk(chunk, coverage)

    def _chunk(self, chunk: Segment, coverage: Coverage) -> Batch:
        billed = self._billed(chunk)
        estimates = self._estimates(chunk) if billed else {}
        context = self.access.mapping()
        names = context.names
        documents: list[Document] = []
        written: dict[int, set[Row]] = defaultdict(set)
        for of, amount in sorted(billed.items(), key=lambda item: (item[0].day,
                                                                     item[0].project_id)):
            weights = split_by_group(estimates.get(of, {}),
                                     names.user_groups if names is not None else _no_groups)
            for share in split_day(amount, weights):
                documents.append(map_share(context, of, share))
                written[of.day].add((of.project_id, *_fields(share.key)))
        remembered = self._remembered()
        for day in range(chunk.start, chunk.end, DAY):
            for row in sorted(remembered.get(day, set()) - written[day]):
                documents.append(map_superseded(context, DayOfProject(row[0], day), _key(row)))
            remembered[day] = remembered.get(day, set()) | written[day]
        self._remember(remembered, chunk, coverage)
        return Batch(documents, advance=_cover(chunk))

    def _billed(self, chunk: Segment) -> dict[DayOfProject, Decimal]:
        """The billed amount of each project and day of `chunk`, summed over line items."""
        billed: dict[DayOfProject, Decimal] = defaultdict(Decimal)
        for page in self.access.client.usage_pages(
            StreamName.COSTS, start_time=chunk.start, end_time=chunk.end,
            bucket_width=BucketWidth.DAY, group_by=("project_id",), limit=_MAX_DAYS,
        ):
            for bucket in page.take().data:
                for result in bucket.results:
                    data = result.api_dict()
                    value = (data.get("amount") or {}).get("value")
                    if value is None:
                        continue
                    of = DayOfProject(data.get("project_id") or "", bucket.start_time)
                    billed[of] += Decimal(str(value))
        return billed

    def _estimates(self, chunk: Segment) -> dict[DayOfProject, dict[ShareKey, Decimal]]:
        """Each project and day's list-price estimate per (user, key, model); usage the table
        cannot price weighs nothing."""
        table = self.access.context.price_table
        found: dict[DayOfProject, dict[ShareKey, Decimal]] = defaultdict(dict)
        for spec in streams_of_kind(StreamKind.USAGE):
            dimensions = spec.usage.dimensions if spec.usage is not None else ()
            group_by = tuple(d for d in dimensions if d in _PRICED_BY)
            for page in self.access.client.usage_pages(
                spec.name, start_time=chunk.start, end_time=chunk.end,
                bucket_width=BucketWidth.DAY, group_by=group_by, limit=_MAX_DAYS,
            ):
                for bucket in page.take().data:
                    for result in bucket.results:
                        data = result.api_dict()
                        usd = table.estimate_usd(spec.name, data, bucket.start_time) if table \
                            else None
                        of = DayOfProject(data.get("project_id") or "", bucket.start_time)
                        key = ShareKey(data.get("user_id") or "", data.get("api_key_id") or "",
                                       data.get("model") or "")
                        rows = found[of]
                        rows[key] = rows.get(key, Decimal(0)) + (usd or Decimal(0))
        return found

    def _remembered(self) -> dict[int, set[Row]]:
        """The rows each remembered day was split into. Unreadable memory stops the stream
        (it would leave rows of a revised bill standing): StateError, naming the key."""
        key = memory_key(self.org)
        saved = self.memory.load_state(key) or {"version": _MEMORY_VERSION, "days": {}}
        try:
            days = saved["days"] if saved.get("version") == _MEMORY_VERSION else None
            if not isinstance(days, Mapping):
                raise ValueError("not a version 1 row memory")
            return {int(day): {_row(row) for row in rows} for day, rows in days.items()}
        except (KeyError, TypeError, ValueError) as exc:
            raise StateError(f"{key}: saved rows are unreadable ({exc}); delete this state "
                             "key and backfill the settlement window again") from None

    def _remember(self, remembered: dict[int, set[Row]], chunk: Segment, coverage: Coverage
                  ) -> None:
        """Keep the days a later run may still re-read, drop the rest: runs re-read from the
        covered end back by the settlement window, and the covered end never moves back, so a
        day older than that (an old backfill's, a filled gap's) is never split again."""
        newest = max(chunk.end, coverage.end or chunk.end)
        keep_from = newest - self.keep_days
        days = {str(day): [list(row) for row in sorted(rows)]
                for day, rows in sorted(remembered.items()) if day >= keep_from and rows}
        self.memory.save_state(memory_key(self.org),
                               {"version": _MEMORY_VERSION, "days": days})


def _no_groups(user_id: str) -> tuple[()]:
    return ()


def _fields(key: ShareKey) -> tuple[str, str, str, str]:
    return key.user_id, key.api_key_id, key.model, key.group_id


def _key(row: Row) -> ShareKey:
    return ShareKey(row[1], row[2], row[3], row[4])


def _row(value: Any) -> Row:
    if not isinstance(value, list) or len(value) != 5 or not all(isinstance(v, str) for v in value):
        raise ValueError(f"remembered allocation row is not 5 strings: {value!r:.80}")
    return value[0], value[1], value[2], value[3], value[4]


def _cover(segment: Segment) -> Callable[[StreamState], StreamState]:
    def advance(state: StreamState) -> StreamState:
        coverage = state.coverage.resolved((), segment.organization_id or "")
        return replace(state, coverage=coverage.add(segment))

    return advance


def _keep_days(stream: StreamConfig) -> int:
    # The settlement window, and a day more for a backfill's re-read of the newest days.
    return seconds(stream.settlement_window) + DAY


def cycle_source(access: OrgAccess, stream: StreamConfig, now: int, memory: RowMemory
                 ) -> AllocationSource:
    """One daemon cycle: the settlement window again, then the days billed since."""
    plan = partial(
        cycle_segments, now=now, width=BucketWidth.DAY,
        initial_interval=seconds(stream.initial_interval),
        grace=seconds(stream.settlement_grace),
        settlement_window=seconds(stream.settlement_window),
    )
    return AllocationSource(access, plan, memory, _keep_days(stream))


def backfill_source(access: OrgAccess, stream: StreamConfig, window: BackfillWindow,
                    memory: RowMemory) -> AllocationSource:
    """The days of the window not yet split, and the covered days that may still be revised."""

    def plan(coverage: Coverage) -> list[Segment]:
        newest = min(window.now, coverage.end if coverage.end is not None else window.now)
        return backfill_segments(
            coverage, since=window.since, until=window.until, now=window.now,
            grace=seconds(stream.settlement_grace), width=BucketWidth.DAY,
            reread_from=newest - seconds(stream.settlement_window),
        )

    return AllocationSource(access, plan, memory, _keep_days(stream))
