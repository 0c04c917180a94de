"""Drills: `python -m poller run`, the daemon, as a real process: kill -9 at random moments,
SIGTERM in the middle of a cycle, and late revisions applied in place by its settlement re-reads.

The daemon's window is not fixed like a backfill's: each usage and costs stream starts
`initial_interval` before its first cycle and ends where its last cycle stopped. The store is
compared with the simulator's settled truth for exactly what the state says was covered
(`compare`), and audit events for the window its cycles read (`compare_audit`). Every run's
/metrics, /healthz and /readyz answers, its log and the store are scanned for the admin key.
"""

from __future__ import annotations

import math
import random
import re
import signal
import subprocess
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from drill_support import (
    RUN_CMD,
    Check,
    bucket_window,
    compare,
    compare_audit,
    count_documents,
    daemon_env,
    http_get,
    last_commit,
    merge_checks,
    metric_total,
    nameless,
    read_states,
    record,
    scan_for_secrets,
    simulator_with,
    start,
    store_clock,
    wait_until,
)
from loopback import free_port

from poller.simulator.organization import Organization
from poller.sinks.sqlite import SqliteSink
from poller.state import StreamState
from poller.streams import USAGE_ENDPOINTS

pytestmark = pytest.mark.drill

SHUTDOWN = 10.0  # POLLER_SHUTDOWN_TIMEOUT: a SIGTERM must end the process within it
LIGHT_FAULTS = "500=0.03,503=0.03,malformed=0.02,drift=0.03"
DAY = 86400


@dataclass
class Daemon:
    """The `run` processes of one drill, one at a time, all logging into one file."""

    store: Path
    log: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    port: int = 0
    texts: list[str] = field(default_factory=list)  # /metrics, /healthz, /readyz answers

    def start(self) -> float:
        self.port = free_port()  # a fresh port each time: a killed one may linger in TIME_WAIT
        self.proc = start(RUN_CMD, {**self.env, "POLLER_METRICS__PORT": str(self.port)}, self.log)
        return time.time()

    def running(self) -> subprocess.Popen[bytes]:
        assert self.proc is not None
        assert self.proc.poll() is None, f"the daemon exited early:\n{self.tail()}"
        return self.proc

    def kill(self) -> None:
        proc = self.running()
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL

    def terminate(self) -> tuple[int, float]:
        """SIGTERM: the exit code, and how long it took."""
        proc = self.running()
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=SHUTDOWN + 5)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError(f"the daemon ignored SIGTERM:\n{self.tail()}") from None
        return code, time.monotonic() - sent

    def scrape(self) -> dict[str, tuple[int, str]]:
        """/metrics, /healthz and /readyz of the running process (kept for the secret scan)."""
        answers = {path: http_get(f"http://127.0.0.1:{self.port}{path}")
                   for path in ("/metrics", "/healthz", "/readyz")}
        self.texts += [body for _, body in answers.values()]
        return answers

    def wait_ready(self, timeout: float = 60) -> dict[str, tuple[int, str]]:
        def ready() -> dict[str, tuple[int, str]] | None:
            self.running()
            answers = self.scrape()
            return answers if answers["/readyz"][0] == 200 else None

        answers: dict[str, tuple[int, str]] = wait_until("/readyz", ready, timeout, 0.3)
        return answers

    def wait_cycles(self, streams: list[str], after: float, timeout: float = 60) -> None:
        """Until every stream's state records a completed cycle that ended after `after`."""

        def done() -> bool:
            self.running()
            states = read_states(self.store, streams)
            return states is not None and all(
                (s.last_success or 0) > after for s in states.values()
            )

        wait_until(f"a completed cycle of {streams}", done, timeout, 0.2)

    def wait_commit(self, after: str) -> None:
        """Until the running process has committed a batch (saved a state) after `after`."""
        wait_until("a commit", lambda: self.running() and last_commit(self.store) >= after,
                   30, 0.02)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def _settings(**extra: str) -> dict[str, str]:
    return {
        "ORG_DEFAULTS__DEFAULTS__INTERVAL": "2s",
        "SHUTDOWN_TIMEOUT": f"{SHUTDOWN:g}s",
        **extra,
    }


def _check_store(
    store: Path, org: Organization, streams: list[str], audit_since: tuple[int, int],
    audit_until: tuple[int, int],
) -> Check:
    buckets = [s for s in streams if s != "audit"]
    since, until = bucket_window(store, buckets)
    checks = [compare(store, org, buckets, since, until)]
    if "audit" in streams:
        checks.append(compare_audit(store, org, audit_since, audit_until))
    return merge_checks(*checks)


def _check_daemon_store(
    store: Path, org: Organization, streams: list[str], initial: int, *, first: float,
    audit_seen: float, stopped: float,
) -> Check:
    """`_check_store` with the audit window of daemon runs that started at `first`, had read
    audit by `audit_seen` and stopped at `stopped`, each cursor starting `initial` s back."""
    states = read_states(store, streams)
    assert states is not None
    return _check_store(
        store, org, streams,
        audit_since=(int(first) - initial - 1, int(audit_seen) - initial + 1),
        audit_until=(_audit_mark(states) + 1, int(stopped) + 1),
    )


def _assert_clean(daemon: Daemon, tmp_path: Path) -> None:
    log = daemon.log.read_text(errors="replace")
    assert "Traceback" not in log, daemon.tail()
    assert scan_for_secrets(paths=(tmp_path,), texts=tuple(daemon.texts)) == []


def test_run_survives_kill_9(tmp_path: Path) -> None:
    """Ten SIGKILLs of `run` at seeded random moments (from start-up to mid-cycle), a restart
    after each; then a run until every stream completed a cycle, and a SIGTERM."""
    streams = ["completions", "embeddings", "web_search_calls", "costs", "audit"]
    store, log = tmp_path / "store.sqlite3", tmp_path / "daemon.log"
    initial = 3 * DAY
    rng = random.Random(20261130)
    with simulator_with(LIGHT_FAULTS, seed=31) as sim:
        settings = _settings(ORG_DEFAULTS__DEFAULTS__INITIAL_INTERVAL="3d")
        daemon = Daemon(store, log, daemon_env(sim.base_url, store, streams, 0, **settings))
        try:
            audit_seen: float | None = None
            docs: list[int] = []
            committing = 0
            began = store_clock()
            first = daemon.start()
            for _ in range(10):
                # The kill moment is the drill's input: early (start-up, the first requests), or
                # at a random moment after the process's first commit.
                if rng.random() < 0.3:
                    time.sleep(rng.uniform(0.2, 1.2))
                else:
                    daemon.wait_commit(after=began)
                    time.sleep(rng.uniform(0.0, 0.8))
                daemon.kill()
                committing += last_commit(store) >= began  # it had committed a batch
                docs.append(count_documents(store))
                states = read_states(store, streams)
                if audit_seen is None and states and states["audit"].high_water is not None:
                    audit_seen = time.time()
                began = store_clock()
                daemon.start()
            final = time.time()
            answers = daemon.wait_ready()
            daemon.wait_cycles(streams, after=final)
            audit_seen = audit_seen or time.time()
            answers = daemon.scrape()
            code, took = daemon.terminate()
            stopped = time.time()
        finally:
            daemon.stop()
        check = _check_daemon_store(store, sim.org, streams, initial, first=first,
                                    audit_seen=audit_seen, stopped=stopped)
        faults = sum(sim.stats()["faults"].values())
    unnamed = nameless(store, streams)
    record("run: kill -9 x10", faults, check, f"kills=10 ({committing} after commits began)",
           f"docs after each kill={docs}", f"SIGTERM exit={code} in {took:.1f}s",
           f"{unnamed} docs without names")
    assert code == 0, daemon.tail()
    assert took < SHUTDOWN
    assert answers["/healthz"][0] == 200 and answers["/readyz"][0] == 200
    assert metric_total(answers["/metrics"][1], "openai_poller_documents_total") > 0
    _assert_clean(daemon, tmp_path)
    assert check.mismatches == []
    assert check.duplicates == 0 and check.lost == 0
    assert check.found == check.expected > 1000
    assert committing >= 5  # most kills fell after the process had begun to commit
    assert sum(n < check.found for n in docs) >= 3  # and several before it had it all
    assert unnamed == 0  # the first cycles waited for the org's names (they raced them once)


def _audit_mark(states: dict[str, StreamState]) -> int:
    mark = states["audit"].high_water
    assert mark is not None
    return mark


def test_run_sigterm_mid_cycle_then_restart(tmp_path: Path) -> None:
    """SIGTERM while the first cycles (30 days of hourly buckets, 7 streams) are being written:
    each job finishes its page and commit, the process exits 0 in time; a restart resumes."""
    streams = ["completions", "embeddings", "moderations", "images", "web_search_calls",
               "costs", "audit"]
    store, log = tmp_path / "store.sqlite3", tmp_path / "daemon.log"
    initial = 30 * DAY
    with simulator_with(seed=32) as sim:
        daemon = Daemon(store, log, daemon_env(sim.base_url, store, streams, 0, **_settings(
            ORG_DEFAULTS__DEFAULTS__INITIAL_INTERVAL="30d",
            ORG_DEFAULTS__DEFAULTS__BUCKET_WIDTH="1h",
        )))
        try:
            first = daemon.start()

            def writing() -> bool:
                daemon.running()
                states = read_states(store, streams)
                return count_documents(store) > 0 and states is not None and any(
                    s.last_success is None for s in states.values()
                )

            wait_until("the first cycle's writes", writing, 60, 0.05)
            mid = count_documents(store)
            texts = daemon.scrape()
            code, took = daemon.terminate()
            first_log = log.read_text(errors="replace")
            after_stop = count_documents(store)
            states = read_states(store, streams)
            assert states is not None
            unfinished = [s for s, st in states.items() if st.last_success is None]
            restart = daemon.start()
            daemon.wait_ready()
            daemon.wait_cycles(streams, after=restart)
            cycled = time.time()  # after the first audit window that completed
            texts = daemon.scrape()
            code2, took2 = daemon.terminate()
            stopped = time.time()
        finally:
            daemon.stop()
        check = _check_daemon_store(store, sim.org, streams, initial, first=first,
                                    audit_seen=cycled, stopped=stopped)
    stops = sum("stopped after a committed batch" in line for line in first_log.splitlines())
    unnamed = nameless(store, streams)
    record("run: SIGTERM mid-cycle", 0, check, f"{unnamed} docs without names",
           f"exit={code} in {took:.1f}s with {mid}..{after_stop} docs written",
           f"{stops} jobs stopped mid-cycle, unfinished={len(unfinished)}",
           f"restart exit={code2} in {took2:.1f}s")
    assert code == 0 and code2 == 0, daemon.tail()
    assert took < SHUTDOWN and took2 < SHUTDOWN
    assert stops >= 1  # at least one job was stopped between pages, not between cycles
    assert unfinished  # so the restart had to resume it
    assert texts["/healthz"][0] == 200
    _assert_clean(daemon, tmp_path)
    assert check.mismatches == []
    assert check.duplicates == 0 and check.lost == 0
    assert check.found == check.expected > 5000
    assert unnamed == 0


def _documents_by_id(store: Path, stream: str) -> dict[str, dict[str, Any]]:
    with SqliteSink(store, read_only=True) as sink:
        found = sink.reader().all_documents(f"logs-openai.{stream}-default")
    return {doc_id: dict(source) for doc_id, source in found.items()}


def _minute(doc: dict[str, Any]) -> int:
    """A usage document's bucket start, in Unix seconds."""
    return int(datetime.fromisoformat(doc["openai"]["base"]["start_time"]).timestamp())


def _metric(doc: dict[str, Any], stream: str, metric: str) -> int:
    group = "base" if metric == "num_model_requests" else stream
    return int(doc["openai"].get(group, {}).get(metric, 0))


def _sums_by_minute(docs: dict[str, dict[str, Any]], stream: str) -> dict[int, list[int]]:
    sums: dict[int, list[int]] = {}
    for doc in docs.values():
        row = sums.setdefault(_minute(doc),
                              [0] * len(USAGE_ENDPOINTS[stream].metrics))
        for k, metric in enumerate(USAGE_ENDPOINTS[stream].metrics):
            row[k] += _metric(doc, stream, metric)
    return sums


def _settled_by_minute(
    org: Organization, stream: str, start: int, end: int
) -> dict[int, list[int]]:
    sums: dict[int, list[int]] = {}
    metrics = USAGE_ENDPOINTS[stream].metrics
    for minute in range(start, end, 60):
        rows = org.usage(stream, minute, minute + 60, math.inf).values()
        if rows:
            sums[minute] = [sum(r.get(m, 0) for r in rows) for m in metrics]
    return sums


def test_run_applies_late_revisions_in_place(tmp_path: Path) -> None:
    """Usage that settles 60 s after each minute: a first run with no grace collects partial
    values; a second run (grace 60 s, so it only adds settled minutes) re-reads the settlement
    window until the first run's minutes have settled. The store then equals the settled truth:
    exactly the minutes that were partial were rewritten, in place, under the same ids."""
    streams = ["completions", "embeddings", "images", "web_search_calls"]
    store, log = tmp_path / "store.sqlite3", tmp_path / "daemon.log"
    settle = 60
    grace = "POLLER_ORG_DEFAULTS__DEFAULTS__SETTLEMENT_GRACE"
    with simulator_with(seed=33, settle_seconds=settle, size="medium") as sim:
        base = daemon_env(sim.base_url, store, streams, 0, **_settings(
            ORG_DEFAULTS__DEFAULTS__INITIAL_INTERVAL="15m",
            ORG_DEFAULTS__DEFAULTS__SETTLEMENT_WINDOW="30m",
        ))
        daemon = Daemon(store, log, {**base, grace: "0s"})
        try:
            started = daemon.start()
            daemon.wait_ready()
            daemon.wait_cycles(streams, after=started)
            code1, _ = daemon.terminate()
            first = {s: _documents_by_id(store, s) for s in streams}
            states = read_states(store, streams)
            assert states is not None
            covered = {s: (st.coverage.segments[0].start, st.coverage.end or 0)
                       for s, st in states.items()}
            first_end = max(end for _, end in covered.values())
            daemon.env = {**base, grace: f"{settle}s"}
            second = daemon.start()
            daemon.wait_ready()
            # The first run's newest minute settles `settle` s after it ended; then one whole
            # cycle of each stream must start (and end) after that.
            wait_until("the first run's minutes to settle",
                       lambda: daemon.running() and time.time() > first_end + settle + 1,
                       settle + 90, 0.5)
            daemon.wait_cycles(streams, after=time.time(), timeout=30)
            states = read_states(store, streams)
            assert states is not None
            daemon.wait_cycles(streams, timeout=30,
                               after=max(st.last_success or 0 for st in states.values()))
            answers = daemon.scrape()
            code2, took = daemon.terminate()
        finally:
            daemon.stop()
        final = {s: _documents_by_id(store, s) for s in streams}
        since, until = bucket_window(store, streams)
        check = compare(store, sim.org, streams, since, until)
        settled = {s: _settled_by_minute(sim.org, s, *covered[s]) for s in streams}
    # Minutes of the first run's coverage whose first-read sums were not yet the settled ones,
    # and minutes of it whose documents changed (rewritten or added) between the two runs.
    def in_first_run(stream: str, doc: dict[str, Any]) -> bool:
        return covered[stream][0] <= _minute(doc) < covered[stream][1]

    partial = {(s, m) for s in streams
               for m in settled[s].keys() | _sums_by_minute(first[s], s).keys()
               if _sums_by_minute(first[s], s).get(m) != settled[s].get(m)}
    revised = {(s, i) for s in streams for i in first[s] if final[s].get(i) != first[s][i]}
    added = {(s, i) for s in streams for i, doc in final[s].items()
             if i not in first[s] and in_first_run(s, doc)}
    changed = {(s, _minute(final[s][i])) for s, i in revised | added}
    kept = sum(len(first[s].keys() & final[s].keys()) for s in streams)
    n_first = sum(len(first[s]) for s in streams)
    n_final = sum(in_first_run(s, doc) for s in streams for doc in final[s].values())
    revised_metric = metric_total(answers["/metrics"][1], "openai_poller_documents_total",
                                  result="revised")
    record("run: late revisions", 0, check,
           f"first pass {n_first} docs, {len(partial)} minutes partial",
           f"{len(revised)} docs revised in place, {len(added)} rows new (zero when first read)",
           f"{check.found - n_final} docs of minutes the second run added",
           f"second run revised={revised_metric:g}, started {second - started:.0f}s after")
    assert code1 == 0 and code2 == 0, daemon.tail()
    assert took < SHUTDOWN
    _assert_clean(daemon, tmp_path)
    assert check.mismatches == []
    assert check.duplicates == 0 and check.lost == 0
    assert check.found == check.expected
    assert partial  # the first pass really saw unsettled values
    assert changed == partial  # exactly the partial minutes were rewritten
    assert kept == n_first  # every first-pass document is still there, under its id
    assert revised  # revisions were applied in place, not only added
    assert revised_metric >= len(revised) > 0  # by the second run's settlement re-reads
    # One document per settled row: the first pass's, plus rows that read as zero at first.
    assert n_final == n_first + len(added)


def test_run_sigterm_during_a_long_retry_after(tmp_path: Path) -> None:
    """Throttled to 2 requests a minute, the daemon's jobs wait out ~30 s Retry-Afters; a SIGTERM
    ends those waits at once: exit 0 well within the shutdown timeout, no early retry. A restart
    against the same org, unthrottled, then collects the window exactly: the stop lost nothing."""
    streams = ["completions", "embeddings"]
    store, log = tmp_path / "store.sqlite3", tmp_path / "daemon.log"
    settings = _settings(ORG_DEFAULTS__DEFAULTS__INITIAL_INTERVAL="2h")
    with simulator_with(seed=41, rate_limit_rpm=2) as sim:
        daemon = Daemon(store, log, daemon_env(sim.base_url, store, streams, 0, **settings))
        try:
            daemon.start()
            wait_until("a retry wait of 10 s or more",
                       lambda: daemon.running() and _long_wait(log.read_text(errors="replace")),
                       60, 0.1)
            texts = daemon.scrape()
            code, took = daemon.terminate()
        finally:
            daemon.stop()
        stats = sim.stats()
        stored_at_stop = count_documents(store)
    text = log.read_text(errors="replace")
    with simulator_with(seed=41) as sim:
        restart = Daemon(store, log, daemon_env(sim.base_url, store, streams, 0, **settings))
        try:
            began = restart.start()
            restart.wait_ready()
            restart.wait_cycles(streams, after=began)
            code2, _ = restart.terminate()
        finally:
            restart.stop()
        check = compare(store, sim.org, streams, *bucket_window(store, streams))
    record("run: SIGTERM in Retry-After", stats["rate_limited"],
           check, f"exit={code} in {took:.1f}s", f"longest wait {_long_wait(text):.0f}s",
           f"early_retries={stats['early_retries']}",
           f"{stored_at_stop} docs at the stop; unthrottled restart exit={code2}")
    assert code == 0, daemon.tail()
    assert took < SHUTDOWN
    assert "stopped while waiting to retry" in text, daemon.tail()
    assert stats["early_retries"] == 0
    assert texts["/healthz"][0] == 200
    assert code2 == 0, restart.tail()
    restart.texts += daemon.texts
    _assert_clean(restart, tmp_path)
    assert check.mismatches == []
    assert check.duplicates == 0 and check.lost == 0
    assert check.found == check.expected > 0


def _long_wait(log_text: str) -> float:
    """The longest retry wait the log announces ("retrying in N s"), 0 if none is 10 s or more."""
    waits = [float(m) for m in re.findall(r"retrying in ([0-9.]+) s", log_text)]
    longest = max(waits, default=0.0)
    return longest if longest >= 10 else 0.0
