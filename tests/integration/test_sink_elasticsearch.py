"""The Elasticsearch sink against a real Elasticsearch-wire server (noida-db, or the cluster
named by POLLER_TEST_ELASTICSEARCH_URL), in what only a cluster does: writes that search cannot
see yet, rollovers, credentials and privileges. What both sinks share is in
test_sink_contract.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from elasticsearch import ApiError, Elasticsearch

from poller.documents.model import Document
from poller.errors import SinkRejectedError
from poller.sinks.elasticsearch import (
    Backoff,
    Cluster,
    ClusterDiagnostics,
    ElasticsearchSink,
    EsConnection,
    EsCredentials,
    EsIndices,
)

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _docs(ns: str, data_stream: str, indices: range, *, bump: int = 0) -> list[Document]:
    return [
        Document(
            "completions",
            data_stream,
            f"doc-{i:04d}",
            {
                "@timestamp": (T0 + timedelta(minutes=i)).isoformat().replace("+00:00", "Z"),
                "data_stream": {"type": "logs", "dataset": "openai.completions", "namespace": ns},
                "openai": {"completions": {"input_tokens": 100 + i + bump}},
            },
        )
        for i in indices
    ]


@pytest.fixture
def sink(es_sink: ElasticsearchSink) -> ElasticsearchSink:
    """The shared `es_sink` (tests/integration/conftest.py), under this module's name."""
    return es_sink


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


def test_cluster_info_and_privileges(sink: ElasticsearchSink) -> None:
    diagnostics = ClusterDiagnostics(sink.cluster, sink.indices)
    info = diagnostics.info()
    assert info.supported, info
    assert sink.probe()
    check = diagnostics.check_privileges()
    assert check.ok if check.checked else check.note.startswith("privileges not checked")


def test_wrong_api_key_is_rejected_without_echoing_it(elasticsearch_url: str) -> None:
    """noida-db accepts any credentials; a secured cluster must refuse a made-up key."""
    secret = "bm90LWEta2V5Om5vdC1hLXNlY3JldA=="
    cluster = Cluster.connect(
        EsConnection(
            elasticsearch_url,
            credentials=EsCredentials(api_key=secret),
            retry=Backoff(retries=0, base=0.0, cap=0.0),
        )
    )
    try:
        ClusterDiagnostics(cluster, EsIndices()).info()
    except SinkRejectedError as exc:
        assert "401" in str(exc)
        assert secret not in str(exc)
    else:
        pytest.skip("this test cluster does not check credentials")
    finally:
        cluster.close()


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
