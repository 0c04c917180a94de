"""`OrgPacer`: one organization's requests, held through a server's pause and let out at its pace.

A Retry-After is about the key (OpenAI's rate limits are per organization), and the daemon's jobs
of an org share one client: a job that sent a request while another waited out a 429 would be
retrying early in the server's eyes. Holding everyone until the pause ends is not enough either:
if every waiting job left in the same millisecond, the first would take the one request the
server has room for and the others would be throttled again, each of them early with respect to
the Retry-After the first had just been given.

Nor may a request be on its way while another's 429 is being answered: the server would count it
as early too. So one request of an org at a time waits for its answer's status line (the body
is read outside the turn), and the others queue behind it.

After a 429 the pacer also hands out *slots*: the first at the end of the pause, each next one
`interval` later, one request per slot. The interval starts at the server's delay (when a bucket
is empty, the wait for one request is the time it takes to refill one), grows by the delay of
every further 429 (the pace was that much too fast), and shrinks by a tenth on every request
served, so the pacer creeps back towards the server's real rate and leaves pacing once the
interval is negligible. Growing by the delay rather than doubling keeps random 429s (a fault,
not a rate) from slowing the pace without bound: they add what they ask for, no more. A new
pause voids the slots handed out before it: their holders take new ones after it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Final

__all__ = ["OrgPacer"]

# Added to every server-given delay, so timer granularity never makes a retry early.
RETRY_AFTER_MARGIN: Final = 0.01
_SPEED_UP: Final = 0.9  # interval factor per request served while paced
_MAX_INTERVAL: Final = 60.0
_MIN_INTERVAL: Final = 0.005  # below this the pacer stops pacing
_POLL: Final = 0.01  # how often a queued request looks for its turn, through the injected sleep


class OrgPacer:
    """Thread-safe. `clock` and `sleep` are injectable: tests run on fake time."""

    def __init__(self, clock: Callable[[], float], sleep: Callable[[float], None]) -> None:
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._until = float("-inf")  # the server's pause ends here
        self._next_slot = float("-inf")  # the next free slot while pacing
        self._interval = 0.0  # 0: not pacing
        self._epoch = 0  # bumped by every pause; a slot of an older epoch is void
        self._served = 0  # requests answered without a pause, ever: the org's progress
        self._sending = threading.Lock()  # held by the one request waiting for its status

    @property
    def pacing(self) -> bool:
        with self._lock:
            return self._interval > 0

    @property
    def interval(self) -> float:
        with self._lock:
            return self._interval

    @property
    def progress(self) -> int:
        """How many requests were answered without a pause so far: a request throttled again
        while this moved on is waiting its turn at the server's pace, not failing."""
        with self._lock:
            return self._served

    @contextmanager
    def turn(self) -> Iterator[bool]:
        """Wait for this request's turn and hold it until the block ends: send the request and
        tell the pacer how it was answered (`throttled` or `served`) inside it. Yields True when
        the request was paced (sent in a slot chosen after a pause), so the caller knows a 429 to
        it is the server's pace. Waiting goes through the injected sleep, so a stop request ends
        it."""
        while True:
            paced, epoch = self._slot()
            while not self._sending.acquire(blocking=False):
                self._sleep(_POLL)
            with self._lock:
                fresh = epoch == self._epoch
            if fresh:
                break
            self._sending.release()  # a pause began while we queued: take a slot after it
        try:
            yield paced
        finally:
            self._sending.release()

    def _slot(self) -> tuple[bool, int]:
        """Sleep until a slot of the current pause: (paced, the pause's epoch)."""
        while True:
            with self._lock:
                now = self._clock()
                if self._interval <= 0:
                    slot, paced = self._until, False
                else:
                    slot = max(now, self._until, self._next_slot)
                    self._next_slot = slot + self._interval
                    paced = True
                epoch = self._epoch
            if slot > now:
                self._sleep(slot - now)
            with self._lock:
                if epoch == self._epoch:
                    return paced, epoch

    def throttled(self, delay: float) -> None:
        """The server answered 429 (or named a delay) asking to wait `delay` seconds from now."""
        with self._lock:
            self._until = max(self._until, self._clock() + delay + RETRY_AFTER_MARGIN)
            self._next_slot = self._until
            if self._interval > 0:
                self._interval = min(self._interval + delay, _MAX_INTERVAL)
            else:
                self._interval = min(max(delay, _MIN_INTERVAL), _MAX_INTERVAL)
            self._epoch += 1

    def served(self) -> None:
        """A request got an answer other than a pause: speed the pace up a little."""
        with self._lock:
            self._served += 1
            if self._interval <= 0:
                return
            self._interval *= _SPEED_UP
            if self._interval < _MIN_INTERVAL:
                self._interval = 0.0
