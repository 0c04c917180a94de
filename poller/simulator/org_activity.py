"""When traffic happens: per traffic source, a level per day and a shape per day and per hour.

A *source* is an API key (or a project, for project-level streams). Every combo of a source
follows its source, so an app's models rise and fall together, as real apps do. The level
carries the weekly rhythm (quiet weekends), slow growth, idle days and bursts; the hour shape
carries UTC working hours and the burst hour; the minute shape is drawn from a seeded pool of
steady, clustered and spiky minute profiles.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from poller.simulator.org_rng import make_rng
from poller.simulator.org_split import cumulative
from poller.simulator.org_time import EPOCH, HOUR

__all__ = ["Activity", "DayLevels", "Marks", "Source", "trend"]

Marks = tuple[float, ...]


@dataclass(frozen=True)
class Source:
    kind: str  # "user" | "service" | "project"
    first_day: int  # first day with traffic
    end_day: int  # first day without (archiving); exclusive


def _diurnal(floor: float, peak_hour: float, width: float) -> tuple[float, ...]:
    return tuple(floor + math.exp(-(((h + 0.5 - peak_hour) / width) ** 2)) for h in range(24))


# Peak at 14:00 UTC: European afternoons overlap American mornings.
_HOURS: Final = {
    "user": _diurnal(0.06, 14.5, 3.5),
    "service": _diurnal(0.8, 14.0, 5.0),
    "project": _diurnal(0.15, 14.5, 4.0),
}
_WEEK: Final = {  # Monday first; the epoch is a Monday
    "user": (1.0, 1.05, 1.05, 1.0, 0.85, 0.22, 0.18),
    "service": (1.0, 1.0, 1.0, 1.0, 1.0, 0.65, 0.6),
    "project": (1.0, 1.0, 1.0, 1.0, 0.9, 0.35, 0.3),
}
_IDLE: Final = {  # chance of a day without any traffic: (weekday, weekend)
    "user": (0.08, 0.55),
    "service": (0.02, 0.05),
    "project": (0.05, 0.3),
}
_MINUTE_STYLES: Final = {  # weights of steady, clustered and spiky minute profiles
    "user": (0.2, 0.7, 0.1),
    "service": (0.8, 0.05, 0.15),
    "project": (0.4, 0.5, 0.1),
}
_BURST_CHANCE: Final = 0.03  # per source and day: one hour at several times the normal load
_POOL: Final = 64  # minute profiles per source kind


def trend(day: int) -> float:
    """Slow linear growth: half today's volume at the epoch, twice it by late 2026."""
    return 0.5 + max(day, 0) / 700.0


@dataclass(frozen=True)
class DayLevels:
    levels: tuple[float, ...]  # per source; 0.0 when idle or not alive
    bursts: dict[int, tuple[int, float]]  # source -> (hour, factor)


class Activity:
    """Seeded, cached activity of every source; all methods are pure functions of their args."""

    def __init__(self, seed: int, sources: Sequence[Source]) -> None:
        self._seed = seed
        self._sources = tuple(sources)
        pools = {kind: _minute_pool(make_rng(seed, "minute-pool", kind), kind) for kind in _HOURS}
        self._pools = tuple(pools[source.kind] for source in self._sources)
        self.levels = lru_cache(maxsize=2048)(self._levels)
        self.hour_marks = lru_cache(maxsize=64)(self._hour_marks)
        self.minute_marks = lru_cache(maxsize=256)(self._minute_marks)

    def _levels(self, day: int) -> DayLevels:
        rng = make_rng(self._seed, "activity", day)
        weekday, growth = day % 7, trend(day)
        weekend = weekday >= 5
        levels, bursts = [], {}
        for index, source in enumerate(self._sources):
            idle = rng.random() < _IDLE[source.kind][weekend]
            noise = math.exp(0.25 * rng.gauss(0.0, 1.0))
            if rng.random() < _BURST_CHANCE:
                hours = _HOURS[source.kind]
                hour = rng.choices(range(24), hours)[0]
                factor = rng.uniform(3.0, 8.0)
                bursts[index] = (hour, factor)
                noise *= 1.0 + (factor - 1.0) * hours[hour] / sum(hours)
            alive = source.first_day <= day < source.end_day
            level = _WEEK[source.kind][weekday] * growth * noise
            levels.append(level if alive and not idle else 0.0)
        return DayLevels(tuple(levels), bursts)

    def _hour_marks(self, day: int) -> tuple[Marks, ...]:
        """Per source, cumulative shares of the day's 24 hours."""
        rng = make_rng(self._seed, "hours", day)
        bursts = self.levels(day).bursts
        marks = []
        for index, source in enumerate(self._sources):
            weights = [w * (0.6 + 0.8 * rng.random()) for w in _HOURS[source.kind]]
            if index in bursts:
                hour, factor = bursts[index]
                weights[hour] *= factor
            marks.append(cumulative(weights))
        return tuple(marks)

    def _minute_marks(self, hour_start: int) -> tuple[Marks, ...]:
        """Per source, cumulative shares of the hour's 60 minutes."""
        rng = make_rng(self._seed, "minutes", (hour_start - EPOCH) // HOUR)
        return tuple(pool[int(rng.random() * _POOL)] for pool in self._pools)


def _minute_pool(rng: random.Random, kind: str) -> tuple[Marks, ...]:
    styles = rng.choices(("steady", "clustered", "spiky"), _MINUTE_STYLES[kind], k=_POOL)
    return tuple(cumulative(_minute_weights(rng, style)) for style in styles)


def _minute_weights(rng: random.Random, style: str) -> list[float]:
    if style == "clustered":  # a few sessions of consecutive busy minutes
        weights = [0.0] * 60
        for _ in range(rng.randint(1, 5)):
            start, length = rng.randrange(60), rng.randint(2, 12)
            for minute in range(start, min(60, start + length)):
                weights[minute] += 0.5 + rng.random()
        return weights
    weights = [0.5 + rng.random() for _ in range(60)]
    if style == "spiky":
        weights[rng.randrange(60)] *= rng.uniform(8.0, 20.0)
    return weights
