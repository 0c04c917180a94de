"""From documents to what changed: the per-bucket increments every metric destination sends.

A document delivered for the first time adds its numbers; delivered again, it adds only what
grew since (a bucket re-read with a higher value); delivered unchanged, nothing. The increments
of documents filed under the same series and bucket are summed into one `Delta`.

Counters only go up, so a re-read lower than what was counted adds nothing and is reported as
`lowered`; a document keeps the series it was first counted under (a project renamed later
shows under its new name from the next new bucket on), so a late name never counts a bucket
twice. New series beyond the cardinality limit are refused and their documents left uncounted
(`series_dropped`), and retried when they come again.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from poller.destinations._dimensions import Labeler, Labels
from poller.destinations._ledger import Entry, Ledger
from poller.destinations._metrics import (
    USAGE_METRICS,
    Bucket,
    Contribution,
    UsageMetric,
    bucket_of,
    contribution,
)
from poller.streams import StreamName

if TYPE_CHECKING:  # the settings import this package: it must not load the mappers
    from poller.documents.model import Document

__all__ = [
    "Counted",
    "Delta",
    "Series",
    "SeriesBook",
    "SeriesLimit",
    "Tally",
    "counted_ledger",
    "encode_counted",
    "tally",
]

# What a document was counted as: its series id, and its contribution.
Counted = tuple[int, Contribution]


def _none() -> list[float | None]:
    return [None] * len(USAGE_METRICS)


def _zeros() -> list[float]:
    return [0.0] * len(USAGE_METRICS)


@dataclass
class Series:
    """One label set: everything counted under it per metric, and from when a scrape shows
    each metric's value (before that, 0; None: the metric never had a value here and is not
    shown). Kept with the totals, so a restart or a changed hold never shows a value and then
    0 again, which Prometheus would read as a counter reset."""

    labels: Labels
    shown_from: list[float | None] = field(default_factory=_none)
    totals: list[float] = field(default_factory=_zeros)


class SeriesLimit:
    """A destination's cardinality limit, shared by the series books of all its streams (the
    same label set in two streams is one series). Thread-safe: streams deliver in parallel."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("the series limit must be at least 1")
        self.limit = limit
        self._seen: set[Labels] = set()
        self._lock = threading.Lock()

    def know(self, labels: Iterable[Labels]) -> None:
        """Series that exist already (a saved book): kept even past a lowered limit."""
        with self._lock:
            self._seen.update(labels)

    def allows(self, labels: Labels) -> bool:
        """Whether `labels` is a series already, or there is room for it (then it is one)."""
        with self._lock:
            if labels not in self._seen:
                if len(self._seen) >= self.limit:
                    return False
                self._seen.add(labels)
            return True


class SeriesBook:
    """The series one stream of a destination has counted under; ids are positions, never
    reused. New ones are created as far as the shared `limit` allows."""

    def __init__(self, limit: SeriesLimit, series: Sequence[Series] = ()) -> None:
        self.limit = limit
        self._series = [Series(s.labels, list(s.shown_from), list(s.totals)) for s in series]
        self._ids = {s.labels: i for i, s in enumerate(self._series)}
        limit.know(self._ids)

    def __len__(self) -> int:
        return len(self._series)

    def __iter__(self) -> Iterator[Series]:
        return iter(self._series)

    def __getitem__(self, series_id: int) -> Series:
        return self._series[series_id]

    def admit(self, labels: Labels) -> int | None:
        """The id of `labels`, created if the limit allows; None past it."""
        found = self._ids.get(labels)
        if found is not None:
            return found
        if not self.limit.allows(labels):
            return None
        self._ids[labels] = len(self._series)
        self._series.append(Series(labels))
        return len(self._series) - 1

    def copy(self) -> SeriesBook:
        return SeriesBook(self.limit, self._series)

    def to_json(self) -> list[Any]:
        return [[[list(p) for p in s.labels], s.shown_from, s.totals] for s in self._series]

    @classmethod
    def from_json(cls, limit: SeriesLimit, data: Sequence[Any]) -> SeriesBook:
        """The book `to_json` saved; past a lowered limit it keeps its series, and admits no
        new ones."""
        series = [
            Series(
                tuple((str(k), str(v)) for k, v in labels),
                [None if t is None else float(t) for t in shown_from],
                [float(t) for t in totals],
            )
            for labels, shown_from, totals in data
        ]
        if any({len(s.totals), len(s.shown_from)} != {len(USAGE_METRICS)} for s in series):
            raise ValueError("saved series totals do not match the metrics")
        return cls(limit, series)


@dataclass(frozen=True)
class Delta:
    """How much `metric` grew in `bucket` under the series `series_id`."""

    metric: UsageMetric
    series_id: int
    labels: Labels
    bucket: Bucket
    value: float


@dataclass(frozen=True)
class Tally:
    deltas: tuple[Delta, ...] = ()
    changed: int = 0  # documents that added something
    pruned: int = 0  # documents taken before and pruned since: not counted again
    lowered: int = 0  # documents re-read lower than counted: the decrease is not subtracted
    series_dropped: int = 0  # documents whose new series would pass the limit: not counted


def tally(
    documents: Sequence[Document],
    ledger: Ledger[Counted],
    book: SeriesBook,
    labeler: Labeler,
    *,
    now: float,
    hold: float = 0.0,
) -> Tally:
    """What `documents` add at `now`; records them in `ledger` and their increments in
    `book` (both are changed: pass copies). A metric new to a series is shown `hold` seconds
    from now."""
    sums: dict[tuple[int, int, Bucket], float] = {}
    changed = pruned = lowered = dropped = 0
    for doc in documents:
        bucket = bucket_of(doc)
        if bucket is None or doc.stream == StreamName.ALLOCATED_COSTS:
            continue  # a split of costs counted already: it would only fill ledger and book
        new = contribution(doc)
        previous = ledger.get(doc.doc_id)
        if previous is None and ledger.pruned(doc.stream, bucket.end):
            pruned += 1
            continue
        series_id = (
            previous.value[0] if previous else book.admit(labeler.labels(doc))
        )
        if series_id is None:
            dropped += 1
            continue
        old = previous.value[1] if previous else (0.0,) * len(new)
        lowered += any(n < o for n, o in zip(new, old, strict=True))
        kept = tuple(max(n, o) for n, o in zip(new, old, strict=True))
        ledger.put(doc.doc_id, Entry(doc.stream, bucket.end, (series_id, kept)))
        changed += kept != old
        for index, (k, o) in enumerate(zip(kept, old, strict=True)):
            if k > o:
                key = (index, series_id, bucket)
                sums[key] = sums.get(key, 0.0) + (k - o)
                series = book[series_id]
                series.totals[index] += k - o
                if series.shown_from[index] is None:
                    series.shown_from[index] = now + hold
    deltas = tuple(
        Delta(USAGE_METRICS[index], series_id, book[series_id].labels, bucket, value)
        for (index, series_id, bucket), value in sums.items()
    )
    return Tally(deltas, changed, pruned, lowered, dropped)


def encode_counted(value: Counted) -> list[Any]:
    return [value[0], list(value[1])]


def _decode_counted(value: Any) -> Counted:
    series_id, values = value
    if len(values) != len(USAGE_METRICS):
        raise ValueError("a saved contribution does not match the metrics")
    return int(series_id), tuple(float(v) for v in values)


def counted_ledger(data: Mapping[str, Any] | None) -> Ledger[Counted]:
    """The ledger saved as `ledger.to_json(encode_counted)`, or a new one."""
    return Ledger() if data is None else Ledger.from_json(data, _decode_counted)
