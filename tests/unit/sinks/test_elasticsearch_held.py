"""The dead-letter index read for a replay and released after it, against answers shaped like
Elasticsearch 8.15's: pages by `search_after`, each letter's `_seq_no`/`_primary_term`, and a
guarded bulk delete where a letter kept again since the read answers 409 and stays."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from fakes.elasticsearch import DS, RecordedElasticsearch, Reply

from poller.errors import SinkUnavailableError
from poller.sinks.elasticsearch import ElasticsearchSink

SinkFactory = Callable[..., ElasticsearchSink]
INDEX = "openai-poller-deadletter"
UNTIL = datetime(2026, 11, 16, tzinfo=UTC)


def _hit(n: int, seq_no: int) -> dict[str, object]:
    at = f"2026-11-15T10:00:0{n}.000Z"
    return {
        "_index": INDEX, "_id": f"{DS}/d{n}", "_seq_no": seq_no, "_primary_term": 1,
        "_score": None,
        "_source": {"@timestamp": at, "doc_id": f"d{n}", "data_stream": DS, "status": 400,
                    "reason": "document_parsing_exception: failed to parse field [x]",
                    "source": json.dumps({"@timestamp": at})},
        "sort": [1763200800000 + n * 1000, f"d{n}"],
    }


def _page(*hits: dict[str, object]) -> Reply:
    return Reply(200, {"took": 2, "timed_out": False,
                       "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
                       "hits": {"total": {"value": 3, "relation": "eq"}, "max_score": None,
                                "hits": list(hits)}})


def test_pages_follow_search_after_and_carry_each_letters_version(
    fake_es: RecordedElasticsearch, make_sink: SinkFactory
) -> None:
    fake_es.on("POST", f"/{INDEX}/_search", _page(_hit(1, 7), _hit(2, 8)), _page(_hit(3, 9)))
    sink = make_sink()

    pages = list(sink.held_letters(DS, since=None, until=UNTIL, page=2))

    assert [[h.record.doc_id for h in page] for page in pages] == [["d1", "d2"], ["d3"]]
    assert pages[0][0].record.failed_at == "2026-11-15T10:00:01.000Z"
    first, second = (r.body for r in fake_es.to(f"/{INDEX}/_search"))
    assert first["query"] == {"bool": {"filter": [
        {"term": {"data_stream": DS}},
        {"range": {"@timestamp": {"lt": "2026-11-16T00:00:00.000Z"}}},
    ]}}
    assert first["seq_no_primary_term"] is True and "search_after" not in first
    assert second["search_after"] == [1763200802000, "d2"]


def test_a_letter_kept_again_since_the_read_is_not_released(
    fake_es: RecordedElasticsearch, make_sink: SinkFactory
) -> None:
    fake_es.on("POST", f"/{INDEX}/_search", _page(_hit(1, 7), _hit(2, 8)))
    conflict = {"type": "version_conflict_engine_exception",
                "reason": f"[{DS}/d2]: version conflict, required seqNo [8], primary term [1]. "
                "current document has seqNo [11] and primary term [1]"}
    fake_es.on("*", "/_bulk", Reply(200, {"took": 3, "errors": True, "items": [
        {"delete": {"_index": INDEX, "_id": f"{DS}/d1", "status": 200, "result": "deleted"}},
        {"delete": {"_index": INDEX, "_id": f"{DS}/d2", "status": 409, "error": conflict}},
    ]}))
    sink = make_sink()
    (page,) = list(sink.held_letters(DS, since=None, until=UNTIL, page=5))

    assert sink.release_letters(page) == 1

    (bulk,) = fake_es.to("/_bulk")
    assert [line["delete"] for line in bulk.body] == [
        {"_index": INDEX, "_id": f"{DS}/d1", "if_seq_no": 7, "if_primary_term": 1},
        {"_index": INDEX, "_id": f"{DS}/d2", "if_seq_no": 8, "if_primary_term": 1},
    ]
    assert bulk.params["refresh"] == "wait_for"


def test_a_failed_release_raises_and_removes_nothing_silently(
    fake_es: RecordedElasticsearch, make_sink: SinkFactory
) -> None:
    fake_es.on("POST", f"/{INDEX}/_search", _page(_hit(1, 7)))
    fake_es.on("*", "/_bulk", Reply(200, {"errors": True, "items": [
        {"delete": {"_index": INDEX, "_id": f"{DS}/d1", "status": 503,
                    "error": {"type": "unavailable_shards_exception", "reason": "primary down"}}},
    ]}))
    sink = make_sink()
    (page,) = list(sink.held_letters(DS, since=None, until=UNTIL, page=5))
    with pytest.raises(SinkUnavailableError, match="unavailable_shards_exception"):
        sink.release_letters(page)
