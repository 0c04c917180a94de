"""The sink contract: write documents exactly once in effect, and keep cursor state beside them.

A sink acknowledges a batch only when every document in it is durably stored: created, revised
in place, found unchanged, or kept in the dead-letter store because the sink refused it for good.
Anything else raises, so the caller never moves a cursor past an unacknowledged write.

What a sink can do beyond that is a Protocol of its own, so callers ask for a capability in
their signature instead of testing a concrete class: `Readable` for a sink whose documents can
be read back (`report`, `status`, the tests), `DeadLetterStore` for one whose dead letters can
be replayed (`replay-deadletters`), `ReadableSink` for what `open_sink` returns.
Readers answer alike on both backends: a time range is `start <= @timestamp < end` (aware
datetimes), a sum over no documents is 0.0, and documents that lack the `group_by` field form
the group `None`; a group's `name` is the `name_field` of its newest document having one, so a
renamed project shows its latest name. `where` keeps only the documents whose keyword fields
equal the values given, e.g. `{"organization.id": "org-1"}`: orgs writing into one namespace
share its data streams, and each one's report must hold its own documents only.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, Self

from poller.documents.model import Document, Rejected

__all__ = [
    "REJECTED_STATUS",
    "DeadLetter",
    "DeadLetterRecord",
    "DeadLetterStore",
    "HeldLetter",
    "Readable",
    "ReadableSink",
    "Sink",
    "SinkReader",
    "Sums",
    "WriteReport",
]

# The dead-letter status of an API item no document could be built from (HTTP's "unprocessable").
REJECTED_STATUS = 422


@dataclass(frozen=True)
class DeadLetter:
    """A document the sink refused for good (e.g. a mapping conflict), or an API item no
    document could be built from (status 422), kept for inspection."""

    doc_id: str
    data_stream: str
    status: int
    reason: str


@dataclass(frozen=True)
class DeadLetterRecord(DeadLetter):
    """A stored dead letter: the refusal, the refused document as JSON, and when."""

    source: str = ""
    failed_at: str = ""  # ISO-8601, UTC


@dataclass(frozen=True)
class HeldLetter:
    """A dead letter as read for replay, with the store's token of exactly this version: a
    letter kept again after the read (refused again) has another, so it is not released."""

    record: DeadLetterRecord
    token: str


@dataclass(frozen=True)
class WriteReport:
    created: int = 0
    updated: int = 0  # an existing document with other values, replaced by the new version
    unchanged: int = 0  # already stored with the same values
    dead_lettered: tuple[DeadLetter, ...] = field(default_factory=tuple)

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged + len(self.dead_lettered)

    def __add__(self, other: WriteReport) -> WriteReport:
        return WriteReport(
            created=self.created + other.created,
            updated=self.updated + other.updated,
            unchanged=self.unchanged + other.unchanged,
            dead_lettered=self.dead_lettered + other.dead_lettered,
        )


@dataclass(frozen=True)
class Sums:
    """How many documents matched, the sum of each requested field over them, and (for a group
    of `sums_by` with a `name_field`) the group's latest name."""

    count: int
    values: Mapping[str, float] = field(default_factory=dict)
    name: str | None = None


class Sink(Protocol):
    def write(self, documents: Sequence[Document]) -> WriteReport:
        """Store every document, or raise. Raises `SinkUnavailableError` (retryable) when the
        sink could not acknowledge the whole batch, `SinkRejectedError` when it never will."""
        ...

    def reject(self, items: Sequence[Rejected]) -> tuple[DeadLetter, ...]:
        """Keep API items no document could be built from in the dead-letter store, or raise
        as `write` does; a kept item is acknowledged like a written document."""
        ...

    def load_state(self, key: str) -> Mapping[str, Any] | None:
        """The cursor state saved under `key`, or None."""
        ...

    def save_state(self, key: str, state: Mapping[str, Any]) -> None:
        """Durably replace the state under `key`."""
        ...

    def probe(self) -> bool:
        """Whether the sink answers and would accept a write now (readiness). Never raises."""
        ...

    def close(self) -> None: ...


class SinkReader(Protocol):
    def count(
        self,
        data_stream: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        where: Mapping[str, str] | None = None,
    ) -> int:
        """Documents in `data_stream`, optionally with `start <= @timestamp < end`."""
        ...

    def sums(
        self,
        data_stream: str,
        fields: Sequence[str],
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        where: Mapping[str, str] | None = None,
    ) -> Sums:
        """The sum of each numeric field (dotted name) over the matching documents."""
        ...

    def sums_by(
        self,
        data_stream: str,
        fields: Sequence[str],
        group_by: str,
        *,
        name_field: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        where: Mapping[str, str] | None = None,
    ) -> dict[str | None, Sums]:
        """`sums` per value of the keyword field `group_by`; `None` holds documents without it.
        With `name_field`, each group's `name` is that field in its newest document having it."""
        ...

    def documents(self, data_stream: str, doc_ids: Sequence[str]) -> dict[str, Mapping[str, Any]]:
        """The stored source of each id found in `data_stream`."""
        ...

    def dead_letters(
        self, *, data_stream: str | None = None, limit: int = 100
    ) -> list[DeadLetterRecord]:
        """The newest dead letters first."""
        ...


class DeadLetterStore(Protocol):
    def held_letters(
        self, data_stream: str, *, since: datetime | None, until: datetime, page: int
    ) -> Iterator[list[HeldLetter]]:
        """The dead letters of `data_stream` kept at `since <= time < until`, oldest first,
        in pages of at most `page`. Letters released between pages are not met again, and
        one kept again (refused anew) at or after `until` is left for a later run."""
        ...

    def release_letters(self, letters: Sequence[HeldLetter]) -> int:
        """Remove each letter that is still as it was read; how many were removed."""
        ...


class Readable(Protocol):
    def reader(self) -> SinkReader:
        """A reader of what this sink stored, on the sink's own connection."""
        ...


class ReadableSink(Sink, Readable, DeadLetterStore, Protocol):
    """A sink that can be read back, replays its dead letters, and closes at the end of a
    `with` block: what the commands open from the settings."""

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
