"""The sink contract, on both sinks: the embedded SQLite store and Elasticsearch (noida-db, or
the cluster named by POLLER_TEST_ELASTICSEARCH_URL). Exact counts, exactly-once writes,
revisions in place, state, sums, latest names, and the dead-letter store, each checked the same
way on each. What only one backend can do wrong is in test_sink_sqlite.py and
test_sink_elasticsearch.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from poller.client import AdminClient
from poller.coverage import Segment
from poller.documents import MappingContext
from poller.documents.model import Document, Rejected
from poller.pipeline import run_source
from poller.sinks import REJECTED_STATUS, DeadLetter, ReadableSink, SqliteSink
from poller.sinks.elasticsearch import (
    ElasticsearchSink,
    EsConnection,
    EsCredentials,
    EsIndices,
    ItemRetry,
)
from poller.sources import BucketSource, OrgAccess
from poller.streams import BucketWidth

T0 = datetime(2026, 3, 1, tzinfo=UTC)
MODELS = ("gpt-4o", "gpt-4o-mini", "o3")
FIELDS = [
    "openai.completions.input_tokens",
    "openai.completions.output_tokens",
    "openai.costs.amount.value",
    "openai.base.num_model_requests",
]


@dataclass(frozen=True)
class Store:
    """One backend under test: how to open a sink on it (again), make what it wrote visible to
    searches, and a source it refuses for good (with a word of the reason it gives)."""

    namespace: str
    open: Callable[[], ReadableSink]
    refresh: Callable[[], None]
    poison: Callable[[dict[str, Any]], None]
    refusal: str

    def data_stream(self, stream: str) -> str:
        return f"logs-openai.{stream}-{self.namespace}"


def _no_timestamp(source: dict[str, Any]) -> None:
    del source["@timestamp"]


def _text_in_a_long_field(source: dict[str, Any]) -> None:
    source["openai"]["completions"]["input_tokens"] = "not a number"


def _sqlite(tmp_path: Path) -> Store:
    path = tmp_path / "store" / "openai-poller.sqlite3"
    return Store("default", lambda: SqliteSink(path), lambda: None, _no_timestamp, "@timestamp")


def _elasticsearch(request: pytest.FixtureRequest) -> Store:
    ns = request.getfixturevalue("es_namespace")
    es_client = request.getfixturevalue("es_client")
    connection = EsConnection(
        request.getfixturevalue("elasticsearch_url"),
        credentials=EsCredentials(api_key=request.getfixturevalue("elasticsearch_api_key")),
        ca_certs=request.getfixturevalue("elasticsearch_ca_certs"),
    )

    def open_sink() -> ElasticsearchSink:
        return ElasticsearchSink(
            connection,
            indices=EsIndices(state=ns.state_index, deadletter=ns.deadletter_index),
            retry=ItemRetry(sleep=lambda _: None),
        )

    def refresh() -> None:
        es_client.indices.refresh(index=f"logs-openai.*-{ns.name}")

    return Store(ns.name, open_sink, refresh, _text_in_a_long_field, "input_tokens")


@pytest.fixture(
    params=["sqlite", pytest.param("elasticsearch", marks=pytest.mark.integration)]
)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """Elasticsearch's fixtures are asked for only by its own runs, so the SQLite runs start
    no test cluster."""
    return _sqlite(tmp_path) if request.param == "sqlite" else _elasticsearch(request)


@pytest.fixture
def sink(store: Store) -> Iterator[ReadableSink]:
    with store.open() as opened:
        yield opened


def _source(ns: str, i: int, *, bump: int = 0) -> dict[str, Any]:
    source: dict[str, Any] = {
        "@timestamp": (T0 + timedelta(minutes=i)).isoformat().replace("+00:00", "Z"),
        "data_stream": {"type": "logs", "dataset": "openai.completions", "namespace": ns},
        "event": {"dataset": "openai.completions", "module": "openai", "kind": "metric"},
        "openai": {
            "base": {"num_model_requests": i % 7 + 1, "project_id": f"proj_{i % 4}"},
            "completions": {"input_tokens": 100 + i + bump, "output_tokens": 2 * i},
            "costs": {"amount": {"value": i * 0.25}},
        },
    }
    if i % 10 != 9:  # every tenth document has no model: the `None` group
        source["openai"]["base"]["model"] = MODELS[i % 3]
    return source


def _docs(store: Store, indices: range, *, bump: int = 0) -> list[Document]:
    ds = store.data_stream("completions")
    return [
        Document("completions", ds, f"doc-{i:04d}", _source(store.namespace, i, bump=bump))
        for i in indices
    ]


def test_writes_exactly_once_and_revises_in_place(store: Store, sink: ReadableSink) -> None:
    ds = store.data_stream("completions")
    reader = sink.reader()

    first = sink.write(_docs(store, range(1000)))
    assert (first.created, first.updated, first.unchanged, first.dead_lettered) == (1000, 0, 0, ())
    store.refresh()
    assert reader.count(ds) == 1000

    again = sink.write(_docs(store, range(1000)))
    assert (again.created, again.updated, again.unchanged) == (0, 0, 1000)
    store.refresh()
    assert reader.count(ds) == 1000

    report = sink.write(_docs(store, range(100, 110), bump=1_000_000))
    assert (report.created, report.updated, report.unchanged) == (0, 10, 0)
    store.refresh()
    assert reader.count(ds) == 1000
    stored = reader.documents(ds, [f"doc-{i:04d}" for i in range(95, 115)])
    assert {doc_id: source["openai"]["completions"]["input_tokens"]
            for doc_id, source in stored.items()} == {
        f"doc-{i:04d}": 100 + i + (1_000_000 if 100 <= i < 110 else 0) for i in range(95, 115)
    }


def test_state_survives_a_new_sink_instance(store: Store, sink: ReadableSink) -> None:
    assert sink.load_state("org-main/completions") is None
    state = {"cursor": "2026-03-01T00:00:00Z", "page": None, "windows": [[1, 2], [3, 4]]}
    sink.save_state("org-main/completions", state)
    sink.save_state("org-main/audit", {"after": "audit_log-1"})
    sink.save_state("org-main/audit", {"after": "audit_log-2", "high_water": 17})
    with store.open() as fresh:
        assert fresh.load_state("org-main/completions") == state
        assert fresh.load_state("org-main/audit") == {"after": "audit_log-2", "high_water": 17}
        assert fresh.load_state("org-other/audit") is None


def _expected(ns: str, indices: range) -> dict[str | None, tuple[int, list[float]]]:
    """Count and sum of each of FIELDS per model, computed from the sources themselves."""
    out: dict[str | None, tuple[int, list[float]]] = {}
    for i in indices:
        s = _source(ns, i)
        values = [
            s["openai"]["completions"]["input_tokens"],
            s["openai"]["completions"]["output_tokens"],
            s["openai"]["costs"]["amount"]["value"],
            s["openai"]["base"]["num_model_requests"],
        ]
        key = s["openai"]["base"].get("model")
        count, totals = out.get(key, (0, [0.0] * len(FIELDS)))
        out[key] = (count + 1, [a + b for a, b in zip(totals, values, strict=True)])
    return out


def test_reader_counts_and_sums_match_exactly(store: Store, sink: ReadableSink) -> None:
    ds = store.data_stream("completions")
    assert sink.write(_docs(store, range(600))).created == 600
    store.refresh()
    reader = sink.reader()

    total = reader.sums(ds, FIELDS)
    assert total.count == 600
    assert total.values == {
        "openai.completions.input_tokens": sum(100 + i for i in range(600)),
        "openai.completions.output_tokens": sum(2 * i for i in range(600)),
        "openai.costs.amount.value": sum(i * 0.25 for i in range(600)),
        "openai.base.num_model_requests": sum(i % 7 + 1 for i in range(600)),
    }
    grouped = reader.sums_by(ds, FIELDS, "openai.base.model")
    assert {key: (s.count, list(s.values.values())) for key, s in grouped.items()} == _expected(
        store.namespace, range(600)
    )

    start, end = T0 + timedelta(minutes=120), T0 + timedelta(minutes=300)
    assert reader.count(ds, start=start, end=end) == 180
    assert reader.count(ds, start=start) == 480
    assert reader.count(ds, end=end) == 300
    ranged = reader.sums_by(ds, FIELDS, "openai.base.model", start=start, end=end)
    assert {key: (s.count, list(s.values.values())) for key, s in ranged.items()} == _expected(
        store.namespace, range(120, 300)
    )
    assert reader.sums(ds, FIELDS, start=start, end=end).values[
        "openai.completions.input_tokens"
    ] == sum(100 + i for i in range(120, 300))

    empty = store.data_stream("embeddings")
    assert reader.count(empty) == 0
    assert (reader.sums(empty, FIELDS).count, dict(reader.sums(empty, FIELDS).values)) == (
        0, dict.fromkeys(FIELDS, 0.0)
    )


def test_reader_names_each_group_by_its_newest_named_document(
    store: Store, sink: ReadableSink
) -> None:
    """Projects 0-2 are renamed from v0 to v1 at minute 20; project 3 never has a name."""
    ds = store.data_stream("completions")
    docs = _docs(store, range(40))
    for i, doc in enumerate(docs):
        if i % 4 != 3:
            doc.source["openai"]["base"]["project_name"] = f"P{i % 4} v{i // 20}"
    assert sink.write(docs).created == 40
    store.refresh()

    def named(**kwargs: Any) -> dict[str | None, tuple[int, str | None]]:
        groups = sink.reader().sums_by(
            ds, FIELDS[:1], "openai.base.project_id", name_field="openai.base.project_name",
            **kwargs,
        )
        return {key: (s.count, s.name) for key, s in groups.items()}

    assert named() == {"proj_0": (10, "P0 v1"), "proj_1": (10, "P1 v1"),
                       "proj_2": (10, "P2 v1"), "proj_3": (10, None)}
    assert named(end=T0 + timedelta(minutes=20)) == {
        "proj_0": (5, "P0 v0"), "proj_1": (5, "P1 v0"), "proj_2": (5, "P2 v0"),
        "proj_3": (5, None),
    }


def test_refused_document_is_dead_lettered_and_the_rest_stored(
    store: Store, sink: ReadableSink
) -> None:
    ds = store.data_stream("completions")
    assert sink.write(_docs(store, range(3))).created == 3  # Elasticsearch maps input_tokens
    store.refresh()
    bad_source = _source(store.namespace, 3)
    store.poison(bad_source)

    report = sink.write([*_docs(store, range(4, 6)), Document("completions", ds, "bad-1",
                                                              bad_source)])

    assert (report.created, report.updated, report.unchanged) == (2, 0, 0)
    assert [(d.doc_id, d.data_stream, d.status) for d in report.dead_lettered] == [
        ("bad-1", ds, 400)
    ]
    assert store.refusal in report.dead_lettered[0].reason
    store.refresh()
    assert sink.reader().count(ds) == 5
    letters = sink.reader().dead_letters()
    assert [(d.doc_id, d.data_stream, d.status, d.reason) for d in letters] == [
        ("bad-1", ds, 400, report.dead_lettered[0].reason)
    ]
    assert json.loads(letters[0].source) == bad_source
    assert letters[0].failed_at.startswith("20") and letters[0].failed_at.endswith("Z")


def test_reject_keeps_a_poison_item_in_the_dead_letter_store(
    store: Store, sink: ReadableSink
) -> None:
    """An API item no document can be built from is kept whole, once however often it is
    kept, and nothing of it reaches the data stream."""
    ds = store.data_stream("audit")
    item = {"id": "audit_log-poison", "type": "api_key.created", "effective_at": "yesterday"}
    reason = "effective_at: 'yesterday' is not a Unix time"
    poison = Rejected(Document("audit", ds, "9c1f0e5a7d3b4e2f8a6c1d0b9e7f3a21", item), reason)

    kept = sink.reject([poison])
    assert sink.reject([poison]) == kept

    assert kept == (DeadLetter("9c1f0e5a7d3b4e2f8a6c1d0b9e7f3a21", ds, REJECTED_STATUS, reason),)
    assert REJECTED_STATUS == 422
    store.refresh()
    for letters in (sink.reader().dead_letters(), sink.reader().dead_letters(data_stream=ds)):
        assert [(d.doc_id, d.data_stream, d.status, d.reason) for d in letters] == [
            ("9c1f0e5a7d3b4e2f8a6c1d0b9e7f3a21", ds, 422, reason)
        ]
        assert json.loads(letters[0].source) == item
    assert sink.reader().dead_letters(data_stream=store.data_stream("costs")) == []
    assert sink.reader().count(ds) == 0


def test_an_open_sink_is_ready(sink: ReadableSink) -> None:
    assert sink.probe() is True


# --- a poison item end to end: the real client, source and pipeline -----------------------


def _usage_page(start: int) -> dict[str, Any]:
    """Two hourly buckets of completions; the first holds one item that fails the schema."""

    def result(tokens: Any) -> dict[str, Any]:
        return {"object": "organization.usage.completions.result", "input_tokens": tokens,
                "output_tokens": 5, "num_model_requests": 1}

    buckets = [
        {"object": "bucket", "start_time": start, "end_time": start + 3600,
         "results": [result(10), result("lots")]},
        {"object": "bucket", "start_time": start + 3600, "end_time": start + 7200,
         "results": [result(20)]},
    ]
    return {"object": "page", "data": buckets, "has_more": False, "next_page": None}


class _NoNames:
    """Ungrouped results name nothing, so the names are never listed."""

    def snapshot(self) -> Any:
        raise AssertionError("an ungrouped run lists no names")


def test_a_poison_item_is_dead_lettered_and_its_stream_keeps_moving(
    store: Store, sink: ReadableSink
) -> None:
    start = int(T0.timestamp())
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=_usage_page(start)))
    client = AdminClient(admin_key="sk-admin-poison-test", transport=transport)
    context = MappingContext(organization_id="org-poison", namespace=store.namespace,
                             bucket_width=BucketWidth.HOUR)
    access = OrgAccess("poison", client, context, _NoNames())
    source = BucketSource(access, "completions",
                          lambda _: [Segment(start, start + 7200, BucketWidth.HOUR)], ())

    report = run_source(source, sink)

    ds = store.data_stream("completions")
    assert (report.written.created, len(report.written.dead_lettered)) == (2, 1)
    (letter,) = report.written.dead_lettered
    assert (letter.data_stream, letter.status) == (ds, REJECTED_STATUS)
    assert "input_tokens" in letter.reason and "lots" not in letter.reason  # no input echoed
    assert report.state.coverage.end == start + 7200  # the cursor moved past the poison item
    store.refresh()
    assert sink.reader().count(ds) == 2
    (kept,) = sink.reader().dead_letters(data_stream=ds)
    assert json.loads(kept.source)["input_tokens"] == "lots"  # kept whole, as the API sent it
    assert run_source(source, sink).written.created == 0  # a re-read adds nothing
    store.refresh()
    assert len(sink.reader().dead_letters(data_stream=ds)) == 1
