"""A sink whose cursor writes carry the org's fencing token and are refused from a stale holder.

Each cursor record keeps the token of the last holder that wrote it (`fence`). A save reads the
record, refuses when its fence is higher than this holder's token (a newer holder has taken the
org: this one was paused or cut off past its lease), and writes with the version it read, so a
newer holder's write in between makes it read again. The first load of a cursor under a new
token stamps that token on it before anything is collected: from then on the previous holder
cannot commit that stream even once, though its lease may not have run out on its own clock.

Documents need no fence: their ids are deterministic, so a late write by a stale holder stores
what the new holder stores too. Only a cursor could lose or double data, by moving back or past
what its holder did not write.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from poller.documents.model import Document, Rejected
from poller.leases._model import Cells, Lease, LeaseLostError
from poller.sinks import DeadLetter, ReadableSink, SinkReader, WriteReport
from poller.state import state_key
from poller.streams import STREAM_NAMES

__all__ = ["FENCE_FIELD", "FencedSink", "highest_fence"]

FENCE_FIELD: Final = "fence"
# Conditional writes lost to another writer before giving up: only a stale holder and a new one
# writing the same cursor at once race, and the re-read settles who is newer.
_ATTEMPTS: Final = 4


class FencedSink:
    """`sink` with cursor writes fenced by the lease `lease_of(org)` returns (None: not held).
    Documents, dead letters and reads go straight to `sink`."""

    def __init__(
        self,
        sink: ReadableSink,
        cursors: Cells,
        lease_of: Callable[[str], Lease | None],
    ) -> None:
        self._sink = sink
        self._cursors = cursors
        self._lease_of = lease_of

    def write(self, documents: Sequence[Document]) -> WriteReport:
        return self._sink.write(documents)

    def reject(self, items: Sequence[Rejected]) -> tuple[DeadLetter, ...]:
        return self._sink.reject(items)

    def reader(self) -> SinkReader:
        return self._sink.reader()

    def probe(self) -> bool:
        return self._sink.probe()

    def close(self) -> None:
        self._sink.close()

    def load_state(self, key: str) -> Mapping[str, Any] | None:
        lease = self._lease_of(_org(key))
        if lease is None:
            return self._sink.load_state(key)
        for _ in range(_ATTEMPTS):
            value, version = self._cursors.read(key)
            if value is None:
                return self._sink.load_state(key) if version is not None else None
            fence = _check(value, lease, key)
            if fence == lease.token:
                return _without_fence(value)
            if self._cursors.write(key, {**value, FENCE_FIELD: lease.token}, version):
                return _without_fence(value)
        raise LeaseLostError(f"{key}: another writer keeps changing the cursor; yielding it")

    def save_state(self, key: str, state: Mapping[str, Any]) -> None:
        lease = self._lease_of(_org(key))
        if lease is None:
            raise LeaseLostError(f"{key}: this replica no longer holds the org's lease")
        for _ in range(_ATTEMPTS):
            value, version = self._cursors.read(key)
            if value is not None:
                _check(value, lease, key)
            if self._cursors.write(key, {**state, FENCE_FIELD: lease.token}, version):
                return
        raise LeaseLostError(f"{key}: another writer keeps changing the cursor; yielding it")


def highest_fence(cursors: Cells, org: str) -> int:
    """The highest fencing token on `org`'s cursors (0 when none is fenced yet)."""
    found = cursors.read_many([state_key(org, stream) for stream in STREAM_NAMES])
    return max((_fence(value) for value, _ in found.values() if value is not None), default=0)


def _org(key: str) -> str:
    return key.partition("/")[0]


def _check(value: Mapping[str, Any], lease: Lease, key: str) -> int:
    fence = _fence(value)
    if fence > lease.token:
        raise LeaseLostError(
            f"{key}: a newer holder (fencing token {fence}) took the org; this replica's "
            f"token {lease.token} may no longer commit"
        )
    return fence


def _fence(value: Mapping[str, Any]) -> int:
    fence = value.get(FENCE_FIELD)
    return fence if isinstance(fence, int) and not isinstance(fence, bool) else 0


def _without_fence(value: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in value.items() if k != FENCE_FIELD}
