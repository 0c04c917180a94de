"""Elasticsearch answers of the wrong JSON shape: refused where every answer passes (the sink's
transport), as a retryable `SinkUnavailableError` naming what is wrong, never an AttributeError
in whichever reader met it first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fakes.elasticsearch import DS, RecordedElasticsearch, Reply, doc

from poller.errors import SinkUnavailableError
from poller.sinks.elasticsearch import ElasticsearchSink
from poller.sinks.elasticsearch._shapes import NotAnObjectError, WrongShapeError, check_answer

SinkFactory = Callable[..., ElasticsearchSink]
SEARCH = f"/{DS}/_search"


@pytest.mark.parametrize(
    ("method", "path", "body", "problem"),
    [
        ("GET", "/", [], "the answer is a list"),
        ("GET", "/", "text", "the answer is a string"),
        ("GET", "/", None, "the answer is null"),
        ("GET", "/", {"version": "8.15.0"}, "it names no version"),
        ("POST", "/_bulk", {"errors": "no", "items": []}, "errors is a string, not a boolean"),
        ("POST", "/_bulk", {"errors": False, "items": "x"}, "items is a string, not a list"),
        ("POST", "/_bulk", {"errors": False, "items": [1]}, "items[0] is a number, not an object"),
        ("POST", "/_bulk?filter_path=items.*.status", {"items": [{"create": "x"}]},
         "items[0] is not one operation's result"),
        ("POST", "/_bulk", {"errors": True, "items": [{"create": {"status": "400"}}]},
         "items[0].status is a string, not a number"),
        ("POST", SEARCH, {"took": 1}, "hits is null, not an object"),
        ("POST", SEARCH, {"hits": {"hits": []}}, "a search answer without its total"),
        ("POST", "/_bulk?filter_path=errors%2Citems.%2A.status", {"errors": False},
         "a bulk answer without items"),
        ("POST", "/_mget?filter_path=docs._id", {}, "an mget answer without docs"),
        ("POST", SEARCH, {"hits": []}, "hits is a list, not an object"),
        ("POST", SEARCH, {"hits": {"total": 0, "hits": "x"}}, "hits.hits is a string, not a list"),
        ("POST", SEARCH, {"hits": {"total": 1, "hits": [{"_source": []}]}},
         "hits.hits[0]._source is a list, not an object"),
        ("POST", SEARCH, {"hits": {"hits": [], "total": "7"}},
         "hits.total is a string, not a count"),
        ("POST", SEARCH + "?filter_path=hits.total,aggregations", {},
         "a search answer without its total"),
        ("POST", SEARCH, {"hits": {"total": 0, "hits": []}, "aggregations": []},
         "aggregations is a list, not an object"),
        ("POST", SEARCH, {"hits": {"total": 0, "hits": []},
                          "aggregations": {"by": {"buckets": "y"}}},
         "aggregations.by.buckets is a string, not a list"),
        ("POST", SEARCH, {"hits": {"total": 0, "hits": []}, "aggregations": {"by": {"buckets": [
            {"key": "a", "doc_count": 1, "sum": {"value": "12"}}]}}},
         "aggregations.by.buckets[0].sum.value is a string, not a number"),
        ("POST", f"/{DS}/_count", {"count": None}, "count is null, not a count"),
        ("POST", f"/{DS}/_count?filter_path=count", {}, "count is null, not a count"),
        ("GET", "/state/_doc/x", {"found": True, "_source": "x"},
         "_source is a string, not an object"),
        ("GET", "/state/_doc/x", {"_source": {"state": {}}},
         "a document answer that says neither found nor not found"),
    ],
)
def test_wrong_shapes_are_named(method: str, path: str, body: Any, problem: str) -> None:
    with pytest.raises(WrongShapeError) as caught:
        check_answer(method, path, body)
    assert caught.value.message == problem
    assert isinstance(caught.value, NotAnObjectError) == (not isinstance(body, dict))


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("HEAD", f"/{DS}", None),
        ("GET", "/", {"version": {"number": "8.15.3"}, "tagline": "You Know, for Search"}),
        ("POST", "/_bulk", {"errors": False, "items": [{"create": {"_id": "a", "status": 201}}]}),
        ("POST", SEARCH + "?filter_path=hits.hits._id", {}),  # filtered: an empty match is {}
        ("POST", f"/{DS}/_count?filter_path=count", {"count": 0}),
        ("POST", SEARCH, {"hits": {"total": {"value": 0, "relation": "eq"}, "hits": []},
                          "aggregations": {"by": {"buckets": {"k": {"doc_count": 2}}},
                                           "sum": {"value": None}}}),
        ("PUT", "/_index_template/x", {"acknowledged": True}),
        ("GET", "/state/_doc/x?_source_includes=state", {"_id": "x", "found": False}),
    ],
)
def test_answers_shaped_as_elasticsearch_shapes_them_pass(
    method: str, path: str, body: Any
) -> None:
    check_answer(method, path, body)


def test_a_wrong_shape_is_a_retryable_one_line_error_of_the_sink(
    fake_es: RecordedElasticsearch, make_sink: SinkFactory
) -> None:
    """Through the real client and transport: the lookup before a write answers `hits` as a
    list, then the bulk answers `items` as a string; neither write is acknowledged."""
    fake_es.on("POST", SEARCH, Reply(200, {"hits": ["x"]}), "search_ids_empty")
    fake_es.on("*", "/_bulk", Reply(200, {"errors": False, "items": "all fine"}))
    sink = make_sink()
    with pytest.raises(SinkUnavailableError) as first:
        sink.write([doc("d1", 100)])
    assert str(first.value) == (
        "Elasticsearch at http://es.example.internal:9200 answered looking up 1 ids in "
        f"{DS} with JSON of the wrong shape (hits is a list, not an object) -- fix: point "
        "ELASTICSEARCH_URL at Elasticsearch itself"
    )
    with pytest.raises(SinkUnavailableError, match=r"answered bulk write of 1 documents with "
                       r"JSON of the wrong shape \(items is a string, not a list\)"):
        sink.write([doc("d1", 100)])
