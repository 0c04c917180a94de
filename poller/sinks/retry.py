"""Bounded, jittered exponential backoff for the items a sink may retry (429 and 5xx).

The sinks own the *item* retry loop themselves: a bulk request that mostly succeeded is never
resent whole, only the items the cluster asked us to try again. Sleeps go through an injectable
`sleep` so tests run in zero real time and can assert the worst case.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Backoff"]


@dataclass(frozen=True)
class Backoff:
    """Full-jitter exponential backoff: retry n sleeps `uniform(0, min(cap, base * 2**n))`.

    `retries` bounds the number of sleeps; `worst_case_seconds` is their largest possible sum.
    """

    retries: int = 5
    base: float = 1.0
    cap: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        if self.retries < 0 or self.base < 0 or self.cap < 0:
            raise ValueError("backoff retries, base and cap must not be negative")

    def ceiling(self, attempt: int) -> float:
        """The longest sleep before retry number `attempt` (0-based)."""
        return min(self.cap, self.base * 2.0**attempt)

    def delay(self, attempt: int) -> float:
        return self.rng.uniform(0.0, self.ceiling(attempt))

    def wait(self, attempt: int) -> float:
        """Sleep before retry number `attempt` and return how long."""
        seconds = self.delay(attempt)
        self.sleep(seconds)
        return seconds

    @property
    def worst_case_seconds(self) -> float:
        return sum(self.ceiling(n) for n in range(self.retries))
