"""The delivery loop of the metric destinations that push (remote write, OTLP).

Documents go in requests of `batch_size`. For each: count what they add (`tally`), send it,
and once the receiver acknowledged, save the state, so a failure in a later request never sends
the earlier ones again. The state is saved after the send: a crash between the two sends that
request again on restart (at least once; remote write stamps it identically, so a receiver
takes it as the same samples).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from poller.destinations._dimensions import Labeler
from poller.destinations._tally import SeriesLimit, Tally, tally
from poller.destinations.backends._context import (
    Counting,
    DestinationContext,
    PerStream,
    Saved,
    by_stream,
    counting_codec,
)
from poller.documents.model import Document
from poller.errors import PollerError

__all__ = ["CountingSettings", "PushLoop", "Send"]

# Sends a request's increments of one stream; may keep more in the stream's state (`extra`).
# Returns how many of the documents the receiver refused for good, and its word for why.
Send = Callable[[str, Tally, Counting], tuple[int, str]]


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
        self._states: PerStream[Counting] = PerStream(
            context, name, counting_codec(SeriesLimit(settings.max_series))
        )
        self._report = context.reporter(name, counting=True)

    def deliver(self, documents: Sequence[Document], send: Send) -> None:
        sent = False
        try:
            for stream, taken in by_stream(documents):
                saved, lock = self._states[stream]
                with lock:
                    for first in range(0, len(taken), self._batch_size):
                        chunk = taken[first : first + self._batch_size]
                        sent |= self._request(stream, saved, chunk, send)
        except PollerError:
            self._report.delivered(False)
            raise
        self._report.delivered(True, contacted=sent)

    def _request(
        self, stream: str, saved: Saved[Counting], documents: Sequence[Document], send: Send
    ) -> bool:
        """Whether a request was sent: nothing is, when the documents add nothing."""
        now = self._context.clock()
        state = saved.load().working_copy(now, self._context.retention)
        counted = tally(documents, state.ledger, state.book, self._labeler, now=now)
        refused, why = send(stream, counted, state) if counted.deltas else (0, "")
        saved.save(state)
        self._report.tallied(counted)
        if refused:
            self._report.refused(refused, why)
        return bool(counted.deltas)
