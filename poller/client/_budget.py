"""`ResultsBudget`: how many usage and costs results the whole process may hold at once.

A page's results are held from the request until its documents are written and the batch
committed (bytes, parsed models, documents), so what bounds memory is the sum of the pages in
flight, not the size of one: the daemon runs several jobs side by side, for one org or many, and
`backfill` reads one page ahead. Every client of the process shares one budget
(`PROCESS_BUDGET`), so memory is bounded by design, whatever the number of jobs and orgs.

A request reserves the results it expects (the page sizer's `limit` times the results per bucket
it learned) before it is sent, and waits while the reservation would take the process over the
budget. Waiting reservations are served in the order they came (a queue of tickets): a large one
is never starved by a stream of small ones slipping past it, which, with jobs that cycle every
few seconds, could otherwise keep it waiting for as long as they run. Three rules keep that from
ever blocking for good:

- a reservation larger than the whole budget proceeds alone, once nothing else is in flight;
- a thread that already holds a reservation never waits (it would wait for itself: a caller
  that reads two page generators at once);
- a wait ends when the stop request of the caller's run (`stop_waits`) is set: the reservation
  raises `BudgetStopped`, which the pipeline reads as "stopped before the next batch".

A hold is released when its batch is committed or dropped (the client's page generator resumes,
is closed, or fails); the memory it stood for is then garbage. Holds only move a counter: a
budget never allocates, frees or sees the results themselves.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Final

__all__ = [
    "DEFAULT_RESULTS_BUDGET",
    "PROCESS_BUDGET",
    "BudgetStopped",
    "Hold",
    "ResultsBudget",
    "stop_waits",
]

# Measured on the large org (docs/capacity.md): a usage result costs about 1 KB decoded until its
# page is released, its batch's ~2,000 several KB more each as models and documents, so 20,000
# results in flight are some 50 MiB above the process's own ~70 MiB.
# A full page (`max_results_per_page`, 30,000) is above it and so runs alone: the peak is that
# of one full page, whatever the number of jobs, orgs and streams.
DEFAULT_RESULTS_BUDGET: Final = 20_000
_POLL: Final = 0.25  # seconds between two looks at the stop request while waiting

_STOP: ContextVar[threading.Event | None] = ContextVar("poller_budget_stop", default=None)


class BudgetStopped(Exception):
    """A reservation gave up waiting: the run it was for was asked to stop."""


@contextmanager
def stop_waits(stop: threading.Event | None) -> Iterator[None]:
    """Within this block (in this thread or context), a reservation waiting for the budget
    gives up with `BudgetStopped` once `stop` is set, and one asked for after it does not wait."""
    token = _STOP.set(stop)
    try:
        yield
    finally:
        _STOP.reset(token)


class Hold:
    """Results reserved in a budget until `release()` (idempotent; a context manager too)."""

    def __init__(self, budget: ResultsBudget, results: int, thread: int | None) -> None:
        self._budget = budget
        self.results = results
        self.thread = thread  # the reserving thread; None for a charge
        self._released = False

    def resize(self, results: int) -> None:
        """The page came back with `results` (more or fewer than expected): count those. Never
        waits: the memory is already taken, so a larger page only makes the others wait."""
        if not self._released:
            self._budget._resize(self, max(0, results))

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._budget._release(self)

    def __enter__(self) -> Hold:
        return self

    def __exit__(self, *_: object) -> None:
        self.release()


class ResultsBudget:
    """A counter of results in flight, shared by threads; see the module docstring."""

    def __init__(self, capacity: int, *, poll: float = _POLL) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"a results budget must be a positive integer, got {capacity!r}")
        self.capacity = capacity
        self._poll = poll
        self._in_flight = 0
        self._holders: dict[int, int] = {}  # thread id -> holds it has open
        self._queue: deque[int] = deque()  # tickets of the reservations waiting, oldest first
        self._tickets = itertools.count()
        self._changed = threading.Condition()

    @property
    def in_flight(self) -> int:
        with self._changed:
            return self._in_flight

    @property
    def waiting(self) -> int:
        """Reservations waiting for the budget now."""
        with self._changed:
            return len(self._queue)

    def _fits(self, results: int, ticket: int) -> bool:
        if self._holders.get(threading.get_ident(), 0) > 0:
            return True  # it would wait for itself
        return self._queue[0] == ticket and (
            self._in_flight == 0 or self._in_flight + results <= self.capacity
        )

    def reserve(self, results: int) -> Hold:
        """Waits its turn until `results` fit (see the module docstring for when they always
        do)."""
        stop = _STOP.get()
        results = max(0, results)
        me = threading.get_ident()
        with self._changed:
            ticket = next(self._tickets)
            self._queue.append(ticket)
            try:
                while not self._fits(results, ticket):
                    if stop is not None and stop.is_set():
                        raise BudgetStopped("stop requested while waiting for the results budget")
                    self._changed.wait(self._poll if stop is not None else None)
            finally:
                self._queue.remove(ticket)
                self._changed.notify_all()  # the next in the queue may fit now
            self._in_flight += results
            self._holders[me] = self._holders.get(me, 0) + 1
            return Hold(self, results, me)

    def charge(self, results: int) -> Hold:
        """Counts `results` already in memory, without waiting: a batch handed to another
        thread to write (it does not make the charging thread a holder)."""
        with self._changed:
            self._in_flight += max(0, results)
            return Hold(self, max(0, results), None)

    def _resize(self, hold: Hold, results: int) -> None:
        with self._changed:
            self._in_flight += results - hold.results
            hold.results = results
            self._changed.notify_all()

    def _release(self, hold: Hold) -> None:
        with self._changed:
            self._in_flight -= hold.results
            if hold.thread is not None:
                left = self._holders.get(hold.thread, 0) - 1
                if left > 0:
                    self._holders[hold.thread] = left
                else:
                    self._holders.pop(hold.thread, None)
            self._changed.notify_all()


PROCESS_BUDGET: Final = ResultsBudget(DEFAULT_RESULTS_BUDGET)
