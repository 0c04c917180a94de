"""The simulator's calendar: a fixed epoch, UTC day indexes and whole-unit window pieces.

History starts at a fixed instant rather than "some time before now", so the same seed gives
the same numbers in any process at any time.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import date
from typing import Final

__all__ = [
    "DAY",
    "EPOCH",
    "HOUR",
    "MINUTE",
    "ceil_minute",
    "day_index",
    "day_of",
    "day_start",
    "pieces",
]

EPOCH: Final = 1_704_067_200  # 2024-01-01T00:00:00Z, a Monday
MINUTE: Final = 60
HOUR: Final = 3600
DAY: Final = 86_400
_EPOCH_ORDINAL: Final = date(2024, 1, 1).toordinal()


def day_index(iso_date: str) -> int:
    """Day index of a `YYYY-MM-DD` date (negative before the epoch)."""
    return date.fromisoformat(iso_date).toordinal() - _EPOCH_ORDINAL


def day_of(t: int) -> int:
    """Index of the UTC day containing Unix second `t`; 0 is the epoch's day."""
    return (t - EPOCH) // DAY


def day_start(day: int) -> int:
    return EPOCH + day * DAY


def ceil_minute(t: float) -> int:
    """The first minute start at or after `t`; minute m is in [a, b) iff ceil(a) <= m < ceil(b)."""
    return math.ceil(t / MINUTE) * MINUTE


def pieces(start: int, end: int) -> Iterator[tuple[int, int]]:
    """Covers minute-aligned `[start, end)` with the fewest whole days, hours and minutes.

    Yields `(width, piece_start)` in time order; every piece is aligned to its own width.
    """
    t = start
    while t < end:
        offset = t - EPOCH
        if offset % DAY == 0 and t + DAY <= end:
            width = DAY
        elif offset % HOUR == 0 and t + HOUR <= end:
            width = HOUR
        else:
            width = MINUTE
        yield width, t
        t += width
