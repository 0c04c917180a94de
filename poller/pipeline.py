"""Source → sink → state: the one loop that moves documents and then, only then, cursors.

A source yields batches of documents together with what committing each batch does to the
stream's state. The loop writes a batch, and only when the sink has acknowledged every document
in it does it apply the batch's state change and save it (elastic/connectors: "only update sync
cursor after a successful content sync"). A failed write raises before the state moves, so a
restart fetches the same data again, and deterministic ids make that harmless.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from poller.destinations import FanOut
from poller.documents.model import Document, Rejected
from poller.errors import PollerError
from poller.redaction import redact
from poller.sinks import Sink, WriteReport
from poller.state import StreamState, load_stream_state, state_key

__all__ = ["Batch", "RunReport", "Source", "run_source"]

log = logging.getLogger(__name__)


def _keep(state: StreamState) -> StreamState:
    return state


@dataclass(frozen=True)
class Batch:
    """Documents to write, and what acknowledging them does to the state (by default nothing:
    e.g. the pages of an audit window before its last)."""

    documents: Sequence[Document]
    advance: Callable[[StreamState], StreamState] = _keep
    rejected: Sequence[Rejected] = ()


class Source(Protocol):
    """Fetches one stream of one org. It plans from the state it is given and never saves it."""

    @property
    def org(self) -> str: ...

    @property
    def stream(self) -> str: ...

    def batches(self, state: StreamState) -> Iterator[Batch]: ...


@dataclass(frozen=True)
class RunReport:
    org: str
    stream: str
    state: StreamState
    written: WriteReport = field(default_factory=WriteReport)
    batches: int = 0
    stopped: bool = False


def run_source(
    source: Source,
    sink: Sink,
    *,
    stop: threading.Event | None = None,
    clock: Callable[[], float] = time.time,
    destinations: FanOut | None = None,
) -> RunReport:
    """Drain `source` into `sink`, committing state after each acknowledged batch.

    With `destinations`, a batch the sink acknowledged is delivered to each of them too, and
    the cursor moves only once every one acknowledged it. Stops early, after a complete batch
    and its commit, when `stop` is set.
    """
    key = state_key(source.org, source.stream)
    state = load_stream_state(sink, source.org, source.stream)
    written = WriteReport()
    count = 0
    try:
        for batch in source.batches(state):
            report = sink.write(batch.documents) if batch.documents else WriteReport()
            if destinations is not None and batch.documents:
                destinations.deliver(batch.documents)
            if batch.rejected:
                report += WriteReport(dead_lettered=sink.reject(batch.rejected))
            state = batch.advance(state)
            sink.save_state(key, state.to_json())
            written += report
            count += 1
            if stop is not None and stop.is_set():
                log.info("stop requested: %s/%s stopped after a committed batch",
                         source.org, source.stream)
                return RunReport(source.org, source.stream, state, written, count, stopped=True)
    except PollerError as exc:
        _record_failure(sink, key, state, clock(), exc)
        raise
    state = state.succeeded(clock())
    sink.save_state(key, state.to_json())
    return RunReport(source.org, source.stream, state, written, count)


def _record_failure(
    sink: Sink, key: str, state: StreamState, at: float, exc: PollerError
) -> None:
    """Note the error beside the last committed position; the position itself never moves."""
    try:
        sink.save_state(key, state.failed(at, redact(str(exc))).to_json())
    except PollerError:
        log.warning("could not record the error for %s: the sink is unavailable too", key)
