"""Dead letters are pruned by the time they were last refused; cursors never are."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fakes.elasticsearch import RecordedElasticsearch, Reply

from poller.documents.model import Document, Rejected
from poller.errors import SinkUnavailableError
from poller.sinks import SqliteSink
from poller.sinks.elasticsearch import ElasticsearchSink

DS = "logs-openai.audit-default"
NOW = datetime(2026, 11, 15, 10, 0, tzinfo=UTC)


def _rejected(n: int) -> Rejected:
    return Rejected(Document("audit", DS, f"item-{n}", {"id": f"audit_{n}"}), "no effective_at")


def _stamped(monkeypatch: pytest.MonkeyPatch, at: datetime) -> None:
    text = at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    monkeypatch.setattr("poller.sinks.sqlite._sink._now", lambda: text)


def test_sqlite_prunes_letters_last_refused_before_the_cutoff_and_keeps_every_cursor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with SqliteSink(tmp_path / "s.sqlite3") as sink:
        for n, age in enumerate((120, 91, 90, 89, 1)):
            _stamped(monkeypatch, NOW - timedelta(days=age))
            sink.reject([_rejected(n)])
        _stamped(monkeypatch, NOW - timedelta(days=200))
        sink.save_state("default/audit", {"high_water": 1})
        _stamped(monkeypatch, NOW)
        sink.reject([_rejected(0)])  # refused again today: kept another 90 days

        assert sink.prune_dead_letters(NOW - timedelta(days=90)) == 1  # item-1 (91 days)
        left = {letter.doc_id for letter in sink.reader().dead_letters()}
        assert left == {"item-0", "item-2", "item-3", "item-4"}
        assert sink.load_state("default/audit") == {"high_water": 1}
        assert sink.prune_dead_letters(NOW - timedelta(days=90)) == 0


def test_sqlite_pruning_needs_an_aware_time(tmp_path: Path) -> None:
    with SqliteSink(tmp_path / "s.sqlite3") as sink, pytest.raises(ValueError, match="aware"):
        sink.prune_dead_letters(datetime(2026, 1, 1))  # noqa: DTZ001 - the point of the test


def _es_sink(fake_es: RecordedElasticsearch) -> ElasticsearchSink:
    from poller.sinks.elasticsearch import EsConnection

    return ElasticsearchSink(EsConnection("http://es.example.internal:9200"),
                             node_class=fake_es.node_class)


def _deleted(n: int) -> dict[str, Any]:
    return {"took": 3, "timed_out": False, "total": n, "deleted": n, "batches": 1,
            "version_conflicts": 0, "noops": 0, "failures": []}


def test_elasticsearch_prunes_by_timestamp_with_one_delete_by_query(
    fake_es: RecordedElasticsearch,
) -> None:
    fake_es.on("POST", r"/openai-poller-deadletter/_delete_by_query", Reply(200, _deleted(4)))
    sink = _es_sink(fake_es)
    try:
        assert sink.prune_dead_letters(NOW - timedelta(days=90)) == 4
    finally:
        sink.close()
    (request,) = fake_es.requests
    assert request.body == {"query": {"range": {"@timestamp": {"lt": "2026-08-17T10:00:00.000Z"}}}}
    assert request.params == {"conflicts": "proceed", "refresh": "true"}


def test_elasticsearch_pruning_of_an_index_not_yet_created_deletes_nothing(
    fake_es: RecordedElasticsearch,
) -> None:
    fake_es.on("POST", r"/openai-poller-deadletter/_delete_by_query",
               Reply(404, {"error": {"type": "index_not_found_exception",
                                     "reason": "no such index [openai-poller-deadletter]"},
                           "status": 404}))
    sink = _es_sink(fake_es)
    try:
        assert sink.prune_dead_letters(NOW) == 0
    finally:
        sink.close()


def test_elasticsearch_pruning_that_failed_part_way_says_so(
    fake_es: RecordedElasticsearch,
) -> None:
    answer = {**_deleted(2), "failures": [{"index": "openai-poller-deadletter", "id": "x",
                                           "cause": {"type": "es_rejected_execution_exception"},
                                           "status": 429}]}
    fake_es.on("POST", r"/openai-poller-deadletter/_delete_by_query", Reply(200, answer))
    sink = _es_sink(fake_es)
    try:
        with pytest.raises(SinkUnavailableError, match=r"failed pruning dead letters older than "
                           r"2026-11-15T10:00:00.000Z from openai-poller-deadletter: \[\{'index'"):
            sink.prune_dead_letters(NOW)
    finally:
        sink.close()
