"""The delivery loop of the destinations that append events (Splunk HEC, Loki).

An event store cannot replace what it holds, so each version of a document is sent once: the
ledger keeps the digest of the version sent per document id, and a repeat (a re-read bucket
that did not change, an audit event in the overlap of two windows) is not sent again, while a
revision is sent as a new event (searches take the newest event of each `doc_id`). Requests
of `batch_size` are recorded as sent and the state saved after each acknowledgment; a crash
between the two sends that request again on restart (at least once).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from poller.destinations._dimensions import field_value
from poller.destinations._ledger import Entry, Ledger
from poller.destinations._metrics import bucket_of
from poller.destinations.backends._context import DestinationContext, PerStream, Saved, by_stream
from poller.documents.model import Document
from poller.errors import PollerError
from poller.sinks import canonical_json

__all__ = ["EventLoop", "Send", "epoch_nanos", "event_line"]

# Sends one request of documents; returns how many the receiver refused for good, and why.
Send = Callable[[Sequence[Document]], tuple[int, str]]


def epoch_nanos(doc: Document) -> int:
    """The document's `@timestamp` (a bucket's start, an event's time) in Unix nanoseconds."""
    value = field_value(doc.source, "@timestamp")
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"document {doc.doc_id} has no valid @timestamp") from None
    whole = int(moment.replace(microsecond=0).timestamp())
    return whole * 1_000_000_000 + moment.microsecond * 1000


def event_line(doc: Document) -> str:
    """The document as one line of compact JSON, keys sorted."""
    return canonical_json(doc.source)


def _end(doc: Document) -> int:
    """When the document stops being re-read from: its bucket's end, or its own time."""
    bucket = bucket_of(doc)
    return bucket.end if bucket is not None else epoch_nanos(doc) // 1_000_000_000


def _digest(doc: Document) -> str:
    return hashlib.sha256(event_line(doc).encode()).hexdigest()[:32]


def _decode(data: Mapping[str, Any] | None) -> Ledger[str]:
    return Ledger() if data is None else Ledger.from_json(data["ledger"], str)


def _encode(ledger: Ledger[str]) -> dict[str, Any]:
    return {"ledger": ledger.to_json(str)}


class EventLoop:
    def __init__(self, context: DestinationContext, name: str, batch_size: int) -> None:
        self._context = context
        self._batch_size = batch_size
        self._states: PerStream[Ledger[str]] = PerStream(context, name, (_decode, _encode))
        self._report = context.reporter(name, counting=False)

    def deliver(self, documents: Sequence[Document], send: Send) -> None:
        sent = False
        try:
            for stream, taken in by_stream(documents):
                saved, lock = self._states[stream]
                with lock:
                    sent |= self._deliver(saved, taken, send)
        except PollerError:
            self._report.delivered(False)
            raise
        self._report.delivered(True, contacted=sent)

    def _deliver(
        self, saved: Saved[Ledger[str]], documents: Sequence[Document], send: Send
    ) -> bool:
        """Whether anything was sent."""
        ledger = saved.load().copy()
        ledger.prune(self._context.clock(), self._context.retention)
        fresh: list[tuple[Document, Entry[str]]] = []
        pruned = 0
        for doc in documents:
            entry = Entry(doc.stream, _end(doc), _digest(doc))
            sent = ledger.get(doc.doc_id)
            if sent is None and ledger.pruned(doc.stream, entry.end):
                pruned += 1
            elif sent is None or sent.value != entry.value:
                fresh.append((doc, entry))
        self._report.pruned(pruned)
        for first in range(0, len(fresh), self._batch_size):
            chunk = fresh[first : first + self._batch_size]
            refused, why = send([doc for doc, _ in chunk])
            for doc, entry in chunk:
                ledger.put(doc.doc_id, entry)
            saved.save(ledger)
            ledger = ledger.copy()  # the saved one is never changed again
            if refused:
                self._report.refused(refused, why)
        if not fresh:
            saved.save(ledger)  # what was pruned
        return bool(fresh)
