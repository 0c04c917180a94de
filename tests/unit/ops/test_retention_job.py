"""`run`'s dead-letter pruning: the cutoff it asks for, what a failure does, which sinks get
the job, and the setting behind it."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from poller.errors import ConfigError, SinkUnavailableError
from poller.retention import PRUNE_INTERVAL_SECONDS, DeadLetterPruner, pruning_jobs
from poller.settings import load_settings
from poller.sinks import SqliteSink

NOW = datetime(2026, 11, 15, 10, 0, tzinfo=UTC)


class _Sink:
    def __init__(self, deleted: int = 0, error: Exception | None = None) -> None:
        self.cutoffs: list[datetime] = []
        self._deleted, self._error = deleted, error

    def prune_dead_letters(self, before: datetime) -> int:
        self.cutoffs.append(before)
        if self._error is not None:
            raise self._error
        return self._deleted


def test_the_pruner_asks_for_letters_older_than_the_retention(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink = _Sink(deleted=3)
    with caplog.at_level(logging.INFO, logger="poller.retention"):
        DeadLetterPruner(sink, timedelta(days=90), clock=NOW.timestamp)()
    assert sink.cutoffs == [NOW - timedelta(days=90)]
    assert caplog.messages == [
        "deleted 3 dead letters last refused before 2026-08-17T10:00:00+00:00 "
        "(deadletter_retention)"
    ]


def test_a_failed_pruning_is_one_warning_and_no_failure(caplog: pytest.LogCaptureFixture) -> None:
    sink = _Sink(error=SinkUnavailableError("Elasticsearch at http://es:9200 is unreachable"))
    with caplog.at_level(logging.INFO, logger="poller.retention"):
        DeadLetterPruner(sink, timedelta(days=7), clock=NOW.timestamp)()
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "dead letters not pruned, next try in a day: Elasticsearch at "
         "http://es:9200 is unreachable")
    ]


def test_nothing_pruned_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="poller.retention"):
        DeadLetterPruner(_Sink(), timedelta(days=7), clock=NOW.timestamp)()
    assert caplog.records == []


def test_sinks_with_dead_letters_get_a_daily_job(tmp_path: Path) -> None:
    with SqliteSink(tmp_path / "s.sqlite3") as sink:
        (job,) = pruning_jobs(sink, timedelta(days=30))
    assert job.id == "prune dead letters"
    assert job.interval_seconds == PRUNE_INTERVAL_SECONDS == 86400
    assert pruning_jobs(object(), timedelta(days=30)) == []


def test_retention_defaults_to_90_days_and_refuses_less_than_a_week(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert load_settings(require_orgs=False).deadletter_retention == timedelta(days=90)
    monkeypatch.setenv("POLLER_DEADLETTER_RETENTION", "30d")
    assert load_settings(require_orgs=False).deadletter_retention == timedelta(days=30)
    monkeypatch.setenv("POLLER_DEADLETTER_RETENTION", "6d")
    with pytest.raises(ConfigError) as refused:
        load_settings(require_orgs=False)
    assert str(refused.value) == (
        "config: deadletter_retention: must be at least 7d, so that dead letters can be replayed"
    )
