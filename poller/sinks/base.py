"""The sink contract: write documents exactly once in effect, and keep cursor state beside them.

A sink acknowledges a batch only when every document in it is durably stored: created, revised
in place, found unchanged, or kept in the dead-letter store because the sink refused it for good.
Anything else raises, so the caller never moves a cursor past an unacknowledged write.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from poller.documents.model import Document, Rejected

__all__ = ["REJECTED_STATUS", "DeadLetter", "Sink", "WriteReport"]

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

    def close(self) -> None: ...
