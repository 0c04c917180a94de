"""Leases and the replica roster on top of compare-and-set records (`Cells`).

Every change is a conditional write of what was just read, so two replicas racing for one org
cannot both win: the loser's write finds another version and it answers None. A lease record is
never deleted, only expired: its token must survive a release, or the next holder would start
again at 1 below fences already written. Should it be lost anyway (damaged, deleted, rolled
back), the next holder's token still passes every fence on the org's cursors (`fenced`).

The roster is one record mapping each replica to the moment its heartbeat expires; replicas
that stop announcing themselves drop out of it after their TTL.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Protocol

from poller.leases._model import Cells, Lease

__all__ = ["ROSTER_KEY", "CellLeases", "LockedLeases", "OrgLocking", "lease_key"]

log = logging.getLogger(__name__)

ROSTER_KEY: Final = "replicas"
# A roster write loses to another replica's about as often as replicas announce at once.
_ROSTER_ATTEMPTS: Final = 8


def lease_key(org: str) -> str:
    """Org names hold no `/` and no `:`, and state keys always hold a `/`: no key is both."""
    return f"lease:{org}"


class CellLeases:
    """`LeaseStore` over any `Cells`. `clock` gives Unix seconds; replicas compare expiries
    written by each other, so their clocks should agree to well within the TTL (NTP does).
    `fenced(org)` is the highest fencing token on the org's cursors: a new holder's token
    passes it, whatever the lease record says (damaged, deleted, restored from a snapshot)."""

    def __init__(
        self,
        cells: Cells,
        *,
        clock: Callable[[], float] = time.time,
        close: Callable[[], None] | None = None,
        fenced: Callable[[str], int] = lambda org: 0,
    ) -> None:
        self._cells = cells
        self._clock = clock
        self._close = close
        self._fenced = fenced

    def acquire(self, org: str, holder: str, ttl: float) -> Lease | None:
        return self._take(org, holder, ttl, mine_only=False)

    def renew(self, org: str, holder: str, ttl: float) -> Lease | None:
        return self._take(org, holder, ttl, mine_only=True)

    def take_over(self, org: str, holder: str, ttl: float) -> Lease | None:
        """Take `org` whoever holds it: only for a caller that knows the holder is gone (the
        embedded store's file lock proves it)."""
        return self._take(org, holder, ttl, mine_only=False, force=True)

    def _take(
        self, org: str, holder: str, ttl: float, *, mine_only: bool, force: bool = False
    ) -> Lease | None:
        if ttl <= 0:
            raise ValueError("a lease TTL must be positive")
        value, version = self._cells.read(lease_key(org))
        now = self._clock()
        current = Lease.from_json(org, value)
        ours = current is not None and current.holder == holder
        if mine_only and not ours:
            return None
        if current is not None and not ours and current.held_at(now) and not force:
            return None
        if current is not None and ours:
            token = current.token
        else:
            if current is None and version is not None:
                log.warning("leases: the record of %s is damaged; taking it over above every "
                            "fencing token on its cursors", org)
            token = max(0 if current is None else current.token, self._fenced(org)) + 1
        lease = Lease(org, holder, token, now + ttl)
        return lease if self._cells.write(lease_key(org), lease.to_json(), version) else None

    def now(self) -> float:
        return self._clock()

    def release(self, org: str, holder: str) -> None:
        value, version = self._cells.read(lease_key(org))
        current = Lease.from_json(org, value)
        if current is None or current.holder != holder:
            return
        expired = Lease(org, holder, current.token, 0.0)
        self._cells.write(lease_key(org), expired.to_json(), version)

    def holders(self, orgs: Sequence[str]) -> dict[str, Lease]:
        found = self._cells.read_many([lease_key(org) for org in orgs])
        leases = {org: Lease.from_json(org, found.get(lease_key(org), (None, None))[0])
                  for org in orgs}
        return {org: lease for org, lease in leases.items() if lease is not None}

    def gone(self, orgs: Sequence[str]) -> set[str]:
        return set()

    def announce(self, holder: str, ttl: float) -> list[str]:
        return self._change_roster(lambda members, now: {**members, holder: now + ttl})

    def withdraw(self, holder: str) -> None:
        self._change_roster(lambda members, now: {k: v for k, v in members.items()
                                                  if k != holder})

    def replicas(self) -> list[str]:
        value, _ = self._cells.read(ROSTER_KEY)
        return sorted(_live(value, self._clock()))

    def _change_roster(
        self, change: Callable[[dict[str, float], float], dict[str, float]]
    ) -> list[str]:
        for _ in range(_ROSTER_ATTEMPTS):
            value, version = self._cells.read(ROSTER_KEY)
            now = self._clock()
            members = change(_live(value, now), now)
            if self._cells.write(ROSTER_KEY, {"members": members}, version):
                return sorted(members)
        return self.replicas()

    def close(self) -> None:
        if self._close is not None:
            self._close()


def _live(value: Mapping[str, Any] | None, now: float) -> dict[str, float]:
    members = value.get("members") if value else None
    if not isinstance(members, Mapping):
        return {}
    return {str(k): float(v) for k, v in members.items()
            if isinstance(v, int | float) and not isinstance(v, bool) and v > now}


class OrgLocking(Protocol):
    """Per-org locks that only one live process can hold (the embedded store's `flock`s)."""

    def try_lock(self, org: str) -> bool: ...

    def held(self, org: str) -> bool: ...

    def is_free(self, org: str) -> bool: ...

    def unlock(self, org: str) -> None: ...

    def close(self) -> None: ...


class LockedLeases:
    """Leases that also need the org's lock: taking it is the proof the previous holder is gone
    (dead, or released), so the lease passes at once, whatever its recorded expiry; a holder
    that still runs keeps it, paused or not."""

    def __init__(self, leases: CellLeases, locks: OrgLocking) -> None:
        self._leases = leases
        self._locks = locks

    def acquire(self, org: str, holder: str, ttl: float) -> Lease | None:
        if not self._locks.try_lock(org):
            return None
        lease = self._leases.take_over(org, holder, ttl)
        if lease is None:
            self._locks.unlock(org)
        return lease

    def renew(self, org: str, holder: str, ttl: float) -> Lease | None:
        if not self._locks.held(org):
            return None
        lease = self._leases.renew(org, holder, ttl)
        if lease is None:
            self._locks.unlock(org)
        return lease

    def release(self, org: str, holder: str) -> None:
        try:
            self._leases.release(org, holder)
        finally:
            self._locks.unlock(org)

    def holders(self, orgs: Sequence[str]) -> dict[str, Lease]:
        """A lease whose lock nobody holds is shown expired: its holder is gone."""
        found = self._leases.holders(orgs)
        return {org: lease if not self._locks.is_free(org) else
                Lease(org, lease.holder, lease.token, min(lease.expires, 0.0))
                for org, lease in found.items()}

    def gone(self, orgs: Sequence[str]) -> set[str]:
        """A holder whose unexpired lease's lock is free died (a clean release expires the
        record first): the others need not wait for its heartbeat to run out."""
        now = self._leases.now()
        return {lease.holder for org, lease in self._leases.holders(orgs).items()
                if lease.held_at(now) and self._locks.is_free(org)}

    def announce(self, holder: str, ttl: float) -> list[str]:
        return self._leases.announce(holder, ttl)

    def withdraw(self, holder: str) -> None:
        self._leases.withdraw(holder)

    def close(self) -> None:
        self._locks.close()
        self._leases.close()
