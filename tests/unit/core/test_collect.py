"""The policy around sources: how far an error reaches decides what runs next."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from fake_api import FakeClient, access
from fakes import FakeClock, RecordingSink
from own_env import clear_own
from streams_config import T0, config

from poller import collect
from poller.collect import (
    BackfillRequest,
    StreamProgress,
    StreamResult,
    backfill,
    backfill_org,
    cycle,
)
from poller.documents.model import Document
from poller.errors import AuthenticationError, PollerError, ServerError, StopRequested
from poller.pipeline import Batch
from poller.runtime import OrgRuntime, org_runtime
from poller.settings import Settings, load_settings
from poller.sinks import WriteReport
from poller.sources import BackfillWindow
from poller.state import StreamState

WINDOW = BackfillWindow(since=T0 - 86400, until=T0, now=T0)
SERVER_ERROR = ServerError("HTTP 500", method="GET", url="u", status=500)
KEY_REFUSED = AuthenticationError("key refused", method="GET", url="u", status=401)


@dataclass(frozen=True)
class Scripted:
    """One document, then `error` when set."""

    org: str
    stream: str
    error: BaseException | None = None

    def batches(self, state: StreamState) -> Iterator[Batch]:
        yield Batch([Document(self.stream, f"logs-openai.{self.stream}-default", "d1", {})])
        if self.error is not None:
            raise self.error


def _script(
    monkeypatch: pytest.MonkeyPatch, name: str, errors: Mapping[str, BaseException]
) -> list[str]:
    """Replace `collect.<name>` with scripted sources; returns the streams started, in order."""
    started: list[str] = []

    def make(access: Any, stream: Any, when: Any, memory: Any = None) -> Scripted:
        started.append(stream.name)
        return Scripted(access.org, stream.name, errors.get(stream.name))

    monkeypatch.setattr(collect, name, make)
    return started


@dataclass
class Progress:
    events: list[str]

    def org_started(self, org: str, streams: int) -> None:
        self.events.append(f"{org}: {streams} streams")

    def stream_started(self, progress: StreamProgress) -> None:
        return

    def advanced(self, progress: StreamProgress) -> None:
        return

    def stream_done(self, result: StreamResult) -> None:
        self.events.append(f"{result.stream}: {'failed' if result.error else 'done'}")


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    """One org, "default", with every stream; its client is never called."""
    clear_own(monkeypatch)
    return load_settings(openai_admin_key="sk-admin-unit", openai_base_url="http://127.0.0.1:9/v1")


@pytest.fixture
def rt(settings: Settings) -> Iterator[OrgRuntime]:
    with org_runtime(settings.orgs[0]) as runtime:
        yield runtime


# --- cycle ---------------------------------------------------------------------------------------


def test_a_cycle_reports_what_it_wrote() -> None:
    sink = RecordingSink()
    result = cycle(access(FakeClient()), config("audit"), sink, now=T0, clock=FakeClock(5.0))
    assert result.report is not None
    assert (result.org, result.stream, result.error, result.stopped) == ("acme", "audit", None,
                                                                         False)
    assert result.report.state == StreamState(high_water=T0 - 86400, last_success=5.0)


@pytest.mark.parametrize("error", [SERVER_ERROR, KEY_REFUSED])
def test_a_cycle_keeps_an_error_of_any_scope_to_its_stream(
    error: PollerError, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _script(monkeypatch, "cycle_source", {"audit": error})
    sink = RecordingSink()
    with caplog.at_level(logging.DEBUG, logger="poller.collect"):
        result = cycle(access(FakeClient()), config("audit"), sink, now=T0, clock=FakeClock(5.0))
    assert (result.report, result.error, result.stopped) == (None, error, False)
    assert StreamState.from_json(sink.states["acme/audit"]).last_error == str(error)
    # The whole text at debug level only: the daemon logs one short line per failure.
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.DEBUG, f"cycle acme/audit failed: {error}")
    ]


def test_a_cycle_stopped_in_a_retry_wait_is_no_failure(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _script(monkeypatch, "cycle_source", {"audit": StopRequested("stopped while waiting")})
    sink = RecordingSink()
    with caplog.at_level(logging.INFO):
        result = cycle(access(FakeClient()), config("audit"), sink, now=T0)
    assert result == StreamResult("acme", "audit")
    assert result.stopped
    assert StreamState.from_json(sink.states["acme/audit"]).last_error is None
    assert [r.getMessage() for r in caplog.records] == [
        "cycle acme/audit stopped while waiting to retry"
    ]


# --- backfill ------------------------------------------------------------------------------------


def test_a_stream_error_is_recorded_and_the_other_streams_go_on(
    rt: OrgRuntime, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    started = _script(monkeypatch, "backfill_source", {"completions": SERVER_ERROR})
    progress = Progress([])
    result = backfill_org(rt, RecordingSink(), ["completions", "costs"], WINDOW,
                          progress=progress)
    assert started == ["completions", "costs"]
    assert (result.failures, result.interrupted) == (1, False)
    assert [(r.stream, r.error) for r in result.streams] == [("completions", SERVER_ERROR),
                                                             ("costs", None)]
    assert result.written == WriteReport(created=1)  # a failed stream's pages are not counted
    assert progress.events == ["default: 2 streams", "completions: failed", "costs: done"]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == [
        "backfill default/completions failed: HTTP 500"
    ]


def test_an_org_error_stops_the_org_at_once(
    rt: OrgRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = _script(monkeypatch, "backfill_source", {"completions": KEY_REFUSED})
    with pytest.raises(AuthenticationError) as caught:
        backfill_org(rt, RecordingSink(), ["completions", "costs"], WINDOW)
    assert caught.value is KEY_REFUSED
    assert started == ["completions"]


def test_a_stop_in_a_retry_wait_ends_the_backfill_as_interrupted(
    rt: OrgRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    stop = threading.Event()

    @dataclass(frozen=True)
    class Waiting(Scripted):
        def batches(self, state: StreamState) -> Iterator[Batch]:
            stop.set()  # SIGTERM in a Retry-After wait before the first page
            raise StopRequested("stopped while waiting to retry")

    def make(access: Any, stream: Any, when: Any, memory: Any = None) -> Scripted:
        return (Waiting if stream.name == "costs" else Scripted)(access.org, stream.name)

    monkeypatch.setattr(collect, "backfill_source", make)
    progress = Progress([])
    result = backfill_org(rt, RecordingSink(), ["completions", "costs", "audit"], WINDOW,
                          stop=stop, progress=progress)
    assert [(r.stream, r.stopped) for r in result.streams] == [("completions", False),
                                                               ("costs", True)]
    assert (result.failures, result.interrupted) == (0, True)
    assert progress.events == ["default: 3 streams", "completions: done"]


def test_a_backfill_stopped_before_it_began_opens_no_org(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = _script(monkeypatch, "backfill_source", {})
    stop = threading.Event()
    stop.set()
    sink = RecordingSink()
    request = BackfillRequest(WINDOW, ((settings.orgs[0], ("completions",)),))
    result = backfill(request, sink, stop=stop)
    assert (result.streams, result.interrupted, started) == ((), True, [])
    assert sink.calls == ["load_state default/completions"]
