"""Splunk HEC: the exact events, error codes, busy answers and indexer acknowledgment."""

from __future__ import annotations

import gzip
import json
from typing import Any

import httpx
import pytest
from destination_support import Harness, golden, revised

from poller.destinations import SplunkHecSettings
from poller.destinations.backends import SplunkHecDestination
from poller.errors import SinkRejectedError, SinkUnavailableError

BASE = "https://splunk:8088"
CHANNEL = "0f0e0d0c-0b0a-4908-8706-050403020100"
OK = httpx.Response(200, json={"text": "Success", "code": 0})


def destination(harness: Harness, **settings: object) -> SplunkHecDestination:
    return SplunkHecDestination(
        SplunkHecSettings.model_validate(
            {"type": "splunk_hec", "url": BASE, "token": "hec-token", "channel": CHANNEL,
             **settings}
        ),
        harness.context(),
    )


def events(request: httpx.Request) -> list[dict[str, Any]]:
    body = request.content
    if request.headers.get("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    return [json.loads(line) for line in body.decode().split("\n")]


def test_documents_become_events_at_their_time_with_their_sourcetype() -> None:
    harness = Harness()
    harness.receiver.default = OK
    docs = [golden("completions", 0), golden("costs", 0), golden("audit", 1)]
    destination(harness, index="openai", host="poller-1").deliver(docs)
    requests = harness.receiver.requests
    assert len(requests) == 3  # a request per stream
    for request in requests:
        assert request.url == f"{BASE}/services/collector/event"
        assert request.headers["Authorization"] == "Splunk hec-token"
        assert request.headers["X-Splunk-Request-Channel"] == CHANNEL
        assert request.headers["Content-Encoding"] == "gzip"
    assert [event for request in requests for event in events(request)] == [
        {"time": 1767254400.0, "source": "openai-poller", "sourcetype": "openai:usage",
         "event": docs[0].source, "index": "openai", "host": "poller-1",
         "fields": {"doc_id": docs[0].doc_id, "org": "acme", "stream": "completions"}},
        {"time": 1767225600.0, "source": "openai-poller", "sourcetype": "openai:costs",
         "event": docs[1].source, "index": "openai", "host": "poller-1",
         "fields": {"doc_id": docs[1].doc_id, "org": "acme", "stream": "costs"}},
        {"time": 1767254460.0, "source": "openai-poller", "sourcetype": "openai:audit",
         "event": docs[2].source, "index": "openai", "host": "poller-1",
         "fields": {"doc_id": "audit_log-login-0002", "org": "acme", "stream": "audit"}},
    ]


def test_each_version_is_sent_once() -> None:
    harness = Harness()
    harness.receiver.default = OK
    hec = destination(harness, gzip=False)
    hec.deliver([golden("completions", 0), golden("audit", 0)])
    hec.deliver([golden("completions", 0), golden("audit", 0)])  # a re-read, an overlap
    grown = revised(golden("completions", 0), "openai.completions.input_tokens", 1300)
    hec.deliver([grown, golden("audit", 0)])
    assert [[e["event"] for e in events(r)] for r in harness.receiver.requests] == [
        [golden("completions", 0).source], [golden("audit", 0).source], [grown.source],
    ]


def test_a_busy_splunk_is_retried_with_backoff() -> None:
    harness = Harness()
    busy = httpx.Response(503, json={"text": "Server is busy", "code": 9})
    harness.receiver.answers = [busy, busy, OK]
    destination(harness, retry={"backoff": 0.5}).deliver([golden("audit", 0)])
    assert harness.sleeps == [0.5, 1.0]
    assert len(harness.receiver.requests) == 3


def test_a_splunk_that_stays_busy_leaves_the_batch_unacknowledged() -> None:
    harness = Harness()
    harness.receiver.default = httpx.Response(503, json={"text": "Server is busy", "code": 9})
    hec = destination(harness, retry={"attempts": 3})
    with pytest.raises(SinkUnavailableError, match="HTTP 503"):
        hec.deliver([golden("audit", 0)])
    harness.receiver.default = OK
    hec.deliver([golden("audit", 0)])  # the next cycle sends it again
    assert len(harness.receiver.requests) == 4


@pytest.mark.parametrize(("code", "text"), [
    (7, "Incorrect index"), (10, "Data channel is missing"), (14, "ACK is disabled"),
])
def test_a_request_refused_for_its_settings_is_an_error(code: int, text: str) -> None:
    harness = Harness()
    harness.receiver.answers = [httpx.Response(400, json={"text": text, "code": code})]
    with pytest.raises(SinkRejectedError, match=f"code {code}: {text}"):
        destination(harness).deliver([golden("audit", 0)])
    assert harness.store.saves == 0


@pytest.mark.parametrize(("status", "code"), [(403, 4), (401, 2)])
def test_a_refused_token_is_an_error(status: int, code: int) -> None:
    harness = Harness()
    refusal = httpx.Response(status, json={"text": "Invalid token", "code": code})
    harness.receiver.answers = [refusal]
    with pytest.raises(SinkRejectedError, match="credentials"):
        destination(harness).deliver([golden("audit", 0)])


def _bad_event(index: int) -> httpx.Response:
    return httpx.Response(
        400, json={"text": "Invalid data format", "code": 6, "invalid-event-number": index}
    )


def test_an_unreadable_event_is_refused_and_the_ones_after_it_sent_again() -> None:
    harness = Harness()
    harness.receiver.answers = [_bad_event(1), OK]
    docs = [golden("audit", i) for i in range(4)]
    destination(harness, gzip=False).deliver(docs)
    first, second = harness.receiver.requests
    assert len(events(first)) == 4
    assert [e["fields"]["doc_id"] for e in events(second)] == [docs[2].doc_id, docs[3].doc_id]
    assert harness.sample(
        "openai_poller_destination_dropped_total",
        org="acme", destination="splunk_hec", reason="refused",
    ) == 1.0


def test_with_acknowledgment_the_events_before_a_bad_one_are_sent_again_too() -> None:
    harness = Harness()
    harness.receiver.answers = [
        _bad_event(1),
        httpx.Response(200, json={"text": "Success", "code": 0, "ackId": 3}),
        httpx.Response(200, json={"acks": {"3": True}}),
    ]
    docs = [golden("audit", i) for i in range(3)]
    destination(harness, gzip=False, ack=True).deliver(docs)
    assert [e["fields"]["doc_id"] for e in events(harness.receiver.requests[1])] == [
        docs[0].doc_id, docs[2].doc_id,
    ]


def test_acknowledgment_polls_until_indexed() -> None:
    harness = Harness()
    harness.receiver.answers = [
        httpx.Response(200, json={"text": "Success", "code": 0, "ackId": 12}),
        httpx.Response(200, json={"acks": {"12": False}}),
        httpx.Response(200, json={"acks": {"12": True}}),
    ]
    destination(harness, ack=True, ack_poll_interval=3).deliver([golden("audit", 0)])
    _, *polls = harness.receiver.requests
    assert [str(p.url) for p in polls] == [f"{BASE}/services/collector/ack?channel={CHANNEL}"] * 2
    assert [json.loads(p.content) for p in polls] == [{"acks": [12]}, {"acks": [12]}]
    assert polls[0].headers["X-Splunk-Request-Channel"] == CHANNEL
    assert harness.sleeps == [3.0, 3.0]
    assert harness.store.saves == 1


def test_no_acknowledgment_in_time_leaves_the_batch_unacknowledged() -> None:
    harness = Harness()
    harness.receiver.answers = [httpx.Response(200, json={"text": "Success", "code": 0,
                                                          "ackId": 0})]
    harness.receiver.default = httpx.Response(200, json={"acks": {"0": False}})
    hec = destination(harness, ack=True, ack_timeout=10, ack_poll_interval=2)
    with pytest.raises(SinkUnavailableError, match="did not confirm indexing within 10s"):
        hec.deliver([golden("audit", 0)])
    assert harness.sleeps == [2.0] * 5
    assert harness.store.saves == 0


def test_acknowledgment_needs_an_ack_id() -> None:
    harness = Harness()
    harness.receiver.default = OK
    with pytest.raises(SinkRejectedError, match="gave no ackId"):
        destination(harness, ack=True).deliver([golden("audit", 0)])


def test_the_token_can_come_from_a_file(tmp_path: Any) -> None:
    secret = tmp_path / "hec-token"
    secret.write_text("from-file\n", encoding="utf-8")
    harness = Harness()
    harness.receiver.default = OK
    SplunkHecDestination(
        SplunkHecSettings(type="splunk_hec", url=BASE, token_file=secret), harness.context()
    ).deliver([golden("audit", 0)])
    assert harness.receiver.requests[0].headers["Authorization"] == "Splunk from-file"


def test_the_probe_reads_the_health_endpoint() -> None:
    harness = Harness()
    harness.receiver.answers = [httpx.Response(200, json={"text": "HEC is healthy", "code": 17}),
                                httpx.Response(503, json={"code": 18})]
    hec = destination(harness)
    assert hec.probe()
    assert not hec.probe()
    assert str(harness.receiver.requests[0].url) == f"{BASE}/services/collector/health"
