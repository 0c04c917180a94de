"""The leases of the daemon's sink, built from the settings: where they are stored, the keeper
that holds this replica's share, and the sink whose cursor writes they fence."""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial

from poller.leases._fencing import FencedSink, highest_fence
from poller.leases._keeper import KeeperOptions, LeaseKeeper
from poller.leases._model import Cells, LeaseStore
from poller.leases._store import CellLeases, LockedLeases
from poller.settings import Settings
from poller.sinks import ElasticsearchSink, ReadableSink, SqliteSink
from poller.sinks.elasticsearch import StateCells
from poller.sinks.sqlite import OrgLocks, StoreCells

__all__ = ["HaParts", "default_holder", "open_ha"]


def default_holder() -> str:
    """Unique per process even when two replicas share a host name (pods of one node, a
    restarted container keeping its name): the name, the pid and a random suffix."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class HaParts:
    """The keeper holding this replica's leases, and the sink the org jobs write through."""

    keeper: LeaseKeeper
    sink: FencedSink


@contextmanager
def open_ha(
    settings: Settings,
    sink: ReadableSink,
    *,
    on_change: Callable[[str, bool], None] | None = None,
    clock: Callable[[], float] = time.time,
) -> Iterator[HaParts | None]:
    """None when `ha.enabled` is off. Started: the first round has run (a lone replica holds
    every lease); on exit the keeper stops and gives its leases up."""
    ha = settings.ha
    if not ha.enabled:
        yield None
        return
    options = KeeperOptions(ha.holder or default_holder(), ha.lease_ttl.total_seconds(),
                            ha.interval_seconds)
    with ExitStack() as stack:
        store, cursors = _stores(sink, clock, stack)
        stack.callback(store.close)
        keeper = LeaseKeeper(store, [o.name for o in settings.orgs], options, clock=clock,
                             on_change=on_change)
        keeper.start()
        stack.callback(keeper.stop)
        yield HaParts(keeper, FencedSink(sink, cursors, keeper.held))


def _stores(
    sink: ReadableSink, clock: Callable[[], float], stack: ExitStack
) -> tuple[LeaseStore, Cells]:
    if isinstance(sink, ElasticsearchSink):
        leases = StateCells(sink.cluster, sink.indices.state)
        cursors = StateCells(sink.cluster, sink.indices.state, refresh=True)
        return CellLeases(leases, clock=clock, fenced=partial(highest_fence, cursors)), cursors
    if isinstance(sink, SqliteSink):
        rows = StoreCells(sink.path, "leases")
        state_rows = StoreCells(sink.path, "state")
        stack.callback(state_rows.close)
        return LockedLeases(CellLeases(rows, clock=clock, close=rows.close,
                                       fenced=partial(highest_fence, state_rows)),
                            OrgLocks(sink.path)), state_rows
    raise TypeError(f"no lease store for {type(sink).__name__}")
