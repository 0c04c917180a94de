"""The client's options are value objects, checked where they are made."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from poller.client import Timeouts


def test_connect_never_waits_longer_than_a_request() -> None:
    assert Timeouts().as_httpx() == httpx.Timeout(30.0, connect=5.0)
    assert Timeouts(request=2).as_httpx() == httpx.Timeout(2, connect=2)
    assert Timeouts(request=60, connect=10).as_httpx() == httpx.Timeout(60, connect=10)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"request": 0}, ValueError, r"^Timeouts\.request must be a positive number of seconds"),
        ({"connect": -1}, ValueError, r"^Timeouts\.connect must be a positive"),
        ({"request": float("inf")}, ValueError, r"^Timeouts\.request must be a positive"),
        ({"request": "30"}, TypeError, r"^Timeouts\.request takes seconds as a number, got '30'$"),
        ({"connect": True}, TypeError, r"^Timeouts\.connect takes seconds as a number"),
    ],
)
def test_bad_timeouts_are_refused(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        Timeouts(**kwargs)
