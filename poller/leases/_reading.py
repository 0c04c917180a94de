"""The lease records as `status` shows them, read without changing anything: no leases table
or state index is created, nothing is locked.

A record shows what its holder last wrote. On the embedded store a holder killed with -9 keeps
an unexpired record until another replica takes its org (on that replica's next round, since
its file lock is free); the record alone cannot tell, and `status` does not take locks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from poller.leases._model import Cells, Lease
from poller.leases._store import lease_key
from poller.sinks import ElasticsearchSink, ReadableSink, SqliteSink
from poller.sinks.elasticsearch import StateCells
from poller.sinks.sqlite import StoreCells

__all__ = ["LeaseRecord", "LeaseState", "read_leases"]

LeaseState = Literal["held", "expired", "released", "damaged"]


@dataclass(frozen=True)
class LeaseRecord:
    """An org's lease record; `lease` None when the record is not a lease (damaged: the next
    holder's token still passes the cursors' fences)."""

    org: str
    lease: Lease | None

    def state(self, now: float) -> LeaseState:
        if self.lease is None:
            return "damaged"
        if self.lease.held_at(now):
            return "held"
        return "released" if self.lease.expires <= 0 else "expired"

    def to_json(self, now: float) -> dict[str, Any]:
        """`status --json`'s `lease`: holder, fencing token, expiry (ISO 8601), state."""
        lease = self.lease
        expires = None if lease is None or lease.expires <= 0 else datetime.fromtimestamp(
            lease.expires, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        return {"holder": None if lease is None else lease.holder,
                "token": None if lease is None else lease.token,
                "expires": expires, "state": self.state(now)}


def read_leases(sink: ReadableSink, orgs: Sequence[str]) -> list[LeaseRecord]:
    """The record of each of `orgs` that has one, in the order given (none: no replica ever ran
    with `ha.enabled` on this store)."""
    cells, close = _cells(sink)
    try:
        found = cells.read_many([lease_key(org) for org in orgs])
    finally:
        close()
    return [LeaseRecord(org, Lease.from_json(org, found[lease_key(org)][0]))
            for org in orgs if lease_key(org) in found]


def _cells(sink: ReadableSink) -> tuple[Cells, Callable[[], None]]:
    if isinstance(sink, ElasticsearchSink):
        return StateCells(sink.cluster, sink.indices.state), lambda: None
    if isinstance(sink, SqliteSink):
        rows = StoreCells(sink.path, "leases", read_only=True)
        return rows, rows.close
    raise TypeError(f"no lease store for {type(sink).__name__}")
