"""Retry policies of the Elasticsearch sink: bounded, jittered exponential backoff.

Retries are split between two layers, and only two:

* the *transport* retries a whole request on connection errors, timeouts and 429/502/503/504,
  `EsConnection.retry.retries` times with full-jitter backoff;
* the sink's own loop retries *items* of a bulk response that came back 429 or 5xx, and
  re-reads and retries revisions that met a 409 (`ItemRetry`); nothing else in the sink
  retries. A bulk request that mostly succeeded is never resent whole, only the items the
  cluster asked us to try again.

Sleeps and the clock go through `ItemRetry`, so tests run in zero real time and can assert the
worst case.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Backoff", "ItemRetry"]


@dataclass(frozen=True)
class Backoff:
    """Full-jitter exponential backoff: retry n sleeps `uniform(0, min(cap, base * 2**n))`.

    `retries` bounds the number of sleeps; `worst_case_seconds` is their largest possible sum.
    """

    retries: int
    base: float
    cap: float

    def __post_init__(self) -> None:
        if self.retries < 0 or self.base < 0 or self.cap < 0:
            raise ValueError("backoff retries, base and cap must not be negative")

    def ceiling(self, attempt: int) -> float:
        """The longest sleep before retry number `attempt` (0-based)."""
        return min(self.cap, self.base * 2.0**attempt)

    def delay(self, attempt: int, rng: random.Random) -> float:
        return rng.uniform(0.0, self.ceiling(attempt))

    @property
    def worst_case_seconds(self) -> float:
        return sum(self.ceiling(n) for n in range(self.retries))


@dataclass(frozen=True)
class ItemRetry:
    """How a write retries what one bulk answer did not store.

    429/5xx items are sent again after `backoff`; a revision that met a 409 is re-read and
    retried at most `conflicts` times; no further round starts once `max_seconds` have passed
    since the write began (None: no limit beyond the retry counts).
    """

    backoff: Backoff = field(default_factory=lambda: Backoff(retries=5, base=1.0, cap=30.0))
    conflicts: int = 3
    max_seconds: float | None = None
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        if self.conflicts < 0:
            raise ValueError("conflict retries must not be negative")
        if self.max_seconds is not None and self.max_seconds < 0:
            raise ValueError("max_seconds must not be negative")

    def wait(self, attempt: int) -> float:
        """Sleep before item retry number `attempt` and return how long."""
        seconds = self.backoff.delay(attempt, self.rng)
        self.sleep(seconds)
        return seconds
