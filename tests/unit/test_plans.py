"""Daemon and backfill plans: grace, settlement re-reads, one width per moment."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from poller.coverage import Coverage, Segment
from poller.sources.plans import backfill_segments, cycle_segments
from poller.streams import BucketWidth

D, H, M = 86400, 3600, 60
T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
MIN, HOUR, DAY = BucketWidth.MINUTE, BucketWidth.HOUR, BucketWidth.DAY


def test_first_cycle_starts_initial_interval_ago_and_stops_at_grace() -> None:
    now = T0 + 10 * D + 12 * H + 7 * M + 30
    segs = cycle_segments(
        Coverage(), now=now, width=MIN, initial_interval=D, grace=2 * M, settlement_window=H
    )
    assert segs == [Segment(now - 30 - D, T0 + 10 * D + 12 * H + 5 * M, MIN)]


def test_next_cycle_rereads_settlement_window_then_continues() -> None:
    cov = Coverage((Segment(T0, T0 + 5 * H, MIN),))
    now = T0 + 5 * H + 7 * M
    segs = cycle_segments(
        cov, now=now, width=MIN, initial_interval=D, grace=2 * M, settlement_window=H
    )
    assert segs == [
        Segment(T0 + 4 * H, T0 + 5 * H, MIN),
        Segment(T0 + 5 * H, T0 + 5 * H + 5 * M, MIN),
    ]


def test_cycle_at_coarser_width_fills_head_finer_and_never_a_partial_tail() -> None:
    cov = Coverage((Segment(T0, T0 + 10 * H + 37 * M, MIN),))
    now = T0 + 12 * H + 50 * M
    segs = cycle_segments(cov, now=now, width=HOUR, initial_interval=D, grace=2 * M,
                          settlement_window=0)
    assert segs == [
        Segment(T0 + 10 * H + 37 * M, T0 + 11 * H, MIN),
        Segment(T0 + 11 * H, T0 + 12 * H, HOUR),
    ]


def test_cycle_with_nothing_new_only_rereads() -> None:
    cov = Coverage((Segment(T0, T0 + 2 * D, DAY),))
    now = T0 + 2 * D + 5 * H
    segs = cycle_segments(cov, now=now, width=DAY, initial_interval=D, grace=H,
                          settlement_window=3 * D)
    assert segs == [Segment(T0, T0 + 2 * D, DAY)]


def test_backfill_auto_rereads_covered_and_fills_gaps_by_age() -> None:
    now = T0 + 40 * D + 13 * H + 7 * M
    daemon = Segment(now - 7 * M - 2 * H, now - 7 * M, MIN)  # the daemon's own 1m stretch
    cov = Coverage((daemon,))
    segs = backfill_segments(cov, since=T0 + 20 * D, until=now, now=now, grace=2 * M,
                             width=None, reread_from=now - 3 * H)
    assert daemon in segs
    assert segs[0] == Segment(T0 + 20 * D, T0 + 25 * D, DAY)
    minutes: list[int] = []
    for seg in segs:
        minutes += range(seg.start, seg.end, M)
    assert minutes == list(range(T0 + 20 * D, now - 2 * M, M))  # up to now - grace


@given(
    st.integers(0, 30 * 24 * 60),
    st.integers(1, 30 * 24 * 60),
    st.sampled_from([None, MIN, HOUR, DAY]),
)
def test_backfill_then_backfill_again_never_mixes_widths(
    offset: int, length: int, width: BucketWidth | None
) -> None:
    now = T0 + 45 * D + 3 * H + 11 * M
    since = T0 + offset * M
    until = since + length * M
    cov = Coverage()
    for seg in backfill_segments(cov, since=since, until=until, now=now, grace=2 * M,
                                 width=width, reread_from=now - H):
        cov = cov.add(seg)  # raises on an overlap at another width
    again = backfill_segments(cov, since=since, until=until, now=now, grace=2 * M, width=width,
                              reread_from=now - H)
    for seg in again:
        assert seg.end > now - 2 * H  # a repeated backfill re-reads only what may be revised
        cov = cov.add(seg)
    covered: list[int] = []
    for seg in cov.segments:
        covered += range(seg.start, seg.end, M)
    assert covered == sorted(set(covered))


def test_resumed_backfill_fetches_only_the_rest_and_recent_rereads() -> None:
    now = T0 + 40 * D
    done = Segment(T0 + 20 * D, T0 + 22 * D, DAY)
    segs = backfill_segments(Coverage((done,)), since=T0 + 20 * D, until=T0 + 24 * D, now=now,
                             grace=2 * M, width=DAY, reread_from=now - 3 * D)
    assert segs == [Segment(T0 + 22 * D, T0 + 24 * D, DAY)]
