"""The coverage planner: every minute is collected at exactly one width."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from poller.coverage import (
    Coverage,
    Segment,
    Shape,
    auto_segments,
    exact_segments,
)
from poller.streams import BucketWidth

D, H, M = 86400, 3600, 60
T0 = 1_767_225_600  # 2026-01-01T00:00:00Z

minutes = st.integers(min_value=0, max_value=40 * 1440).map(lambda m: T0 + m * M)


def _minutes_of(segments: list[Segment]) -> list[int]:
    out: list[int] = []
    for seg in segments:
        out.extend(range(seg.start, seg.end, M))
    return out


def test_exact_segments_fill_edges_with_finer_widths() -> None:
    start = T0 + 10 * H + 37 * M  # 10:37 on day 0
    end = T0 + 2 * D + 5 * H  # 05:00 on day 2
    assert exact_segments(start, end, BucketWidth.DAY) == [
        Segment(start, T0 + 11 * H, BucketWidth.MINUTE),
        Segment(T0 + 11 * H, T0 + D, BucketWidth.HOUR),
        Segment(T0 + D, T0 + 2 * D, BucketWidth.DAY),
        Segment(T0 + 2 * D, end, BucketWidth.HOUR),
    ]


@given(minutes, minutes, st.sampled_from(list(BucketWidth)))
def test_exact_segments_cover_every_minute_once(a: int, b: int, width: BucketWidth) -> None:
    start, end = min(a, b), max(a, b)
    segments = exact_segments(start, end, width)
    assert _minutes_of(segments) == list(range(start, end, M))


def test_auto_segments_follow_age_rules() -> None:
    now = T0 + 40 * D + 13 * H + 7 * M
    start = T0
    segments = auto_segments(start, now - 2 * M, now)
    widths = {seg.width for seg in segments}
    assert widths == {BucketWidth.DAY, BucketWidth.HOUR, BucketWidth.MINUTE}
    day_end = max(s.end for s in segments if s.width is BucketWidth.DAY)
    hour_end = max(s.end for s in segments if s.width is BucketWidth.HOUR)
    assert day_end == T0 + 25 * D  # floor(now - 15d) to a day
    assert hour_end == now - now % H - D  # floor(now - 24h) to an hour
    assert _minutes_of(segments) == list(range(start, now - 2 * M, M))


def test_coverage_merges_adjacent_same_width_and_keeps_others() -> None:
    cov = Coverage()
    cov = cov.add(Segment(T0, T0 + D, BucketWidth.DAY))
    cov = cov.add(Segment(T0 + D, T0 + D + H, BucketWidth.HOUR))
    cov = cov.add(Segment(T0 + D + H, T0 + D + 2 * H, BucketWidth.HOUR))
    assert cov.segments == (
        Segment(T0, T0 + D, BucketWidth.DAY),
        Segment(T0 + D, T0 + D + 2 * H, BucketWidth.HOUR),
    )
    assert cov.end == T0 + D + 2 * H
    assert Coverage.from_json(cov.to_json()) == cov


def test_coverage_refuses_overlap_at_another_width() -> None:
    cov = Coverage().add(Segment(T0, T0 + D, BucketWidth.DAY))
    try:
        cov.add(Segment(T0 + H, T0 + 2 * H, BucketWidth.HOUR))
    except ValueError as exc:
        assert "in another shape" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("overlap accepted")


def test_gaps_and_covered_partition_a_window() -> None:
    cov = Coverage((Segment(T0 + D, T0 + 2 * D, BucketWidth.DAY),))
    assert cov.gaps(T0, T0 + 3 * D) == [(T0, T0 + D), (T0 + 2 * D, T0 + 3 * D)]
    # A re-read window starting inside the covered day re-reads the whole day.
    assert cov.covered(T0 + 2 * D - H, T0 + 2 * D) == [
        Segment(T0 + D, T0 + 2 * D, BucketWidth.DAY)
    ]
    assert cov.covered(T0, T0 + D) == []


# --- shapes: everything that shapes a document id ------------------------------------------------

ALL = ("project_id", "model")
FEW = ("project_id",)


def test_coverage_refuses_overlap_in_another_grouping_or_org_and_keeps_adjacent_ones() -> None:
    cov = Coverage().add(Segment(T0, T0 + 2 * H, BucketWidth.HOUR, ALL, "org-a"))
    for other in (Segment(T0 + H, T0 + 3 * H, BucketWidth.HOUR, FEW, "org-a"),
                  Segment(T0 + H, T0 + 3 * H, BucketWidth.HOUR, ALL, "org-b")):
        try:
            cov.add(other)
        except ValueError as exc:
            assert "in another shape" in str(exc)
        else:  # pragma: no cover
            raise AssertionError("overlap accepted")
    cov = cov.add(Segment(T0 + 2 * H, T0 + 3 * H, BucketWidth.HOUR, FEW, "org-a"))
    cov = cov.add(Segment(T0 + 3 * H, T0 + 4 * H, BucketWidth.HOUR, FEW, "org-a"))
    assert cov.segments == (
        Segment(T0, T0 + 2 * H, BucketWidth.HOUR, ALL, "org-a"),
        Segment(T0 + 2 * H, T0 + 4 * H, BucketWidth.HOUR, FEW, "org-a"),
    )
    assert cov.shapes() == (
        (T0, Shape(BucketWidth.HOUR, ALL, "org-a")),
        (T0 + 2 * H, Shape(BucketWidth.HOUR, FEW, "org-a")),
    )
    # A re-read of the stretch across the change gets each part in its own shape.
    assert cov.covered(T0 + H, T0 + 3 * H) == [
        Segment(T0 + H, T0 + 2 * H, BucketWidth.HOUR, ALL, "org-a"),
        Segment(T0 + 2 * H, T0 + 3 * H, BucketWidth.HOUR, FEW, "org-a"),
    ]
    assert cov.gaps(T0, T0 + 5 * H) == [(T0 + 4 * H, T0 + 5 * H)]
    assert Coverage.from_json(cov.to_json()) == cov
    assert cov.to_json()[0] == [T0, T0 + 2 * H, "1h", ["project_id", "model"], "org-a"]


def test_legacy_segments_read_as_collected_with_what_is_configured() -> None:
    cov = Coverage.from_json([[T0, T0 + H, "1h"], [T0 + H, T0 + 2 * H, "1h"]])
    assert cov.segments == (Segment(T0, T0 + 2 * H, BucketWidth.HOUR),)
    assert cov.shapes() == ((T0, Shape(BucketWidth.HOUR)),)
    assert Shape(BucketWidth.HOUR).describe() == "1h grouped by as configured"
    resolved = cov.resolved(FEW, "org-a")
    assert resolved.segments == (Segment(T0, T0 + 2 * H, BucketWidth.HOUR, FEW, "org-a"),)
    assert cov.to_json() == [[T0, T0 + 2 * H, "1h"]]  # still legacy until resolved


def test_coverage_from_json_refuses_what_is_not_segments() -> None:
    bad: list[object] = [
        "garbage",
        [["x", T0 + H, "1h"]],
        [[T0, T0 + H, "2h"]],
        [[T0, T0 + H, "1h", "project_id", "org"]],
        [[T0, T0 + H, "1h", [], 7]],
        [[T0, T0 + H]],
        [[True, T0 + H, "1h"]],
        [[T0, T0 + 2 * H, "1h"], [T0 + H, T0 + 2 * H, "1m"]],  # one moment at two widths
    ]
    for data in bad:
        try:
            Coverage.from_json(data)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        raise AssertionError(f"accepted {data!r}")  # pragma: no cover
