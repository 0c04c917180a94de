"""Item backoff: bounded, jittered, capped, and never a real sleep in tests."""

from __future__ import annotations

import random

import pytest

from poller.sinks.elasticsearch import Backoff, ItemRetry


def test_full_jitter_stays_under_the_capped_exponential() -> None:
    slept: list[float] = []
    backoff = Backoff(retries=8, base=0.5, cap=10.0)
    retry = ItemRetry(backoff, sleep=slept.append, rng=random.Random(1))
    waited = [retry.wait(attempt) for attempt in range(backoff.retries)]
    assert [backoff.ceiling(n) for n in range(8)] == [0.5, 1, 2, 4, 8, 10, 10, 10]
    assert waited == slept
    assert all(0 <= s <= backoff.ceiling(n) for n, s in enumerate(slept))
    assert len(set(slept)) == len(slept)  # jittered, not lock-step
    assert backoff.worst_case_seconds == 45.5


def test_the_defaults_are_the_documented_ones() -> None:
    retry = ItemRetry()
    assert (retry.backoff, retry.conflicts, retry.max_seconds) == (Backoff(5, 1.0, 30.0), 3, None)
    assert retry.backoff.worst_case_seconds == 31.0


def test_negative_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        Backoff(retries=-1, base=1.0, cap=1.0)
    with pytest.raises(ValueError, match="must not be negative"):
        Backoff(retries=1, base=-1.0, cap=1.0)
    with pytest.raises(ValueError, match="max_seconds must not be negative"):
        ItemRetry(max_seconds=-1.0)
