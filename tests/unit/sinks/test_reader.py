"""The Elasticsearch reader's queries and answers, against recorded responses."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fakes.elasticsearch import DS, RecordedElasticsearch, Reply

from poller.errors import SinkRejectedError
from poller.sinks.elasticsearch import ElasticsearchReader
from poller.sinks.sqlite import json_path


def test_grouped_sums_refuse_to_return_a_partial_answer(fake_es: RecordedElasticsearch) -> None:
    fake_es.on("POST", rf"/{DS}/_search", "search_sums_by_too_many_groups")
    reader = ElasticsearchReader(fake_es.client(), max_groups=1)
    with pytest.raises(SinkRejectedError, match=r"more than 1 values of user\.id"):
        reader.sums_by(DS, ["openai.completions.input_tokens"], "user.id")


def test_time_range_and_aggregations_use_only_sum_terms_and_missing(
    fake_es: RecordedElasticsearch,
) -> None:
    fake_es.on(
        "POST",
        rf"/{DS}/_search",
        Reply(
            200,
            {
                "hits": {"total": {"value": 3, "relation": "eq"}},
                "aggregations": {
                    "groups": {
                        "sum_other_doc_count": 0,
                        "buckets": [{"key": "o3", "doc_count": 2, "f0": {"value": 30.0}}],
                    },
                    "nogroup": {"doc_count": 1, "f0": {"value": 5.0}},
                },
            },
        ),
    )
    reader = ElasticsearchReader(fake_es.client())
    start = datetime(2026, 11, 1, tzinfo=UTC)
    end = datetime(2026, 11, 2, tzinfo=UTC)

    groups = reader.sums_by(DS, ["n"], "openai.base.model", start=start, end=end)

    assert {k: (v.count, dict(v.values)) for k, v in groups.items()} == {
        "o3": (2, {"n": 30.0}),
        None: (1, {"n": 5.0}),
    }
    (search,) = fake_es.requests
    assert search.body["query"] == {
        "bool": {
            "filter": [
                {
                    "range": {
                        "@timestamp": {
                            "format": "epoch_millis",
                            "gte": 1_793_491_200_000,
                            "lt": 1_793_577_600_000,
                        }
                    }
                }
            ]
        }
    }
    assert search.body["size"] == 0
    assert set(search.body["aggs"]) == {"groups", "nogroup"}
    assert search.body["aggs"]["groups"]["terms"] == {"field": "openai.base.model", "size": 10000}
    assert search.body["aggs"]["nogroup"]["missing"] == {"field": "openai.base.model"}


def test_naive_datetimes_are_refused(fake_es: RecordedElasticsearch) -> None:
    reader = ElasticsearchReader(fake_es.client())
    with pytest.raises(ValueError, match="timezone-aware"):
        reader.count(DS, start=datetime(2026, 11, 1))  # noqa: DTZ001 (the point of the test)


def test_json_paths_quote_each_key() -> None:
    assert json_path("openai.base.model") == '$."openai"."base"."model"'
    assert json_path("@timestamp") == '$."@timestamp"'
    with pytest.raises(ValueError):
        json_path('a."b')
