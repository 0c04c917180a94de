"""A data stream whose mapping refuses most documents, under `run`: the cycle is a counted
failure of that stream, its cursor holds with the error beside it, `/readyz` names the stream
until a cycle succeeds, and the org's other streams go on."""

from __future__ import annotations

import threading

from fake_api import FakeClient, access, audit_page
from fakes import FakeClock, RecordingSink
from streams_config import T0, config

from poller.daemon import _JobContext, _StreamJob
from poller.errors import MappingConflictError
from poller.health import CycleHealth
from poller.logs import FailureLog
from poller.metrics import Metrics
from poller.state import StreamState

DS = "logs-openai.audit-default"
MESSAGE = (f"{DS} refused 2 of 2 documents: field event.id is mapped as long "
           "(document_parsing_exception); cursor held, nothing dead-lettered -- fix: run "
           "openai-poller doctor")


def test_a_mapping_conflict_fails_its_stream_loudly_and_holds_its_cursor() -> None:
    metrics, clock, sink = Metrics(), FakeClock(T0 + 3725.0), RecordingSink()
    health = CycleHealth({("acme", "audit"), ("acme", "rate_limits")}, stale_after=600,
                         clock=clock)
    ctx = _JobContext(sink, metrics, threading.Event(), health,
                      FailureLog(every=600, clock=clock), clock)
    pages = [[audit_page(("a", T0 + 10), ("b", T0 + 20))]] * 2
    api = access(FakeClient(audit=pages))
    sink.write_errors = [MappingConflictError(MESSAGE, data_stream=DS, field="event.id")]

    def run(stream: str) -> None:
        _StreamJob(api, config(stream, interval=3600), ctx)()

    run("rate_limits")
    run("audit")

    errors = metrics.registry.get_sample_value(
        "openai_poller_errors_total", {"org": "acme", "stream": "audit"})
    assert errors == 1.0
    assert health.readiness() == "stream acme/audit: the sink refuses its writes"
    state = StreamState.from_json(sink.states["acme/audit"])
    assert (state.high_water, state.last_error) == (None, MESSAGE)

    run("audit")  # the mapping was fixed: the next cycle writes and recovers
    assert health.readiness() is None
    assert StreamState.from_json(sink.states["acme/audit"]).high_water is not None
