"""The lease loop of one replica: announce itself, renew what it holds, give up what is beyond
its fair share, take free orgs up to it.

Every `interval` (a third of the TTL by default, so two missed rounds still keep a lease) the
keeper writes its heartbeat into the roster, counts the live replicas N, and aims at
ceil(M / N) of the M orgs. A replica that joins makes the others release their extras, which it
takes on its next round; one that dies stops renewing, its leases and heartbeat expire after the
TTL, and the others take its orgs on their next round: an org is uncollected for at most the
TTL plus one interval. Where the store knows a holder died (the embedded store: its file lock
is free), its orgs are free and it stops counting at once: they pass on the next round.

An org's jobs ask `held(org)` before each cycle: the lease as long as it has not expired on this
replica's clock, else None. A round that cannot reach the store changes nothing; leases then
simply run out, and collection stops where it could no longer be fenced.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from poller.errors import PollerError
from poller.leases._model import Lease, LeaseStore

__all__ = ["KeeperOptions", "LeaseKeeper"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KeeperOptions:
    holder: str
    ttl: float
    interval: float

    def __post_init__(self) -> None:
        if self.ttl <= 0 or self.interval <= 0:
            raise ValueError("the lease TTL and renew interval must be positive")
        if self.interval >= self.ttl:
            raise ValueError("the lease renew interval must be shorter than its TTL")


class LeaseKeeper:
    """Holds this replica's share of `orgs`. `on_change(org, held)` is told each time a lease is
    taken or lost (metrics)."""

    def __init__(
        self,
        store: LeaseStore,
        orgs: Sequence[str],
        options: KeeperOptions,
        *,
        clock: Callable[[], float] = time.time,
        on_change: Callable[[str, bool], None] | None = None,
    ) -> None:
        self._store = store
        self._orgs = tuple(orgs)
        self.options = options
        self._clock = clock
        self._on_change = on_change
        self._lock = threading.Lock()
        self._held: dict[str, Lease] = {}
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._failure: Exception | None = None

    @property
    def failure(self) -> Exception | None:
        """Why the last round could not reach the store (None once one could): an org without
        its lease is then not idle but failing, and its jobs say so, as they would without
        leases when the sink is down."""
        return self._failure

    def held(self, org: str) -> Lease | None:
        with self._lock:
            lease = self._held.get(org)
        return lease if lease is not None and lease.held_at(self._clock()) else None

    def tick(self) -> None:
        """One round; a store that cannot be reached leaves the leases to run out."""
        try:
            held = self._round()
        except Exception as exc:  # the loop must go on; the leases then run out
            text = str(exc) if isinstance(exc, PollerError) else type(exc).__name__
            log.warning("leases: %s; holding on to unexpired leases until the store answers",
                        text, exc_info=not isinstance(exc, PollerError))
            self._failure = exc
            return
        self._failure = None
        self._set(held)

    def _round(self) -> dict[str, Lease]:
        opts, store = self.options, self._store
        live = set(store.announce(opts.holder, opts.ttl))
        replicas = max(1, len(live - (store.gone(self._orgs) - {opts.holder})))
        share = math.ceil(len(self._orgs) / replicas)
        now = self._clock()
        records = store.holders(self._orgs)
        held: dict[str, Lease] = {}
        for org in self._orgs:
            record = records.get(org)
            if record is None or record.holder != opts.holder:
                continue
            lease = store.renew(org, opts.holder, opts.ttl) if record.held_at(now) else None
            if lease is not None:
                held[org] = lease
            else:  # ran out (the store was away): let go of what still ties it here (a lock)
                store.release(org, opts.holder)
        for org in sorted(held, key=self._preference, reverse=True)[: max(0, len(held) - share)]:
            store.release(org, opts.holder)
            del held[org]
            log.info("leases: released %s to rebalance over %d replicas", org, replicas)
        free = [org for org in self._orgs if org not in held and _free(records.get(org), now)]
        for org in sorted(free, key=self._preference):
            if len(held) >= share:
                break
            lease = store.acquire(org, opts.holder, opts.ttl)
            if lease is not None:
                held[org] = lease
        return held

    def _preference(self, org: str) -> str:
        """Each replica prefers orgs in its own order, so they rarely race for the same one."""
        return hashlib.sha256(f"{self.options.holder}\0{org}".encode()).hexdigest()

    def _set(self, held: dict[str, Lease]) -> None:
        with self._lock:
            before, self._held = set(self._held), held
        for org in sorted(set(held) - before):
            log.info("leases: took %s (fencing token %d)", org, held[org].token)
        for org in sorted(before - set(held)):
            log.info("leases: no longer holds %s; another replica collects it", org)
        if self._on_change is not None:
            for org in self._orgs:
                self._on_change(org, org in held)

    def start(self) -> None:
        """A first round now (so a lone replica collects from its first cycle), then one every
        interval in a daemon thread."""
        self.tick()
        self._thread = threading.Thread(target=self._loop, name="lease-keeper", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.options.interval):
            self.tick()

    def stop(self) -> None:
        """Stop renewing and give every lease up, so the other replicas take over at once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.options.interval + 30)
        with self._lock:
            held, self._held = list(self._held), {}
        try:
            for org in held:
                self._store.release(org, self.options.holder)
            self._store.withdraw(self.options.holder)
        except PollerError as exc:
            log.warning("leases: could not release on shutdown (%s); they expire after the TTL",
                        exc)


def _free(record: Lease | None, now: float) -> bool:
    return record is None or not record.held_at(now)
