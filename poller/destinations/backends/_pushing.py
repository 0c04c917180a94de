"""The delivery loop of the metric destinations that push (remote write, OTLP).

Documents go in requests of `batch_size`. For each: count what they add (`tally`), send it,
and once the receiver acknowledged, save the state, so a failure in a later request never sends
the earlier ones again. The state is saved after the send: a crash between the two sends that
request again on restart (at least once; remote write stamps it identically, so a receiver
takes it as the same samples).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Protocol

from poller.destinations._dimensions import Labeler
from poller.destinations._tally import Tally, tally
from poller.destinations.backends._context import (
    Counting,
    DestinationContext,
    Saved,
    counting_codec,
    state_key,
)
from poller.documents.model import Document
from poller.errors import PollerError

__all__ = ["CountingSettings", "PushLoop", "Send"]

# Sends a request's increments; may keep more in the state's `extra`. Returns how many of the
# documents the receiver refused for good, and its word for why.
Send = Callable[[Tally, Counting], tuple[int, str]]


class CountingSettings(Protocol):
    """What a pushing metric destination's settings say about counting and batching."""

    @property
    def dimensions(self) -> tuple[str, ...]: ...

    @property
    def max_series(self) -> int: ...

    @property
    def batch_size(self) -> int: ...


class PushLoop:
    def __init__(
        self, context: DestinationContext, name: str, settings: CountingSettings
    ) -> None:
        self._context = context
        self._labeler = Labeler(context.org, settings.dimensions)
        self._batch_size = settings.batch_size
        self._state: Saved[Counting] = Saved(
            context.state, state_key(context.org, name), *counting_codec(settings.max_series)
        )
        self._report = context.reporter(name, counting=True)
        self._lock = threading.Lock()

    def deliver(self, documents: Sequence[Document], send: Send) -> None:
        with self._lock:
            try:
                for first in range(0, len(documents), self._batch_size):
                    self._request(documents[first : first + self._batch_size], send)
            except PollerError:
                self._report.delivered(False)
                raise
        self._report.delivered(True)

    def _request(self, documents: Sequence[Document], send: Send) -> None:
        now = self._context.clock()
        state = self._state.load().working_copy(now, self._context.retention)
        counted = tally(documents, state.ledger, state.book, self._labeler, now=now)
        refused, why = send(counted, state) if counted.deltas else (0, "")
        self._state.save(state)
        self._report.tallied(counted)
        if refused:
            self._report.refused(refused, why)
