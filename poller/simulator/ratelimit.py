"""`--rate-limit RPM`: a token bucket per client, so a poller can be tested against real throttling.

Each client (a bearer key) gets a bucket of `rpm` tokens that refills at `rpm / 60` per second and
starts full; a request takes one token. An empty bucket answers how long until the next token, which
the app turns into `Retry-After` (whole seconds, rounded up) and `retry-after-ms` (exact).
"""

from __future__ import annotations

import threading

__all__ = ["TokenBuckets"]

# A client that waits exactly the `retry-after-ms` it was given must get its token, whatever the
# float rounding of the refill: accept a bucket a hair under one token.
_EPSILON = 1e-9


class TokenBuckets:
    """Token buckets keyed by client; thread-safe. `rpm` below 1 still holds one whole token."""

    def __init__(self, rpm: float) -> None:
        if rpm <= 0:
            raise ValueError(f"rate limit must be positive, got {rpm}")
        self._capacity = max(1.0, rpm)
        self._per_second = rpm / 60.0
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, as of)
        self._lock = threading.Lock()

    def take(self, client: str, now: float) -> float:
        """Take a token: 0.0 on success, else the seconds until one is available."""
        with self._lock:
            tokens, as_of = self._buckets.get(client, (self._capacity, now))
            tokens = min(self._capacity, tokens + max(0.0, now - as_of) * self._per_second)
            if tokens >= 1.0 - _EPSILON:
                self._buckets[client] = (tokens - 1.0, now)
                return 0.0
            self._buckets[client] = (tokens, now)
            return (1.0 - tokens) / self._per_second
