"""Exact integer partitions: how a day's totals become hours and an hour's become minutes.

A row is a tuple of leaf counters whose first entry is the *driver* (requests, sessions, bytes).
The driver is split by cumulative-floor over seeded weights, then every other counter is split
in proportion to the driver's parts with integer arithmetic. Parts therefore always sum to the
whole, a part with no requests carries no tokens, and 1m buckets add up to 1h and 1h to 1d
exactly, by construction.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import sub

__all__ = ["Row", "cumulative", "split_row"]

Row = tuple[int, ...]


def cumulative(weights: Sequence[float]) -> tuple[float, ...]:
    """Cumulative fractions of `weights`: `len(weights) + 1` values from 0.0 to exactly 1.0."""
    total = float(sum(weights))
    running = 0.0
    marks = [0.0]
    for weight in weights[:-1]:
        running += weight
        marks.append(min(running / total, 1.0))
    marks.append(1.0)
    return tuple(marks)


def split_row(row: Row, marks: Sequence[float]) -> list[tuple[int, Row]]:
    """The non-empty parts of `row` as `(position, part)`, over the slots `marks` delimits.

    `marks` comes from `cumulative`; the driver `row[0]` must be positive.
    """
    driver = row[0]
    cuts = [int(driver * mark) for mark in marks]  # exact at 1.0: int(driver * 1.0) == driver
    # Cuts are non-decreasing: their distinct values bound the non-empty slots, and each
    # value's first position ends the slot in which it was reached.
    bounds = list(dict.fromkeys(cuts))
    if len(bounds) == 2:
        return [(cuts.index(driver) - 1, row)]
    slots = [cuts.index(bound) - 1 for bound in bounds[1:]]
    zeros = [0] * len(slots)
    columns = []
    for value in row:
        if value:
            scaled = [value * bound // driver for bound in bounds]
            columns.append(list(map(sub, scaled[1:], scaled)))
        else:
            columns.append(zeros)
    return list(zip(slots, zip(*columns, strict=True), strict=True))
