"""Impossible state is a StateError naming the stream and the fix, never a position."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
from fake_api import FakeClient, access
from fakes import RecordingSink
from streams_config import T0, D, H, config

from poller.collect import cycle
from poller.coverage import Coverage, Segment
from poller.errors import StateError
from poller.state import (
    FUTURE_TOLERANCE,
    StreamState,
    check_position,
    load_stream_state,
    saved_state,
)
from poller.streams import BucketWidth

FIX = "run `openai-poller state rebuild --org acme --streams completions`"


class _Store:
    def __init__(self, data: Any) -> None:
        self._data = data

    def load_state(self, key: str) -> Mapping[str, Any] | None:
        if isinstance(self._data, str):
            return json.loads(self._data)  # type: ignore[no-any-return]  # as SQLite does
        return self._data  # type: ignore[no-any-return]


@pytest.mark.parametrize(("data", "what"), [
    ("{not json", "Expecting property name"),
    ({"coverage": "garbage"}, "coverage must be a list of segments"),
    ({"coverage": [[T0, T0 + H, "1h", ["model"]]]}, "not a coverage segment"),
    ({"high_water": "soon"}, "high_water must be int"),
    ({"last_success": True}, "last_success must be float"),
    ({"version": 3}, "unknown state version 3"),
])
def test_unreadable_state_is_a_state_error_naming_the_stream_and_the_fix(
    data: Any, what: str
) -> None:
    with pytest.raises(StateError) as raised:
        load_stream_state(_Store(data), "acme", "completions")
    message = str(raised.value)
    assert message.startswith("acme/completions: saved state is unreadable (")
    assert what in message
    assert message.endswith(FIX)
    assert "\n" not in message


def test_no_state_is_none_and_version_one_still_reads() -> None:
    assert saved_state(_Store(None), "acme", "completions") is None
    assert load_stream_state(_Store(None), "acme", "completions") == StreamState()
    old = {"coverage": [[T0, T0 + H, "1h"]], "high_water": None, "last_success": 5}
    assert load_stream_state(_Store(old), "acme", "completions") == StreamState(
        coverage=Coverage((Segment(T0, T0 + H, BucketWidth.HOUR),)), last_success=5)


def test_a_position_after_now_is_a_state_error() -> None:
    now = T0 + D
    within = StreamState(high_water=now + FUTURE_TOLERANCE)
    check_position(within, org="acme", stream="audit", now=now)  # clock skew: accepted
    ahead = StreamState(last_slot=now + FUTURE_TOLERANCE + 1)
    with pytest.raises(StateError, match=r"^acme/rate_limits: saved position is 901 s after "
                       r"the API's now; run `openai-poller state rebuild --org acme "
                       r"--streams rate_limits`$"):
        check_position(ahead, org="acme", stream="rate_limits", now=now)


def test_a_cycle_reports_impossible_state_as_its_stream_failure_and_fetches_nothing() -> None:
    future = Coverage((Segment(T0, T0 + 40 * D, BucketWidth.HOUR, (), "org-1"),))
    sink = RecordingSink(states={"acme/completions": StreamState(coverage=future).to_json()})
    client = FakeClient()
    result = cycle(access(client), config("completions"), sink, now=T0 + D)
    assert isinstance(result.error, StateError)
    assert str(result.error).startswith("acme/completions: saved position is 3369600 s after")
    assert result.report is None and not result.stopped
    assert client.calls == []
    assert sink.saved == []  # the evidence stays as it was
