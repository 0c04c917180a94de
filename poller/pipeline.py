"""Source → sink → state: the one loop that moves documents and then, only then, cursors.

A source yields batches of documents together with what committing each batch does to the
stream's state. The loop writes a batch, and only when the sink has acknowledged every document
in it does it apply the batch's state change and save it (elastic/connectors: "only update sync
cursor after a successful content sync"). A failed write raises before the state moves, so a
restart fetches the same data again, and deterministic ids make that harmless.

With `read_ahead`, the source runs one batch ahead, in a helper thread (`_ReadAhead`): while
the sink writes batch N, the next page is fetched and mapped, so the waits on the API and the
sink's C code (SQLite, zlib, sockets; they release the interpreter lock) overlap the poller's own
Python work. Writes and commits stay in order, in the calling thread. At most two batches are
alive at once (one being written, one being fetched): read-ahead costs one page of memory, never
more. `backfill` uses it (one stream after the other, so nothing else overlaps its waits); the
daemon does not, as its jobs already run side by side and a page more per job would raise its
peak (measured on the large org: +150 MiB and more, for little time gained).

Memory: each usage page is reserved in the process's results budget (`poller.client`'s
`ResultsBudget`) before it is requested and released once its batch is committed or dropped. The
read-ahead charges the batch it hands over until it is committed, so the page fetched meanwhile
waits when both would not fit. A stop request ends a wait for the budget: the run stops there,
before the batch it was for, as it stops after any committed batch.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from poller.client import PROCESS_BUDGET, BudgetStopped, Hold, ResultsBudget, stop_waits
from poller.destinations import FanOut
from poller.documents.model import Document, Rejected
from poller.errors import PollerError
from poller.redaction import redact
from poller.sinks import Sink, WriteReport
from poller.state import StreamState, load_stream_state, state_key

__all__ = ["Batch", "RunReport", "Source", "keep_state", "run_source"]

log = logging.getLogger(__name__)


def keep_state(state: StreamState) -> StreamState:
    """A batch's default `advance`: acknowledging it moves nothing."""
    return state


@dataclass(frozen=True)
class Batch:
    """Documents to write, and what acknowledging them does to the state (by default nothing:
    e.g. the pages of an audit window before its last)."""

    documents: Sequence[Document]
    advance: Callable[[StreamState], StreamState] = keep_state
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
    read_ahead: bool = False,
    budget: ResultsBudget = PROCESS_BUDGET,
) -> RunReport:
    """Drain `source` into `sink`, committing state after each acknowledged batch.

    With `destinations`, a batch the sink acknowledged is delivered to each of them too, and
    the cursor moves only once every one acknowledged it. Stops early, after a complete batch
    and its commit, when `stop` is set. `read_ahead` and `budget` (the one the client's
    pages are reserved in): see the module docstring.
    """
    key = state_key(source.org, source.stream)
    state = load_stream_state(sink, source.org, source.stream)
    written = WriteReport()
    count = 0
    batches = source.batches(state)
    ahead = _ReadAhead(batches, stop, f"read-ahead {key}", budget) if read_ahead else None
    stopped = False
    try:
        with stop_waits(stop):
            for batch in batches if ahead is None else ahead:
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
                    stopped = True
                    break
            else:
                stopped = ahead is not None and not ahead.exhausted  # the helper saw `stop` first
    except BudgetStopped:
        stopped = True  # waiting for the budget, before the next batch: nothing to commit
    except PollerError as exc:
        _record_failure(sink, key, state, clock(), exc)
        raise
    finally:
        if ahead is not None:
            ahead.close()
        else:
            _close(batches)  # a page it still holds leaves the budget now, not at collection
    if stopped:
        log.info("stop requested: %s/%s stopped after a committed batch",
                 source.org, source.stream)
        return RunReport(source.org, source.stream, state, written, count, stopped=True)
    state = state.succeeded(clock())
    sink.save_state(key, state.to_json())
    return RunReport(source.org, source.stream, state, written, count)


_END = object()  # the source has no more batches
_STOPPED = object()  # the helper asked for no more: `stop` was set


class _ReadAhead:
    """Iterates `batches` in a helper thread, at most one batch ahead of the consumer.

    The helper takes one of two slots before it asks for the next batch, and the consumer gives
    one back when it asks for the one after: so the helper fetches batch N+1 while the consumer
    writes batch N, and waits before N+2. Each batch handed over is charged to `budget` until
    the consumer asks for the next one (it is committed) or closes: its page left the client's
    reservation when the helper asked for the next, yet it is still in memory. Everything the
    source raises reaches the consumer in its place in the order, after the batches before it.
    Once `stop` is set the helper asks for nothing more. `close()` (the consumer is done, failed
    or stopped) lets the helper end: a fetch already under way finishes (or fails) and is
    dropped, its generator closed in its own thread; it is not waited for, as a SIGTERM must not
    wait out a slow answer (the helper only reads from the API, it never writes or saves
    anything).
    """

    def __init__(
        self,
        batches: Iterator[Batch],
        stop: threading.Event | None,
        name: str,
        budget: ResultsBudget,
    ) -> None:
        self._batches = batches
        self._stop = stop
        self._budget = budget
        self._slots = threading.Semaphore(2)
        self._ready: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._closed = False
        self._lock = threading.Lock()
        self._held: Hold | None = None  # the charge of the batch the consumer has
        self.exhausted = False  # the source ended: every batch it had was handed over
        self._thread = threading.Thread(target=self._produce, name=name, daemon=True)
        self._thread.start()

    def _produce(self) -> None:
        try:
            with stop_waits(self._stop):
                while True:
                    self._slots.acquire()
                    if self._closed or (self._stop is not None and self._stop.is_set()):
                        self._ready.put(_STOPPED)
                        return
                    batch = next(self._batches, _END)
                    if not isinstance(batch, Batch):
                        self._ready.put(batch)
                        return
                    if not self._hand_over(batch):
                        return
        except BaseException as exc:  # noqa: BLE001 - raised in the consumer, in its place
            self._ready.put(exc)
        finally:
            _close(self._batches)

    def _hand_over(self, batch: Batch) -> bool:
        """Queues `batch` with its charge, unless the consumer closed (the charge would stay)."""
        with self._lock:
            if self._closed:
                return False
            self._ready.put((batch, self._budget.charge(len(batch.documents))))
            return True

    def __iter__(self) -> Iterator[Batch]:
        while True:
            self._let_go()
            item = self._ready.get()
            if isinstance(item, tuple):
                batch, self._held = item
                yield batch
                continue
            if isinstance(item, BaseException):
                raise item
            self._thread.join()
            self.exhausted = item is _END
            return

    def _let_go(self) -> None:
        """The batch the consumer had is committed (or abandoned): a slot and its charge back."""
        if self._held is not None:
            self._held.release()
            self._held = None
            self._slots.release()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._drain()
        self._let_go()
        self._slots.release()

    def _drain(self) -> None:
        """Releases the charges of batches handed over but never taken."""
        while True:
            try:
                item = self._ready.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, tuple):
                item[1].release()


def _close(batches: Iterator[Batch]) -> None:
    close = getattr(batches, "close", None)
    if close is not None:
        close()


def _record_failure(
    sink: Sink, key: str, state: StreamState, at: float, exc: PollerError
) -> None:
    """Note the error beside the last committed position; the position itself never moves."""
    try:
        sink.save_state(key, state.failed(at, redact(str(exc))).to_json())
    except PollerError:
        log.warning("could not record the error for %s: the sink is unavailable too", key)
