"""Settled usage of one stream at day, hour and minute grain, keyed by combo index.

Top-down and exact: a day's row per combo comes from a generator seeded by (seed, stream, day);
hours are an exact split of the day and minutes an exact split of the hour (org_split.py), so
every grain sums to the next one up by construction. Each grain is computed on first use and
kept in a bounded cache, so only the hours and minutes someone asks for are ever split.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Final

from poller.simulator.org_activity import Activity, Marks
from poller.simulator.org_combos import Combo
from poller.simulator.org_rng import make_rng
from poller.simulator.org_split import Row, cumulative, split_row
from poller.simulator.org_time import DAY, EPOCH, HOUR, MINUTE

__all__ = ["Rows", "StreamTraffic"]

Rows = Mapping[int, Row]  # combo index -> leaf row; rows are never empty

_FLAT_HOURS: Final = cumulative([1.0] * 24)
_FLAT_MINUTES: Final = cumulative([1.0] * 60)
_EMPTY: Final[Rows] = {}


class StreamTraffic:
    def __init__(self, seed: int, stream: str, combos: Sequence[Combo], activity: Activity) -> None:
        self._seed = seed
        self._stream = stream
        self._combos = tuple(combos)
        self._activity = activity
        self._days = lru_cache(maxsize=256)(self._day_rows)
        self._hour_split = lru_cache(maxsize=64)(self._split_day)
        self._minute_split = lru_cache(maxsize=8)(self._split_hour)

    def piece(self, width: int, start: int) -> Rows:
        """The rows of one whole aligned day, hour or minute starting at `start`."""
        if start < EPOCH:
            return _EMPTY
        day, offset = divmod(start - EPOCH, DAY)
        if width == DAY:
            return self._days(day)
        if width == HOUR:
            return self._hour_split(day)[offset // HOUR]
        hour_start = start - offset % HOUR
        return self._minute_split(hour_start)[(start - hour_start) // MINUTE]

    def _day_rows(self, day: int) -> Rows:
        rng = make_rng(self._seed, self._stream, day)
        levels = self._activity.levels(day).levels
        rows = {}
        for index, combo in enumerate(self._combos):
            if combo.first_day <= day < combo.end_day:
                row = combo.profile.day_row(rng, day, levels[combo.source])
                if row is not None:
                    rows[index] = row
        return rows

    def _split_day(self, day: int) -> tuple[Rows, ...]:
        marks = self._activity.hour_marks(day)
        return self._split(self._days(day), marks, _FLAT_HOURS, 24)

    def _split_hour(self, hour_start: int) -> tuple[Rows, ...]:
        day, offset = divmod(hour_start - EPOCH, DAY)
        rows = self._hour_split(day)[offset // HOUR]
        if not rows:
            return (_EMPTY,) * 60
        marks = self._activity.minute_marks(hour_start)
        return self._split(rows, marks, _FLAT_MINUTES, 60)

    def _split(
        self, rows: Rows, marks: Sequence[Marks], flat: Marks, slots: int
    ) -> tuple[Rows, ...]:
        parts: list[dict[int, Row]] = [{} for _ in range(slots)]
        combos = self._combos
        for index, row in rows.items():
            combo = combos[index]
            shares = flat if combo.profile.flat else marks[combo.source]
            for slot, part in split_row(row, shares):
                parts[slot][index] = part
        return tuple(parts)
