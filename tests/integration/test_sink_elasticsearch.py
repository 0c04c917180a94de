"""The Elasticsearch sink against a real Elasticsearch-wire server (noida-db, or the cluster
named by POLLER_TEST_ELASTICSEARCH_URL): exact counts, exactly-once writes, revisions, state,
sums."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from elasticsearch import ApiError, Elasticsearch

from poller.documents.model import Document
from poller.errors import SinkRejectedError
from poller.sinks.elasticsearch import ElasticsearchSink

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, tzinfo=UTC)
MODELS = ("gpt-4o", "gpt-4o-mini", "o3")


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


def _docs(ns: str, data_stream: str, indices: range, *, bump: int = 0) -> list[Document]:
    return [
        Document("completions", data_stream, f"doc-{i:04d}", _source(ns, i, bump=bump))
        for i in indices
    ]


@pytest.fixture
def sink(
    elasticsearch_url: str,
    elasticsearch_api_key: str | None,
    elasticsearch_ca_certs: str | None,
    es_namespace: Any,
) -> Iterator[ElasticsearchSink]:
    with ElasticsearchSink(
        elasticsearch_url,
        api_key=elasticsearch_api_key,
        ca_certs=elasticsearch_ca_certs,
        state_index=es_namespace.state_index,
        deadletter_index=es_namespace.deadletter_index,
        sleep=lambda _: None,
    ) as sink:
        yield sink


def test_writes_exactly_once_and_revises_in_place(
    sink: ElasticsearchSink, es_client: Elasticsearch, es_namespace: Any
) -> None:
    ds = es_namespace.data_stream("completions")
    docs = _docs(es_namespace.name, ds, range(1000))
    reader = sink.reader()

    first = sink.write(docs)
    assert (first.created, first.updated, first.unchanged, first.dead_lettered) == (1000, 0, 0, ())
    es_client.indices.refresh(index=ds)
    assert reader.count(ds) == 1000

    again = sink.write(docs)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 1000)
    es_client.indices.refresh(index=ds)
    assert reader.count(ds) == 1000

    revised = _docs(es_namespace.name, ds, range(100, 110), bump=1_000_000)
    report = sink.write(revised)
    assert (report.created, report.updated, report.unchanged) == (0, 10, 0)
    es_client.indices.refresh(index=ds)
    assert reader.count(ds) == 1000
    stored = reader.documents(ds, [d.doc_id for d in revised] + ["doc-0000"])
    for i in range(100, 110):
        assert stored[f"doc-{i:04d}"]["openai"]["completions"]["input_tokens"] == 1_000_100 + i
    assert stored["doc-0000"]["openai"]["completions"]["input_tokens"] == 100


def test_rewrite_before_refresh_is_resolved_by_realtime_reads(
    sink: ElasticsearchSink, es_client: Elasticsearch, es_namespace: Any
) -> None:
    """Written twice with no refresh in between: the search cannot see the first copies, the
    creates answer 409, and the real-time re-read finds them unchanged (or revised)."""
    ds = es_namespace.data_stream("completions")
    assert sink.write(_docs(es_namespace.name, ds, range(50))).created == 50
    same = sink.write(_docs(es_namespace.name, ds, range(50)))
    assert (same.created, same.updated, same.unchanged) == (0, 0, 50)
    changed = sink.write(_docs(es_namespace.name, ds, range(5), bump=7))
    assert (changed.created, changed.updated, changed.unchanged) == (0, 5, 0)
    es_client.indices.refresh(index=ds)
    assert sink.reader().count(ds) == 50
    assert sink.reader().documents(ds, ["doc-0003"])["doc-0003"]["openai"]["completions"][
        "input_tokens"
    ] == (100 + 3 + 7)


def test_state_survives_a_new_sink_instance(
    sink: ElasticsearchSink,
    elasticsearch_url: str,
    elasticsearch_api_key: str | None,
    elasticsearch_ca_certs: str | None,
    es_namespace: Any,
) -> None:
    assert sink.load_state("org-main/completions") is None
    state = {"cursor": "2026-03-01T00:00:00Z", "page": None, "windows": [[1, 2], [3, 4]]}
    sink.save_state("org-main/completions", state)
    sink.save_state("org-main/audit", {"after": "audit_log-1"})
    sink.save_state("org-main/audit", {"after": "audit_log-2", "high_water": 17})
    with ElasticsearchSink(
        elasticsearch_url,
        api_key=elasticsearch_api_key,
        ca_certs=elasticsearch_ca_certs,
        state_index=es_namespace.state_index,
        deadletter_index=es_namespace.deadletter_index,
    ) as fresh:
        assert fresh.load_state("org-main/completions") == state
        assert fresh.load_state("org-main/audit") == {"after": "audit_log-2", "high_water": 17}
        assert fresh.load_state("org-other/audit") is None


def test_reader_counts_and_sums_match_exactly(
    sink: ElasticsearchSink, es_client: Elasticsearch, es_namespace: Any
) -> None:
    ds = es_namespace.data_stream("completions")
    docs = _docs(es_namespace.name, ds, range(600))
    assert sink.write(docs).created == 600
    es_client.indices.refresh(index=ds)
    reader = sink.reader()
    fields = [
        "openai.completions.input_tokens",
        "openai.completions.output_tokens",
        "openai.costs.amount.value",
        "openai.base.num_model_requests",
    ]

    def expected(indices: range) -> dict[str | None, tuple[int, list[float]]]:
        out: dict[str | None, tuple[int, list[float]]] = {}
        for i in indices:
            s = _source(es_namespace.name, i)
            key = s["openai"]["base"].get("model")
            values = [
                s["openai"]["completions"]["input_tokens"],
                s["openai"]["completions"]["output_tokens"],
                s["openai"]["costs"]["amount"]["value"],
                s["openai"]["base"]["num_model_requests"],
            ]
            count, totals = out.get(key, (0, [0.0] * len(fields)))
            out[key] = (count + 1, [a + b for a, b in zip(totals, values, strict=True)])
        return out

    total = reader.sums(ds, fields)
    assert total.count == 600
    assert total.values == {
        "openai.completions.input_tokens": sum(100 + i for i in range(600)),
        "openai.completions.output_tokens": sum(2 * i for i in range(600)),
        "openai.costs.amount.value": sum(i * 0.25 for i in range(600)),
        "openai.base.num_model_requests": sum(i % 7 + 1 for i in range(600)),
    }
    grouped = reader.sums_by(ds, fields, "openai.base.model")
    want = expected(range(600))
    assert set(grouped) == {*MODELS, None}
    for key, (count, totals) in want.items():
        assert grouped[key].count == count
        assert list(grouped[key].values.values()) == totals

    start, end = T0 + timedelta(minutes=120), T0 + timedelta(minutes=300)
    assert reader.count(ds, start=start, end=end) == 180
    assert reader.count(ds, start=start) == 480
    assert reader.count(ds, end=end) == 300
    ranged = reader.sums_by(ds, fields, "openai.base.model", start=start, end=end)
    for key, (count, totals) in expected(range(120, 300)).items():
        assert ranged[key].count == count
        assert list(ranged[key].values.values()) == totals
    assert reader.sums(ds, fields, start=start, end=end).values[
        "openai.completions.input_tokens"
    ] == sum(100 + i for i in range(120, 300))

    assert reader.count(es_namespace.data_stream("embeddings")) == 0
    assert reader.sums(es_namespace.data_stream("embeddings"), fields).count == 0


def test_reader_names_each_group_by_its_newest_named_document(
    sink: ElasticsearchSink, es_client: Elasticsearch, es_namespace: Any
) -> None:
    """Projects 0-2 are renamed from v0 to v1 at minute 20; project 3 never has a name."""
    ds = es_namespace.data_stream("completions")
    docs = _docs(es_namespace.name, ds, range(40))
    for i, doc in enumerate(docs):
        if i % 4 != 3:
            doc.source["openai"]["base"]["project_name"] = f"P{i % 4} v{i // 20}"
    assert sink.write(docs).created == 40
    es_client.indices.refresh(index=ds)
    fields = ["openai.completions.input_tokens"]

    def named(**kwargs: Any) -> dict[str | None, tuple[int, str | None]]:
        groups = sink.reader().sums_by(
            ds, fields, "openai.base.project_id", name_field="openai.base.project_name", **kwargs
        )
        return {key: (s.count, s.name) for key, s in groups.items()}

    assert named() == {"proj_0": (10, "P0 v1"), "proj_1": (10, "P1 v1"),
                       "proj_2": (10, "P2 v1"), "proj_3": (10, None)}
    assert named(end=T0 + timedelta(minutes=20)) == {
        "proj_0": (5, "P0 v0"), "proj_1": (5, "P1 v0"), "proj_2": (5, "P2 v0"),
        "proj_3": (5, None),
    }


def test_refused_document_is_dead_lettered_and_the_rest_stored(
    sink: ElasticsearchSink, es_client: Elasticsearch, es_namespace: Any
) -> None:
    ds = es_namespace.data_stream("completions")
    assert sink.write(_docs(es_namespace.name, ds, range(3))).created == 3  # maps input_tokens
    es_client.indices.refresh(index=ds)
    bad_source = _source(es_namespace.name, 3)
    bad_source["openai"]["completions"]["input_tokens"] = "not a number"
    batch = [
        *_docs(es_namespace.name, ds, range(4, 6)),
        Document("completions", ds, "bad-1", bad_source),
    ]

    report = sink.write(batch)

    assert (report.created, report.updated, report.unchanged) == (2, 0, 0)
    assert [(d.doc_id, d.data_stream, d.status) for d in report.dead_lettered] == [
        ("bad-1", ds, 400)
    ]
    assert "input_tokens" in report.dead_lettered[0].reason
    es_client.indices.refresh(index=ds)
    assert sink.reader().count(ds) == 5
    letters = sink.reader().dead_letters()
    assert [(d.doc_id, d.data_stream, d.status) for d in letters] == [("bad-1", ds, 400)]
    assert '"not a number"' in letters[0].source
    assert letters[0].failed_at.startswith("20")


def test_cluster_info_and_privileges(sink: ElasticsearchSink) -> None:
    info = sink.info()
    assert info.supported, info
    assert sink.ping()
    check = sink.check_privileges()
    assert check.ok if check.checked else check.note.startswith("privileges not checked")


def test_wrong_api_key_is_rejected_without_echoing_it(elasticsearch_url: str) -> None:
    """noida-db accepts any credentials; a secured cluster must refuse a made-up key."""
    secret = "bm90LWEta2V5Om5vdC1hLXNlY3JldA=="
    with ElasticsearchSink(elasticsearch_url, api_key=secret, transport_retries=0) as sink:
        try:
            sink.info()
        except SinkRejectedError as exc:
            assert "401" in str(exc)
            assert secret not in str(exc)
        else:
            pytest.skip("this test cluster does not check credentials")


def test_rollover_neither_duplicates_nor_loses_revisions(
    sink: ElasticsearchSink, es_client: Elasticsearch, es_namespace: Any
) -> None:
    """Runs on a real cluster only: noida-db cannot roll a data stream over."""
    ds = es_namespace.data_stream("completions")
    assert sink.write(_docs(es_namespace.name, ds, range(20))).created == 20
    try:
        rolled = es_client.indices.rollover(alias=ds).body
    except ApiError as exc:
        pytest.skip(f"this test cluster cannot roll a data stream over: {exc.message}")
    assert rolled["rolled_over"]
    es_client.indices.refresh(index=ds)

    same = sink.write(_docs(es_namespace.name, ds, range(20)))
    assert (same.created, same.updated, same.unchanged) == (0, 0, 20)
    revised = sink.write(_docs(es_namespace.name, ds, range(5), bump=9))
    assert (revised.created, revised.updated, revised.unchanged) == (0, 5, 0)
    fresh = sink.write(_docs(es_namespace.name, ds, range(20, 25)))
    assert fresh.created == 5
    es_client.indices.refresh(index=ds)

    assert sink.reader().count(ds) == 25
    hits = es_client.search(index=ds, query={"ids": {"values": ["doc-0000", "doc-0020"]}}).body
    where = {h["_id"]: h["_index"] for h in hits["hits"]["hits"]}
    assert where["doc-0000"] == rolled["old_index"]  # revised in place, not re-created
    assert where["doc-0020"] == rolled["new_index"]
