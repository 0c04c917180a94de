"""`replay-deadletters`: the request from the flags, and one summary line per stream."""

from __future__ import annotations

import argparse
import sys

from poller.replay import ReplayOutcome, ReplayRequest, ReplaySink, replay_dead_letters
from poller.settings import Settings

from ._text import short_error
from .state import rebuild_targets
from .when import parse_when

__all__ = ["replay", "replay_request"]


def replay_request(settings: Settings, args: argparse.Namespace, *, now: int) -> ReplayRequest:
    """Validated before any sink is opened, so bad input writes nothing."""
    since = parse_when(args.since, now=now, flag="--since") if args.since else None
    return ReplayRequest(rebuild_targets(settings, args), since=since)


def replay(request: ReplayRequest, sink: ReplaySink, *, now: float) -> int:
    """Exit 1 when a stream's replay failed or left letters the sink still refuses."""
    outcomes = replay_dead_letters(sink, request, now=now)
    for outcome in outcomes:
        print(_line(outcome), file=sys.stderr)
    replayed = sum(o.replayed for o in outcomes)
    refused = sum(o.still_refused for o in outcomes)
    skipped = sum(sum(o.skipped.values()) for o in outcomes)
    failed = sum(o.error is not None for o in outcomes)
    print(f"replay-deadletters: {replayed} replayed, "
          f"{sum(o.already_stored for o in outcomes)} already stored, {refused} still refused, "
          f"{skipped} skipped; {failed} stream(s) failed", file=sys.stderr)
    return 1 if failed or refused else 0


def _line(outcome: ReplayOutcome) -> str:
    target = outcome.target
    text = (f"{target.org}/{target.stream}: {outcome.replayed} replayed, "
            f"{outcome.already_stored} already stored, {outcome.still_refused} still refused")
    for reason, count in sorted(outcome.skipped.items()):
        text += f", {count} skipped ({reason})"
    if outcome.error is not None:
        text += f"; stopped: {short_error(str(outcome.error))}"
    return text
