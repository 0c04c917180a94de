"""`backfill`: collect a past window once, resumable, never duplicating."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType

from rich.progress import Progress

from poller.errors import (
    ConfigError,
    PollerError,
    StopRequested,
)
from poller.pipeline import run_source
from poller.runtime import check_sink, org_runtime
from poller.settings import OrgSettings, Settings
from poller.sinks import Sink, WriteReport
from poller.streams import BucketWidth

from .when import parse_streams, parse_when

__all__ = ["backfill"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackfillRequest:
    """A validated `backfill` invocation; built before any sink is opened, so bad input
    writes nothing."""

    since: int
    until: int
    now: int
    width: BucketWidth | None
    jobs: tuple[tuple[OrgSettings, tuple[str, ...]], ...]


def backfill_request(settings: Settings, args: argparse.Namespace, *, now: int) -> BackfillRequest:
    since = parse_when(args.since, now=now, flag="--since")
    until = parse_when(args.until, now=now, flag="--until") if args.until else now
    if since > now:  # checked first: with no --until, "before --until" would be misleading
        raise ConfigError(f"--since {args.since!r} is in the future")
    if since >= until:
        raise ConfigError(f"--since must be before --until (got {args.since!r} .. {args.until!r})")
    until = min(until, now)
    width = None if args.bucket_width == "auto" else BucketWidth(args.bucket_width)
    orgs = [settings.org(args.org)] if args.org else list(settings.orgs)
    jobs = tuple((org, parse_streams(args.streams, org.streams)) for org in orgs)
    if args.streams is not None and not any(streams for _, streams in jobs):
        raise ConfigError(f"--streams: {args.streams!r} names no stream")
    return BackfillRequest(since, until, now, width, jobs)


def backfill(request: BackfillRequest, sink: Sink) -> int:
    """Exit 0 only when every requested window was collected and acknowledged.

    A failure that every stream would meet alike (OpenAI refusing the key; the sink
    unreachable, refusing the credentials or full) ends the backfill with that one error
    instead of one identical error per stream; the sink is read once before anything else
    happens, so a sink that cannot be used fails before any call to OpenAI or any write.
    """
    since, until, now, width = request.since, request.until, request.now, request.width
    first = next(((org, streams[0]) for org, streams in request.jobs if streams), None)
    if first is not None:
        check_sink(sink, first[0].name, first[1])
    failures = 0
    total = WriteReport()
    stop = threading.Event()
    progress = Progress(disable=not sys.stderr.isatty(), transient=False)
    with progress, _stop_on_signals(stop):
        for org, streams in request.jobs:
            if stop.is_set():
                break
            with org_runtime(org, stop=stop) as rt:
                task = progress.add_task(f"{org.name}", total=len(streams))
                for name in streams:
                    if stop.is_set():
                        break
                    stream = org.stream(name)
                    source = rt.backfill_source(
                        stream, since=since, until=until, width=width, now=now
                    )
                    try:
                        report = run_source(source, sink, stop=stop)
                    except StopRequested:
                        break  # stopped during a retry wait; the summary says "interrupted"
                    except PollerError as exc:
                        if exc.scope != "stream":
                            # The key, OpenAI or the sink fails every stream alike: stop with
                            # one line (exit 1) instead of one identical error per stream. The
                            # cursor stayed at the last acknowledged batch: running again
                            # resumes there.
                            raise
                        failures += 1
                        log.error("backfill %s/%s failed: %s", org.name, name, exc)
                    else:
                        total += report.written
                        log.info("backfill %s/%s: %d created, %d updated, %d unchanged, "
                                 "%d dead-lettered", org.name, name, report.written.created,
                                 report.written.updated, report.written.unchanged,
                                 len(report.written.dead_lettered))
                    progress.advance(task)
    print(
        f"backfill: {total.created} created, {total.updated} updated, "
        f"{total.unchanged} unchanged, {len(total.dead_lettered)} dead-lettered; "
        f"{failures} stream(s) failed" + ("; interrupted, run it again to resume" if
                                          stop.is_set() else ""),
        file=sys.stderr,
    )
    return 1 if failures or stop.is_set() else 0


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM/SIGINT finish the current page and its commit, then end the backfill (exit 1)."""
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
