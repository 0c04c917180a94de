"""`replay-deadletters` on both sinks, through the real source, pipeline and write path.

Elasticsearch (noida-db, or POLLER_TEST_ELASTICSEARCH_URL): a data stream whose mapping refuses
every document fails the stream and dead-letters nothing; one whose mapping lacks a field under
`dynamic: strict` dead-letters the one document carrying it, and once the field is mapped the
replay writes it, removes its letter, and a second replay changes nothing. SQLite: each kind of
letter (already stored, replayable, outside the coverage, unreadable, an API item) is handled
by its rule, and what is skipped stays.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from elasticsearch import Elasticsearch

from poller.assets import composed_mapping, load_assets
from poller.client import AdminClient
from poller.coverage import Segment
from poller.documents import MappingContext
from poller.documents.fields import result_path
from poller.documents.model import GroupRef
from poller.errors import MappingConflictError
from poller.pipeline import run_source
from poller.rebuild import RebuildTarget, candidate_ids
from poller.replay import (
    API_ITEM,
    NOT_COLLECTED,
    OTHER_SHAPE,
    OTHER_VERSION,
    UNREADABLE,
    ReplayRequest,
    replay_dead_letters,
)
from poller.sinks import REJECTED_STATUS, SqliteSink
from poller.sinks.elasticsearch import ElasticsearchSink, EsConnection, EsCredentials, EsIndices
from poller.sources import BucketSource, OrgAccess
from poller.state import load_stream_state
from poller.streams import USAGE_ENDPOINTS, BucketWidth

if TYPE_CHECKING:
    from tests.conftest import EsNamespace

START = 1_772_323_200  # 2026-03-01T00:00:00Z
ORG_ID = "org-replay"


def _page() -> dict[str, Any]:
    """Two hourly buckets: four projects, one of them with a model, and one item that fails
    the schema (an API item no document is built from)."""

    def result(project: str, tokens: Any, model: str | None = None) -> dict[str, Any]:
        return {"object": "organization.usage.completions.result", "input_tokens": tokens,
                "output_tokens": 5, "num_model_requests": 1, "project_id": project,
                "model": model}

    buckets = [
        {"object": "bucket", "start_time": START, "end_time": START + 3600,
         "results": [result("p1", 10), result("p2", 20), result("p3", 30, "gpt-4o"),
                     result("p4", "lots")]},
        {"object": "bucket", "start_time": START + 3600, "end_time": START + 7200,
         "results": [result("p1", 40), result("p2", 50)]},
    ]
    return {"object": "page", "data": buckets, "has_more": False, "next_page": None}


class _NoNames:
    """A directory that knows no name."""

    def snapshot(self) -> _NoNames:
        return self

    def project_name(self, project_id: str) -> str | None:
        return None

    def user_email(self, user_id: str) -> str | None:
        return None

    def api_key_name(self, api_key_id: str) -> str | None:
        return None

    def user_groups(self, user_id: str) -> tuple[GroupRef, ...]:
        return ()


def _collect(sink: Any, namespace: str) -> Any:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=_page()))
    client = AdminClient(admin_key="sk-admin-replay-test", transport=transport)
    context = MappingContext(organization_id=ORG_ID, namespace=namespace,
                             bucket_width=BucketWidth.HOUR)
    source = BucketSource(OrgAccess("default", client, context, _NoNames()), "completions",
                          lambda _: [Segment(START, START + 7200, BucketWidth.HOUR)], ())
    return run_source(source, sink)


def _target(namespace: str) -> RebuildTarget:
    return RebuildTarget("default", "completions", f"logs-openai.completions-{namespace}", ORG_ID)


def _tokens(sink: Any, data_stream: str) -> float:
    return float(sink.reader().sums(data_stream, ["openai.completions.input_tokens"])
                 .values["openai.completions.input_tokens"])


# --- Elasticsearch ---------------------------------------------------------------------------


@pytest.fixture
def es_sink(
    es_namespace: EsNamespace, elasticsearch_url: str, elasticsearch_api_key: str | None,
    elasticsearch_ca_certs: str | None,
) -> Iterator[ElasticsearchSink]:
    connection = EsConnection(elasticsearch_url,
                              credentials=EsCredentials(api_key=elasticsearch_api_key),
                              ca_certs=elasticsearch_ca_certs)
    indices = EsIndices(state=es_namespace.state_index, deadletter=es_namespace.deadletter_index)
    with ElasticsearchSink(connection, indices=indices) as sink:
        yield sink


def _precreate(es_client: Elasticsearch, index: str, mappings: dict[str, Any]) -> None:
    es_client.indices.create(index=index, mappings=mappings)


def test_a_mapping_refusing_every_document_fails_the_stream_and_dead_letters_nothing(
    es_sink: ElasticsearchSink, es_client: Elasticsearch, es_namespace: EsNamespace
) -> None:
    ds = es_namespace.data_stream("completions")
    _precreate(es_client, ds, {"properties": {"openai": {"properties": {"completions": {
        "properties": {"input_tokens": {"type": "boolean"}}}}}}})

    with pytest.raises(MappingConflictError) as caught:
        _collect(es_sink, es_namespace.name)

    assert caught.value.field == "openai.completions.input_tokens"
    assert str(caught.value).startswith(f"{ds} refused 5 of 5 documents")
    state = load_stream_state(es_sink, "default", "completions")
    assert state.coverage.segments == ()  # the cursor held
    assert state.last_error is not None and "openai-poller doctor" in state.last_error
    assert es_sink.reader().dead_letters() == []  # the batch, its 422 too, is not acknowledged

    es_client.indices.delete(index=ds)  # the fix: the mis-created index goes
    report = _collect(es_sink, es_namespace.name)
    es_client.indices.refresh(index=ds)
    assert (report.written.created, es_sink.reader().count(ds)) == (5, 5)
    assert _tokens(es_sink, ds) == 10 + 20 + 30 + 40 + 50  # every document once


def test_a_refused_document_is_replayed_once_its_field_is_mapped(
    es_sink: ElasticsearchSink, es_client: Elasticsearch, es_namespace: EsNamespace
) -> None:
    ds = es_namespace.data_stream("completions")
    mapping = composed_mapping("completions", load_assets().components_by_name())
    del mapping["properties"]["openai"]["properties"]["base"]["properties"]["model"]
    _precreate(es_client, ds, {**mapping, "dynamic": "strict"})

    written = _collect(es_sink, es_namespace.name).written
    assert (written.created, len(written.dead_lettered)) == (4, 2)  # p3's document, the 422
    es_client.indices.put_mapping(index=ds, properties={"openai": {"properties": {"base": {
        "properties": {"model": {"type": "keyword"}}}}}})

    request = ReplayRequest((_target(es_namespace.name),), page=1)
    (outcome,) = replay_dead_letters(es_sink, request, now=_now())
    es_client.indices.refresh(index=f"{ds},{es_namespace.deadletter_index}")
    (again,) = replay_dead_letters(es_sink, request, now=_now())

    assert (outcome.replayed, outcome.removed, outcome.still_refused, outcome.error) == (
        1, 1, 0, None)
    assert outcome.skipped == {API_ITEM: 1}
    assert (again.replayed, again.already_stored, again.skipped) == (0, 0, {API_ITEM: 1})
    assert es_sink.reader().count(ds) == 5
    assert _tokens(es_sink, ds) == 10 + 20 + 30 + 40 + 50
    assert [d.status for d in es_sink.reader().dead_letters()] == [REJECTED_STATUS]


def _now() -> float:
    """Replays take letters kept before their `now`: the wall clock, as the command does."""
    return time.time() + 1


# --- SQLite ----------------------------------------------------------------------------------


def _letter(db: sqlite3.Connection, doc_id: str, source: Any, status: int = 400) -> None:
    db.execute(
        "INSERT INTO deadletter (data_stream, doc_id, status, reason, source, failed_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        ("logs-openai.completions-default", doc_id, status, "test", json.dumps(source),
         "2026-03-01T05:00:00.000Z"),
    )


def _moved(
    source: dict[str, Any], *, project: str, start: int, group_by: tuple[str, ...] = ()
) -> tuple[str, dict[str, Any]]:
    """A document for another project (and bucket), with the id the poller gives it when the
    bucket is requested grouped by `group_by`."""
    moved = json.loads(json.dumps(source))
    moved["openai"]["base"]["project_id"] = project
    moved["openai"]["base"]["start_time"] = f"{_iso(start)}"
    values = {d: [_lookup(moved, result_path("completions", d))]
              for d in USAGE_ENDPOINTS["completions"].dimensions}
    ids = candidate_ids("completions", ORG_ID, start, BucketWidth.HOUR, values)
    return ids[group_by][0], moved


def _lookup(source: dict[str, Any], dotted: str) -> Any:
    node: Any = source
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _iso(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_each_kind_of_letter_follows_its_rule_on_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    with SqliteSink(path) as sink:
        _collect(sink, "default")
        ds = "logs-openai.completions-default"
        stored = sink.reader().all_documents(ds)
        doc_id, source = next((k, v) for k, v in stored.items()
                              if v["openai"]["base"]["project_id"] == "p1")
        new_id, new = _moved(dict(source), project="p9", start=START)
        far_id, far = _moved(dict(source), project="p9", start=START + 86400)
        grouped_id, grouped = _moved(dict(source), project="p8", start=START,
                                     group_by=("project_id",))
        other_id, other = next((k, json.loads(json.dumps(v))) for k, v in stored.items()
                               if v["openai"]["base"]["project_id"] == "p2")
        other["openai"]["completions"]["input_tokens"] += 1
    db = sqlite3.connect(path)
    with db:
        _letter(db, doc_id, source)  # already stored
        _letter(db, new_id, new)  # replayable: its bucket is covered in its shape
        _letter(db, far_id, far)  # a day later: not collected
        _letter(db, grouped_id, grouped)  # grouped by project: the bucket is stored ungrouped
        _letter(db, other_id, other)  # its id stored with other values: which is newer?
        _letter(db, "garbage", "not a document")
    db.close()

    with SqliteSink(path) as sink:
        request = ReplayRequest((_target("default"),), page=2)
        (outcome,) = replay_dead_letters(sink, request, now=_now())
        (again,) = replay_dead_letters(sink, request, now=_now())
        left = sorted((d.doc_id, d.status) for d in sink.reader().dead_letters())
        total = _tokens(sink, ds)

    assert (outcome.replayed, outcome.already_stored, outcome.removed) == (1, 1, 2)
    assert outcome.skipped == {API_ITEM: 1, NOT_COLLECTED: 1, OTHER_SHAPE: 1, OTHER_VERSION: 1,
                               UNREADABLE: 1}
    assert (again.replayed, again.already_stored) == (0, 0)
    assert len(left) == 5
    assert {(far_id, 400), (grouped_id, 400), (other_id, 400), ("garbage", 400)} < set(left)
    assert total == 10 + 20 + 30 + 40 + 50 + 10  # p9 is p1's copy in the first bucket
