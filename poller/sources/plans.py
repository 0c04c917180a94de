"""Which bucket segments a usage or costs source fetches: in a daemon cycle, or in a backfill.

Pure functions of the stream's coverage and the clock, so the rules below are unit-tested
without any I/O:

- a bucket is fetched only once it ended at least `grace` ago, and `end_time` is never after now;
- a daemon cycle re-reads the trailing `settlement_window` in the shapes it was written with
  (revisions land in place), then continues where coverage ends, at its own width;
- a backfill fills the gaps of its window at the requested width (or by age, for `auto`), so
  each moment has exactly one width, and re-reads only the covered buckets that may still be
  revised (from `reread_from` on), so an interrupted backfill resumes instead of starting over.
"""

from __future__ import annotations

from poller.coverage import (
    AUTO_DAY_AGE,
    AUTO_HOUR_AGE,
    Coverage,
    Segment,
    align_down,
    auto_segments,
    by_time,
    exact_segments,
)
from poller.streams import BucketWidth

__all__ = ["auto_width", "backfill_segments", "cycle_segments"]


def cycle_segments(
    coverage: Coverage,
    *,
    now: int,
    width: BucketWidth,
    initial_interval: int,
    grace: int,
    settlement_window: int,
) -> list[Segment]:
    """The segments one daemon cycle fetches, oldest first."""
    start = coverage.end
    if start is None:
        start = align_down(now - initial_interval, width)
    end = align_down(now - grace, width)
    reread = coverage.covered(start - settlement_window, start) if settlement_window else []
    return reread + exact_segments(start, end, width) if start < end else reread


def auto_width(t: int, now: int) -> BucketWidth:
    age = now - t
    if age > AUTO_DAY_AGE:
        return BucketWidth.DAY
    return BucketWidth.HOUR if age > AUTO_HOUR_AGE else BucketWidth.MINUTE


def backfill_segments(
    coverage: Coverage,
    *,
    since: int,
    until: int,
    now: int,
    grace: int,
    width: BucketWidth | None,
    reread_from: int,
) -> list[Segment]:
    """The segments a backfill of `[since, until)` fetches; `width=None` means auto."""
    first_width = width or auto_width(since, now)
    start = align_down(since, first_width)
    end = min(until, now - grace)
    end = align_down(end, width or BucketWidth.MINUTE)
    if start >= end:
        return []
    segments = coverage.covered(max(start, reread_from), end) if reread_from < end else []
    for gap_start, gap_end in coverage.gaps(start, end):
        if width is None:
            segments += auto_segments(gap_start, gap_end, now)
        else:
            segments += exact_segments(gap_start, gap_end, width)
    return by_time(segments)
