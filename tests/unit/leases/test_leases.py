"""Leases over compare-and-set records: exclusive, tokens only grow, the keeper's fair share,
and fencing of cursor writes (a stale holder's save is refused)."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Hashable, Mapping, Sequence
from contextlib import closing
from functools import partial
from pathlib import Path
from typing import Any, cast

import pytest
from fakes import FakeClock, RecordingSink

from poller.errors import SinkUnavailableError
from poller.leases import (
    FENCE_FIELD,
    CellLeases,
    FencedSink,
    KeeperOptions,
    Lease,
    LeaseKeeper,
    LeaseLostError,
    LockedLeases,
    Versioned,
    highest_fence,
)
from poller.sinks import ReadableSink
from poller.sinks.sqlite import SqliteSink, StoreCells

TTL = 30.0


class MemoryCells:
    """Records in a dict, versioned by a counter; `fail` makes every call raise."""

    def __init__(self) -> None:
        self.records: dict[str, tuple[dict[str, Any], int]] = {}
        self._versions = itertools.count(1)
        self.fail = False

    def read(self, key: str) -> Versioned:
        self._check()
        found = self.records.get(key)
        return (dict(found[0]), found[1]) if found else (None, None)

    def read_many(self, keys: Sequence[str]) -> dict[str, Versioned]:
        return {k: self.read(k) for k in keys if k in self.records}

    def write(self, key: str, value: Mapping[str, Any], expected: Hashable | None) -> bool:
        self._check()
        current = self.records.get(key)
        if (current[1] if current else None) != expected:
            return False
        self.records[key] = (dict(value), next(self._versions))
        return True

    def _check(self) -> None:
        if self.fail:
            raise SinkUnavailableError("the store is away")


def test_a_lease_is_exclusive_until_it_expires_and_the_token_grows_with_each_holder() -> None:
    clock = FakeClock()
    leases = CellLeases(MemoryCells(), clock=clock)
    first = leases.acquire("acme", "a", TTL)
    assert first == Lease("acme", "a", 1, clock.now + TTL)
    assert leases.acquire("acme", "b", TTL) is None
    assert leases.renew("acme", "b", TTL) is None
    clock.advance(10)
    assert leases.renew("acme", "a", TTL) == Lease("acme", "a", 1, clock.now + TTL)
    clock.advance(TTL)
    taken = leases.acquire("acme", "b", TTL)
    assert taken is not None and taken.token == 2
    assert leases.renew("acme", "a", TTL) is None
    leases.release("acme", "b")
    assert leases.holders(["acme", "beta"]) == {"acme": Lease("acme", "b", 2, 0.0)}
    again = leases.acquire("acme", "a", TTL)
    assert again is not None and again.token == 3


def test_a_lost_race_takes_nothing() -> None:
    cells = MemoryCells()
    leases = CellLeases(cells, clock=FakeClock())
    value, version = cells.read("lease:acme")
    assert leases.acquire("acme", "a", TTL) is not None
    # b read the free record before a wrote it: its conditional write fails.
    assert cells.write("lease:acme", {"holder": "b", "token": 1, "expires": 1e12},
                       version) is False
    assert value is None


def test_the_roster_keeps_live_replicas_only() -> None:
    clock = FakeClock()
    leases = CellLeases(MemoryCells(), clock=clock)
    assert leases.announce("a", TTL) == ["a"]
    clock.advance(20)
    assert leases.announce("b", TTL) == ["a", "b"]
    clock.advance(15)
    assert leases.replicas() == ["b"]
    leases.withdraw("b")
    assert leases.replicas() == []


class Locks:
    """File locks as the kernel keeps them: one holder per org, freed when it dies."""

    def __init__(self, owners: dict[str, str], me: str) -> None:
        self.owners, self.me = owners, me

    def try_lock(self, org: str) -> bool:
        return self.owners.setdefault(org, self.me) == self.me

    def held(self, org: str) -> bool:
        return self.owners.get(org) == self.me

    def is_free(self, org: str) -> bool:
        return org not in self.owners

    def unlock(self, org: str) -> None:
        if self.held(org):
            del self.owners[org]

    def close(self) -> None:
        for org in [o for o, who in self.owners.items() if who == self.me]:
            del self.owners[org]


def test_a_free_lock_proves_the_holder_gone_and_passes_the_lease_before_its_expiry() -> None:
    clock, cells, owners = FakeClock(), MemoryCells(), dict[str, str]()
    a = LockedLeases(CellLeases(cells, clock=clock), Locks(owners, "a"))
    b = LockedLeases(CellLeases(cells, clock=clock), Locks(owners, "b"))
    assert a.acquire("acme", "a", TTL) is not None
    assert b.acquire("acme", "b", TTL) is None  # a runs (paused or not): its lock holds
    assert b.holders(["acme"])["acme"].held_at(clock.now)
    a.close()  # a dies: the kernel frees its lock
    assert not b.holders(["acme"])["acme"].held_at(clock.now)
    taken = b.acquire("acme", "b", TTL)
    assert taken is not None and taken.token == 2


def _keeper(cells: MemoryCells, clock: FakeClock, holder: str, orgs: list[str],
            changes: list[tuple[str, bool]] | None = None) -> LeaseKeeper:
    return LeaseKeeper(
        CellLeases(cells, clock=clock), orgs, KeeperOptions(holder, TTL, TTL / 3), clock=clock,
        on_change=None if changes is None else lambda org, held: changes.append((org, held)),
    )


ORGS = ["o1", "o2", "o3", "o4", "o5"]


def _held(keeper: LeaseKeeper) -> set[str]:
    return {org for org in ORGS if keeper.held(org) is not None}


def test_replicas_share_the_orgs_fairly_and_take_over_a_dead_ones_within_ttl_and_a_round() -> None:
    clock, cells = FakeClock(), MemoryCells()
    a = _keeper(cells, clock, "a", ORGS)
    a.tick()
    assert _held(a) == set(ORGS)  # a lone replica holds everything
    b = _keeper(cells, clock, "b", ORGS)
    b.tick()  # b announced itself: nothing is free yet
    assert _held(b) == set()
    clock.advance(10)
    a.tick()  # a sees two replicas: keeps ceil(5/2) = 3, releases 2
    b.tick()
    assert len(_held(a)) == 3 and len(_held(b)) == 2
    assert _held(a) | _held(b) == set(ORGS) and not _held(a) & _held(b)
    # a dies (stops ticking). Its leases run out after TTL; b's next round takes them.
    died = clock.now
    for _ in range(5):
        clock.advance(10)
        b.tick()
        if _held(b) == set(ORGS):
            break
    assert _held(b) == set(ORGS)
    assert clock.now - died <= TTL + TTL / 3
    tokens = {org: cast(Lease, b.held(org)).token for org in ORGS}
    assert tokens == dict.fromkeys(ORGS, 2)  # every org passed from a to b once


def test_an_unreachable_store_keeps_leases_only_until_they_expire() -> None:
    clock, cells = FakeClock(), MemoryCells()
    changes: list[tuple[str, bool]] = []
    a = _keeper(cells, clock, "a", ["o1"], changes)
    a.tick()
    assert changes == [("o1", True)]
    assert not _failing(a)
    cells.fail = True
    clock.advance(TTL - 1)
    a.tick()
    assert a.held("o1") is not None
    assert _failing(a)  # the daemon's jobs count it as their cycle's failure
    clock.advance(1)
    assert a.held("o1") is None
    cells.fail = False
    a.tick()
    assert not _failing(a) and a.held("o1") is not None


def _failing(keeper: LeaseKeeper) -> bool:
    return keeper.failure is not None


def test_stop_releases_so_another_replica_takes_over_at_once() -> None:
    clock, cells = FakeClock(), MemoryCells()
    a = _keeper(cells, clock, "a", ["o1"])
    a.tick()
    a.stop()
    b = _keeper(cells, clock, "b", ["o1"])
    b.tick()
    lease = b.held("o1")
    assert lease is not None and lease.token == 2


# --- fencing -----------------------------------------------------------------------------------


def _fenced(cells: MemoryCells, lease: Sequence[Lease | None]) -> FencedSink:
    return FencedSink(cast(ReadableSink, RecordingSink()), cells, lambda org: lease[0])


def test_a_stale_holder_cannot_commit_once_the_new_holder_stamped_the_cursor() -> None:
    cells = MemoryCells()
    old = [Lease("acme", "a", 1, 1e12)]
    new = [Lease("acme", "b", 2, 1e12)]
    stale, fresh = _fenced(cells, list(old)), _fenced(cells, list(new))
    stale.save_state("acme/costs", {"high_water": 10})
    assert cells.records["acme/costs"][0] == {"high_water": 10, FENCE_FIELD: 1}
    # The new holder's first load stamps its token before it collects anything.
    assert fresh.load_state("acme/costs") == {"high_water": 10}
    assert cells.records["acme/costs"][0][FENCE_FIELD] == 2
    with pytest.raises(LeaseLostError, match="fencing token 2"):
        stale.save_state("acme/costs", {"high_water": 99})
    fresh.save_state("acme/costs", {"high_water": 20})
    assert cells.records["acme/costs"][0] == {"high_water": 20, FENCE_FIELD: 2}
    with pytest.raises(LeaseLostError):
        stale.load_state("acme/costs")


def test_a_save_without_the_lease_is_refused_and_other_orgs_are_untouched() -> None:
    cells = MemoryCells()
    lease: list[Lease | None] = [None]
    sink = _fenced(cells, lease)
    with pytest.raises(LeaseLostError, match="no longer holds"):
        sink.save_state("acme/costs", {"high_water": 1})
    assert cells.records == {}
    assert sink.load_state("acme/costs") is None  # reading needs no lease


def _locked_keeper(cells: MemoryCells, clock: FakeClock, owners: dict[str, str],
                   holder: str, orgs: list[str]) -> tuple[LeaseKeeper, Locks]:
    locks = Locks(owners, holder)
    store = LockedLeases(CellLeases(cells, clock=clock), locks)
    return LeaseKeeper(store, orgs, KeeperOptions(holder, TTL, TTL / 3), clock=clock), locks


def test_on_the_embedded_store_a_dead_holders_orgs_pass_on_the_next_round_not_after_its_ttl(
) -> None:
    clock, cells, owners = FakeClock(), MemoryCells(), dict[str, str]()
    a, a_locks = _locked_keeper(cells, clock, owners, "a", ["o1", "o2"])
    b, _ = _locked_keeper(cells, clock, owners, "b", ["o1", "o2"])
    a.tick()
    b.tick()
    clock.advance(1)
    a.tick()  # two replicas: a gives one org up, b takes it
    b.tick()
    assert len(_held_of(a)) == 1 and len(_held_of(b)) == 1
    lost = _held_of(a).pop()
    token = cast(Lease, a.held(lost)).token
    clock.advance(1)
    a_locks.close()  # kill -9: the kernel frees a's locks; its lease and heartbeat stay unexpired
    b.tick()  # one round, far within the TTL: a counts no more, and its org is free
    assert _held_of(b) == {"o1", "o2"}
    assert cast(Lease, b.held(lost)).token == token + 1


def test_a_lease_run_out_while_the_store_was_away_lets_its_lock_go() -> None:
    clock, cells, owners = FakeClock(), MemoryCells(), dict[str, str]()
    a, _ = _locked_keeper(cells, clock, owners, "a", ["o1", "o2"])
    a.tick()
    b, _ = _locked_keeper(cells, clock, owners, "b", ["o1", "o2"])
    b.tick()  # b joins; nothing is free
    cells.fail = True
    clock.advance(TTL + 1)  # a cannot renew: its leases run out on its clock, its locks stay
    a.tick()
    cells.fail = False
    b.tick()  # b is alive again: a's orgs look expired, but a's locks still hold them
    assert _held_of(b) == set()
    a.tick()  # a's share is one: it lets the other org's lock go instead of keeping it forever
    b.tick()
    assert len(_held_of(a)) == 1 and len(_held_of(b)) == 1
    assert set(owners) == {"o1", "o2"} and set(owners.values()) == {"a", "b"}


def _held_of(keeper: LeaseKeeper) -> set[str]:
    return {org for org in ("o1", "o2") if keeper.held(org) is not None}


# --- a lost or damaged lease record ------------------------------------------------------------


@pytest.mark.parametrize("damage", [
    {"holder": "a", "token": "7", "expires": 1e12},  # wrong type
    {"holder": None, "token": 7},  # a field missing
    {"unrelated": True},
    None,  # deleted
])
def test_a_damaged_or_lost_lease_record_passes_with_a_token_above_every_fence_on_the_cursors(
    damage: dict[str, Any] | None,
) -> None:
    leases_cells, cursors, clock = MemoryCells(), MemoryCells(), FakeClock()
    old = [Lease("acme", "a", 7, 1e12)]
    _fenced(cursors, old).save_state("acme/costs", {"high_water": 10})
    later = [Lease("acme", "c", 9, 1e12)]
    _fenced(cursors, later).save_state("acme/completions", {"high_water": 3})
    _fenced(cursors, [Lease("beta", "a", 12, 1e12)]).save_state("beta/costs", {"high_water": 1})
    if damage is not None:
        leases_cells.records["lease:acme"] = (damage, 99)
    leases = CellLeases(leases_cells, clock=clock, fenced=partial(highest_fence, cursors))
    taken = leases.acquire("acme", "b", TTL)
    assert taken == Lease("acme", "b", 10, clock.now + TTL)  # above acme's 9, not beta's 12
    new = _fenced(cursors, [taken])
    assert new.load_state("acme/costs") == {"high_water": 10}
    new.save_state("acme/costs", {"high_water": 20})  # the new holder commits
    with pytest.raises(LeaseLostError):
        _fenced(cursors, old).save_state("acme/costs", {"high_water": 11})


def test_an_unparseable_lease_row_in_the_embedded_store_passes_above_the_cursors_fences(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "store.sqlite3")
    SqliteSink(path).close()
    rows, state_rows = StoreCells(path, "leases"), StoreCells(path, "state")
    try:
        assert state_rows.write("acme/costs", {"high_water": 1, FENCE_FIELD: 4}, None)
        with closing(sqlite3.connect(path)) as db, db:
            db.execute("INSERT INTO leases VALUES ('lease:acme', '{\"holder\": \"a\", tok', 'x')")
        clock = FakeClock()
        leases = CellLeases(rows, clock=clock, fenced=partial(highest_fence, state_rows))
        assert leases.acquire("acme", "b", TTL) == Lease("acme", "b", 5, clock.now + TTL)
        assert leases.holders(["acme"]) == {"acme": Lease("acme", "b", 5, clock.now + TTL)}
    finally:
        rows.close()
        state_rows.close()
