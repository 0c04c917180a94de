"""The retry policy for one HTTP request to OpenAI: what to retry, how long to wait, when to stop.

It follows the official SDK (REFERENCE.md §1.3), with bounds a daemon needs:

- retried: transport errors, 408, 409, 429, 5xx, and a 2xx body that does not parse; the server's
  `x-should-retry: true|false` overrides the status;
- wait: `retry-after-ms`, else `Retry-After` (seconds or HTTP-date), plus a small margin so we
  never come back before the server's delay; a delay above `max_retry_after` means "not now":
  no retry, the error goes to the caller with its `retry_after`; without a usable header,
  `min(0.5 * 2**n, 8)` seconds scaled by a jitter factor in [0.75, 1];
- stop: after `max_attempts` attempts, or before a wait that would end past `max_elapsed`; a 429
  to a request the org's pacer had held to the server's pace (`poller.client._pacing`) is the
  server setting the pace, not a failure, and does not use up an attempt (only time) as long as
  other requests of the org are served meanwhile;
- fail fast (`fail_fast_first_connect`): a client whose very first request cannot connect
  (refused, unknown host) raises at once instead of retrying: a wrong base URL, not an outage.

Only single requests are retried, never a paginating generator (tenacity cannot retry one, and
a page the caller has committed must not be fetched again).
"""

from __future__ import annotations

import email.utils
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from typing import Final, TypeVar

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from poller.client._pacing import RETRY_AFTER_MARGIN
from poller.errors import PollerError

__all__ = [
    "INITIAL_BACKOFF",
    "MAX_BACKOFF",
    "RETRY_AFTER_MARGIN",
    "AttemptFailed",
    "RetryPolicy",
    "backoff",
    "retryable_status",
]

logger = logging.getLogger(__name__)

INITIAL_BACKOFF: Final = 0.5
MAX_BACKOFF: Final = 8.0

T = TypeVar("T")


def retryable_status(status: int) -> bool:
    """The statuses the SDK retries: 408 (timeout), 409 (lock), 429 (rate limit), 5xx."""
    return status in (408, 409, 429) or status >= 500


def backoff(failed_attempts: int, jitter: float) -> float:
    """The SDK's backoff after `failed_attempts` failures; `jitter` is uniform in [0, 1)."""
    base = min(INITIAL_BACKOFF * 2.0 ** (failed_attempts - 1), MAX_BACKOFF)
    return base * (1.0 - 0.25 * jitter)


class AttemptFailed(Exception):
    """An attempt failed in a way worth retrying; `error` is what the caller gets if it was the
    last. `delay` is the server's requested wait in seconds, None to back off. `paced`: the
    attempt was sent in a slot of the org's pacer; `counted` False: it costs time, not one of
    `max_attempts` (a throttled request waiting its turn, see `poller.client._exchange`)."""

    def __init__(self, error: PollerError, *, reason: str, delay: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.reason = reason
        self.delay = delay
        self.paced = False
        self.counted = True


@dataclass(frozen=True)
class RetryPolicy:
    """How one request is retried. Time and randomness are injectable: tests take no time."""

    max_attempts: int = 6
    max_elapsed: float = 120.0
    max_retry_after: float = 120.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic  # bounds the total time
    wall_clock: Callable[[], float] = time.time  # for an HTTP-date without a `Date` header
    jitter: Callable[[], float] = random.random
    fail_fast_first_connect: bool = False  # backfill, doctor: a wrong URL is one line, at once

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.max_elapsed <= 0 or self.max_retry_after < 0:
            raise ValueError("need max_attempts >= 1, max_elapsed > 0, max_retry_after >= 0")

    def server_delay(self, headers: httpx.Headers) -> float | None:
        """Seconds the server asks us to wait, None when it names no positive delay.

        `retry-after-ms` first, else `Retry-After` as seconds or as an HTTP-date; a date is
        measured from the response's own `Date` header when it has one, immune to clock skew.
        """
        delay = _number(headers.get("retry-after-ms"))
        if delay is not None:
            delay /= 1000.0
        elif (value := headers.get("retry-after")) is not None:
            delay = _number(value)
            if delay is None and (when := _http_date(value)) is not None:
                now = _http_date(headers.get("date", ""))
                delay = when - (now if now is not None else self.wall_clock())
        return delay if delay is not None and delay > 0 else None

    def failure(
        self, endpoint: str, response: httpx.Response, error: PollerError, delay: float | None
    ) -> PollerError | AttemptFailed:
        """What to raise for a failed `response`: `AttemptFailed` to retry it, else `error`.
        `delay` is `server_delay(response.headers)`."""
        verdict = response.headers.get("x-should-retry", "").lower()
        retry = verdict == "true" or (verdict != "false" and retryable_status(response.status_code))
        if not retry:
            return error
        if delay is not None and delay > self.max_retry_after:
            logger.warning(
                "%s answered %d asking to wait %.0f s, over the %.0f s cap: not retrying now",
                endpoint,
                response.status_code,
                delay,
                self.max_retry_after,
            )
            return error
        return AttemptFailed(error, reason=str(response.status_code), delay=delay)

    def run(
        self, attempt: Callable[[], T], on_retry: Callable[[AttemptFailed, float, int], None]
    ) -> T:
        """Call `attempt` until it returns, raises anything but `AttemptFailed`, or the policy
        stops; then raise the last attempt's error. `on_retry(failure, wait, attempt_number)`
        hears of each wait before it starts."""
        retrying = Retrying(
            sleep=lambda seconds: self.sleep(float(seconds)),
            stop=_StopAfterCountedAttempts(self.max_attempts)
            | _StopAtDeadline(self.clock, self.clock() + self.max_elapsed),
            wait=_ServerDelayOrBackoff(self.jitter),
            retry=retry_if_exception_type(AttemptFailed),
            before_sleep=lambda state: on_retry(
                _failed(state), state.upcoming_sleep, state.attempt_number
            ),
            reraise=True,
        )
        try:
            return retrying(attempt)
        except AttemptFailed as failed:
            raise failed.error from failed.__cause__


class _StopAfterCountedAttempts(stop_base):
    """tenacity's `stop_after_attempt`, except that a failure with `counted=False` is free."""

    def __init__(self, max_attempts: int) -> None:
        self._left = max_attempts

    def __call__(self, retry_state: RetryCallState) -> bool:
        if _failed(retry_state).counted:
            self._left -= 1
        return self._left <= 0


class _StopAtDeadline(stop_base):
    """Stop rather than sleep past the deadline (tenacity's own clock is not injectable)."""

    def __init__(self, clock: Callable[[], float], deadline: float) -> None:
        self._clock = clock
        self._deadline = deadline

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self._clock() + retry_state.upcoming_sleep > self._deadline


class _ServerDelayOrBackoff(wait_base):
    def __init__(self, jitter: Callable[[], float]) -> None:
        self._jitter = jitter

    def __call__(self, retry_state: RetryCallState) -> float:
        failed = _failed(retry_state)
        if failed.delay is not None:
            return failed.delay + RETRY_AFTER_MARGIN
        return backoff(retry_state.attempt_number, self._jitter())


def _failed(retry_state: RetryCallState) -> AttemptFailed:
    exc = retry_state.outcome.exception() if retry_state.outcome else None
    if not isinstance(exc, AttemptFailed):  # pragma: no cover - the retry predicate ensures it
        raise TypeError(f"retrying after {exc!r}, not after an AttemptFailed")
    return exc


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _http_date(value: str) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()  # "-0000" is UTC
