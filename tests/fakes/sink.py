"""A sink in memory that records every call in order, and fails where a test tells it to."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from poller.documents.model import Document, Rejected
from poller.sinks import REJECTED_STATUS, DeadLetter, WriteReport


@dataclass
class RecordingSink:
    """`calls` lists each call as "write 2", "reject 1", "save_state org/stream", ...

    `load_error` is raised by every `load_state`. Each entry of `write_errors` decides one
    `write`, in order: an exception is raised before anything is stored, None lets it pass;
    writes after the last entry pass. `states` holds what was saved, `saved`
    every save in order, `documents` what was written.
    """

    load_error: BaseException | None = None
    write_errors: list[BaseException | None] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    states: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    saved: list[tuple[str, Mapping[str, Any]]] = field(default_factory=list)
    documents: list[Document] = field(default_factory=list)

    def write(self, documents: Sequence[Document]) -> WriteReport:
        self.calls.append(f"write {len(documents)}")
        error = self.write_errors.pop(0) if self.write_errors else None
        if error is not None:
            raise error
        self.documents.extend(documents)
        return WriteReport(created=len(documents))

    def reject(self, items: Sequence[Rejected]) -> tuple[DeadLetter, ...]:
        self.calls.append(f"reject {len(items)}")
        return tuple(
            DeadLetter(item.doc.doc_id, item.doc.data_stream, REJECTED_STATUS, item.reason)
            for item in items
        )

    def load_state(self, key: str) -> Mapping[str, Any] | None:
        self.calls.append(f"load_state {key}")
        if self.load_error is not None:
            raise self.load_error
        return self.states.get(key)

    def save_state(self, key: str, state: Mapping[str, Any]) -> None:
        self.calls.append(f"save_state {key}")
        self.states[key] = state
        self.saved.append((key, state))

    def probe(self) -> bool:
        return True

    def close(self) -> None:
        self.calls.append("close")

    def __enter__(self) -> RecordingSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
