"""Which stretches of time a bucketed stream holds, and at which bucket width.

A usage or costs document covers one bucket of one width. If the same minute were stored both in
a 1h document and in a 1d document, every sum over it would count it twice. So each stream keeps
a `Coverage`: sorted, non-overlapping segments, each written at exactly one width. The daemon
extends it forward, `backfill` fills its gaps, and re-reads (settlement, repeated backfills)
fetch a covered stretch again at the width it was written with, so they revise documents in
place instead of adding a second copy at another width.

All times are Unix seconds on minute boundaries; a segment `[start, end)` of width `w` has both
ends on multiples of `w`, so it is a whole number of buckets.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from poller.streams import BUCKET_SECONDS, BucketWidth

__all__ = [
    "AUTO_DAY_AGE",
    "AUTO_HOUR_AGE",
    "Coverage",
    "Segment",
    "align_down",
    "align_up",
    "auto_segments",
    "exact_segments",
]

# `--bucket-width auto`, as Elastic's docs advise: 1d for history older than 15 days, 1h for one
# to fifteen days, 1m for the last 24 hours.
AUTO_DAY_AGE = 15 * 86400
AUTO_HOUR_AGE = 86400

_FINER: dict[BucketWidth, BucketWidth | None] = {
    BucketWidth.DAY: BucketWidth.HOUR,
    BucketWidth.HOUR: BucketWidth.MINUTE,
    BucketWidth.MINUTE: None,
}


def align_down(t: int, width: BucketWidth) -> int:
    return t - t % BUCKET_SECONDS[width]


def align_up(t: int, width: BucketWidth) -> int:
    return -(-t // BUCKET_SECONDS[width]) * BUCKET_SECONDS[width]


@dataclass(frozen=True, order=True)
class Segment:
    start: int
    end: int
    width: BucketWidth

    def __post_init__(self) -> None:
        seconds = BUCKET_SECONDS[self.width]
        if self.start >= self.end or self.start % seconds or self.end % seconds:
            raise ValueError(f"segment {self} is empty or not aligned to {self.width.value}")

    @property
    def buckets(self) -> int:
        return (self.end - self.start) // BUCKET_SECONDS[self.width]


def exact_segments(start: int, end: int, width: BucketWidth) -> list[Segment]:
    """Segments that cover exactly `[start, end)`: whole buckets of `width` in the middle, and
    finer widths only for the edges that do not fall on a `width` boundary."""
    if start % 60 or end % 60:
        raise ValueError("times must fall on minute boundaries")
    if start >= end:
        return []
    core_start, core_end = align_up(start, width), align_down(end, width)
    finer = _FINER[width]
    if core_start >= core_end:
        if finer is None:  # pragma: no cover - minutes always align
            raise AssertionError("minute-aligned span without a whole minute")
        return exact_segments(start, end, finer)
    segments: list[Segment] = []
    if start < core_start and finer is not None:
        segments += exact_segments(start, core_start, finer)
    segments.append(Segment(core_start, core_end, width))
    if core_end < end and finer is not None:
        segments += exact_segments(core_end, end, finer)
    return segments


def auto_segments(start: int, end: int, now: int) -> list[Segment]:
    """Segments for `[start, end)` with the width chosen by age relative to `now`."""
    day_edge = align_down(now - AUTO_DAY_AGE, BucketWidth.DAY)
    hour_edge = align_down(now - AUTO_HOUR_AGE, BucketWidth.HOUR)
    pieces = (
        (start, min(end, day_edge), BucketWidth.DAY),
        (max(start, day_edge), min(end, hour_edge), BucketWidth.HOUR),
        (max(start, hour_edge), end, BucketWidth.MINUTE),
    )
    segments: list[Segment] = []
    for lo, hi, width in pieces:
        segments += exact_segments(lo, hi, width)
    return segments


@dataclass(frozen=True)
class Coverage:
    """The stretches a stream has collected and acknowledged, merged where adjacent."""

    segments: tuple[Segment, ...] = ()

    @property
    def end(self) -> int | None:
        return self.segments[-1].end if self.segments else None

    @property
    def start(self) -> int | None:
        return self.segments[0].start if self.segments else None

    def add(self, segment: Segment) -> Coverage:
        """Record `segment` as collected. It must not overlap a stretch of another width."""
        merged: list[Segment] = []
        new = segment
        for seg in self.segments:
            if seg.end < new.start or new.end < seg.start:
                merged.append(seg)
                continue
            overlaps = seg.start < new.end and new.start < seg.end
            if seg.width != new.width:
                if overlaps:
                    raise ValueError(f"{new} overlaps {seg} at another width")
                merged.append(seg)  # merely adjacent at another width: keep both
                continue
            new = Segment(min(seg.start, new.start), max(seg.end, new.end), new.width)
        merged.append(new)
        return Coverage(tuple(sorted(merged)))

    def covered(self, start: int, end: int) -> list[Segment]:
        """The collected buckets that overlap `[start, end)`, each run at its own width.

        Whole buckets, so a re-read window that starts inside a 1d bucket re-reads that day."""
        parts: list[Segment] = []
        for seg in self.segments:
            lo = max(seg.start, align_down(start, seg.width))
            hi = min(seg.end, align_up(end, seg.width))
            if lo < hi:
                parts.append(Segment(lo, hi, seg.width))
        return parts

    def gaps(self, start: int, end: int) -> list[tuple[int, int]]:
        """The parts of `[start, end)` not yet collected."""
        gaps: list[tuple[int, int]] = []
        cursor = start
        for seg in self.segments:
            if seg.end <= cursor:
                continue
            if seg.start >= end:
                break
            if seg.start > cursor:
                gaps.append((cursor, min(seg.start, end)))
            cursor = max(cursor, seg.end)
        if cursor < end:
            gaps.append((cursor, end))
        return gaps

    def to_json(self) -> list[list[Any]]:
        return [[s.start, s.end, s.width.value] for s in self.segments]

    @classmethod
    def from_json(cls, data: Iterable[Sequence[Any]]) -> Coverage:
        return cls(tuple(sorted(Segment(int(a), int(b), BucketWidth(w)) for a, b, w in data)))
