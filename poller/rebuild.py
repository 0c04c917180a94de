"""A stream's state derived from the documents the sink holds: when it was lost, or on purpose.

Without state, a poller would collect again what is stored, and if the width or the grouping
changed meanwhile, the new documents would get new ids beside the old ones: every sum would
count those buckets twice. So a stream without state first reads what is stored:

- usage and costs: the width, grouping and org id of the stored buckets, as coverage. A
  grouping is recovered exactly by recomputing ids (`candidate_ids`): the grouping is part of
  every id, so of the candidate groupings of a bucket exactly one gives ids that are stored;
- audit: the newest stored event time, as the high-water mark;
- rate limits: the newest stored slot.

Only the public reader API is used (`SinkReader.count`, `sums_by`, `documents`): the bucket
starts and widths come from groupings by those fields, a grouping from one probe bucket per run.
Only the org's own documents are read (`organization.id`): configured orgs that share a
namespace each rebuild from theirs. Documents of an org id no configured org has are refused:
they are most likely this org's own under an `organization_id` since changed, and collecting
again beside them would count every moment twice. Limit: a stretch with no stored document
(nothing was used) between two stored buckets of one shape is taken as collected.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from poller.coverage import Coverage, Segment
from poller.documents.fields import result_path
from poller.documents.ids import BucketIds
from poller.errors import StateError
from poller.sinks import SinkReader
from poller.state import FUTURE_TOLERANCE, StreamState, rebuild_hint
from poller.streams import BUCKET_SECONDS, BucketWidth, StreamKind, get_stream

__all__ = [
    "RebuildTarget",
    "candidate_ids",
    "check_backfill",
    "rebuild_state",
    "recover_group_by",
    "stored_coverage",
]

_WIDTH: Final = "openai.base.bucket_width"
_ORG: Final = "organization.id"
# Nothing OpenAI's usage API serves is older; the search for stored data starts here.
_FLOOR: Final = 1_577_836_800  # 2020-01-01T00:00:00Z
# The most candidate ids one probe bucket may need.
_MAX_CANDIDATES: Final = 20_000


@dataclass(frozen=True)
class RebuildTarget:
    """One stream of one org: where its documents are, and the org id they would carry."""

    org: str
    stream: str
    data_stream: str
    organization_id: str
    # The org ids of the other configured orgs writing this data stream (`Settings.neighbours`).
    neighbours: frozenset[str] = frozenset()

    @property
    def own(self) -> Mapping[str, str]:
        """The reader filter for this org's documents."""
        return {_ORG: self.organization_id}


def rebuild_state(reader: SinkReader, target: RebuildTarget, *, now: int) -> StreamState:
    """The state the stored documents of `target` describe. StateError when they cannot be
    described by one (a moment stored at two widths, a bucket of two org ids)."""
    _refuse_strangers(reader, target)
    kind = get_stream(target.stream).kind
    if kind in (StreamKind.USAGE, StreamKind.COSTS):
        return StreamState(coverage=stored_coverage(reader, target, now=now))
    if kind is StreamKind.ALLOCATION:  # one shape: daily, ungrouped, the org's own id
        coverage = Coverage()
        for region in _Scan(reader, target).regions(_FLOOR, now + 86400):
            end = region.last + BUCKET_SECONDS[region.width]
            shape = ((), target.organization_id)
            coverage = coverage.add(Segment(region.first, end, region.width, *shape))
        return StreamState(coverage=coverage)
    newest = _newest(reader, target, now + FUTURE_TOLERANCE)
    if kind is StreamKind.AUDIT:
        return StreamState(high_water=newest)
    return StreamState(last_slot=newest)


def _refuse_strangers(reader: SinkReader, target: RebuildTarget) -> None:
    stored = {k for k in reader.sums_by(target.data_stream, [], _ORG) if k is not None}
    strangers = sorted(stored - {target.organization_id} - target.neighbours)
    if strangers:
        raise StateError(
            f"set organization_id to {strangers[0]} if that is {target.org}'s id, or give "
            f"{target.org} a namespace of its own -- {target.data_stream} holds documents of "
            f"org id {', '.join(strangers)}, which no configured org has; collecting "
            f"{target.org}/{target.stream} beside them would count their moments twice"
        )


def stored_coverage(reader: SinkReader, target: RebuildTarget, *, now: int) -> Coverage:
    scan = _Scan(reader, target)
    coverage = Coverage()
    for region in scan.regions(_FLOOR, now + 86400):
        for segment in scan.shaped(region):
            coverage = coverage.add(segment)
    return coverage


@dataclass(frozen=True)
class _Region:
    """`[lo, hi)` holds stored buckets of `width` only, the first at `first`, the last at
    `last`."""

    width: BucketWidth
    first: int
    last: int


_Shape = tuple[tuple[str, ...], str]


class _Scan:
    """Reads the stored buckets with counts and groupings only: no reader call lists
    documents, so times are found by halving (`count` over a range says whether anything is
    stored in it), and a bucket's shape by probing it (`_probe`)."""

    def __init__(self, reader: SinkReader, target: RebuildTarget) -> None:
        self._reader = reader
        self._target = target
        usage = get_stream(target.stream).usage
        self._dimensions = usage.dimensions if usage is not None else ()

    def _groups(self, field: str, lo: int, hi: int) -> dict[str | None, int]:
        found = self._reader.sums_by(
            self._target.data_stream, [], field, start=_dt(lo), end=_dt(hi),
            where=self._target.own,
        )
        return {key: sums.count for key, sums in found.items()}

    def _count(self, lo: int, hi: int) -> int:
        return self._reader.count(
            self._target.data_stream, start=_dt(lo), end=_dt(hi), where=self._target.own
        )

    def regions(self, lo: int, hi: int) -> list[_Region]:
        """Stretches of one width each, oldest first, found by halving `[lo, hi)`."""
        widths = [k for k in self._groups(_WIDTH, lo, hi) if k is not None]
        if not widths:
            return []
        if len(widths) == 1:
            first = self._first(lo, hi)
            last = self._last(lo, hi)
            return [_Region(BucketWidth(widths[0]), first, last)]
        if hi - lo <= 60:
            raise StateError(
                f"{self._target.org}/{self._target.stream}: {_iso(lo)} is stored at "
                f"{' and '.join(sorted(widths))}; every sum over it counts it twice; delete "
                "the documents of one width, then rebuild the state"
            )
        mid = lo + (hi - lo) // 120 * 60
        merged: list[_Region] = []
        for region in self.regions(lo, mid) + self.regions(mid, hi):
            if merged and merged[-1].width == region.width:
                merged[-1] = _Region(region.width, merged[-1].first, region.last)
            else:
                merged.append(region)
        return merged

    def _first(self, lo: int, hi: int) -> int:
        """The first stored minute in `[lo, hi)`, which holds something."""
        return self._edge(lo, hi, last=False)

    def _last(self, lo: int, hi: int) -> int:
        """The last stored minute in `[lo, hi)`, which holds something."""
        return self._edge(lo, hi, last=True)

    def _edge(self, lo: int, hi: int, *, last: bool) -> int:
        while hi - lo > 60:
            mid = lo + (hi - lo) // 120 * 60
            upper_half_holds = bool(self._count(mid, hi)) if last else not self._count(lo, mid)
            if upper_half_holds:
                lo = mid
            else:
                hi = mid
        return lo

    def shaped(self, region: _Region) -> Iterator[Segment]:
        """The region's buckets cut where their shape changes (found by halving)."""
        step = BUCKET_SECONDS[region.width]
        first, last = region.first, region.last
        spans = self._split(first, last, self._probe(first), self._probe(last))
        for lo, hi, (group_by, org_id) in spans:
            yield Segment(lo, hi + step, region.width, group_by, org_id)

    def _split(self, a: int, b: int, at_a: _Shape, at_b: _Shape) -> list[tuple[int, int, _Shape]]:
        """`[(first bucket, last bucket, shape)]` from stored bucket `a` to stored bucket `b`."""
        if at_a == at_b:
            return [(a, b, at_a)]
        if b - a <= 60 or not self._count(a + 60, b):  # adjacent: the shape changes at b
            return [(a, a, at_a), (b, b, at_b)]
        mid = a + (b - a) // 120 * 60
        m = self._first(mid, b) if self._count(mid, b) else self._last(a + 60, mid)
        at_m = self._probe(m)
        left, right = self._split(a, m, at_a, at_m), self._split(m, b, at_m, at_b)
        # Both halves hold bucket m: join the part ending there with the part starting there.
        (lo, _, shape), (_, hi, _) = left[-1], right[0]
        return [*left[:-1], (lo, hi, shape), *right[1:]]

    def _probe(self, start: int) -> _Shape:
        """The shape of the bucket stored at `start`: its org id, and the grouping whose ids
        are stored. Values of each dimension come from groupings within the bucket, so the ids
        of every combination are tried."""
        target = self._target
        lo, hi = start, start + 60
        orgs = [k for k in self._groups(_ORG, lo, hi) if k is not None]
        if len(orgs) != 1:
            raise StateError(
                f"{target.org}/{target.stream}: the bucket at {_iso(lo)} holds documents "
                f"of {len(orgs)} organization ids; a namespace per org keeps them apart"
            )
        values = {
            d: _typed(self._groups(result_path(target.stream, d), lo, hi))
            for d in self._dimensions
        }
        if _combinations(values) <= _MAX_CANDIDATES:
            width = BucketWidth(next(k for k in self._groups(_WIDTH, lo, hi) if k is not None))
            candidates = candidate_ids(target.stream, orgs[0], start, width, values)
            every = [doc_id for ids in candidates.values() for doc_id in ids]
            stored = set(self._reader.documents(target.data_stream, every))
            hits = [g for g, ids in candidates.items() if stored.intersection(ids)]
            if len(hits) == 1:
                return hits[0], orgs[0]
        raise StateError(
            f"{target.org}/{target.stream}: cannot tell how the documents of {_iso(start)} "
            "were grouped (too many combinations, or ids this poller does not make)"
        )




def candidate_ids(
    stream: str,
    organization_id: str,
    start: int,
    width: BucketWidth,
    values: Mapping[str, Sequence[Any]],
) -> dict[tuple[str, ...], list[str]]:
    """For each grouping the bucket may have been requested with, the ids its documents would
    have, given the values (None: absent) each dimension takes in it.

    Any subset of the stream's dimensions is a candidate: a null dimension is omitted from the
    document whether it was asked for or not, and a result may fill a dimension it was not
    grouped by. The grouping is part of every id, so only the true one gives stored ids.
    Pure: no I/O."""
    usage = get_stream(stream).usage
    dimensions = usage.dimensions if usage is not None else ()
    present = [d for d in dimensions if any(v is not None for v in values.get(d, ()))]
    combos = [
        dict(zip(present, combo, strict=True))
        for combo in itertools.product(*(values[d] for d in present))
    ]
    out: dict[tuple[str, ...], list[str]] = {}
    for size in range(len(dimensions) + 1):
        for group_by in itertools.combinations(dimensions, size):
            ids = BucketIds.of(
                organization_id=organization_id,
                stream=stream,
                start_time=start,
                bucket_width=width,
                group_by=group_by,
            )
            out[group_by] = [ids.doc_id(_key(dimensions, group_by, c)) for c in combos]
    return out


def _key(
    dimensions: Sequence[str], group_by: Sequence[str], values: Mapping[str, Any]
) -> list[tuple[str, Any]]:
    """As `poller.documents.buckets` keys a result: grouped dimensions, and any it fills."""
    return [
        (d, values.get(d)) for d in dimensions if d in group_by or values.get(d) is not None
    ]


def recover_group_by(
    doc_id: str, source: Mapping[str, Any], *, stream: str
) -> tuple[str, ...] | None:
    """The grouping a stored document was requested with: the candidate whose id is its
    `_id`, or None when no candidate gives it (not a document of this poller's ids)."""
    base = source.get("openai", {}).get("base", {})
    organization_id = source.get("organization", {}).get("id")
    if not isinstance(organization_id, str):
        return None
    start = _epoch(str(base.get("start_time")))
    width = BucketWidth(base.get("bucket_width"))
    values = {
        d: [_lookup(source, result_path(stream, d))] for d in _dimensions_of(stream)
    }
    for group_by, ids in candidate_ids(stream, organization_id, start, width, values).items():
        if doc_id in ids:
            return group_by
    return None


def _dimensions_of(stream: str) -> tuple[str, ...]:
    usage = get_stream(stream).usage
    return usage.dimensions if usage is not None else ()


def _lookup(source: Mapping[str, Any], dotted: str) -> Any:
    node: Any = source
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    return node


def _combinations(values: Mapping[str, Sequence[Any]]) -> int:
    total = 1
    for options in values.values():
        total *= max(1, len(options))
    return total


def _typed(groups: Mapping[str | None, int]) -> list[Any]:
    """A reader's group keys are text; a boolean dimension (`batch`) is keyed by its JSON
    value, which SQLite gives as 1/0 and Elasticsearch as true/false (in any case)."""
    out: list[Any] = []
    for key in groups:
        out.append(key)
        text = key.lower() if key is not None else None
        if text in ("true", "1"):
            out.append(True)
        elif text in ("false", "0"):
            out.append(False)
    return out


def _newest(reader: SinkReader, target: RebuildTarget, upper: int) -> int | None:
    """The newest stored `@timestamp` of the org, to the second, by halving: no reader call
    returns a maximum, but `count` over `[t, ∞)` says whether anything is stored from `t` on."""

    def stored_from(t: int) -> int:
        return reader.count(target.data_stream, start=_dt(t), where=target.own)

    if not stored_from(_FLOOR):
        return None
    lo, hi = _FLOOR, upper  # something stored at or after lo, nothing at or after hi
    while stored_from(hi):
        lo, hi = hi, hi + (hi - _FLOOR)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if stored_from(mid):
            lo = mid
        else:
            hi = mid
    return lo


def _dt(t: int) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def _epoch(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())


def _iso(t: int) -> str:
    return _dt(t).strftime("%Y-%m-%dT%H:%MZ")


def check_backfill(
    coverage: Coverage,
    target: RebuildTarget,
    *,
    span: tuple[int, int],
    width: BucketWidth | None,
    group_by: tuple[str, ...],
) -> None:
    """StateError when a backfill of `span` in this shape (width None: by age) meets a
    stretch stored in another shape: run without state, it would store it twice."""
    for seg in coverage.covered(*span):
        fixes = []
        if width is not None and seg.width != width:
            fixes.append(f"use --bucket-width {seg.width.value}")
        if seg.group_by is not None and seg.group_by != group_by:
            fixes.append(f"set {target.stream}'s group_by to {','.join(seg.group_by) or 'none'}")
        if seg.organization_id is not None and seg.organization_id != target.organization_id:
            fixes.append(f"set organization_id to {seg.organization_id}")
        if fixes:
            raise StateError(
                f"backfill {target.org}/{target.stream}: {_iso(seg.start)}..{_iso(seg.end)} is "
                f"stored at {seg.shape.describe()} of org id {seg.organization_id}; "
                f"{', '.join(fixes)}, or {rebuild_hint(target.org, target.stream)} to keep "
                "what is stored and fill only the gaps"
            )
