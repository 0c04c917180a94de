"""The scheduler: jobs run at once, errors are logged once, and a signal stops it in time."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED

from poller.scheduler import ClockWatch, Job, _log_event, build_scheduler, run_until_signal

# Upper bound for anything that should take milliseconds. Generous, because stuck test jobs
# hold for WAIT: on a loaded 2-core CI machine a 5 s hold could end before the signals arrived,
# making run_until_signal see every job finish (seen once in CI).
WAIT = 30.0


def _signal_when_ready(
    scheduler: Any,
    ready: threading.Event | None = None,
    signum: int = signal.SIGTERM,
    again_after: threading.Event | None = None,
) -> None:
    """Send `signum` to ourselves once `ready` is set and run_until_signal's handler is in place.

    With `again_after`, send it a second time once that event is set. Waiting for the first
    signal's effect matters: two signals of one kind that arrive before the main thread runs
    the handler are delivered as one (seen in CI on a loaded machine).
    If the handler never appears, stop the scheduler instead: a default SIGTERM would end pytest.
    """
    default = signal.getsignal(signum)

    def run() -> None:
        if ready is not None:
            ready.wait(WAIT)
        deadline = time.monotonic() + WAIT
        while signal.getsignal(signum) is default:
            if time.monotonic() > deadline:
                scheduler.shutdown(wait=False)
                return
            time.sleep(0.005)
        os.kill(os.getpid(), signum)
        if again_after is not None and again_after.wait(WAIT):
            os.kill(os.getpid(), signum)

    threading.Thread(target=run, daemon=True).start()


def test_job_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="interval_seconds must be positive"):
        Job("a", lambda: None, 0)
    with pytest.raises(ValueError, match="jitter cannot be negative"):
        Job("a", lambda: None, 1, jitter=-1)
    with pytest.raises(ValueError, match="job ids must be unique"):
        build_scheduler([Job("a", lambda: None, 1), Job("a", lambda: None, 2)], threading.Event())


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_jobs_run_at_once_and_a_signal_stops_them(signum: int) -> None:
    stop, started = threading.Event(), threading.Event()
    runs: list[str] = []
    stopped: list[bool] = []

    def job(name: str) -> None:
        runs.append(name)
        if len(runs) == 2:
            started.set()

    jobs = [Job("a", lambda: job("a"), 3600, jitter=1), Job("b", lambda: job("b"), 3600)]
    scheduler = build_scheduler(jobs, stop)
    previous = signal.getsignal(signum)
    _signal_when_ready(scheduler, started, signum)

    assert run_until_signal(scheduler, stop, lambda: stopped.append(True), timeout=WAIT)

    assert sorted(runs) == ["a", "b"]  # first runs are immediate, then hourly
    assert stop.is_set()
    assert stopped == [True]
    assert signal.getsignal(signum) is previous


def test_a_signal_that_lands_in_another_thread_still_stops_the_scheduler() -> None:
    """The kernel may hand a process-directed SIGTERM to a job's thread while the main thread
    sleeps until the next due job (an hour here); only the main thread runs the handler."""
    stop, started = threading.Event(), threading.Event()
    default = signal.getsignal(signal.SIGTERM)

    def job() -> None:
        started.set()

    def sender() -> None:
        started.wait(WAIT)
        deadline = time.monotonic() + WAIT
        while signal.getsignal(signal.SIGTERM) is default and time.monotonic() < deadline:
            time.sleep(0.005)
        signal.pthread_kill(threading.get_ident(), signal.SIGTERM)  # this thread, not main

    scheduler = build_scheduler([Job("usage", job, 3600)], stop)
    threading.Thread(target=sender, daemon=True).start()
    began = time.monotonic()
    assert run_until_signal(scheduler, stop, timeout=WAIT)
    assert time.monotonic() - began < 5.0
    assert stop.is_set()


def test_job_errors_are_logged_once_with_the_exception(caplog: pytest.LogCaptureFixture) -> None:
    stop, failed = threading.Event(), threading.Event()

    def broken() -> None:
        failed.set()
        raise RuntimeError("boom")

    scheduler = build_scheduler([Job("costs", broken, 3600)], stop)
    _signal_when_ready(scheduler, failed)
    with caplog.at_level(logging.INFO):
        assert run_until_signal(scheduler, stop, timeout=WAIT)

    records = [r for r in caplog.records if "boom" in r.getMessage() or r.exc_info]
    assert len(records) == 1
    (record,) = records
    assert record.name == "poller.scheduler"
    assert record.levelno == logging.ERROR
    assert record.getMessage() == "job costs failed: boom"
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)


def test_a_running_job_sees_the_stop_event() -> None:
    stop, started = threading.Event(), threading.Event()
    finished: list[bool] = []

    def paging() -> None:
        started.set()
        stop.wait(WAIT)  # a job checks the event between pages
        finished.append(stop.is_set())

    scheduler = build_scheduler([Job("audit", paging, 3600)], stop)
    _signal_when_ready(scheduler, started)
    began = time.monotonic()
    assert run_until_signal(scheduler, stop, timeout=WAIT)
    assert time.monotonic() - began < 5.0
    assert finished == [True]


def test_stop_returns_within_the_timeout_when_a_job_ignores_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stop, started, release = threading.Event(), threading.Event(), threading.Event()

    def stuck() -> None:
        started.set()
        release.wait(WAIT)

    scheduler = build_scheduler([Job("stuck", stuck, 3600)], stop)
    _signal_when_ready(scheduler, started)
    try:
        began = time.monotonic()
        assert not run_until_signal(scheduler, stop, timeout=0.3)
        assert time.monotonic() - began < 2.0
    finally:
        release.set()
    assert "jobs still running after 0.3 s" in caplog.text


def test_a_second_signal_stops_waiting() -> None:
    stop, started, release = threading.Event(), threading.Event(), threading.Event()

    def stuck() -> None:
        started.set()
        release.wait(2 * WAIT)  # longer than run_until_signal's timeout: only the signal ends it

    scheduler = build_scheduler([Job("stuck", stuck, 3600)], stop)
    _signal_when_ready(scheduler, started, again_after=stop)  # stop is set by the first
    try:
        began = time.monotonic()
        assert not run_until_signal(scheduler, stop, timeout=WAIT)
        assert time.monotonic() - began < WAIT / 3
    finally:
        release.set()


def test_overlapping_runs_are_skipped_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    stop, skipped = threading.Event(), threading.Event()

    def slow() -> None:
        stop.wait(WAIT)

    scheduler = build_scheduler([Job("slow", slow, 0.05)], stop)
    scheduler.add_listener(lambda _event: skipped.set(), EVENT_JOB_MAX_INSTANCES)
    _signal_when_ready(scheduler, skipped)
    assert run_until_signal(scheduler, stop, timeout=WAIT)
    assert "job slow is still running; skipped the run due at" in caplog.text


def test_no_new_run_starts_once_stop_is_set() -> None:
    stop = threading.Event()
    stop.set()
    runs: list[bool] = []
    scheduler = build_scheduler([Job("a", lambda: runs.append(True), 3600)], stop)
    _signal_when_ready(scheduler)
    assert run_until_signal(scheduler, stop, timeout=WAIT)
    assert runs == []


def test_missed_runs_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    # misfire_grace_time=None means APScheduler should never miss a run; if it does, say so.
    event = SimpleNamespace(code=EVENT_JOB_MISSED, job_id="costs", scheduled_run_time="12:00")
    _log_event(event)
    assert "job costs missed its run due at 12:00" in caplog.text


def test_stop_signals_blocked_by_a_parent_still_stop_the_scheduler() -> None:
    stop, started = threading.Event(), threading.Event()
    scheduler = build_scheduler([Job("a", started.set, 3600)], stop)
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        _signal_when_ready(scheduler, started)
        assert run_until_signal(scheduler, stop, timeout=WAIT)
        assert signal.SIGTERM in signal.pthread_sigmask(signal.SIG_BLOCK, [])  # mask restored
    finally:
        signal.sigtimedwait({signal.SIGTERM}, 0)  # a SIGTERM left pending would end pytest
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


class _ClockPair:
    """A wall clock and a monotonic clock that move together until the wall one is stepped."""

    def __init__(self) -> None:
        self.wall, self.mono = 1_790_000_000.0, 5_000.0

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds


def test_clock_watch_tells_steps_from_ticks() -> None:
    clocks = _ClockPair()
    watch = ClockWatch(lambda: clocks.wall, lambda: clocks.mono, tolerance=2.0)
    clocks.advance(1.0)
    assert watch.step() == 0.0
    clocks.wall += 1.5  # a slew, or a slow round: below the tolerance
    assert watch.step() == 0.0
    clocks.advance(1.0)
    clocks.wall -= 90.0
    assert watch.step() == -90.0
    clocks.advance(1.0)
    assert watch.step() == 0.0  # measured from the last look, so a step is reported once
    clocks.wall += 3600.0
    assert watch.step() == 3600.0


def test_a_wall_clock_step_moves_every_next_run_with_it(caplog: pytest.LogCaptureFixture) -> None:
    """The host clock steps back 90 s: without the shift, APScheduler would hold each job 90 s
    longer than its interval (and nothing would run meanwhile)."""
    clocks = _ClockPair()
    watch = ClockWatch(lambda: clocks.wall, lambda: clocks.mono)
    stop, ran = threading.Event(), threading.Event()
    scheduler = build_scheduler(
        [Job("a", ran.set, 3600), Job("b", lambda: None, 600)], stop, clock_watch=watch
    )
    thread = threading.Thread(target=scheduler.start, daemon=True)
    thread.start()
    try:
        assert ran.wait(WAIT)  # first runs are immediate; next ones are an interval later
        deadline = time.monotonic() + WAIT
        while any(job.next_run_time is None for job in scheduler.get_jobs()):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        before = {job.id: job.next_run_time for job in scheduler.get_jobs()}
        clocks.wall -= 90.0
        with caplog.at_level(logging.WARNING, logger="poller.scheduler"):
            scheduler.wakeup()
            while any(job.next_run_time == before[job.id] for job in scheduler.get_jobs()):
                assert time.monotonic() < deadline
                time.sleep(0.01)
        after = {job.id: job.next_run_time for job in scheduler.get_jobs()}
    finally:
        scheduler.shutdown(wait=False)
        thread.join(WAIT)
    assert after == {key: when - timedelta(seconds=90) for key, when in before.items()}
    assert [r.getMessage() for r in caplog.records] == [
        "the wall clock stepped by -90 s: moved 2 jobs' next runs with it"
    ]
