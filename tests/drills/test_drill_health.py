"""Drill: the host clock steps back 90 s under a running `python -m poller run`.

APScheduler keeps its next run times on the wall clock, so before the scheduler followed clock
steps every job waited 90 s longer than its interval while /healthz said healthy. The child
runs through a small wrapper that reads its wall clock through one offset (`time.time` and the
`datetime.now` of APScheduler and `poller.scheduler`) and sets it to -90 s when the drill
creates a file: the same thing a stepped host clock does to the process, without touching the
host. The drill checks that cycles go on within an interval or two, that the daemon stays live
and ready, and that the store is exact against the simulator's truth.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import pytest
from drill_support import (
    bucket_window,
    compare,
    daemon_env,
    http_get,
    metric_total,
    record,
    scan_for_secrets,
    simulator_with,
    start,
    wait_until,
)
from loopback import free_port

pytestmark = pytest.mark.drill

STEP = -90.0
INTERVAL = 2.0
# Three rounds of every stream after the step: about 3 intervals (6 s) when the scheduler
# follows it. Without that, nothing runs for 90 s. The bound leaves room for a loaded machine.
RESUME_WITHIN = 30.0

WRAPPER = f"""
import datetime as _dt, os, runpy, sys, threading, time

_offset = [0.0]
_real_time = time.time


def _time():
    return _real_time() + _offset[0]


class _DateTime(_dt.datetime):
    @classmethod
    def now(cls, tz=None):
        return _dt.datetime.fromtimestamp(_time(), tz)


time.time = _time
import apscheduler.executors.base, apscheduler.schedulers.base, apscheduler.triggers.interval
import poller.scheduler
for module in (apscheduler.executors.base, apscheduler.schedulers.base,
               apscheduler.triggers.interval, poller.scheduler):
    module.datetime = _DateTime


def _step_when_asked(flag):
    while not os.path.exists(flag):
        time.sleep(0.05)
    _offset[0] = {STEP!r}


threading.Thread(target=_step_when_asked, args=(os.environ["DRILL_STEP_FILE"],),
                 daemon=True).start()
sys.argv = ["openai-poller", "run"]
runpy.run_module("poller", run_name="__main__")
"""


def _cycles(port: int) -> float:
    _, text = http_get(f"http://127.0.0.1:{port}/metrics")
    return metric_total(text, "openai_poller_cycle_duration_seconds_count")


def test_a_clock_stepping_back_does_not_stop_collection(tmp_path: Path) -> None:
    streams = ["completions", "embeddings", "costs"]
    store, log, flag = tmp_path / "store.sqlite3", tmp_path / "daemon.log", tmp_path / "step"
    port = free_port()
    with simulator_with(seed=41) as sim:
        env = daemon_env(
            sim.base_url, store, streams, port,
            ORG_DEFAULTS__DEFAULTS__INTERVAL=f"{INTERVAL:g}s",
            ORG_DEFAULTS__DEFAULTS__INITIAL_INTERVAL="2d",
        )
        env["DRILL_STEP_FILE"] = str(flag)
        proc = start([sys.executable, "-c", WRAPPER], env, log)
        texts: list[str] = []
        try:
            wait_until("/readyz", lambda: http_get(f"http://127.0.0.1:{port}/readyz")[0] == 200,
                       60, 0.3)
            # Two rounds of every stream before the step: the schedule is settled.
            wait_until("steady cycles", lambda: _cycles(port) >= 2 * len(streams), 30, 0.2)
            before = _cycles(port)
            flag.touch()
            stepped = time.monotonic()
            wait_until("cycles after the step",
                       lambda: _cycles(port) >= before + 3 * len(streams), RESUME_WITHIN, 0.1)
            resumed = time.monotonic() - stepped
            assert "the wall clock stepped by -90 s" in log.read_text()
            answers = {path: http_get(f"http://127.0.0.1:{port}{path}")
                       for path in ("/healthz", "/readyz", "/metrics")}
            texts += [body for _, body in answers.values()]
            assert answers["/healthz"] == (200, '{"status": "ok"}')
            assert answers["/readyz"] == (200, '{"status": "ok"}')
            assert metric_total(answers["/metrics"][1], "openai_poller_errors_total") == 0.0
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        buckets = [s for s in streams if s != "costs"]
        since, until = bucket_window(store, buckets)
        check = compare(store, sim.org, streams, since, until)
    output = log.read_text(errors="replace")
    assert "Traceback" not in output
    assert scan_for_secrets(paths=(tmp_path,), texts=tuple(texts)) == []
    assert check.mismatches == []
    assert (check.duplicates, check.lost) == (0, 0)
    assert check.found == check.expected > 0
    record("clock steps back 90 s", 1, check, f"cycles resumed {resumed:.1f} s after the step")

