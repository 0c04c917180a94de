"""Item backoff: bounded, jittered, capped, and never a real sleep in tests."""

from __future__ import annotations

import random

import pytest

from poller.sinks.retry import Backoff


def test_full_jitter_stays_under_the_capped_exponential() -> None:
    slept: list[float] = []
    backoff = Backoff(retries=8, base=0.5, cap=10.0, sleep=slept.append, rng=random.Random(1))
    for attempt in range(backoff.retries):
        backoff.wait(attempt)
    assert [backoff.ceiling(n) for n in range(8)] == [0.5, 1, 2, 4, 8, 10, 10, 10]
    assert all(0 <= s <= backoff.ceiling(n) for n, s in enumerate(slept))
    assert len(set(slept)) == len(slept)  # jittered, not lock-step
    assert backoff.worst_case_seconds == 45.5


def test_negative_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        Backoff(retries=-1)
