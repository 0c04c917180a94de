"""Latest names next to grouped sums: SQLite computes them from stored documents, Elasticsearch
from its request and a recorded answer shaped like a real 8.x cluster's; both give the same."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fakes.elasticsearch import DS, RecordedElasticsearch

from poller.documents.model import Document
from poller.sinks import SqliteSink, Sums
from poller.sinks.elasticsearch import ElasticsearchReader

TOKENS = "openai.completions.input_tokens"
PROJECT = "openai.base.project_id"
NAME = "openai.base.project_name"
# (doc id, @timestamp, project id, project name, tokens). Ids sort against time on purpose.
STORED = (
    ("z-old", "2026-11-01T00:00:00.000Z", "proj_alpha", "Alpha (old)", 10),
    ("a-new", "2026-11-15T00:00:00.000Z", "proj_alpha", "Alpha", 20),
    ("m-unnamed", "2026-11-16T00:00:00.000Z", "proj_alpha", None, 30),
    ("b", "2026-11-03T00:00:00.000Z", "proj_beta", None, 5),
    ("g", "2026-11-02T00:00:00.000Z", "proj_gamma", "Gamma", 1),
    ("n", "2026-11-04T00:00:00.000Z", None, "Orphan", 7),
)
LATEST = {
    "proj_alpha": (3, 60.0, "Alpha"),
    "proj_beta": (1, 5.0, None),
    "proj_gamma": (1, 1.0, "Gamma"),
    None: (1, 7.0, None),
}


def _document(doc_id: str, ts: str, project: str | None, name: str | None, n: int) -> Document:
    base: dict[str, Any] = {"project_id": project, "project_name": name}
    source = {
        "@timestamp": ts,
        "openai": {
            "base": {k: v for k, v in base.items() if v is not None},
            "completions": {"input_tokens": n},
        },
    }
    return Document("completions", DS, doc_id, source)


def _flat(groups: dict[str | None, Sums]) -> dict[str | None, tuple[int, float, str | None]]:
    return {k: (s.count, s.values[TOKENS], s.name) for k, s in groups.items()}


@pytest.fixture
def sqlite_sink(tmp_path: Path) -> Iterator[SqliteSink]:
    with SqliteSink(tmp_path / "store.sqlite3") as sink:
        assert sink.write([_document(*row) for row in STORED]).created == len(STORED)
        yield sink


def test_sqlite_names_each_group_by_its_newest_named_document(sqlite_sink: SqliteSink) -> None:
    groups = sqlite_sink.reader().sums_by(DS, [TOKENS], PROJECT, name_field=NAME)
    assert _flat(groups) == LATEST


def test_sqlite_names_come_from_the_time_range_only(sqlite_sink: SqliteSink) -> None:
    groups = sqlite_sink.reader().sums_by(
        DS, [TOKENS], PROJECT, name_field=NAME, end=datetime(2026, 11, 15, tzinfo=UTC)
    )
    assert _flat(groups) == {
        "proj_alpha": (1, 10.0, "Alpha (old)"),
        "proj_beta": (1, 5.0, None),
        "proj_gamma": (1, 1.0, "Gamma"),
        None: (1, 7.0, None),
    }


def test_sqlite_groups_have_no_names_unless_asked(sqlite_sink: SqliteSink) -> None:
    groups = sqlite_sink.reader().sums_by(DS, [TOKENS], PROJECT)
    assert {k: s.name for k, s in groups.items()} == dict.fromkeys(LATEST)


def test_elasticsearch_names_each_group_from_a_filtered_top_hit(
    fake_es: RecordedElasticsearch,
) -> None:
    fake_es.on("POST", rf"/{DS}/_search", "search_sums_by_named")
    groups = ElasticsearchReader(fake_es.client()).sums_by(DS, [TOKENS], PROJECT, name_field=NAME)

    assert _flat(groups) == LATEST
    (search,) = fake_es.requests
    aggs = search.body["aggs"]
    assert aggs["groups"]["aggs"]["name"] == {
        "filter": {"exists": {"field": NAME}},
        "aggs": {
            "latest": {
                "top_hits": {
                    "size": 1,
                    "sort": [{"@timestamp": {"order": "desc"}}],
                    "_source": {"includes": [NAME]},
                }
            }
        },
    }
    assert set(aggs["nogroup"]["aggs"]) == {"f0"}


def test_elasticsearch_asks_for_no_names_unless_asked(fake_es: RecordedElasticsearch) -> None:
    fake_es.on("POST", rf"/{DS}/_search", "search_sums_by_named")
    groups = ElasticsearchReader(fake_es.client()).sums_by(DS, [TOKENS], PROJECT)

    assert {k: s.name for k, s in groups.items()} == dict.fromkeys(LATEST)
    (search,) = fake_es.requests
    assert set(search.body["aggs"]["groups"]["aggs"]) == {"f0"}
