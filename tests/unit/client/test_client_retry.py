"""Retries: what is retried, the exact waits, the server's delay never undercut, the bounds."""

from __future__ import annotations

import logging
import threading
from email.utils import format_datetime, parsedate_to_datetime

import httpx
import pytest
from client_fakes import FakeTime, MakeClient, RecordingObserver, Script, fail, fixture, ok

from poller.client.retry import RETRY_AFTER_MARGIN, RetryPolicy
from poller.errors import (
    MalformedResponseError,
    PollerError,
    RateLimitedError,
    RequestRejectedError,
    ServerError,
    StopRequested,
    TransportError,
)
from poller.runtime import interruptible_sleep

M = RETRY_AFTER_MARGIN
PROJECT = fixture("project")
RATE_LIMITS = "/organization/projects/{project_id}/rate_limits"
DATE = "Wed, 21 Oct 2026 07:28:00 GMT"


def test_the_margin_is_a_few_milliseconds() -> None:
    assert 0 < M <= 0.05


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after": "2"}, 2.0),
        ({"retry-after": "0.25"}, 0.25),
        ({"retry-after-ms": "250", "retry-after": "1"}, 0.25),  # ms first, as the SDK does
        ({"retry-after-ms": "soon", "retry-after": "3"}, 3.0),
        ({"retry-after": "Wed, 21 Oct 2026 07:28:03 GMT", "date": DATE}, 3.0),
    ],
)
def test_429_waits_exactly_the_servers_delay_plus_margin(
    make_client: MakeClient, fake_time: FakeTime, headers: dict[str, str], wait: float
) -> None:
    script = Script([fail(429, "slow down", headers=headers), ok(PROJECT)])
    assert make_client(script).get_project("proj_abc").id == "proj_abc"
    assert fake_time.sleeps == [wait + M]
    assert fake_time.sleeps[0] > wait  # never earlier than the server asked
    assert len(script.requests) == 2


def test_http_date_without_a_date_header_uses_the_wall_clock(
    make_client: MakeClient, fake_time: FakeTime
) -> None:
    now = parsedate_to_datetime(DATE).timestamp() - 0.5
    retry_at = format_datetime(parsedate_to_datetime(DATE), usegmt=True)
    script = Script([fail(429, headers={"retry-after": retry_at}), ok(PROJECT)])
    make_client(script, wall_clock=lambda: now).get_project("proj_abc")
    assert fake_time.sleeps == [0.5 + M]


@pytest.mark.parametrize(
    "headers",
    [
        {"retry-after": "Wed, 21 Oct 2026 07:27:00 GMT", "date": DATE},  # in the past
        {"retry-after": "0"},
        {"retry-after": "-3"},
        {"retry-after": "later"},
        {"retry-after-ms": "nan"},
    ],
)
def test_unusable_server_delays_fall_back_to_backoff(
    make_client: MakeClient, fake_time: FakeTime, headers: dict[str, str]
) -> None:
    make_client(Script([fail(503, headers=headers), ok(PROJECT)])).get_project("p")
    assert fake_time.sleeps == [0.5]


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 409])
def test_server_errors_back_off_then_give_up(
    make_client: MakeClient, fake_time: FakeTime, status: int
) -> None:
    script = Script([fail(status, "overloaded")])
    with pytest.raises(ServerError, match=f"HTTP {status}") as raised:
        make_client(script).get_project("proj_abc")
    assert raised.value.status == status
    assert len(script.requests) == 6  # the default max_attempts
    assert fake_time.sleeps == [0.5, 1.0, 2.0, 4.0, 8.0]


def test_backoff_is_capped_at_eight_seconds_and_jittered(
    make_client: MakeClient, fake_time: FakeTime
) -> None:
    client = make_client(Script([fail(500)]), max_attempts=8, max_elapsed=1000, jitter=lambda: 0.5)
    with pytest.raises(ServerError):
        client.get_project("p")
    factor = 1 - 0.25 * 0.5
    assert fake_time.sleeps == [w * factor for w in (0.5, 1, 2, 4, 8, 8, 8)]


def test_a_retried_failure_that_recovers_returns_the_result(
    make_client: MakeClient, fake_time: FakeTime
) -> None:
    script = Script([fail(502), fail(429, headers={"retry-after": "1"}), ok(PROJECT)])
    assert make_client(script).get_project("proj_abc").name == "Project example"
    assert fake_time.sleeps == [0.5, 1.0 + M]


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ReadTimeout("timed out"),
        httpx.ConnectTimeout("timed out"),
        httpx.ConnectError("connection refused"),
        httpx.RemoteProtocolError("peer closed connection"),
        httpx.DecodingError("bad gzip stream"),
    ],
)
def test_transport_errors_are_retried(
    make_client: MakeClient, fake_time: FakeTime, exc: Exception
) -> None:
    script = Script([exc, ok(PROJECT)])
    assert make_client(script).get_project("proj_abc").id == "proj_abc"
    assert fake_time.sleeps == [0.5]


def test_transport_errors_exhausted_raise_transport_error(
    make_client: MakeClient, fake_time: FakeTime
) -> None:
    with pytest.raises(TransportError, match="ConnectError: connection refused") as raised:
        make_client(Script([httpx.ConnectError("connection refused")])).get_project("p")
    assert isinstance(raised.value.__cause__, httpx.ConnectError)
    assert (raised.value.method, raised.value.status) == ("GET", None)
    assert raised.value.url == "https://api.test/v1/organization/projects/p"
    assert len(fake_time.sleeps) == 5


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        (b"<html>502 from a proxy, with a 200</html>", "body is not JSON"),
        (b'{"id": "proj_1", "name": ', "body is not JSON"),
        (b'{"name": "no id"}', "first at id: Field required"),
        (b"[]", "schema error"),
    ],
)
def test_a_2xx_that_does_not_parse_is_retried_then_malformed(
    make_client: MakeClient, fake_time: FakeTime, body: bytes, complaint: str
) -> None:
    bad = httpx.Response(200, content=body, headers={"content-type": "application/json"})
    script = Script([bad, ok(PROJECT)])
    assert make_client(script).get_project("proj_abc").id == "proj_abc"
    assert fake_time.sleeps == [0.5]
    with pytest.raises(MalformedResponseError, match=complaint) as raised:
        make_client(Script([bad]), max_attempts=2).get_project("proj_abc")
    assert raised.value.status == 200


def test_malformed_usage_page_is_retried(make_client: MakeClient, fake_time: FakeTime) -> None:
    """A broken envelope (a bucket without its end) fails the page; a broken result would not
    (test_client_items.py)."""
    drifted = {
        "object": "page",
        "data": [{"start_time": 0, "results": []}],
        "has_more": False,
        "next_page": None,
    }
    script = Script([ok(drifted)])
    with pytest.raises(MalformedResponseError, match=r"data\.0\.end_time: Field required"):
        list(make_client(script, max_attempts=2).usage_pages("embeddings", start_time=0))
    assert len(script.requests) == 2


def test_a_delay_above_the_cap_is_not_retried(
    make_client: MakeClient, fake_time: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    script = Script([fail(429, "quota", headers={"retry-after": "121"}), ok(PROJECT)])
    with pytest.raises(RateLimitedError, match="retry after 121 s") as raised:
        make_client(script).get_project("p")
    assert raised.value.retry_after == 121.0
    assert (len(script.requests), fake_time.sleeps) == (1, [])
    assert "over the 120 s cap" in caplog.text


def test_the_cap_is_configurable_and_inclusive(
    make_client: MakeClient, fake_time: FakeTime
) -> None:
    with pytest.raises(RateLimitedError):
        make_client(
            Script([fail(429, headers={"retry-after": "6"})]), max_retry_after=5
        ).get_project("p")
    assert fake_time.sleeps == []
    script = Script([fail(429, headers={"retry-after": "5"}), ok(PROJECT)])
    make_client(script, max_retry_after=5).get_project("p")
    assert fake_time.sleeps == [5 + M]


def test_attempts_are_bounded(make_client: MakeClient, fake_time: FakeTime) -> None:
    script = Script([fail(429, headers={"retry-after-ms": "10"})])
    with pytest.raises(RateLimitedError) as raised:
        make_client(script, max_attempts=3).get_project("p")
    assert raised.value.retry_after == 0.01
    assert len(script.requests) == 3
    assert fake_time.sleeps == [0.01 + M] * 2


def test_total_time_is_bounded_by_backoff(make_client: MakeClient, fake_time: FakeTime) -> None:
    script = Script([fail(503)])
    with pytest.raises(ServerError):
        make_client(script, max_attempts=20, max_elapsed=10).get_project("p")
    assert fake_time.sleeps == [0.5, 1.0, 2.0, 4.0]  # a wait of 8 more would end at 15.5 s


def test_total_time_counts_slow_requests(make_client: MakeClient, fake_time: FakeTime) -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        fake_time.now += 3.0  # each request takes three seconds
        return fail(500)

    with pytest.raises(ServerError):
        make_client(slow, max_elapsed=10).get_project("p")
    assert fake_time.sleeps == [0.5, 1.0]  # the third attempt ends at 10.5 s


def test_a_server_delay_past_the_deadline_is_not_waited_for(
    make_client: MakeClient, fake_time: FakeTime
) -> None:
    script = Script([fail(429, headers={"retry-after": "40"})])
    with pytest.raises(RateLimitedError) as raised:
        make_client(script, max_elapsed=30).get_project("p")
    assert (raised.value.retry_after, fake_time.sleeps, len(script.requests)) == (40.0, [], 1)


def test_x_should_retry_false_stops_a_retryable_status(
    make_client: MakeClient, fake_time: FakeTime
) -> None:
    script = Script([fail(503, headers={"x-should-retry": "false"}), ok(PROJECT)])
    with pytest.raises(ServerError):
        make_client(script).get_project("p")
    assert (len(script.requests), fake_time.sleeps) == (1, [])


def test_x_should_retry_true_retries_any_status(
    make_client: MakeClient, fake_time: FakeTime
) -> None:
    script = Script([fail(400, headers={"x-should-retry": "true"}), ok(PROJECT)])
    assert make_client(script).get_project("p").id == "proj_abc"
    assert fake_time.sleeps == [0.5]
    with pytest.raises(RequestRejectedError):
        make_client(
            Script([fail(400, headers={"x-should-retry": "true"})]), max_attempts=2
        ).get_project("p")


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_other_4xx_are_not_retried(
    make_client: MakeClient, fake_time: FakeTime, status: int
) -> None:
    script = Script([fail(status), ok(PROJECT)])
    with pytest.raises(PollerError) as raised:
        make_client(script).get_project("p")
    assert not raised.value.retryable
    assert (len(script.requests), fake_time.sleeps) == (1, [])


def test_observer_and_log_hear_of_every_response_and_retry(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    observer = RecordingObserver()
    script = Script(
        [
            fail(429, headers={"retry-after": "1"}),
            httpx.ConnectTimeout("slow"),
            ok(fixture("project_rate_limits")),
        ]
    )
    client = make_client(script, observer=observer)
    assert len(list(client.list_project_rate_limits("proj_1"))) == 1
    assert observer.responses == [(RATE_LIMITS, 429), (RATE_LIMITS, 200)]
    assert observer.retries == [(RATE_LIMITS, "429", 1.0 + M), (RATE_LIMITS, "ConnectTimeout", 1.0)]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage().split(":")[0] for r in warnings] == [f"GET {RATE_LIMITS}"] * 2
    assert "attempt 1 of 6 failed (429), retrying in 1.010 s" in warnings[0].getMessage()
    assert "attempt 2 of 6 failed (ConnectTimeout), retrying in 1.000 s" in warnings[1].getMessage()
    assert all(r.name == "poller.client.api" for r in warnings)


@pytest.mark.parametrize(
    "kwargs", [{"max_attempts": 0}, {"max_elapsed": 0}, {"max_retry_after": -1}]
)
def test_policy_bounds_must_make_sense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_a_stop_ends_a_long_retry_after_wait_at_once(make_client: MakeClient) -> None:
    """The daemon's and backfill's sleep: SIGTERM must not wait out a Retry-After of minutes."""
    stop = threading.Event()
    stop.set()
    script = Script([fail(429, "slow down", headers={"retry-after": "90"}), ok({"data": []})])
    client = make_client(script, sleep=interruptible_sleep(stop))
    with pytest.raises(StopRequested, match="stopped while waiting to retry"):
        client.get_project("p")  # a plain sleep would hold the test for 90 s here
    assert len(script.requests) == 1  # and no early retry


def test_an_interruptible_sleep_waits_on_the_stop_event() -> None:
    waits: list[float | None] = []

    class Never(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            waits.append(timeout)
            return False

    interruptible_sleep(Never())(2.5)
    assert waits == [2.5]


def test_a_retry_after_holds_every_request_of_the_client(
    make_client: MakeClient, fake_time: FakeTime
) -> None:
    """Another job's next request waits out the 429 too (the limit is the key's, not the
    request's): the server never sees an early retry from us."""
    script = Script([fail(429, "slow down", headers={"retry-after": "5"}), ok(PROJECT)])
    client = make_client(script, max_attempts=1)
    with pytest.raises(RateLimitedError):
        client.get_project("p")  # one attempt only: gives up, the pause stays
    assert fake_time.sleeps == []
    fake_time.now += 2  # two seconds later, another call
    client.get_project("p")
    assert fake_time.sleeps == [pytest.approx(3 + M)]
    client.get_project("p")  # the pause is over, its pace is not: one delay after the first
    assert fake_time.sleeps == [pytest.approx(3 + M), 5.0]


def test_a_pause_is_capped_at_max_retry_after(make_client: MakeClient, fake_time: FakeTime) -> None:
    script = Script([fail(429, "slow down", headers={"retry-after": "3600"}), ok(PROJECT)])
    client = make_client(script, max_retry_after=60)
    with pytest.raises(RateLimitedError):
        client.get_project("p")  # over the cap: not retried
    client.get_project("p")
    assert fake_time.sleeps == [pytest.approx(60 + M)]
