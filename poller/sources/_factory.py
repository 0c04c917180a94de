"""Which source a stream's kind collects with, in a daemon cycle and in a backfill."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from poller.pipeline import Source
from poller.settings import StreamConfig
from poller.sources import allocation, audit, buckets, governance, rate_limits, spend
from poller.sources._base import BackfillWindow, OrgAccess
from poller.sources.allocation import RowMemory
from poller.streams import StreamKind

__all__ = ["backfill_source", "cycle_source"]

_CYCLE: Final[Mapping[StreamKind, Callable[[OrgAccess, StreamConfig, int], Source]]] = {
    StreamKind.USAGE: buckets.cycle_source,
    StreamKind.COSTS: buckets.cycle_source,
    StreamKind.AUDIT: audit.cycle_source,
    StreamKind.RATE_LIMITS: rate_limits.cycle_source,
    StreamKind.SPEND: spend.cycle_source,
    StreamKind.GOVERNANCE: governance.cycle_source,
}
_BACKFILL: Final[
    Mapping[StreamKind, Callable[[OrgAccess, StreamConfig, BackfillWindow], Source]]
] = {
    StreamKind.USAGE: buckets.backfill_source,
    StreamKind.COSTS: buckets.backfill_source,
    StreamKind.AUDIT: audit.backfill_source,
    StreamKind.RATE_LIMITS: rate_limits.backfill_source,
    StreamKind.SPEND: spend.backfill_source,
    StreamKind.GOVERNANCE: governance.backfill_source,
}


def cycle_source(
    access: OrgAccess, stream: StreamConfig, now: int, memory: RowMemory | None = None
) -> Source:
    """What one daemon cycle of `stream` fetches at `now`. `memory` is the sink, where the
    allocated-cost stream remembers its past splits."""
    if stream.spec.kind is StreamKind.ALLOCATION:
        return allocation.cycle_source(access, stream, now, _needed(memory))
    return _CYCLE[stream.spec.kind](access, stream, now)


def backfill_source(
    access: OrgAccess, stream: StreamConfig, window: BackfillWindow, memory: RowMemory | None = None
) -> Source:
    """What `backfill --since --until [--bucket-width]` fetches for `stream`."""
    if stream.spec.kind is StreamKind.ALLOCATION:
        return allocation.backfill_source(access, stream, window, _needed(memory))
    return _BACKFILL[stream.spec.kind](access, stream, window)


def _needed(memory: RowMemory | None) -> RowMemory:
    if memory is None:
        raise ValueError("the allocated_costs source needs the sink to remember its splits")
    return memory
