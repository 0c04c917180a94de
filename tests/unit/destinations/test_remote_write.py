"""Remote write: the exact WriteRequest, decoded with the same protobuf classes, and how each
answer of the receiver is handled."""

from __future__ import annotations

from typing import Any

import cramjam
import httpx
import pytest
from destination_support import Harness, golden, revised

from poller.destinations import RemoteWriteSettings
from poller.destinations.backends import RemoteWriteDestination
from poller.destinations.backends._prompb import WriteRequest
from poller.errors import SinkRejectedError, SinkUnavailableError

URL = "http://mimir:8080/api/v1/push"
COMPLETIONS = golden("completions", 0)  # 2026-01-01T08:00 bucket: 1767254400
START_MS = 1_767_254_400_000


def destination(harness: Harness, **settings: object) -> RemoteWriteDestination:
    return RemoteWriteDestination(
        RemoteWriteSettings.model_validate({"type": "remote_write", "url": URL, **settings}),
        harness.context(),
    )


def decoded(request: httpx.Request) -> dict[tuple[tuple[str, str], ...], list[tuple[int, float]]]:
    """series (labels) → [(timestamp ms, value)] of a remote write request."""
    message: Any = WriteRequest.FromString(bytes(cramjam.snappy.decompress_raw(request.content)))
    return {
        tuple((label.name, label.value) for label in ts.labels): [
            (s.timestamp, s.value) for s in ts.samples
        ]
        for ts in message.timeseries
    }


def metadata(request: httpx.Request) -> list[tuple[int, str, str, str]]:
    message: Any = WriteRequest.FromString(bytes(cramjam.snappy.decompress_raw(request.content)))
    return [(m.type, m.metric_family_name, m.help, m.unit) for m in message.metadata]


def gpt(name: str) -> tuple[tuple[str, str], ...]:
    return (("__name__", name), ("model", "gpt-4o"), ("org", "acme"), ("project", "proj_alpha"))


def test_samples_are_bucket_increments_stamped_with_the_bucket_start() -> None:
    harness = Harness()
    destination(harness, token="rw-token").deliver([COMPLETIONS, golden("audit", 0)])
    (request,) = harness.receiver.requests
    assert request.url == URL
    assert request.headers["Content-Encoding"] == "snappy"
    assert request.headers["Content-Type"] == "application/x-protobuf"
    assert request.headers["X-Prometheus-Remote-Write-Version"] == "0.1.0"
    assert request.headers["Authorization"] == "Bearer rw-token"
    assert decoded(request) == {
        gpt("openai_usage_input_tokens"): [(START_MS, 1200.0)],
        gpt("openai_usage_output_tokens"): [(START_MS, 300.0)],
        gpt("openai_usage_requests"): [(START_MS, 7.0)],
        gpt("openai_cost_estimate_usd"): [(START_MS, 0.006)],
    }
    assert metadata(request) == [
        (2, "openai_usage_input_tokens", "Input tokens used (completions, embeddings, "
         "moderations), from the Usage API", "{token}"),
        (2, "openai_usage_output_tokens", "Output tokens generated (completions), from the Usage "
         "API", "{token}"),
        (2, "openai_usage_requests", "Model requests, from the Usage API", "{request}"),
        (2, "openai_cost_estimate_usd", "Cost estimated from usage at list prices, in USD", "USD"),
    ]


def test_a_revision_is_one_more_sample_a_millisecond_later_and_a_repeat_is_not_sent() -> None:
    harness = Harness()
    rw = destination(harness)
    rw.deliver([COMPLETIONS])
    rw.deliver([COMPLETIONS])
    assert len(harness.receiver.requests) == 1
    rw.deliver([revised(COMPLETIONS, "openai.completions.input_tokens", 1250)])
    rw.deliver([revised(COMPLETIONS, "openai.completions.input_tokens", 1300)])
    assert [decoded(r) for r in harness.receiver.requests[1:]] == [
        {gpt("openai_usage_input_tokens"): [(START_MS + 1, 50.0)]},
        {gpt("openai_usage_input_tokens"): [(START_MS + 2, 50.0)]},
    ]


def test_two_streams_sharing_a_series_never_share_a_timestamp() -> None:
    harness = Harness()
    rw = destination(harness, dimensions=["org", "project"])
    rw.deliver([COMPLETIONS])
    rw.deliver([golden("embeddings", 0)])  # the same project and hour
    rw.deliver([revised(golden("embeddings", 0), "openai.embeddings.input_tokens", 150001)])
    name = (("__name__", "openai_usage_input_tokens"), ("org", "acme"),
            ("project", "proj_alpha"))
    assert [decoded(r)[name] for r in harness.receiver.requests] == [
        [(START_MS, 1200.0)],  # completions: the bucket's first second
        [(START_MS + 1000, 150000.0)],  # embeddings: its second second
        [(START_MS + 1001, 1.0)],
    ]


def test_requests_hold_batch_size_documents_and_each_is_kept_once_acknowledged() -> None:
    harness = Harness()
    harness.receiver.answers = [httpx.Response(204), httpx.Response(503), httpx.Response(503)]
    rw = destination(harness, batch_size=1, retry={"attempts": 2, "backoff": 1})
    with pytest.raises(SinkUnavailableError, match="did not acknowledge after 2 tries"):
        rw.deliver([COMPLETIONS, golden("embeddings", 0)])
    assert harness.sleeps == [1.0]
    rw.deliver([COMPLETIONS, golden("embeddings", 0)])  # the next cycle: only the second again
    sent = [next(iter(decoded(r))) for r in harness.receiver.requests]
    assert [dict(labels)["model"] for labels in sent] == [
        "gpt-4o", "text-embedding-3-small", "text-embedding-3-small", "text-embedding-3-small",
    ]


def test_busy_answers_are_retried_with_doubling_waits_and_retry_after() -> None:
    harness = Harness()
    harness.receiver.answers = [
        httpx.Response(503), httpx.Response(429, headers={"Retry-After": "7"}),
        httpx.Response(500), httpx.Response(200),
    ]
    destination(harness, retry={"attempts": 4, "backoff": 2, "max_backoff": 5}).deliver(
        [COMPLETIONS]
    )
    assert harness.sleeps == [2.0, 5.0, 5.0]  # 2, Retry-After 7 capped at 5, 8 capped at 5
    assert len({r.content for r in harness.receiver.requests}) == 1  # the same body each time


def test_transport_errors_are_retried() -> None:
    harness = Harness()

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    harness.receiver.answers = [refuse, httpx.Response(204)]
    destination(harness).deliver([COMPLETIONS])
    assert len(harness.receiver.requests) == 2


def test_samples_refused_for_good_are_counted_and_not_sent_again() -> None:
    harness = Harness()
    harness.receiver.answers = [httpx.Response(400, text="out of bounds")]
    rw = destination(harness)
    rw.deliver([COMPLETIONS])
    assert harness.sample(
        "openai_poller_destination_dropped_total",
        org="acme", destination="remote_write", reason="refused",
    ) == 1.0
    rw.deliver([COMPLETIONS])
    assert len(harness.receiver.requests) == 1


@pytest.mark.parametrize(("status", "message"), [
    (401, "refused the credentials"), (403, "refused the credentials"),
    (404, "no such endpoint"), (413, "lower batch_size"),
])
def test_a_refused_request_is_an_error_and_keeps_the_batch(status: int, message: str) -> None:
    harness = Harness()
    harness.receiver.answers = [httpx.Response(status)]
    rw = destination(harness)
    with pytest.raises(SinkRejectedError, match=message):
        rw.deliver([COMPLETIONS])
    assert harness.store.saves == 1  # the request, before it was sent
    rw.deliver([COMPLETIONS])  # sent again as it was; nothing more to send
    first, again = harness.receiver.requests
    assert again.content == first.content


def test_basic_authentication_and_extra_headers() -> None:
    harness = Harness()
    destination(
        harness, username="poller", password="pw", headers={"X-Scope-OrgID": "tenant-1"}
    ).deliver([COMPLETIONS])
    (request,) = harness.receiver.requests
    assert request.headers["Authorization"] == "Basic cG9sbGVyOnB3"
    assert request.headers["X-Scope-OrgID"] == "tenant-1"


def test_the_probe_sends_an_empty_write_request() -> None:
    harness = Harness()
    assert destination(harness).probe()
    (request,) = harness.receiver.requests
    assert decoded(request) == {}
    harness.receiver.answers = [httpx.Response(503)]
    assert not destination(harness).probe()


def _lost(request: httpx.Request) -> httpx.Response:
    """The receiver took the request, but its answer never came."""
    raise httpx.ReadTimeout("timed out", request=request)


def test_a_request_whose_answer_was_lost_goes_again_as_it_was_before_a_revision() -> None:
    """Had the revision been counted from scratch, it would be 1250 at the bucket's start: a
    second value for a sample the receiver may hold (Prometheus keeps the first, silently,
    for an out-of-order one). Instead the same request goes again, then the difference."""
    harness = Harness()
    harness.receiver.answers = [_lost]
    rw = destination(harness, retry={"attempts": 1})
    with pytest.raises(SinkUnavailableError, match="ReadTimeout"):
        rw.deliver([COMPLETIONS])
    rw.deliver([revised(COMPLETIONS, "openai.completions.input_tokens", 1250)])
    lost, again, revision = harness.receiver.requests
    assert again.content == lost.content
    assert decoded(lost)[gpt("openai_usage_input_tokens")] == [(START_MS, 1200.0)]
    assert decoded(revision) == {gpt("openai_usage_input_tokens"): [(START_MS + 1, 50.0)]}
    rw.deliver([revised(COMPLETIONS, "openai.completions.input_tokens", 1250)])
    assert len(harness.receiver.requests) == 3  # nothing pending, nothing new


def test_a_restart_sends_the_unacknowledged_request_first() -> None:
    harness = Harness()
    harness.receiver.answers = [_lost]
    with pytest.raises(SinkUnavailableError):
        destination(harness, retry={"attempts": 1}).deliver([COMPLETIONS])
    restarted = Harness(store=harness.store, clock=harness.clock, receiver=harness.receiver)
    destination(restarted).deliver([COMPLETIONS])  # the same bucket, unchanged
    lost, again = harness.receiver.requests
    assert again.content == lost.content
