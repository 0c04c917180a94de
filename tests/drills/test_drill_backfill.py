"""Drills: `python -m poller backfill` as a real process, under API faults, throttling, kill -9
and SIGTERM.

Each drill ends with the store compared exactly to the simulator's settled truth (see conftest):
per usage stream and metric the sums, per stream the document counts, costs' billed total, audit
event ids, and no duplicate rows.
"""

from __future__ import annotations

import random
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from drill_support import (
    backfill_cmd,
    compare,
    count_documents,
    day_window,
    last_commit,
    poller_env,
    record,
    run_to_end,
    scan_for_secrets,
    simulator,
    simulator_with,
    start,
    store_clock,
    wait_until,
    window,
)

from poller.simulator.faults import FAULT_KINDS, FaultInjector, FaultPlan
from poller.streams import STREAM_NAMES, StreamKind, get_stream

pytestmark = pytest.mark.drill

# Every kind the simulator injects, each at 5-6 %: about 37 % of requests fail in some way.
ALL_FAULTS = "429=0.06,500=0.05,502=0.05,503=0.05,timeout=0.05,malformed=0.05,drift=0.06"
LIGHT_FAULTS = "500=0.05,503=0.05,malformed=0.03,drift=0.05"
# The 10 usage streams, costs and audit: the snapshot streams (rate limits, spend controls)
# reconcile in tests/integration/test_collection_e2e.py and test_spend_streams.py.
ALL_STREAMS = [
    s for s in STREAM_NAMES
    if get_stream(s).kind in (StreamKind.USAGE, StreamKind.COSTS, StreamKind.AUDIT)
]
MORE_STREAMS = [
    "completions", "embeddings", "moderations", "images", "audio_speeches", "web_search_calls",
    "vector_stores", "costs", "audit",
]
RETRY_LINE = re.compile(r"attempt \d+ of \d+ failed \(([^)]+)\), retrying")


def _log_tail(log: Path) -> str:
    return log.read_text(errors="replace")[-4000:]


def _statuses(stats: dict[str, object]) -> dict[str, int]:
    """Responses per status, over every path."""
    totals: dict[str, int] = {}
    requests = stats["requests"]
    assert isinstance(requests, dict)
    for counts in requests.values():
        for status, n in counts.items():
            totals[status] = totals.get(status, 0) + n
    return totals


def _retries(log: Path) -> dict[str, int]:
    """The poller's own account of its retries, by reason, from its log lines."""
    reasons: dict[str, int] = {}
    for line in log.read_text(errors="replace").splitlines():
        if (match := RETRY_LINE.search(line)) is not None:
            reasons[match.group(1)] = reasons.get(match.group(1), 0) + 1
    return reasons


def _seed_firing_every_kind(plan: str, draws: int) -> int:
    """The first simulator seed whose first `draws` fault draws include every kind: the backfill
    below is sequential and makes more requests than that, so every kind fires in every run."""
    for seed in range(10_000):
        injector = FaultInjector(FaultPlan.parse(plan), seed)
        if {injector.draw() for _ in range(draws)} >= set(FAULT_KINDS):
            return seed
    raise AssertionError("no seed fires every fault kind")


def test_backfill_under_openai_faults_equals_truth(tmp_path: Path) -> None:
    """Every fault kind at 5-6 % over ~80 requests (daily buckets over 100 days of 12 streams):
    the store equals the truth, every fault was retried exactly once per injection (drift is
    read through), and no retry came before a Retry-After had elapsed."""
    store, log = tmp_path / "store.sqlite3", tmp_path / "poller.log"
    since, until = day_window(100)
    seed = _seed_firing_every_kind(ALL_FAULTS, 45)
    started = time.monotonic()
    with simulator_with(ALL_FAULTS, seed=seed, stall_seconds=5,
                        fault_retry_after_ms=400) as sim:
        env = poller_env(sim.base_url, store)
        # A stalled request (`timeout` fault) is abandoned after 1 s instead of 30 s.
        env.update(POLLER_ORG_DEFAULTS__REQUEST_TIMEOUT="1s",
                   POLLER_ORG_DEFAULTS__RETRY__MAX_ATTEMPTS="12")
        cmd = [*backfill_cmd(since, until, ALL_STREAMS), "--bucket-width", "1d"]
        rc = run_to_end(cmd, env, log, timeout=150)
        took = time.monotonic() - started
        stats = sim.stats()
        assert rc == 0, _log_tail(log)
        check = compare(store, sim.org, ALL_STREAMS, since, until)
    faults = stats["faults"]
    statuses = _statuses(stats)
    retries = _retries(log)
    injected = sum(faults.values())
    record("openai faults (all)", injected, check,
           f"requests={sum(statuses.values())} early_retries={stats['early_retries']}",
           " ".join(f"{k}={v}" for k, v in faults.items()), f"seed={seed} {took:.0f}s")
    assert "Traceback" not in log.read_text(errors="replace")
    assert scan_for_secrets(paths=(tmp_path,)) == []
    assert check.mismatches == []
    assert check.duplicates == 0 and check.lost == 0
    assert check.found == check.expected > 5000
    assert sum(statuses.values()) > 45  # so the seed's first draws were all used
    assert stats["early_retries"] == 0
    assert set(faults) == set(FAULT_KINDS)
    assert all(faults[kind] > 0 for kind in FAULT_KINDS), faults
    # What the simulator answered matches what it injected, status by status...
    for kind in ("429", "500", "502", "503"):
        assert statuses.get(kind, 0) == faults[kind], (kind, statuses)
    # ...and the poller retried each failed request once: a stalled one after its timeout, a
    # truncated body because it did not parse; a drifted body is read, not retried. (A loaded
    # machine may also be slower than the 1 s timeout without a fault: those retry as well.)
    timeouts = retries.pop("ReadTimeout", 0)
    assert retries == {
        "429": faults["429"], "500": faults["500"], "502": faults["502"],
        "503": faults["503"], "malformed": faults["malformed"],
    }, retries
    assert timeouts >= faults["timeout"]


def test_backfill_respects_rate_limit_without_busy_looping(tmp_path: Path) -> None:
    """`--rate-limit 50` (a 50-request bucket refilled at 5/6 per second) against a backfill of
    ~60 requests: every throttled request waits the `retry-after-ms` it was told and is then
    served, so no request is rejected twice and none comes early."""
    store, log = tmp_path / "store.sqlite3", tmp_path / "poller.log"
    since, until = day_window(100)
    rpm = 50.0
    started = time.monotonic()
    with simulator_with(rate_limit_rpm=rpm, seed=5) as sim:
        cmd = [*backfill_cmd(since, until, ALL_STREAMS), "--bucket-width", "1d"]
        rc = run_to_end(cmd, poller_env(sim.base_url, store), log, timeout=150)
        took = time.monotonic() - started
        stats = sim.stats()
        assert rc == 0, _log_tail(log)
        check = compare(store, sim.org, ALL_STREAMS, since, until)
    statuses = _statuses(stats)
    served, throttled = statuses.get("200", 0), statuses.get("429", 0)
    record("rate limit 50 rpm", throttled, check,
           f"served={served} throttled={throttled} early_retries={stats['early_retries']}",
           f"{took:.0f}s")
    assert "Traceback" not in log.read_text(errors="replace")
    assert check.mismatches == []
    assert check.duplicates == 0 and check.lost == 0
    assert check.found == check.expected > 5000
    assert stats["early_retries"] == 0
    assert set(statuses) == {"200", "429"}, statuses
    assert sum(stats["faults"].values()) == 0
    assert stats["rate_limited"] == throttled
    # The bucket holds `rpm` requests and refills while they are served; each request past it
    # was throttled at most once: a client retrying without waiting would be rejected many
    # times per request, and the simulator would have counted far more requests than it served.
    assert served > rpm
    refilled = took * rpm / 60
    assert served - rpm - refilled <= throttled <= served - rpm, (served, throttled, took)
    assert throttled > 0
    assert _retries(log) == {"429": throttled}


def _wait_commit(store: Path, began: str, proc: subprocess.Popen[bytes]) -> None:
    """Until the process committed something after `began`, or ended."""
    wait_until("a commit", lambda: proc.poll() is not None or last_commit(store) >= began,
               30, 0.02)


def test_backfill_survives_kill_9(tmp_path: Path) -> None:
    """Ten SIGKILLs at seeded random moments of a 9-stream hourly backfill of 25 days, each
    followed by a restart; then a run to the end: 0 lost, 0 duplicates. A kill comes either
    early (start-up, first requests) or at a random moment after the run's first commit."""
    store, log = tmp_path / "store.sqlite3", tmp_path / "poller.log"
    since, until = window(25)
    rng = random.Random(9)
    kills = committing = 0
    with simulator(LIGHT_FAULTS, seed=99) as sim:
        env = poller_env(sim.base_url, store)
        cmd = [*backfill_cmd(since, until, MORE_STREAMS), "--bucket-width", "1h"]
        while kills < 10:
            began = store_clock()
            proc = start(cmd, env, log)
            if rng.random() < 0.3:
                time.sleep(rng.uniform(0.2, 1.2))
            else:
                _wait_commit(store, began, proc)
                time.sleep(rng.uniform(0.0, 1.2))
            if proc.poll() is not None:
                break  # finished before the kill: the workload is too small for this drill
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            kills += 1
            committing += last_commit(store) >= began  # killed after committing a page
        before_final = count_documents(store)
        rc = run_to_end(cmd, env, log, timeout=90)
        stats = sim.stats()
        assert rc == 0, _log_tail(log)
        check = compare(store, sim.org, MORE_STREAMS, since, until)
    summary = log.read_text(errors="replace").splitlines()[-1]
    record(f"kill -9 x{kills}", sum(stats["faults"].values()), check,
           f"kills={kills} ({committing} while committing pages)",
           f"{before_final} docs before the final run: {summary.strip()}")
    assert scan_for_secrets(paths=(tmp_path,)) == []
    assert check.mismatches == []
    assert check.duplicates == 0 and check.lost == 0
    assert check.found == check.expected
    assert kills == 10
    assert committing >= 5  # most kills landed while pages were being written and committed
    assert before_final < check.expected  # the kills left work for the final run


def test_backfill_sigterm_then_restart(tmp_path: Path) -> None:
    store, log = tmp_path / "store.sqlite3", tmp_path / "poller.log"
    since, until = window(3)
    with simulator(LIGHT_FAULTS, seed=7) as sim:
        env = poller_env(sim.base_url, store)
        cmd = backfill_cmd(since, until, MORE_STREAMS)
        began = store_clock()
        proc = start(cmd, env, log)
        # Once it has committed its first page (before that, SIGTERM ends a process that has
        # nothing to lose), at a moment that varies from run to run.
        _wait_commit(store, began, proc)
        time.sleep(random.Random(7).uniform(0.1, 0.5))
        assert proc.poll() is None, _log_tail(log)  # still running, else the drill proves nothing
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        term_rc = proc.wait(timeout=30)
        took = time.monotonic() - sent
        first_log = log.read_text(errors="replace")
        rc = run_to_end(cmd, env, log)
        assert rc == 0, _log_tail(log)
        check = compare(store, sim.org, MORE_STREAMS, since, until)
        stats = sim.stats()
    record("SIGTERM + restart", sum(stats["faults"].values()), check,
           f"exit on SIGTERM={term_rc} after {took:.2f}s")
    # SIGTERM finishes the current page and its commit, then exits 1 ("interrupted").
    assert term_rc == 1, _log_tail(log)
    assert "interrupted, run it again to resume" in first_log
    assert took < 30
    assert scan_for_secrets(paths=(tmp_path,)) == []
    assert "Traceback" not in first_log
    assert check.mismatches == []
    assert check.duplicates == 0 and check.lost == 0
