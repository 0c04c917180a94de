"""What a backfill shows while it runs: a live bar on a terminal, plain lines elsewhere.

While the bar is drawn, log records go through the bar's console, so a warning is printed
above the bar instead of across it. Off a terminal (a pipe, a CI log), each finished stream is
one plain line, with the documents it wrote and the rate.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from poller.collect import StreamResult

from ._text import plain, safe

__all__ = ["LineProgress", "LiveProgress", "backfill_progress"]

Clock = Callable[[], float]


class LineProgress:
    """One plain line per finished stream, for logs that are read later."""

    def __init__(self, out: TextIO, clock: Clock = time.monotonic) -> None:
        self._out = out
        self._clock = clock
        self._started = clock()
        self._org = ""
        self._total = 0
        self._done = 0

    def org_started(self, org: str, streams: int) -> None:
        self._org, self._total, self._done = org, streams, 0
        self._started = self._clock()

    def stream_done(self, result: StreamResult) -> None:
        self._done += 1
        took = max(self._clock() - self._started, 1e-9)
        outcome = "failed" if result.error is not None else f"{result.written.total} documents"
        print(plain(f"backfill: {result.org}/{result.stream} {outcome}; "
                    f"{self._done}/{self._total} streams of {self._org} in {took:.0f}s"),
              file=self._out, flush=True)


class LiveProgress:
    """A bar per org: streams done, documents written, documents per second, time left."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task: TaskID | None = None
        self._documents = 0

    def org_started(self, org: str, streams: int) -> None:
        self._documents = 0
        self._task = self._progress.add_task(safe(org), total=streams, documents=0, rate="")

    def stream_done(self, result: StreamResult) -> None:
        if self._task is None:
            return
        self._documents += result.written.total
        elapsed = self._progress.tasks[self._task].elapsed or 0.0
        rate = f"{self._documents / elapsed:,.0f} docs/s" if elapsed > 0 else ""
        self._progress.update(self._task, advance=1, documents=self._documents, rate=rate,
                              description=safe(f"{result.org}: {result.stream}"))


def _live(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[documents]:,} docs {task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
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
    """A live bar when `out` (stderr) is a terminal, else plain lines."""
    out = out if out is not None else sys.stderr
    if not out.isatty():
        yield LineProgress(out)
        return
    console = Console(file=out)
    with _logs_through(console), _live(console) as progress:
        yield LiveProgress(progress)
