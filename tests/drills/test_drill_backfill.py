"""Drills: `python -m poller backfill` as a real process, under API faults, kill -9 and SIGTERM.

Each drill ends with the store compared exactly to the simulator's settled truth (see conftest):
per usage stream and metric the sums, per stream the document counts, costs' billed total, audit
event ids, and no duplicate rows.
"""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import pytest
from drill_support import (
    backfill_cmd,
    compare,
    poller_env,
    record,
    run_to_end,
    scan_for_secrets,
    simulator,
    start,
    window,
)

pytestmark = pytest.mark.drill

FAULTS = "429=0.1,500=0.05,502=0.05,503=0.05,malformed=0.05,drift=0.05"
LIGHT_FAULTS = "500=0.05,503=0.05,malformed=0.03,drift=0.05"
STREAMS = ["completions", "embeddings", "costs", "audit"]
MORE_STREAMS = [
    "completions", "embeddings", "moderations", "images", "audio_speeches", "web_search_calls",
    "vector_stores", "costs", "audit",
]


def _log_tail(log: Path) -> str:
    return log.read_text(errors="replace")[-4000:]


def test_backfill_under_openai_faults_equals_truth(tmp_path: Path) -> None:
    store, log = tmp_path / "store.sqlite3", tmp_path / "poller.log"
    since, until = window(2)
    with simulator(FAULTS, seed=20261122) as sim:
        rc = run_to_end(backfill_cmd(since, until, STREAMS), poller_env(sim.base_url, store), log)
        stats = sim.stats()
        assert rc == 0, _log_tail(log)
        check = compare(store, sim.org, STREAMS, since, until)
    injected = sum(stats["faults"].values())
    record("openai faults", injected, check, f"early_retries={stats['early_retries']}",
           " ".join(f"{k}={v}" for k, v in stats["faults"].items() if v))
    assert "Traceback" not in log.read_text(errors="replace")
    assert scan_for_secrets(paths=(tmp_path,)) == []
    assert check.mismatches == []
    assert check.duplicates == 0 and check.lost == 0
    assert check.expected > 100
    assert stats["early_retries"] == 0
    assert injected > 0
    assert stats["faults"]["429"] > 0


def test_backfill_survives_kill_9(tmp_path: Path) -> None:
    store, log = tmp_path / "store.sqlite3", tmp_path / "poller.log"
    since, until = window(3)
    rng = random.Random(9)
    kills = 0
    with simulator(LIGHT_FAULTS, seed=99) as sim:
        env = poller_env(sim.base_url, store)
        cmd = backfill_cmd(since, until, MORE_STREAMS)
        for _ in range(5):
            proc = start(cmd, env, log)
            time.sleep(rng.uniform(0.2, 1.5))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait(timeout=10)
        rc = run_to_end(cmd, env, log)
        stats = sim.stats()
        assert rc == 0, _log_tail(log)
        check = compare(store, sim.org, MORE_STREAMS, since, until)
    record("kill -9 x5", sum(stats["faults"].values()), check, f"kills={kills}")
    assert scan_for_secrets(paths=(tmp_path,)) == []
    assert check.mismatches == []
    assert check.duplicates == 0 and check.lost == 0
    assert check.found == check.expected
    assert kills >= 3


def test_backfill_sigterm_then_restart(tmp_path: Path) -> None:
    store, log = tmp_path / "store.sqlite3", tmp_path / "poller.log"
    since, until = window(3)
    with simulator(LIGHT_FAULTS, seed=7) as sim:
        env = poller_env(sim.base_url, store)
        cmd = backfill_cmd(since, until, MORE_STREAMS)
        proc = start(cmd, env, log)
        time.sleep(1.2)
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
