"""Which stretches of time a bucketed stream holds, and in which shape.

A usage or costs document covers one bucket of one width, and its id hashes the org id, the
bucket's start and width, and the request's grouping (`poller.documents.ids`). If the same minute
were stored both in a 1h document and in a 1d document, or grouped by project and then by model,
every sum over it would count it twice. So each stream keeps a `Coverage`: sorted,
non-overlapping segments, each written in exactly one *shape* (width, group_by, org id: all that
shapes an id). The daemon extends it forward in the configured shape, `backfill` fills its gaps,
and re-reads (settlement, repeated backfills) fetch a covered stretch again in the shape it was
written with, so they revise documents in place instead of adding a second copy.

A segment saved before shapes were recorded (three elements in JSON) has `group_by` and
`organization_id` None: it was collected with what is configured, which is what they mean, and
`Coverage.resolved` fills them in before any planning.

All times are Unix seconds on minute boundaries; a segment `[start, end)` of width `w` has both
ends on multiples of `w`, so it is a whole number of buckets.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from poller.streams import BUCKET_SECONDS, BucketWidth

__all__ = [
    "AUTO_DAY_AGE",
    "AUTO_HOUR_AGE",
    "Coverage",
    "Segment",
    "Shape",
    "align_down",
    "align_up",
    "auto_segments",
    "by_time",
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


@dataclass(frozen=True)
class Shape:
    """All a bucket document's id depends on besides its bucket start and dimension values:
    `group_by` in the stream's dimension order, as ids use it. None: as configured (legacy)."""

    width: BucketWidth
    group_by: tuple[str, ...] | None = None
    organization_id: str | None = None

    def describe(self) -> str:
        grouping = "as configured" if self.group_by is None else ",".join(self.group_by) or "none"
        return f"{self.width.value} grouped by {grouping}"


@dataclass(frozen=True)
class Segment:
    start: int
    end: int
    width: BucketWidth
    group_by: tuple[str, ...] | None = None
    organization_id: str | None = None

    def __post_init__(self) -> None:
        seconds = BUCKET_SECONDS[self.width]
        if self.start >= self.end or self.start % seconds or self.end % seconds:
            raise ValueError(f"segment {self} is empty or not aligned to {self.width.value}")

    @property
    def buckets(self) -> int:
        return (self.end - self.start) // BUCKET_SECONDS[self.width]

    @property
    def shape(self) -> Shape:
        return Shape(self.width, self.group_by, self.organization_id)

    def span(self, start: int, end: int) -> Segment:
        """`[start, end)` in this segment's shape."""
        return replace(self, start=start, end=end)

    def resolved(self, group_by: tuple[str, ...], organization_id: str) -> Segment:
        """This segment with what it leaves unsaid (legacy state, a new plan) filled in."""
        return replace(
            self,
            group_by=self.group_by if self.group_by is not None else group_by,
            organization_id=(
                self.organization_id if self.organization_id is not None else organization_id
            ),
        )


def _by_time(segment: Segment) -> tuple[int, int]:
    return segment.start, segment.end


def by_time(segments: Iterable[Segment]) -> list[Segment]:
    """Oldest first (shapes do not order)."""
    return sorted(segments, key=_by_time)


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
    """The stretches a stream has collected and acknowledged, merged where adjacent and of
    the same shape."""

    segments: tuple[Segment, ...] = ()

    @property
    def end(self) -> int | None:
        return self.segments[-1].end if self.segments else None

    @property
    def start(self) -> int | None:
        return self.segments[0].start if self.segments else None

    def add(self, segment: Segment) -> Coverage:
        """Record `segment` as collected. It must not overlap a stretch of another shape."""
        merged: list[Segment] = []
        new = segment
        for seg in self.segments:
            if seg.end < new.start or new.end < seg.start:
                merged.append(seg)
                continue
            overlaps = seg.start < new.end and new.start < seg.end
            if seg.shape != new.shape:
                if overlaps:
                    raise ValueError(f"{new} overlaps {seg} in another shape")
                merged.append(seg)  # merely adjacent in another shape: keep both
                continue
            new = new.span(min(seg.start, new.start), max(seg.end, new.end))
        merged.append(new)
        return Coverage(tuple(by_time(merged)))

    def resolved(self, group_by: tuple[str, ...], organization_id: str) -> Coverage:
        """Legacy segments (no grouping or org id saved) read as collected with these."""
        if all(s.group_by is not None and s.organization_id is not None for s in self.segments):
            return self
        resolved = Coverage()
        for seg in self.segments:
            resolved = resolved.add(seg.resolved(group_by, organization_id))
        return resolved

    def shapes(self) -> tuple[tuple[int, Shape], ...]:
        """Where each shape starts, oldest first: one entry per change of shape."""
        changes: list[tuple[int, Shape]] = []
        for seg in self.segments:
            if not changes or changes[-1][1] != seg.shape:
                changes.append((seg.start, seg.shape))
        return tuple(changes)

    def covered(self, start: int, end: int) -> list[Segment]:
        """The collected buckets that overlap `[start, end)`, each run in its own shape.

        Whole buckets, so a re-read window that starts inside a 1d bucket re-reads that day."""
        parts: list[Segment] = []
        for seg in self.segments:
            lo = max(seg.start, align_down(start, seg.width))
            hi = min(seg.end, align_up(end, seg.width))
            if lo < hi:
                parts.append(seg.span(lo, hi))
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
        return [_segment_json(s) for s in self.segments]

    @classmethod
    def from_json(cls, data: Iterable[Sequence[Any]]) -> Coverage:
        """ValueError or TypeError when `data` is not a list of segments."""
        if isinstance(data, (str, bytes)) or not isinstance(data, Iterable):
            raise TypeError(f"coverage must be a list of segments, not {data!r:.60}")
        coverage = cls()
        for item in data:
            coverage = coverage.add(_segment_of(item))
        return coverage


def _segment_json(seg: Segment) -> list[Any]:
    if seg.group_by is None or seg.organization_id is None:
        return [seg.start, seg.end, seg.width.value]
    return [seg.start, seg.end, seg.width.value, list(seg.group_by), seg.organization_id]


def _segment_of(item: Any) -> Segment:
    if isinstance(item, (str, bytes)) or not isinstance(item, Sequence) or len(item) not in (3, 5):
        raise TypeError(f"not a coverage segment: {item!r:.60}")
    start, end, width = item[0], item[1], BucketWidth(item[2])
    if not all(isinstance(t, int) and not isinstance(t, bool) for t in (start, end)):
        raise TypeError(f"segment times must be integers: {item!r:.60}")
    if len(item) == 3:  # saved before shapes were recorded: collected as configured
        return Segment(start, end, width)
    group_by, org = item[3], item[4]
    if not isinstance(group_by, list) or not all(isinstance(d, str) for d in group_by):
        raise TypeError(f"segment group_by must be a list of names: {item!r:.60}")
    if not isinstance(org, str):
        raise TypeError(f"segment organization id must be a string: {item!r:.60}")
    return Segment(start, end, width, tuple(group_by), org)
