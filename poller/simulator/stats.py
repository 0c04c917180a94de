"""What the simulator saw, for `GET /_sim/stats`: drills assert on it instead of on logs.

Counts responses per spec path template and status, faults injected per kind, throttled
requests, and *early retries*: requests a client sent before a `Retry-After` it had been given
had elapsed (to the exact `retry-after-ms` instant). Clients are told apart by a digest of their
bearer key, so no key is kept in memory or shown.
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from collections.abc import Iterable

from poller.simulator.model import JSON

__all__ = ["Stats"]


class Stats:
    """Thread-safe counters; `reset()` zeroes them and forgets pending retry deadlines."""

    def __init__(self, fault_kinds: Iterable[str]) -> None:
        self._fault_kinds = tuple(fault_kinds)
        self._lock = threading.Lock()
        self._requests: defaultdict[str, Counter[int]] = defaultdict(Counter)
        self._faults: Counter[str] = Counter()
        self._rate_limited = 0
        self._early_retries = 0
        self._retry_not_before: dict[str, float] = {}  # client -> earliest polite retry

    def arrived(self, client: str | None, now: float) -> None:
        """A request from `client` arrived at `now`: count it if it is an early retry."""
        if client is None:
            return
        with self._lock:
            if now < self._retry_not_before.get(client, float("-inf")):
                self._early_retries += 1

    def told_to_wait(self, client: str | None, until: float) -> None:
        """`client` was given a Retry-After ending at `until`."""
        if client is None:
            return
        with self._lock:
            self._retry_not_before[client] = max(until, self._retry_not_before.get(client, until))

    def answered(self, template: str, status: int) -> None:
        with self._lock:
            self._requests[template][status] += 1

    def fault(self, kind: str) -> None:
        with self._lock:
            self._faults[kind] += 1

    def rate_limited(self) -> None:
        with self._lock:
            self._rate_limited += 1

    def snapshot(self) -> JSON:
        with self._lock:
            return {
                "requests": {
                    template: {str(status): n for status, n in sorted(counts.items())}
                    for template, counts in sorted(self._requests.items())
                },
                "early_retries": self._early_retries,
                "faults": {kind: self._faults[kind] for kind in self._fault_kinds},
                "rate_limited": self._rate_limited,
            }

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self._faults.clear()
            self._rate_limited = 0
            self._early_retries = 0
            self._retry_not_before.clear()
