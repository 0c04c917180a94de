"""How the commands fail: sink errors end a backfill once, the daemon refuses an Elasticsearch it
can never use, `report` checks its window before opening the sink, `doctor` reports a problem
once and skips what depends on it, and the transport's retry warnings stay quiet."""

from __future__ import annotations

import argparse
import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fakes import RecordingSink

import poller.cli.doctor as doctor_module
from poller import cli, collect, daemon
from poller.cli.backfill import backfill_request, run_backfill
from poller.cli.report import report_request
from poller.errors import (
    AuthenticationError,
    ConfigError,
    SinkRejectedError,
    SinkUnavailableError,
)
from poller.reporting import Scope
from poller.settings import Settings, load_settings
from poller.sinks.elasticsearch import Backoff, ElasticsearchSink, EsConnection, EsCredentials

NOW = 1_790_000_000


def _settings(**overrides: Any) -> Settings:
    return load_settings(
        openai_admin_key="sk-admin-unit-test", openai_base_url="http://127.0.0.1:9/v1",
        **overrides,
    )


def _request(streams: str = "completions,costs") -> Any:
    args = argparse.Namespace(since="2d", until=None, streams=streams, bucket_width="auto",
                              org=None)
    return backfill_request(_settings(), args, now=NOW)


@pytest.mark.parametrize(
    "error",
    [SinkUnavailableError("Elasticsearch at http://es:9200 is unreachable"),
     SinkRejectedError("Elasticsearch at http://es:9200 refused reading state: HTTP 401")],
)
def test_backfill_reads_the_sink_once_before_anything_else(
    error: Exception, monkeypatch: pytest.MonkeyPatch
) -> None:
    def never(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("no source may run when the sink cannot be read")

    monkeypatch.setattr(collect, "run_source", never)
    sink = RecordingSink(load_error=error)
    with pytest.raises(type(error)) as caught:
        run_backfill(_request(), sink)
    assert caught.value is error
    assert sink.calls == ["load_state default/completions"]


@pytest.mark.parametrize(
    "error",
    [SinkUnavailableError("cannot write the embedded store s.sqlite3: disk full"),
     SinkRejectedError("Elasticsearch refused writing: HTTP 403"),
     AuthenticationError("insufficient permissions", method="GET", url="u", status=401)],
)
def test_a_failure_every_stream_would_meet_ends_the_backfill_at_once(
    error: Exception, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ran: list[str] = []

    def failing(source: Any, sink: Any, **kwargs: Any) -> Any:
        ran.append(source.stream)
        raise error

    monkeypatch.setattr(collect, "run_source", failing)
    with pytest.raises(type(error)):
        run_backfill(_request("completions,embeddings,costs"), RecordingSink())
    assert ran == ["completions"]
    assert capsys.readouterr().err == ""  # main prints the one line, not backfill


def test_a_stream_specific_failure_lets_the_other_streams_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from poller.errors import ServerError

    ran: list[str] = []

    def flaky(source: Any, sink: Any, **kwargs: Any) -> Any:
        ran.append(source.stream)
        raise ServerError("HTTP 500", method="GET", url="u", status=500, retry_after=None)

    monkeypatch.setattr(collect, "run_source", flaky)
    assert run_backfill(_request("completions,costs"), RecordingSink()) == 1
    assert ran == ["completions", "costs"]
    assert capsys.readouterr().err.splitlines()[-1] == (
        "backfill: 0 created, 0 updated, 0 unchanged, 0 dead-lettered; 2 stream(s) failed"
    )


@pytest.mark.parametrize("streams", [",", " , ,"])
def test_a_streams_list_naming_no_stream_is_a_usage_error(streams: str) -> None:
    args = argparse.Namespace(since="2d", until=None, streams=streams, bucket_width="auto",
                              org=None)
    with pytest.raises(ConfigError) as caught:
        backfill_request(_settings(), args, now=NOW)
    assert str(caught.value) == f"--streams: {streams!r} names no stream"


# --- run: the Elasticsearch check before the daemon starts -----------------------------------


def _es_settings() -> Settings:
    return _settings(elasticsearch={"url": "http://127.0.0.1:9", "api_key": "k"})


def test_the_daemon_does_not_start_against_an_elasticsearch_that_refuses_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    refused = SinkRejectedError("Elasticsearch refused reading state: HTTP 401")
    sink = RecordingSink(load_error=refused)
    monkeypatch.setattr(daemon, "open_sink", lambda settings: sink)
    with pytest.raises(SinkRejectedError) as caught:
        daemon.check_elasticsearch(_es_settings())
    assert caught.value is refused
    assert sink.calls == ["load_state default/completions", "close"]


def test_the_daemon_starts_while_elasticsearch_is_unreachable(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    sink = RecordingSink(load_error=SinkUnavailableError("Elasticsearch at x is unreachable"))
    monkeypatch.setattr(daemon, "open_sink", lambda settings: sink)
    with caplog.at_level(logging.WARNING):
        daemon.check_elasticsearch(_es_settings())
    assert [r.getMessage() for r in caplog.records] == [
        "Elasticsearch at x is unreachable; starting anyway, each cycle retries"
    ]
    assert sink.calls == ["load_state default/completions", "close"]


def test_the_embedded_store_needs_no_check_before_the_daemon(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def never(settings: Settings) -> Any:
        raise AssertionError("no sink is opened for the check without ELASTICSEARCH_URL")

    monkeypatch.setattr(daemon, "open_sink", never)
    daemon.check_elasticsearch(_settings())


# --- report: the window is checked before the sink is opened ---------------------------------


@pytest.mark.parametrize(
    ("since", "until", "message"),
    [("junk", None, "--since: 'junk' is neither"),
     ("1d", "later", "--until: 'later' is neither"),
     ("1d", "2d", "--since must be before --until (got '1d' .. '2d')"),
     ("2026-01-01", "2026-01-01T00:00", "--since must be before --until")],
)
def test_report_window_errors(since: str, until: str | None, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        report_request(_report_args(since, until), orgs=[], now=NOW)
    assert message in str(caught.value)


def _report_args(since: str | None, until: str | None) -> argparse.Namespace:
    return argparse.Namespace(since=since, until=until, by="model", json=False, org=None,
                              top=None, format="table")


@pytest.mark.parametrize(
    ("since", "until", "window"),
    [("2d", "1d", (NOW - 2 * 86400, NOW - 86400)), (None, "1d", (None, NOW - 86400)),
     ("2d", None, (NOW - 2 * 86400, None)), (None, None, (None, None))],
)
def test_report_window_accepts_a_window_and_open_ends(
    since: str | None, until: str | None, window: tuple[int | None, int | None]
) -> None:
    request = report_request(_report_args(since, until), orgs=[("a", "acme", "org-a")], now=NOW)
    window_ = request.window
    got = tuple(None if t is None else int(t.timestamp()) for t in (window_.start, window_.end))
    assert got == window
    assert (request.scopes, request.by, request.format) == ((Scope("acme", ("a",)),), "model",
                                                            "table")


def test_report_splits_a_shared_namespace_by_org_and_picks_one_with_org() -> None:
    orgs = [("a", "shared", "org-a"), ("b", "shared", "org-b"), ("c", "own", "org-c")]
    every = report_request(_report_args(None, None), orgs=orgs, now=NOW)
    assert every.scopes == (Scope("shared", ("a",), "org-a"), Scope("shared", ("b",), "org-b"),
                            Scope("own", ("c",)))
    args = _report_args(None, None)
    args.org = "b"
    assert report_request(args, orgs=orgs, now=NOW).scopes == (Scope("shared", ("b",), "org-b"),)
    assert report_request(_report_args(None, None), orgs=[], now=NOW).scopes == (
        Scope("default"),
    )


def test_report_with_a_bad_window_creates_no_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store.sqlite3"
    monkeypatch.setenv("POLLER_STORE_PATH", str(store))
    assert cli.main(["report", "--since", "1d", "--until", "2d"]) == 2
    assert capsys.readouterr().err == (
        "error: --since must be before --until (got '1d' .. '2d')\n"
    )
    assert not store.exists()


# --- logging -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("level", "transport"), [("INFO", logging.ERROR),
                                                   ("WARNING", logging.ERROR),
                                                   ("DEBUG", logging.DEBUG)])
def test_transport_retry_warnings_are_quiet_unless_debugging(
    level: str, transport: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    logging.getLogger("elastic_transport").setLevel(logging.NOTSET)
    monkeypatch.setenv("POLLER_LOG_LEVEL", level)
    cli._settings(require_orgs=False)
    assert logging.getLogger("elastic_transport").level == transport


# --- doctor --------------------------------------------------------------------------------------


@dataclass
class _Client:
    key_error: Exception | None = None
    audit_calls: int = 0

    def list_projects(self, *, include_archived: bool) -> list[object]:
        if self.key_error is not None:
            raise self.key_error
        return [object(), object()]

    def audit_log_pages(self, *, limit: int) -> Iterator[Any]:
        self.audit_calls += 1
        yield SimpleNamespace(data=[object()])


def _fake_runtime(client: _Client) -> Any:
    @contextmanager
    def org_runtime(org: Any, *, fail_fast: bool = False) -> Iterator[Any]:
        yield SimpleNamespace(client=client)

    return org_runtime


def test_doctor_skips_the_audit_check_when_the_key_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    client = _Client(key_error=AuthenticationError(
        "insufficient permissions", method="GET", url="u", status=401))
    monkeypatch.setattr(doctor_module, "org_runtime", _fake_runtime(client))
    assert doctor_module.doctor(_settings(store_path=tmp_path / "s.sqlite3")) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("FAIL  default: admin key: insufficient permissions -- fix: use "
                             "an organization admin key (sk-admin-...)")
    assert out[1:] == [
        "skip  default: audit logging: needs a working admin key",
        f"ok    embedded store: none yet at {tmp_path / 's.sqlite3'}; backfill or run creates it",
    ]
    assert client.audit_calls == 0


def test_doctor_reports_an_unreachable_cluster_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    port = closed.getsockname()[1]
    try:
        monkeypatch.setattr(doctor_module, "org_runtime", _fake_runtime(_Client()))
        connection = EsConnection(f"http://127.0.0.1:{port}",
                                  credentials=EsCredentials(api_key="k"), timeout=5,
                                  retry=Backoff(retries=0, base=0.0, cap=0.0))
        monkeypatch.setattr(doctor_module, "open_elasticsearch",
                            lambda settings: ElasticsearchSink(connection))
        assert doctor_module.doctor(_es_settings()) == 1
    finally:
        closed.close()
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == ["ok    default: admin key: admin key works (2 projects visible)",
                       "ok    default: audit logging: audit logging returns events"]
    assert out[2].startswith(f"FAIL  elasticsearch: reachable: Elasticsearch at "
                             f"http://127.0.0.1:{port} is unreachable (reading cluster info)")
    assert out[3:] == [
        "skip  elasticsearch: privileges: needs a reachable cluster that accepts the credentials",
        "skip  elasticsearch: templates: needs a reachable cluster that accepts the credentials",
        "skip  elasticsearch: mappings: needs a reachable cluster that accepts the credentials",
    ]
