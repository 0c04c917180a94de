"""What a destination already took of each document, for as long as the document may come again.

The pipeline delivers a document again whenever its bucket is re-read (OpenAI revises buckets
for a while after they end), an audit window overlaps the last one, or a failed cycle is
retried. A destination that counts or appends (counters, deltas, Splunk events) must tell a
revision from a repeat, so it keeps, per document id, what it took: the contribution it counted,
or the digest of the version it sent.

The ledger stays small because a document stops coming back once its settlement window has
passed (`Retention`): entries older than that are pruned. Pruning raises the stream's *floor*
to the newest end it pruned, and a document at or below the floor that the ledger does not hold
was taken before and pruned since, so it is not taken again (a backfill of a window older than
what was pruned is therefore not counted twice, and not counted at all: the primary sink has it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final, Generic, Protocol, TypeVar

from poller.streams import STREAM_NAMES, StreamKind, get_stream

__all__ = ["Entry", "Ledger", "Retention", "RevisableStream"]

V = TypeVar("V")

# How long after its bucket (or event) ended a document may be delivered again, with the
# built-in stream settings: grace + settlement window + overlap + two polling intervals.
_BUILTIN_SECONDS: Final = {
    StreamKind.USAGE: 2 * 3600.0,
    StreamKind.COSTS: 3 * 86400.0 + 4 * 3600.0,
    StreamKind.AUDIT: 3600.0,
    StreamKind.RATE_LIMITS: 3 * 3600.0,
    StreamKind.SPEND: 3 * 3600.0,
    StreamKind.GOVERNANCE: 13 * 3600.0,
    StreamKind.ALLOCATION: 3 * 86400.0 + 4 * 3600.0,  # split again as costs are revised
}


class RevisableStream(Protocol):
    """What `Retention.for_streams` reads of a stream's settings (`poller.settings.StreamConfig`
    has it)."""

    @property
    def name(self) -> str: ...

    @property
    def interval(self) -> timedelta: ...

    @property
    def settlement_grace(self) -> timedelta: ...

    @property
    def settlement_window(self) -> timedelta: ...

    @property
    def overlap(self) -> timedelta: ...


@dataclass(frozen=True)
class Retention:
    """Seconds after its end that a document of each stream may still be delivered again."""

    by_stream: Mapping[str, float] = field(
        default_factory=lambda: {n: _BUILTIN_SECONDS[get_stream(n).kind] for n in STREAM_NAMES}
    )

    @classmethod
    def for_streams(cls, streams: Iterable[RevisableStream]) -> Retention:
        """From the org's stream settings: grace, window and overlap, plus two intervals for a
        cycle that starts late."""
        return cls({
            s.name: (s.settlement_grace + s.settlement_window + s.overlap + 2 * s.interval)
            .total_seconds()
            for s in streams
        })

    def seconds(self, stream: str) -> float:
        return self.by_stream.get(stream, max(self.by_stream.values(), default=0.0))


@dataclass(frozen=True)
class Entry(Generic[V]):
    stream: str
    end: int  # Unix seconds: the document's bucket end or event time
    value: V


class Ledger(Generic[V]):
    """Entries by document id, and per stream the floor below which documents were pruned.

    Mutable: a destination works on a `copy()` and keeps it only once the batch was
    acknowledged and the state saved, so a failure leaves the ledger as it was.
    """

    def __init__(
        self, entries: Mapping[str, Entry[V]] | None = None, floors: Mapping[str, int] | None = None
    ) -> None:
        self._entries: dict[str, Entry[V]] = dict(entries or {})
        self._floors: dict[str, int] = dict(floors or {})

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, doc_id: str) -> Entry[V] | None:
        return self._entries.get(doc_id)

    def put(self, doc_id: str, entry: Entry[V]) -> None:
        self._entries[doc_id] = entry

    def pruned(self, stream: str, end: int) -> bool:
        """Whether a document of `stream` ending at `end`, absent from the ledger, was taken
        before and pruned since."""
        floor = self._floors.get(stream)
        return floor is not None and end <= floor

    def prune(self, now: float, retention: Retention) -> None:
        """Forget the documents that can no longer come again."""
        gone = [
            (doc_id, e)
            for doc_id, e in self._entries.items()
            if e.end < now - retention.seconds(e.stream)
        ]
        for doc_id, e in gone:
            del self._entries[doc_id]
            self._floors[e.stream] = max(self._floors.get(e.stream, e.end), e.end)

    def copy(self) -> Ledger[V]:
        return Ledger(self._entries, self._floors)

    def to_json(self, encode: Callable[[V], Any]) -> dict[str, Any]:
        return {
            "entries": [[i, e.stream, e.end, encode(e.value)] for i, e in self._entries.items()],
            "floors": dict(self._floors),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], decode: Callable[[Any], V]) -> Ledger[V]:
        """The ledger `to_json` saved. Raises ValueError (or KeyError, TypeError) when `data`
        is not one."""
        entries = {
            str(doc_id): Entry(str(stream), int(end), decode(value))
            for doc_id, stream, end, value in data["entries"]
        }
        return cls(entries, {str(k): int(v) for k, v in data["floors"].items()})
