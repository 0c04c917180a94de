"""`backfill`: collect a past window once, resumable, never duplicating."""

from __future__ import annotations

import argparse
import sys
import threading

from poller.collect import BackfillRequest, backfill, stop_on_signals
from poller.errors import ConfigError
from poller.runtime import templates_policy
from poller.settings import Settings
from poller.sinks import Sink
from poller.sources import BackfillWindow
from poller.streams import BucketWidth

from ._progress import backfill_progress
from .when import parse_streams, parse_when

__all__ = ["backfill_request", "run_backfill"]


def backfill_request(settings: Settings, args: argparse.Namespace, *, now: int) -> BackfillRequest:
    """The validated request; built before any sink is opened, so bad input writes nothing."""
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
    return BackfillRequest(BackfillWindow(since, until, now, width), jobs,
                           templates_policy(settings),
                           {org.name: settings.neighbours(org.name) for org in settings.orgs})


def run_backfill(request: BackfillRequest, sink: Sink) -> int:
    """Exit 0 only when every requested window was collected and acknowledged.

    SIGTERM/SIGINT finish the current page and its commit, then end the backfill (exit 1). An
    error every stream would meet alike propagates: `main` prints it as one line (exit 1).
    """
    stop = threading.Event()
    with backfill_progress() as progress, stop_on_signals(stop):
        result = backfill(request, sink, stop=stop, progress=progress)
    total = result.written
    print(
        f"backfill: {total.created} created, {total.updated} updated, "
        f"{total.unchanged} unchanged, {len(total.dead_lettered)} dead-lettered; "
        f"{result.failures} stream(s) failed" + ("; interrupted, run it again to resume" if
                                                 result.interrupted else ""),
        file=sys.stderr,
    )
    return 1 if result.failures or result.interrupted else 0
