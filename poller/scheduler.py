"""The daemon's clock: APScheduler 3.x jobs on intervals, and a stop that always ends in time.

Job settings follow the reliability anchors (§B.6): `IntervalTrigger` in UTC (cron triggers had
DST bugs), `misfire_grace_time=None` (the 1 s default silently drops runs after a pause),
`coalesce=True` and `max_instances=1` (a late job runs once, never beside itself), and listeners
that log job errors, misses and skipped runs once each. APScheduler has no coordination between
processes: run one replica.

APScheduler keeps its next run times on the wall clock: a host clock stepping back 90 s would
hold every job 90 s longer (and one stepping forward would make them all due at once). The
scheduler's loop compares how far the wall clock and the monotonic clock moved since its last
round (`ClockWatch`), and moves every next run time by the step, so intervals keep to the
monotonic clock. The daemon's stale-cycle liveness check (`poller.health.CycleHealth`) catches
any other stall.

On SIGTERM or SIGINT, `run_until_signal` sets a stop event that jobs check between pages, shuts
the scheduler down from another thread (doing it inside the handler could deadlock on the
scheduler's own locks), and returns within the shutdown timeout even if a job ignores the event.
Jobs run in daemon threads so an overrunning job cannot hold the process open; abandoning one is
safe because cursors only move after the sink acknowledged a write.
"""

from __future__ import annotations

import logging
import math
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_SCHEDULER_STARTED,
)
from apscheduler.executors.base import BaseExecutor, run_job
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

__all__ = ["ClockWatch", "Job", "Scheduler", "build_scheduler", "run_until_signal"]

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# A process-directed signal may land in any thread that does not block it (the kernel picks a
# running job's thread while the main one sleeps), and Python runs its handler only in the main
# thread, once that wakes. The scheduler's loop sleeps until the next due job (minutes), so it
# never sleeps longer than this: a SIGTERM is seen within a second, wherever it landed.
SIGNAL_POLL_SECONDS = 1.0
# A wall clock that moved this much more or less than the monotonic one between two rounds of
# the loop (at most SIGNAL_POLL_SECONDS apart, plus a slow round) was stepped, not slewed.
STEP_TOLERANCE_SECONDS = 2.0


class ClockWatch:
    """Tells how far the wall clock was stepped since the last look (0.0 when it was not)."""

    def __init__(
        self,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        tolerance: float = STEP_TOLERANCE_SECONDS,
    ) -> None:
        self._wall, self._monotonic, self._tolerance = wall, monotonic, tolerance
        self._last = (wall(), monotonic())

    def step(self) -> float:
        wall, monotonic = self._wall(), self._monotonic()
        step = (wall - self._last[0]) - (monotonic - self._last[1])
        self._last = (wall, monotonic)
        return step if abs(step) >= self._tolerance else 0.0


@dataclass(frozen=True)
class Job:
    """A function to call every `interval_seconds`, delayed by up to `jitter` seconds each time.

    The first run is immediate. Long jobs should return early once the stop event is set.
    """

    id: str
    func: Callable[[], None]
    interval_seconds: float
    jitter: float = 0.0

    def __post_init__(self) -> None:
        if self.interval_seconds <= 0:
            raise ValueError(f"job {self.id!r}: interval_seconds must be positive")
        if self.jitter < 0:
            raise ValueError(f"job {self.id!r}: jitter cannot be negative")


class _DaemonThreadExecutor(BaseExecutor):  # type: ignore[misc]  # apscheduler is untyped
    """Runs each job in its own daemon thread, at most `max_workers` at once.

    APScheduler's ThreadPoolExecutor uses worker threads the interpreter joins at exit, so a
    job stuck in a request would keep the process alive past its shutdown timeout.
    """

    def __init__(self, max_workers: int) -> None:
        super().__init__()
        self._slots = threading.BoundedSemaphore(max_workers)
        self._threads: set[threading.Thread] = set()
        self._threads_lock = threading.Lock()

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        thread = threading.Thread(
            target=self._run, args=(job, run_times), name=f"job:{job.id}", daemon=True
        )
        with self._threads_lock:
            self._threads.add(thread)
        thread.start()

    def _run(self, job: Any, run_times: list[datetime]) -> None:
        try:
            with self._slots:
                events = run_job(job, job._jobstore_alias, run_times, self._logger.name)
        except BaseException as exc:  # noqa: BLE001 - run_job catches job errors; this is its own
            self._run_job_error(job.id, exc, exc.__traceback__)
        else:
            self._run_job_success(job.id, events)
        finally:
            with self._threads_lock:
                self._threads.discard(threading.current_thread())

    def wait_idle(self, deadline: float = math.inf, give_up: threading.Event | None = None) -> bool:
        """Wait until no job runs (True), `deadline` (monotonic) passes or `give_up` is set."""
        while True:
            with self._threads_lock:
                running = next(iter(self._threads), None)
            if running is None:
                return True
            left = deadline - time.monotonic()
            if left <= 0 or (give_up is not None and give_up.is_set()):
                return False
            running.join(min(left, 0.05))  # short, so a second signal is noticed at once

    def shutdown(self, wait: bool = True) -> None:
        if wait:
            self.wait_idle()


class Scheduler(BlockingScheduler):  # type: ignore[misc]  # apscheduler is untyped
    """A BlockingScheduler (UTC, job defaults above) whose jobs can be waited for with a bound."""

    def __init__(self, max_workers: int, clock_watch: ClockWatch | None = None) -> None:
        self._jobs = _DaemonThreadExecutor(max_workers)
        self._clock_watch = clock_watch if clock_watch is not None else ClockWatch()
        super().__init__(
            timezone=UTC,
            executors={"default": self._jobs},
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
        )

    def wait_for_jobs(self, deadline: float, give_up: threading.Event) -> bool:
        """True once no job runs; False at `deadline` (monotonic) or when `give_up` is set."""
        return self._jobs.wait_idle(deadline, give_up)

    def _process_jobs(self) -> float:
        """APScheduler's round of due jobs, after following any step of the wall clock;
        returns how long its loop may sleep."""
        step = self._clock_watch.step()
        if step:
            self._follow_step(step)
        wait: float | None = super()._process_jobs()
        return SIGNAL_POLL_SECONDS if wait is None else min(wait, SIGNAL_POLL_SECONDS)

    def _follow_step(self, step: float) -> None:
        moved = 0
        for job in self.get_jobs():
            if job.next_run_time is not None:
                job.modify(next_run_time=job.next_run_time + timedelta(seconds=step))
                moved += 1
        log.warning("the wall clock stepped by %+.0f s: moved %d jobs' next runs with it",
                    step, moved)


def _log_event(event: Any) -> None:
    if event.code == EVENT_JOB_ERROR:
        exc = event.exception
        log.error(
            "job %s failed: %s", event.job_id, exc, exc_info=(type(exc), exc, exc.__traceback__)
        )
    elif event.code == EVENT_JOB_MISSED:
        log.warning("job %s missed its run due at %s", event.job_id, event.scheduled_run_time)
    else:  # EVENT_JOB_MAX_INSTANCES
        log.warning(
            "job %s is still running; skipped the run due at %s",
            event.job_id,
            event.scheduled_run_times[-1],
        )


def build_scheduler(
    jobs: Sequence[Job],
    stop: threading.Event,
    *,
    max_workers: int = 4,
    clock_watch: ClockWatch | None = None,
) -> Scheduler:
    """A scheduler running `jobs` (none of them once `stop` is set), `max_workers` at a time."""
    ids = [job.id for job in jobs]
    if len(set(ids)) != len(ids):
        raise ValueError(f"job ids must be unique: {sorted(ids)}")
    # Our listener reports each job error, miss and skipped run once; APScheduler would log
    # them again (errors with a second traceback), so its loggers keep only their own failures.
    logging.getLogger("apscheduler.executors.default").setLevel(logging.CRITICAL)
    logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
    scheduler = Scheduler(max_workers, clock_watch)
    scheduler.add_listener(_log_event, EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
    now = datetime.now(UTC)
    for job in jobs:
        scheduler.add_job(
            _unless_stopped(job.func, stop),
            IntervalTrigger(seconds=job.interval_seconds, jitter=job.jitter or None, timezone=UTC),
            id=job.id,
            name=job.id,
            next_run_time=now,
        )
    return scheduler


def _unless_stopped(func: Callable[[], None], stop: threading.Event) -> Callable[[], None]:
    def run() -> None:
        if not stop.is_set():  # a run that waited for a worker slot while we began to stop
            func()

    return run


def run_until_signal(
    scheduler: Scheduler,
    stop: threading.Event,
    on_stop: Callable[[], None] | None = None,
    *,
    timeout: float = 30.0,
) -> bool:
    """Run `scheduler` in this (main) thread until SIGTERM or SIGINT, then stop it.

    On the first signal: set `stop`, and from another thread call `on_stop` (e.g. tell systemd
    STOPPING=1) and shut the scheduler down; then wait up to `timeout` seconds for running jobs.
    A second signal stops waiting. Returns True when every job finished in time, False when
    some were abandoned. The handlers are installed once the scheduler has started (before
    that, the default handlers end a process with nothing to lose) and restored on return.

    `shutdown(wait=True)` is not used: it holds the scheduler's job-store lock while it waits,
    so the scheduler's main loop could not return before the slowest job.
    """
    # The handler only records and sets events: logging or starting a thread from a signal
    # handler can deadlock or garble output if the signal lands inside the same call.
    received: list[str] = []
    deadline: list[float] = []
    requested, give_up = threading.Event(), threading.Event()
    previous: dict[signal.Signals, Any] = {}
    blocked: list[set[int | signal.Signals]] = []

    def stopper() -> None:
        requested.wait()
        if not received:
            return  # the scheduler stopped without a signal
        log.info("received %s: stopping (up to %g s for running jobs)", received[0], timeout)
        if on_stop is not None:
            try:
                on_stop()
            except Exception:
                log.exception("on_stop failed; stopping anyway")
        scheduler.shutdown(wait=False)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        received.append(signal.Signals(signum).name)
        if len(received) > 1:
            give_up.set()
            return
        deadline.append(time.monotonic() + timeout)
        stop.set()
        requested.set()

    def install(_event: Any) -> None:
        for signum in STOP_SIGNALS:
            previous[signum] = signal.signal(signum, on_signal)
        # A parent may hand us these signals blocked; then they would never reach the handler.
        blocked.append(signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS))

    threading.Thread(target=stopper, name="scheduler-stop", daemon=True).start()
    scheduler.add_listener(install, EVENT_SCHEDULER_STARTED)
    try:
        scheduler.start()
        # Without a signal, someone else's shutdown() stopped us.
        finished = not deadline or scheduler.wait_for_jobs(deadline[0], give_up)
    finally:
        if blocked:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked[0])
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        requested.set()  # lets the stopper thread end if no signal came
    if give_up.is_set():
        log.warning("received %s again: not waiting for running jobs", received[-1])
    if not finished:
        log.error("jobs still running after %g s; exiting without them", timeout)
    return finished
