"""What a backfill shows while it runs: a bar per stream on a terminal, plain lines elsewhere.

Each stream's progress is the share of the window it has collected (`StreamProgress`): usage
and costs advance bucket by bucket, so a long stream (completions at 1m over 90 days) moves
steadily instead of sitting at 0 % until it is done. Next to it: how far into the window it is,
documents and documents per second, and the time left at the rate so far.

While the bars are drawn, log records go through the bars' console, so a warning is printed
above them instead of across them. Off a terminal (a pipe, a CI log) the same figures are a
plain line per stream every `every` seconds, and one when the stream ends.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn

from poller.collect import StreamProgress, StreamResult

from ._text import human_age, plain, safe

__all__ = ["LineProgress", "LiveProgress", "backfill_progress", "live_display"]

Clock = Callable[[], float]
EVERY_SECONDS = 10.0


def _moment(seconds: int | None) -> str:
    if seconds is None:
        return "start"
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%MZ")


def _rate(documents: int, elapsed: float) -> str:
    return f"{documents / elapsed:,.0f}/s" if elapsed > 0 else "-/s"


def _left(progress: StreamProgress, started: StreamProgress, elapsed: float) -> str:
    """The time left at the pace since the stream started (None-safe: `?` before any)."""
    gained = progress.fraction - started.fraction
    if progress.fraction >= 1.0:
        return "0s"
    if gained <= 0 or elapsed <= 0:
        return "?"
    return human_age(elapsed * (1.0 - progress.fraction) / gained)


class _Streams:
    """Per stream: where it started (a resumed backfill starts part-way) and when."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._started: dict[tuple[str, str], tuple[StreamProgress, float]] = {}

    def start(self, progress: StreamProgress) -> None:
        self._started[(progress.org, progress.stream)] = (progress, self.clock())

    def figures(self, progress: StreamProgress) -> tuple[str, str, str]:
        """(documents per second, time left, how far into the window)."""
        first, at = self._started.get((progress.org, progress.stream), (progress, self.clock()))
        elapsed = self.clock() - at
        return (_rate(progress.documents, elapsed), _left(progress, first, elapsed),
                f"{_moment(progress.position)} of {_moment(progress.since)}.."
                f"{_moment(progress.until)}")

    def elapsed(self, org: str, stream: str) -> float:
        found = self._started.get((org, stream))
        return 0.0 if found is None else self.clock() - found[1]


class LineProgress:
    """Plain lines for logs that are read later: one per stream every `every` seconds while
    it runs, and one when it ends."""

    def __init__(self, out: TextIO, clock: Clock = time.monotonic,
                 every: float = EVERY_SECONDS) -> None:
        self._out = out
        self._streams = _Streams(clock)
        self._every = every
        self._printed = 0.0
        self._org = ""
        self._total = 0
        self._done = 0
        self._documents: dict[str, int] = {}

    def _print(self, text: str) -> None:
        print(plain(text), file=self._out, flush=True)

    def org_started(self, org: str, streams: int) -> None:
        self._org, self._total, self._done = org, streams, 0

    def stream_started(self, progress: StreamProgress) -> None:
        self._streams.start(progress)
        self._printed = self._streams.clock()

    def advanced(self, progress: StreamProgress) -> None:
        self._documents[progress.stream] = progress.documents
        if self._streams.clock() - self._printed < self._every:
            return
        self._printed = self._streams.clock()
        rate, left, at = self._streams.figures(progress)
        self._print(f"backfill: {progress.org}/{progress.stream} {progress.fraction:.0%}, at {at}; "
                    f"{progress.documents:,} documents, {rate}, {left} left")

    def stream_done(self, result: StreamResult) -> None:
        self._done += 1
        took = self._streams.elapsed(result.org, result.stream)
        documents = result.written.total
        outcome = "failed" if result.error is not None else (
            f"{documents} documents, {_rate(documents, took)}")
        self._print(f"backfill: {result.org}/{result.stream} {outcome}; "
                    f"{self._done}/{self._total} streams of {self._org} in {took:.0f}s")


def _span(progress: StreamProgress) -> int:
    return max(1, progress.until - progress.since)


class LiveProgress:
    """A bar per stream: the share of the window collected, where in the window it is,
    documents, documents per second and the time left."""

    def __init__(self, progress: Progress, clock: Clock = time.monotonic) -> None:
        self._progress = progress
        self._streams = _Streams(clock)
        self._tasks: dict[tuple[str, str], TaskID] = {}

    def org_started(self, org: str, streams: int) -> None:
        return  # each stream gets its bar when it starts

    def stream_started(self, progress: StreamProgress) -> None:
        self._streams.start(progress)
        self._tasks[(progress.org, progress.stream)] = self._progress.add_task(
            safe(f"{progress.org}/{progress.stream}"), total=_span(progress),
            completed=progress.done, **self._fields(progress),
        )

    def _fields(self, progress: StreamProgress) -> dict[str, Any]:
        rate, left, at = self._streams.figures(progress)
        return {"at": _moment(progress.position), "documents": f"{progress.documents:,}",
                "rate": rate, "left": left, "window": at}

    def advanced(self, progress: StreamProgress) -> None:
        task = self._tasks.get((progress.org, progress.stream))
        if task is not None:
            self._progress.update(task, completed=progress.done, **self._fields(progress))

    def stream_done(self, result: StreamResult) -> None:
        task = self._tasks.get((result.org, result.stream))
        if task is None:
            return
        if result.error is not None:
            self._progress.update(task, description=safe(f"{result.org}/{result.stream} failed"),
                                  left="-")
        elif not result.stopped:
            total = self._progress.tasks[task].total
            self._progress.update(task, completed=total, left="0s")


def live_display(console: Console) -> Progress:
    """The bars: `org/stream ━━━━  42% at 2026-12-01T06:00Z  1,234 docs 56/s  1m 20s left`."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(bar_width=20),
        TaskProgressColumn(),
        TextColumn("at {task.fields[at]}"),
        TextColumn("{task.fields[documents]} docs {task.fields[rate]}"),
        TextColumn("{task.fields[left]} left"),
        console=console,
        transient=False,
    )


class _ConsoleStream:
    """A file-like stream that prints through a rich console, above its live display."""

    def __init__(self, console: Console) -> None:
        self._console = console

    def write(self, text: str) -> int:
        if text.strip():
            self._console.print(plain(text.rstrip("\n")), markup=False, highlight=False,
                                soft_wrap=True)
        return len(text)

    def flush(self) -> None:
        self._console.file.flush()


@contextmanager
def _logs_through(console: Console) -> Iterator[None]:
    """Route the handlers writing to stderr through `console` while the display is shown.
    Entered before the display starts: rich then replaces `sys.stderr` with a proxy, and a
    handler holding the real stream would write across the bar."""
    stderr = sys.stderr
    handlers = [h for h in logging.getLogger().handlers
                if isinstance(h, logging.StreamHandler) and h.stream is stderr]
    stream = _ConsoleStream(console)
    for handler in handlers:
        handler.setStream(stream)
    try:
        yield
    finally:
        for handler in handlers:
            handler.setStream(stderr)


@contextmanager
def backfill_progress(out: TextIO | None = None) -> Iterator[LiveProgress | LineProgress]:
    """Bars when `out` (stderr) is a terminal, else plain lines."""
    out = out if out is not None else sys.stderr
    if not out.isatty():
        yield LineProgress(out)
        return
    console = Console(file=out)
    with _logs_through(console), live_display(console) as progress:
        yield LiveProgress(progress)
