"""An interrupted snapshot: the simulator fails requests part way through a rate-limit snapshot.

`backfill --streams rate_limits` takes one snapshot of every active project's limits (one list
of projects, then one page per project). With 30 % of requests answered 500 and no retries,
most runs fail, many of them after some projects' pages were served: those are the interrupted
snapshots. After every run the store holds the slot whole (every active project's every limit,
with the simulator's values) or not at all; runs go on until one succeeds and a few after it,
and the store then equals the truth exactly: 0 duplicated, 0 lost, each stored slot whole (one
slot, or two when the runs cross the hour a slot lasts).
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from drill_support import (
    Check,
    SqliteStore,
    poller_env,
    record,
    run_to_end,
    scan_for_secrets,
    simulator_with,
)

pytestmark = pytest.mark.drill

RATE_LIMITS_PATH = "/v1/organization/projects/{project_id}/rate_limits"
LIMIT = 30  # runs at most; with seed 3 the first success comes well before
AFTER = 3  # runs after the first success: a failed one must not touch the stored slot


def _truth(org: Any) -> Counter[tuple[str, str, int, int]]:
    active = [p for p in org.directory.projects if p.get("status") != "archived"]
    return Counter(
        (p["id"], limit["model"], limit["max_requests_per_1_minute"],
         limit["max_tokens_per_1_minute"])
        for p in active for limit in org.directory.project_rate_limits[p["id"]]
    )


Limits = Counter[tuple[str, str, int, int]]


def _stored(store: Path) -> dict[str, Limits]:
    """The stored limits of each slot (`collected_at`)."""
    slots: dict[str, Limits] = {}
    if not store.exists():
        return slots
    for doc in SqliteStore(store).documents("rate_limits"):
        limit = doc["openai"]["rate_limits"]
        slots.setdefault(limit["collected_at"], Counter())[
            (limit["project_id"], limit["model"], limit["max_requests_per_1_minute"],
             limit["max_tokens_per_1_minute"])] += 1
    return slots


def test_an_interrupted_snapshot_is_written_whole_or_not_at_all(tmp_path: Path) -> None:
    store, log = tmp_path / "store.sqlite3", tmp_path / "poller.log"
    with simulator_with("500=0.1", seed=3, size="medium") as sim:
        truth = _truth(sim.org)
        env = poller_env(sim.base_url, store)
        env["POLLER_ORG_DEFAULTS__RETRY__MAX_ATTEMPTS"] = "1"
        cmd = [sys.executable, "-m", "poller", "backfill", "--since", "1h",
               "--streams", "rate_limits"]
        outcomes: list[tuple[int, int, dict[str, Limits]]] = []
        successes = 0
        while len(outcomes) < LIMIT and successes <= AFTER:
            sim.app.stats.reset()
            code = run_to_end(cmd, env, log)
            served = sim.stats()["requests"].get(RATE_LIMITS_PATH, {}).get("200", 0)
            outcomes.append((code, served, _stored(store)))
            successes += code == 0
    failures = sum(1 for code, _, _ in outcomes if code != 0)
    first_success = next(i for i, (code, _, _) in enumerate(outcomes) if code == 0)
    interrupted = [served for code, served, _ in outcomes if code and served]
    final = outcomes[-1][2]
    found = sum(sum(slot.values()) for slot in final.values())
    check = Check(expected=sum(truth.values()) * len(final), found=found,
                  duplicates=sum(n - 1 for slot in final.values() for n in slot.values()
                                 if n > 1))
    check.mismatches += [f"slot {at}: {sum(slot.values())} limits, truth {sum(truth.values())}"
                         for at, slot in final.items() if slot != truth]
    record("interrupted snapshot", failures, check,
           f"runs={len(outcomes)} interrupted mid-snapshot={len(interrupted)}")

    assert interrupted, "no run failed part way through the snapshot: pick another seed"
    for code, _, stored in outcomes[:first_success]:
        assert code == 1 and stored == {}  # a failed snapshot wrote nothing
    for _, _, stored in outcomes[first_success:]:
        assert stored and all(slot == truth for slot in stored.values())  # whole, once each
    assert len(final) in (1, 2)  # one slot, two if the runs crossed an hour
    assert check.mismatches == [] and check.duplicates == 0 and check.lost == 0
    assert check.found == check.expected
    assert scan_for_secrets(paths=(tmp_path,)) == []
