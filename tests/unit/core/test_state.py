"""A stream's state survives the trip through the sink's JSON unchanged."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from poller.coverage import Coverage, Segment
from poller.state import StreamState
from poller.streams import BUCKET_SECONDS, BucketWidth

_EPOCH_DAYS = st.integers(min_value=18_000, max_value=22_000)  # 2019 .. 2030


@st.composite
def coverages(draw: st.DrawFn) -> Coverage:
    """Adjacent or separate runs of whole buckets, each at one width, oldest first."""
    cursor = draw(_EPOCH_DAYS) * 86400
    coverage = Coverage()
    for _ in range(draw(st.integers(min_value=0, max_value=5))):
        width = draw(st.sampled_from(list(BucketWidth)))
        step = BUCKET_SECONDS[width]
        cursor += draw(st.integers(min_value=0, max_value=3)) * 86400  # days apart, or adjacent
        end = cursor + draw(st.integers(min_value=1, max_value=48)) * step
        coverage = coverage.add(Segment(cursor, end, width))
        cursor = -(-end // 86400) * 86400  # the next run starts on a day boundary
    return coverage


_SECONDS = st.integers(min_value=0, max_value=2**40)
_TIMES = st.floats(min_value=0, max_value=2e9, allow_nan=False)

states = st.builds(
    StreamState,
    coverage=coverages(),
    high_water=st.none() | _SECONDS,
    last_slot=st.none() | _SECONDS,
    last_success=st.none() | _TIMES,
    last_error=st.none() | st.text(max_size=50),
    last_error_at=st.none() | _TIMES,
)


@given(states)
def test_the_json_round_trip_keeps_every_field(state: StreamState) -> None:
    stored = json.loads(json.dumps(state.to_json()))
    assert StreamState.from_json(stored) == state


def test_no_saved_state_is_a_fresh_stream() -> None:
    assert StreamState.from_json(None) == StreamState()
    assert StreamState.from_json({}) == StreamState()
    assert StreamState().position is None


def test_the_position_is_the_one_of_the_streams_kind() -> None:
    covered = Coverage((Segment(86400, 2 * 86400, BucketWidth.DAY),))
    assert StreamState(coverage=covered, high_water=5).position == 2 * 86400
    assert StreamState(high_water=5, last_slot=7).position == 5
    assert StreamState(last_slot=7).position == 7
