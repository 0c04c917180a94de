"""What every destination of one org is built with, and the state a destination saves.

A destination keeps a state per stream in the primary sink's state store, beside the stream's
cursor (`<org>/<stream>/destination:<name>`): a stream's delivery writes only its own, the
org's streams deliver in parallel, and a `backfill` of one stream never overwrites another's.
A state is loaded on the stream's first delivery (so a sink that is down at start delays it
like any write) and saved before a delivery counts as done; a state equal to the one last
saved is not written again, so re-reads that change nothing cost no write.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx

from poller.destinations._contract import StateStore
from poller.destinations._ledger import Ledger, Retention
from poller.destinations._tally import (
    Counted,
    SeriesBook,
    SeriesLimit,
    counted_ledger,
    encode_counted,
)
from poller.destinations.backends._exposition import DestinationMetrics, Reporter
from poller.documents.model import Document
from poller.errors import StateError

__all__ = ["Counting", "DestinationContext", "Saved", "counting_codec", "state_key"]

STATE_VERSION = 1
T = TypeVar("T")


def state_key(org: str, stream: str, name: str) -> str:
    return f"{org}/{stream}/destination:{name}"


@dataclass(frozen=True)
class DestinationContext:
    """`clock` and `sleep` are injectable so tests never wait; `transport` is httpx's (a
    `MockTransport` in tests)."""

    org: str
    state: StateStore
    metrics: DestinationMetrics
    retention: Retention = field(default_factory=Retention)
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    transport: httpx.BaseTransport | None = None

    def reporter(self, name: str, *, counting: bool) -> Reporter:
        return self.metrics.reporter(self.org, name, counting=counting)


Decode = Callable[[Mapping[str, Any] | None], T]
Encode = Callable[[T], dict[str, Any]]


class Saved(Generic[T]):
    """A value kept in the state store under `key`: `decode` reads what was saved (None: nothing
    yet), `encode` gives what to save."""

    def __init__(self, store: StateStore, key: str, decode: Decode[T], encode: Encode[T]) -> None:
        self._store = store
        self._key = key
        self._decode = decode
        self._encode = encode
        self._saved: dict[str, Any] | None = None
        self.current: T | None = None

    def load(self) -> T:
        if self.current is None:
            data = self._store.load_state(self._key)
            try:
                if data is not None and data.get("version") != STATE_VERSION:
                    raise ValueError(f"unknown version {data.get('version')!r}")
                self.current = self._decode(data)
            except (KeyError, TypeError, ValueError) as exc:
                raise StateError(
                    f"the saved state {self._key!r} is unreadable ({exc}); delete it to start "
                    "afresh (what was already delivered would be delivered again)"
                ) from None
            self._saved = None if data is None else dict(data)
        return self.current

    def save(self, value: T) -> None:
        """Save `value` and make it the current one, only once it is saved."""
        payload = {"version": STATE_VERSION, **self._encode(value)}
        if payload != self._saved:
            self._store.save_state(self._key, payload)
            self._saved = payload
        self.current = value


@dataclass
class Counting:
    """A metric destination's state: the ledger, the series book, and what else it keeps."""

    ledger: Ledger[Counted]
    book: SeriesBook
    extra: dict[str, Any] = field(default_factory=dict)

    def working_copy(self, now: float, retention: Retention) -> Counting:
        """A copy to change, without what can no longer come again; the original is never
        changed (a scrape may be reading it)."""
        ledger = self.ledger.copy()
        ledger.prune(now, retention)
        return Counting(ledger, self.book.copy(), dict(self.extra))


def counting_codec(limit: SeriesLimit) -> tuple[Decode[Counting], Encode[Counting]]:
    def decode(data: Mapping[str, Any] | None) -> Counting:
        if data is None:
            return Counting(Ledger(), SeriesBook(limit))
        return Counting(
            counted_ledger(data["ledger"]),
            SeriesBook.from_json(limit, data["series"]),
            dict(data["extra"]),
        )

    def encode(state: Counting) -> dict[str, Any]:
        return {
            "ledger": state.ledger.to_json(encode_counted),
            "series": state.book.to_json(),
            "extra": state.extra,
        }

    return decode, encode


def by_stream(documents: Sequence[Document]) -> Iterator[tuple[str, list[Document]]]:
    """The documents of each stream, streams in order of first appearance."""
    order = {doc.stream: None for doc in documents}
    for stream in order:
        yield stream, [doc for doc in documents if doc.stream == stream]


class PerStream(Generic[T]):
    """A destination's saved state per stream, each behind its own lock."""

    def __init__(
        self, context: DestinationContext, name: str, codec: tuple[Decode[T], Encode[T]]
    ) -> None:
        self._context = context
        self._name = name
        self._codec = codec
        self._states: dict[str, tuple[Saved[T], threading.Lock]] = {}
        self._lock = threading.Lock()

    def __getitem__(self, stream: str) -> tuple[Saved[T], threading.Lock]:
        with self._lock:
            if stream not in self._states:
                key = state_key(self._context.org, stream, self._name)
                saved = Saved(self._context.state, key, *self._codec)
                self._states[stream] = (saved, threading.Lock())
            return self._states[stream]

    def loaded(self) -> Iterable[T]:
        """The current state of every stream loaded so far."""
        with self._lock:
            states = [saved.current for saved, _ in self._states.values()]
        return [state for state in states if state is not None]
