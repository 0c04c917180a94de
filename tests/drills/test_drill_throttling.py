"""Drill: `python -m poller run` with several streams in parallel jobs against a rate-limited
simulator (`--rate-limit 30` and random 429s): the jobs of the org leave every Retry-After one
at a time, so the server never sees an early retry, no stream fails from throttling alone, and
the store equals the simulator's truth for what the state says was covered."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from drill_support import (
    RUN_CMD,
    bucket_window,
    compare,
    daemon_env,
    read_states,
    record,
    simulator_with,
    start,
    wait_until,
)

pytestmark = pytest.mark.drill

STREAMS = ["completions", "embeddings", "moderations", "images", "web_search_calls"]
RPM = 30.0  # a bucket of 30 requests, then one every 2 s: five streams every 2 s want 2.5 a s
RUN_SECONDS = 45.0


def test_parallel_jobs_under_a_rate_limit_never_retry_early(tmp_path: Path) -> None:
    store, log = tmp_path / "store.sqlite3", tmp_path / "daemon.log"
    with simulator_with("429=0.05", seed=23, rate_limit_rpm=RPM) as sim:
        env = daemon_env(
            sim.base_url, store, STREAMS, 0,
            ORG_DEFAULTS__DEFAULTS__INTERVAL="2s",
            ORG_DEFAULTS__DEFAULTS__INITIAL_INTERVAL="1d",
        )
        proc = start(RUN_CMD, env, log)
        try:
            began = time.time()
            time.sleep(RUN_SECONDS)
            assert proc.poll() is None, log.read_text(errors="replace")[-4000:]
            wait_until("a cycle of every stream after the run", lambda: _cycled(store, began),
                       60, 0.5)
        finally:
            proc.terminate()
            proc.wait(timeout=20)
        stats = sim.stats()
        since, until = bucket_window(store, STREAMS)
        check = compare(store, sim.org, STREAMS, since, until)
    statuses: dict[str, int] = {}
    for counts in stats["requests"].values():
        for status, n in counts.items():
            statuses[status] = statuses.get(status, 0) + n
    text = log.read_text(errors="replace")
    failures = [line for line in text.splitlines() if "failed:" in _message(line)]
    record("throttled daemon", statuses.get("429", 0), check,
           f"served={statuses.get('200', 0)} throttled={stats['rate_limited']} "
           f"429 faults={stats['faults']['429']} early_retries={stats['early_retries']}")
    assert "Traceback" not in text
    assert stats["rate_limited"] > 0 and stats["faults"]["429"] > 0  # throttling did happen
    assert stats["early_retries"] == 0
    assert failures == []  # no cycle failed: throttling alone never exhausts a request
    assert set(statuses) == {"200", "429"}, statuses
    assert check.mismatches == []
    assert check.duplicates == 0 and check.lost == 0
    assert check.found == check.expected > 0


def _cycled(store: Path, after: float) -> bool:
    states = read_states(store, STREAMS)
    return states is not None and all((s.last_success or 0) > after for s in states.values())


def _message(line: str) -> str:
    try:
        entry = json.loads(line)
    except ValueError:
        return line
    return str(entry.get("message", "")) if isinstance(entry, dict) else line
