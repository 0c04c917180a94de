"""The delivery loop of the metric destinations that push (remote write, OTLP).

Documents go in requests of `batch_size`. For each: count what they add (`tally`), build the
request, and save the state *with the request in it* before sending (write-ahead): what it
counts is then recorded as sent, and the request itself as not yet acknowledged. Once the
receiver acknowledged, the state is saved without it, so a failure in a later request never
sends the earlier ones again.

A request whose answer never came (a timeout, a reset, a crash) may or may not have been taken.
The next delivery of the stream sends that same request again, byte for byte, before anything
else, and only then counts what is new against a ledger that already holds the request's
numbers. So a revision that arrives meanwhile is sent as a revision, never as a different
value for the samples the receiver may hold: remote write's receivers take the repeat as the
same samples (exactly once in effect), while OTLP's add the repeat again if they had taken it
(at least once).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any, Protocol

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

__all__ = ["CountingSettings", "Push", "PushLoop"]

# The key, in a stream's state, of the request sent but not yet acknowledged.
PENDING = "pending"


class Push(Protocol):
    """How a destination turns increments into a request, and sends one."""

    def prepare(self, stream: str, counted: Tally, state: Counting) -> bytes:
        """The request body of `counted`, one stream's increments; may keep more in the
        stream's state (`state.extra`), which is saved with the body before it is sent."""
        ...

    def post(self, body: bytes, documents: int) -> tuple[int, str]:
        """Send `body`, counting `documents`; how many of them (or, for OTLP, data points) the
        receiver refused for good, and its word for why. Raises when it did not answer."""
        ...


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

    def deliver(self, documents: Sequence[Document], push: Push) -> None:
        sent = False
        try:
            for stream, taken in by_stream(documents):
                saved, lock = self._states[stream]
                with lock:
                    for first in range(0, len(taken), self._batch_size):
                        chunk = taken[first : first + self._batch_size]
                        sent |= self._request(stream, saved, chunk, push)
        except PollerError:
            self._report.delivered(False)
            raise
        self._report.delivered(True, contacted=sent)

    def _request(
        self, stream: str, saved: Saved[Counting], documents: Sequence[Document], push: Push
    ) -> bool:
        """Whether a request was sent: none is when nothing is pending and the documents add
        nothing."""
        now = self._context.clock()
        state = saved.load().working_copy(now, self._context.retention)
        sent = self._send_pending(saved, state, push)
        counted = tally(documents, state.ledger, state.book, self._labeler, now=now)
        if counted.deltas:
            body = push.prepare(stream, counted, state)
            pending = {"body": base64.b64encode(body).decode("ascii"), "documents": counted.changed}
            saved.save(Counting(state.ledger, state.book, {**state.extra, PENDING: pending}))
            self._post(saved, state, push, pending)
        else:
            saved.save(state)
        self._report.tallied(counted)
        return sent or bool(counted.deltas)

    def _send_pending(self, saved: Saved[Counting], state: Counting, push: Push) -> bool:
        """Send again the request whose answer never came, as it was; whether there was one.
        `state` (a working copy) is left without it."""
        pending = state.extra.pop(PENDING, None)
        if pending is None:
            return False
        self._post(saved, state, push, pending)
        return True

    def _post(
        self, saved: Saved[Counting], state: Counting, push: Push, pending: dict[str, Any]
    ) -> None:
        refused, why = push.post(base64.b64decode(pending["body"]), int(pending["documents"]))
        saved.save(state)
        if refused:
            self._report.refused(refused, why)
