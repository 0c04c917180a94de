"""`state rebuild`: derive each stream's state from the documents the sink holds, on purpose.

For a state that was lost, is unreadable, or says something impossible (a position after now):
the poller refuses to collect from it and names this command as the fix.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from poller.coverage import Shape
from poller.errors import ConfigError
from poller.rebuild import RebuildTarget, rebuild_state
from poller.settings import Settings
from poller.sinks import ReadableSink
from poller.state import StreamState, state_key

from .when import parse_streams

__all__ = ["rebuild_targets", "state_rebuild"]


def rebuild_targets(settings: Settings, args: argparse.Namespace) -> tuple[RebuildTarget, ...]:
    """The streams `--org` and `--streams` name; validated before any sink is opened."""
    orgs = [settings.org(args.org)] if args.org else list(settings.orgs)
    targets = tuple(
        RebuildTarget(
            org.name,
            name,
            org.stream(name).spec.data_stream(org.namespace),
            org.organization_id or org.name,
            settings.neighbours(org.name),
        )
        for org in orgs
        for name in parse_streams(args.streams, org.streams)
    )
    if not targets:
        raise ConfigError(f"--streams: {args.streams!r} names no stream")
    return targets


def state_rebuild(targets: tuple[RebuildTarget, ...], sink: ReadableSink, *, now: int) -> int:
    """Replace each stream's state by what its stored documents describe; one line each."""
    reader = sink.reader()
    for target in targets:
        state = rebuild_state(reader, target, now=now)
        sink.save_state(state_key(target.org, target.stream), state.to_json())
        print(f"{target.org}/{target.stream}: {_describe(state)}", file=sys.stderr)
    return 0


def _describe(state: StreamState) -> str:
    if state.coverage.segments:
        return "; ".join(
            f"{_iso(seg.start)}..{_iso(seg.end)} at {_shape(seg.shape)}"
            for seg in state.coverage.segments
        )
    if state.high_water is not None:
        return f"high-water mark {_iso(state.high_water)}"
    if state.last_slot is not None:
        return f"last slot {_iso(state.last_slot)}"
    return "nothing stored: collection starts afresh"


def _shape(shape: Shape) -> str:
    return f"{shape.describe()}, org id {shape.organization_id}"


def _iso(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
