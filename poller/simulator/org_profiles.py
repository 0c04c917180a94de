"""How one finest-grain row ("combo") draws its totals for a day.

A profile turns the day's activity level of its traffic source into a row of leaf counters
(see org_metrics.py), the first being the driver the splits follow. Profiles only ever see
their own generator, the day and the activity, so a day's numbers depend on nothing else.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import ClassVar, Protocol

from poller.simulator.org_split import Row

__all__ = ["CountProfile", "Profile", "StorageProfile", "TokenProfile"]

_DAY_NOISE = 0.35  # sigma of the log-normal day-to-day variation of a combo's volume


class Profile(Protocol):
    flat: ClassVar[bool]  # spread evenly over the day (storage) instead of following traffic

    def day_row(self, rng: random.Random, day: int, activity: float) -> Row | None: ...


def _count(rng: random.Random, mean: float) -> int:
    """A count around `mean` with log-normal day-to-day noise; the fraction rounds at random."""
    if mean <= 0.0:
        return 0
    return int(mean * math.exp(_DAY_NOISE * rng.gauss(0.0, 1.0)) + rng.random())


def _jitter(rng: random.Random, spread: float) -> float:
    return 1.0 - spread + 2.0 * spread * rng.random()


@dataclass(frozen=True)
class TokenProfile:
    """Completions: requests, then input and output tokens split by cache state and modality."""

    flat: ClassVar[bool] = False
    rate: float  # requests per day at activity 1
    input_per_request: float
    output_per_request: float
    cached_share: float  # of input, once the model caches prompts
    caching_from_day: int
    cache_write_share: float
    audio_in_share: float  # of uncached and of cached input
    image_in_share: float
    audio_out_share: float
    image_out_share: float

    def day_row(self, rng: random.Random, day: int, activity: float) -> Row | None:
        requests = _count(rng, self.rate * activity)
        if not requests:
            return None
        tokens_in = int(requests * self.input_per_request * _jitter(rng, 0.2))
        tokens_out = int(requests * self.output_per_request * _jitter(rng, 0.3))
        caching = self.cached_share if day >= self.caching_from_day else 0.0
        cached = int(tokens_in * caching * _jitter(rng, 0.3))
        cache_write = int(tokens_in * self.cache_write_share)
        uncached = tokens_in - cached - cache_write
        audio_in, image_in = (
            int(uncached * self.audio_in_share),
            int(uncached * self.image_in_share),
        )
        cached_audio = int(cached * self.audio_in_share)
        cached_image = int(cached * self.image_in_share)
        audio_out = int(tokens_out * self.audio_out_share)
        image_out = int(tokens_out * self.image_out_share)
        return (
            requests,
            uncached - audio_in - image_in,
            audio_in,
            image_in,
            cached - cached_audio - cached_image,
            cached_audio,
            cached_image,
            cache_write,
            tokens_out - audio_out - image_out,
            audio_out,
            image_out,
        )


@dataclass(frozen=True)
class CountProfile:
    """A driver count and counters proportional to it (tokens, images, seconds, searches)."""

    flat: ClassVar[bool] = False
    rate: float  # driver units per day at activity 1
    per_unit: tuple[float, ...]  # each further counter per driver unit
    spread: float = 0.2

    def day_row(self, rng: random.Random, day: int, activity: float) -> Row | None:
        count = _count(rng, self.rate * activity)
        if not count:
            return None
        scale = count * _jitter(rng, self.spread)
        return (count, *(int(scale * ratio) for ratio in self.per_unit))


@dataclass(frozen=True)
class StorageProfile:
    """Vector store bytes: a level that grows steadily, present every day, evenly spread.

    The Usage API's `usage_bytes` is a level, but the simulator treats it as additive: a minute
    carries 1/1440 of the day's level, so any bucket's sum counts byte-days and a 1d bucket
    shows the day's level. Activity does not matter: storage is kept on quiet days too.
    """

    flat: ClassVar[bool] = True
    base_bytes: float
    growth_per_day: float  # relative to base_bytes
    first_day: int

    def day_row(self, rng: random.Random, day: int, activity: float) -> Row | None:
        level = self.base_bytes * (1.0 + self.growth_per_day * (day - self.first_day))
        return (max(1, int(level * _jitter(rng, 0.02))),)
