"""What collecting does when something fails: one daemon cycle of a stream, and a backfill.

How far a failure reaches decides what happens next (`PollerError.scope`, see
`poller.errors`). A stream-scoped error is recorded on its stream (`run_source` saves it as the
stream's `last_error`) and the other streams go on. An org-scoped error (OpenAI refusing the
key, the sink unreachable or refusing) would meet every stream alike, so a backfill stops with
that one error instead of one identical error per stream; the cursor stays at the last
acknowledged batch, and running again resumes there. A daemon cycle is one stream's job: it
records any failure and the next cycle tries again. `StopRequested` (SIGTERM during a retry
wait) is no failure: the run ends and nothing is recorded.

Before a stream collects, its state is checked (`_prepare`): unreadable or impossible state
(a position after now) is a `StateError` of that stream, never a position; a stream with no
state at all takes the state its stored documents describe (`poller.rebuild`), and a backfill
refuses a window stored in another shape than it asks for, which it would store twice.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from functools import reduce
from operator import add
from types import FrameType
from typing import Any, Protocol, runtime_checkable

from poller.destinations.backends import DestinationMetrics
from poller.documents.model import Document, Rejected
from poller.errors import PollerError, StopRequested
from poller.pipeline import RunReport, run_source
from poller.rebuild import RebuildTarget, check_backfill, rebuild_state
from poller.runtime import OrgRuntime, Templates, check_sink, org_destinations, org_runtime
from poller.settings import OrgSettings, StreamConfig
from poller.sinks import DeadLetter, Sink, SinkReader, WriteReport
from poller.sources import BackfillWindow, OrgAccess, backfill_source, cycle_source
from poller.sources.buckets import canonical_group_by
from poller.state import (
    StreamState,
    check_position,
    load_stream_state,
    saved_state,
    state_key,
)
from poller.streams import StreamKind

__all__ = [
    "BackfillProgress",
    "BackfillRequest",
    "BackfillResult",
    "StreamProgress",
    "StreamResult",
    "backfill",
    "backfill_org",
    "cycle",
    "stop_on_signals",
]

log = logging.getLogger(__name__)

Clock = Callable[[], float]


@dataclass(frozen=True)
class StreamResult:
    """How one stream's run ended: with a report (complete, or stopped after a committed
    batch), with a stream-scoped error, or with neither (stopped during a retry wait)."""

    org: str
    stream: str
    report: RunReport | None = None
    error: PollerError | None = None

    @property
    def written(self) -> WriteReport:
        return self.report.written if self.report is not None else WriteReport()

    @property
    def stopped(self) -> bool:
        """A stop request ended the run before its end."""
        return self.report.stopped if self.report is not None else self.error is None


def cycle(
    access: OrgAccess,
    stream: StreamConfig,
    sink: Sink,
    *,
    now: int,
    stop: threading.Event | None = None,
    clock: Clock = time.time,
) -> StreamResult:
    """One daemon cycle of `stream` as of `now`. Raises nothing the poller raises on purpose:
    an error of any scope is this stream's, the next cycle tries again."""
    try:
        _prepare(sink, access, stream, now=now)
        source = cycle_source(access, stream, now, memory=sink)
        report = run_source(source, sink, stop=stop, clock=clock,
                            destinations=access.destinations)
    except StopRequested:
        log.info("cycle %s/%s stopped while waiting to retry", access.org, stream.name)
        return StreamResult(access.org, stream.name)
    except PollerError as exc:
        # The daemon logs each failure as one short, rate-limited line; the whole text here.
        log.debug("cycle %s/%s failed: %s", access.org, stream.name, exc)
        return StreamResult(access.org, stream.name, error=exc)
    return StreamResult(access.org, stream.name, report=report)


@dataclass(frozen=True)
class BackfillRequest:
    """A validated backfill: the window, and the streams to collect per org; `templates`:
    check the index templates before the first write (None: the caller did)."""

    window: BackfillWindow
    jobs: tuple[tuple[OrgSettings, tuple[str, ...]], ...]
    templates: Templates | None = None
    # `Settings.neighbours` per org name: the other orgs writing the same namespace.
    neighbours: Mapping[str, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class BackfillResult:
    """Every stream that ran, in order; `interrupted` when a stop request ended it early."""

    streams: tuple[StreamResult, ...]
    interrupted: bool = False

    @property
    def written(self) -> WriteReport:
        return reduce(add, (r.written for r in self.streams), WriteReport())

    @property
    def failures(self) -> int:
        return sum(r.error is not None for r in self.streams)


@dataclass(frozen=True)
class StreamProgress:
    """Where one stream's backfill stands after a committed batch: of the window
    `[since, until)`, `done` seconds are collected (usage and costs: the window less its
    gaps; audit and snapshots: up to `position`), with `documents` acknowledged so far."""

    org: str
    stream: str
    since: int
    until: int
    done: int = 0
    position: int | None = None
    documents: int = 0

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / (self.until - self.since)) if self.until > self.since else 1.0

    def after(self, state: StreamState, documents: int) -> StreamProgress:
        since, until = self.since, self.until
        if state.coverage.end is not None:
            done = (until - since) - sum(b - a for a, b in state.coverage.gaps(since, until))
        else:
            done = 0 if state.position is None else min(until, state.position) - since
        return replace(self, done=max(0, done), position=state.position, documents=documents)


class BackfillProgress(Protocol):
    """Told when an org's streams start, after each committed batch of a stream, and when
    each stream finished or failed."""

    def org_started(self, org: str, streams: int) -> None: ...

    def stream_started(self, progress: StreamProgress) -> None: ...

    def advanced(self, progress: StreamProgress) -> None: ...

    def stream_done(self, result: StreamResult) -> None: ...


class _Watched:
    """The sink, telling `progress` where its stream stands at each saved state (the commit
    after an acknowledged batch), with the documents acknowledged so far."""

    def __init__(self, sink: Sink, progress: BackfillProgress, start: StreamProgress) -> None:
        self._sink = sink
        self._progress = progress
        self._now = start

    def write(self, documents: Sequence[Document]) -> WriteReport:
        report = self._sink.write(documents)
        self._now = replace(self._now, documents=self._now.documents + report.total)
        return report

    def reject(self, items: Sequence[Rejected]) -> tuple[DeadLetter, ...]:
        kept = self._sink.reject(items)
        self._now = replace(self._now, documents=self._now.documents + len(kept))
        return kept

    def load_state(self, key: str) -> Mapping[str, Any] | None:
        return self._sink.load_state(key)

    def save_state(self, key: str, state: Mapping[str, Any]) -> None:
        self._sink.save_state(key, state)
        self._now = self._now.after(StreamState.from_json(state), self._now.documents)
        self._progress.advanced(self._now)

    def probe(self) -> bool:
        return self._sink.probe()

    def close(self) -> None:
        self._sink.close()


def backfill(
    request: BackfillRequest,
    sink: Sink,
    *,
    stop: threading.Event,
    progress: BackfillProgress | None = None,
    clock: Clock = time.time,
) -> BackfillResult:
    """Every org's streams over the window. The sink is read once before anything else, so a
    sink that cannot be used, or lacks its index templates, fails before any call to OpenAI
    or any write. Raises the first error that is not stream-scoped."""
    first = next(((org, streams[0]) for org, streams in request.jobs if streams), None)
    if first is not None:
        # A ValueError (state that is not JSON) means the sink answered: the stream's own run
        # reports its unreadable state as one line.
        with suppress(ValueError):
            check_sink(sink, first[0].name, first[1])
        if request.templates is not None:
            request.templates.ensure(sink, {s for _, streams in request.jobs for s in streams})
    results: list[StreamResult] = []
    destination_metrics = DestinationMetrics()
    for org, streams in request.jobs:
        if stop.is_set():
            break
        with (org_runtime(org, stop=stop, fail_fast=True,
                          neighbours=request.neighbours.get(org.name, frozenset())) as bare,
              org_destinations(bare, sink, destination_metrics, stop) as rt):
            done = backfill_org(
                rt, sink, streams, request.window, stop=stop, progress=progress, clock=clock
            )
        results += done.streams
    if isinstance(sink, _Refreshable):
        sink.refresh_written()
    return BackfillResult(tuple(results), interrupted=stop.is_set())


def backfill_org(
    rt: OrgRuntime,
    sink: Sink,
    streams: Sequence[str],
    window: BackfillWindow,
    *,
    stop: threading.Event | None = None,
    progress: BackfillProgress | None = None,
    clock: Clock = time.time,
) -> BackfillResult:
    """One org's `streams` over the window, one after the other; raises the first error
    that is not stream-scoped."""
    org = rt.settings.name
    stop = stop if stop is not None else threading.Event()
    if progress is not None:
        progress.org_started(org, len(streams))
    results: list[StreamResult] = []
    for name in streams:
        if stop.is_set():
            break
        config = rt.settings.stream(name)
        try:
            _prepare(sink, rt.access, config, now=window.now, backfill=window)
            target = sink
            if progress is not None:
                start = StreamProgress(org, name, window.since, window.until)
                start = start.after(load_stream_state(sink, org, name), 0)
                progress.stream_started(start)
                target = _Watched(sink, progress, start)
            source = backfill_source(rt.access, config, window, memory=sink)
            report = run_source(source, target, stop=stop, clock=clock,
                                destinations=rt.access.destinations, read_ahead=True)
        except StopRequested:
            results.append(StreamResult(org, name))
            break  # stopped during a retry wait; the stop event is set
        except PollerError as exc:
            if exc.scope != "stream":
                raise
            log.error("backfill %s/%s failed: %s", org, name, exc)
            result = StreamResult(org, name, error=exc)
        else:
            written = report.written
            log.info("backfill %s/%s: %d created, %d updated, %d unchanged, %d dead-lettered",
                     org, name, written.created, written.updated, written.unchanged,
                     len(written.dead_lettered))
            result = StreamResult(org, name, report=report)
        results.append(result)
        if progress is not None:
            progress.stream_done(result)
    return BackfillResult(tuple(results), interrupted=stop.is_set())


@runtime_checkable
class _Refreshable(Protocol):
    """A sink whose writes become searchable later (Elasticsearch): a backfill ends with them
    searchable, so a `report` right after it reads what it wrote."""

    def refresh_written(self) -> None: ...


@runtime_checkable
class _Readable(Protocol):
    def reader(self) -> SinkReader: ...


def _prepare(
    sink: Sink,
    access: OrgAccess,
    stream: StreamConfig,
    *,
    now: int,
    backfill: BackfillWindow | None = None,
) -> None:
    """Check the stream's saved state, or derive it from the stored documents when there is
    none; raises StateError instead of collecting from a state that would lose or double data.
    A rebuilt state is saved only when the run may go on, so a refused backfill changes
    nothing and asks for a deliberate `state rebuild`."""
    org, name = access.org, stream.name
    state = saved_state(sink, org, name)
    if state is None and isinstance(sink, _Readable):
        target = RebuildTarget(
            org,
            name,
            stream.spec.data_stream(access.context.namespace),
            access.context.organization_id,
            access.neighbours,
        )
        state = rebuild_state(sink.reader(), target, now=now)
        bucketed = stream.spec.kind in (StreamKind.USAGE, StreamKind.COSTS)
        if backfill is not None and bucketed:
            check_backfill(
                state.coverage,
                target,
                span=(backfill.since, backfill.until),
                width=stream.spec.fixed_width or backfill.width,
                group_by=canonical_group_by(name, stream.group_by),
            )
        if state.position is not None:
            log.warning("%s/%s had no state: rebuilt from the stored documents up to %d",
                        org, name, state.position)
            sink.save_state(state_key(org, name), state.to_json())
    if state is not None:
        check_position(state, org=org, stream=name, now=now)


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM/SIGINT set `stop`: a backfill finishes the current page and its commit, then
    ends. Only the main thread can take signals; elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def handle(signum: int, frame: FrameType | None) -> None:
        log.warning("signal %d: stopping after the current page", signum)
        stop.set()

    for sig in previous:
        signal.signal(sig, handle)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
