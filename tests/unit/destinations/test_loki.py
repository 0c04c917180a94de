"""Loki: the exact push JSON (labels, nanosecond times, the ECS document as the line)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from destination_support import Harness, golden

from poller.destinations import LokiSettings, streams_of
from poller.destinations.backends import LokiDestination
from poller.errors import SinkUnavailableError
from poller.sinks import canonical_json

BASE = "http://loki:3100"


def destination(harness: Harness, **settings: object) -> LokiDestination:
    return LokiDestination(
        LokiSettings.model_validate({"type": "loki", "url": BASE, **settings}), harness.context()
    )


def pushed(request: httpx.Request) -> list[dict[str, Any]]:
    streams: list[dict[str, Any]] = json.loads(request.content)["streams"]
    return streams


def test_audit_events_are_lines_under_a_few_bounded_labels() -> None:
    harness = Harness()
    docs = [golden("audit", i) for i in (2, 0, 1, 7)]
    destination(harness, tenant="team-a", token="loki-token").deliver(docs)
    (request,) = harness.receiver.requests
    assert request.url == f"{BASE}/loki/api/v1/push"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Scope-OrgID"] == "team-a"
    assert request.headers["Authorization"] == "Bearer loki-token"
    line = {doc.doc_id: canonical_json(doc.source) for doc in docs}
    assert pushed(request) == [
        {"stream": {"event_type": "api_key", "org": "acme", "outcome": "success"},
         "values": [["1767258000000000000", line["audit_log-key-0003"]],
                    ["1767276000000000000", line["audit_log-key-0008"]]]},
        {"stream": {"event_type": "login", "org": "acme", "outcome": "success"},
         "values": [["1767254400000000000", line["audit_log-login-0001"]]]},
        {"stream": {"event_type": "login", "org": "acme", "outcome": "failure"},
         "values": [["1767254460000000000", line["audit_log-login-0002"]]]},
    ]


def test_loki_takes_the_audit_stream_only_by_default_and_sends_each_event_once() -> None:
    harness = Harness()
    loki = destination(harness)
    assert streams_of(LokiSettings(type="loki", url=BASE)) == frozenset({"audit"})
    loki.deliver([golden("audit", 0)])
    loki.deliver([golden("audit", 0), golden("audit", 1)])  # the overlap of the next window
    assert [[v[1] for s in pushed(r) for v in s["values"]] for r in harness.receiver.requests] == [
        [canonical_json(golden("audit", 0).source)],
        [canonical_json(golden("audit", 1).source)],
    ]


def test_entries_loki_ignores_are_counted_as_refused() -> None:
    harness = Harness()
    harness.receiver.answers = [httpx.Response(
        400,
        text="entry with timestamp 2026-01-01 08:00:00 +0000 UTC ignored, reason: 'entry too far "
        "behind',\nuser 'fake', total ignored: 1 out of 2 for stream: {org=\"acme\"}",
    )]
    destination(harness).deliver([golden("audit", 0), golden("audit", 1)])
    assert harness.sample(
        "openai_poller_destination_dropped_total", org="acme", destination="loki", reason="refused"
    ) == 1.0


def test_rate_limits_are_retried_then_leave_the_batch_unacknowledged() -> None:
    harness = Harness()
    harness.receiver.default = httpx.Response(429, headers={"Retry-After": "3"})
    with pytest.raises(SinkUnavailableError, match="Loki loki did not acknowledge"):
        destination(harness, retry={"attempts": 2}).deliver([golden("audit", 0)])
    assert harness.sleeps == [3.0]


def test_the_probe_asks_ready() -> None:
    harness = Harness()
    harness.receiver.default = httpx.Response(200, text="ready")
    assert destination(harness).probe()
    assert str(harness.receiver.requests[0].url) == f"{BASE}/ready"


def test_a_receiver_that_did_not_acknowledge_is_down_until_it_takes_a_request() -> None:
    harness = Harness()
    loki = destination(harness, retry={"attempts": 1})
    up = {"org": "acme", "destination": "loki"}
    assert harness.metrics.unready() is None and harness.sample("openai_poller_destination_up",
                                                                **up) is None
    loki.deliver([golden("audit", 0)])
    assert harness.sample("openai_poller_destination_up", **up) == 1.0
    harness.receiver.default = httpx.Response(503)
    with pytest.raises(SinkUnavailableError):
        loki.deliver([golden("audit", 0), golden("audit", 1)])
    down = "org acme: destination loki did not acknowledge its last delivery"
    assert harness.metrics.unready() == down
    assert harness.sample("openai_poller_destination_up", **up) == 0.0
    requests = len(harness.receiver.requests)
    loki.deliver([golden("audit", 0)])  # a repeat: nothing is sent, so nothing is known
    assert len(harness.receiver.requests) == requests
    assert harness.metrics.unready() == down
    harness.receiver.default = httpx.Response(204)
    loki.deliver([golden("audit", 0), golden("audit", 1)])  # the held batch comes again
    assert harness.metrics.unready() is None
    assert harness.sample("openai_poller_destination_up", **up) == 1.0
