"""The templates against a real Elasticsearch-wire server (noida-db, or the cluster named by
POLLER_TEST_ELASTICSEARCH_URL): every stream's golden documents index into
`logs-openai.<stream>-<ns>`, and the resulting mapping is exactly what the templates declare.

noida-db composes `composed_of` component templates (checked below against
`_index_template/_simulate_index`) and applies index templates to the data stream name, which it
creates as a plain index; real Elasticsearch makes a data stream with backing indices.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest_assets import (
    ASSETS,
    AssetNamespace,
    golden_sources,
    index_golden_documents,
)
from elasticsearch import Elasticsearch

from poller.assets import composed_mapping, flatten_mapping
from poller.collect import backfill_org
from poller.install import run_setup
from poller.runtime import org_runtime
from poller.settings import load_settings
from poller.simulator.app import SimulatorApp
from poller.simulator.faults import DRIFT_COUNTER, DRIFT_DIMENSION, FaultPlan, drift_counter
from poller.simulator.organization import build_organization
from poller.simulator.server import SimulatorServer
from poller.sinks import SqliteSink
from poller.sinks.elasticsearch import ElasticsearchSink, EsConnection, EsCredentials, EsIndices
from poller.sources import BackfillWindow
from poller.streams import STREAM_NAMES

pytestmark = pytest.mark.integration


COMPONENTS = ASSETS.components_by_name()


def _compare(leaf: dict[str, Any]) -> dict[str, Any]:
    """The parts of a leaf that make its type (servers may add defaults to the rest)."""
    keys = ("type", "path", "index", "doc_values")
    return {k: str(leaf[k]).lower() for k in keys if k in leaf}


def _installed_mappings(client: Elasticsearch, index: str) -> list[dict[str, Any]]:
    """One mapping per backing index (one on noida-db, where the data stream is an index)."""
    return [entry["mappings"] for entry in client.indices.get_mapping(index=index).body.values()]


def test_every_stream_maps_exactly_the_declared_fields(
    es_client: Elasticsearch, clean_templates: bool, asset_namespace: AssetNamespace
) -> None:
    run_setup(es=es_client, kibana_url=None, namespaces=[asset_namespace.name])
    counts = index_golden_documents(es_client, asset_namespace)
    for stream in STREAM_NAMES:
        declared = flatten_mapping(composed_mapping(stream, COMPONENTS))
        index = asset_namespace.data_stream(stream)
        assert es_client.count(index=index).body["count"] == counts[stream]
        for mapping in _installed_mappings(es_client, index):
            actual = flatten_mapping(mapping)
            undeclared = sorted(set(actual) - set(declared))
            assert undeclared == [], (stream, undeclared)
            missing = sorted(set(declared) - set(actual))
            assert missing == [], (stream, missing)
            wrong = {p: actual[p] for p in declared if _compare(actual[p]) != _compare(declared[p])}
            assert wrong == {}, (stream, wrong)
            assert str(mapping.get("dynamic")).lower() == "false"


def test_noida_composes_component_templates_like_we_do(
    es_client: Elasticsearch, clean_templates: bool, asset_namespace: AssetNamespace
) -> None:
    run_setup(es=es_client, kibana_url=None, namespaces=[asset_namespace.name])
    for stream in STREAM_NAMES:
        simulated = es_client.indices.simulate_index_template(
            name=asset_namespace.data_stream(stream)
        ).body["template"]["mappings"]
        ours = flatten_mapping(composed_mapping(stream, COMPONENTS))
        theirs = flatten_mapping(simulated)
        assert {p: _compare(v) for p, v in theirs.items()} == {
            p: _compare(v) for p, v in ours.items()
        }


def test_typed_fields_aggregate_as_numbers_and_keywords(
    es_client: Elasticsearch, clean_templates: bool, asset_namespace: AssetNamespace
) -> None:
    run_setup(es=es_client, kibana_url=None, namespaces=[asset_namespace.name])
    index_golden_documents(es_client, asset_namespace)
    costs = golden_sources("costs", asset_namespace.name)
    expected = sum(s["openai"]["costs"]["amount"].get("value", 0) for s in costs)
    body = es_client.search(
        index=asset_namespace.data_stream("costs"),
        size=0,
        aggs={"billed": {"sum": {"field": "openai.costs.amount.value"}}},
    ).body
    assert body["aggregations"]["billed"]["value"] == pytest.approx(expected)

    body = es_client.search(
        index=asset_namespace.data_stream("completions"),
        size=0,
        aggs={
            "models": {"terms": {"field": "openai.base.model"}},
            "tokens": {"sum": {"field": "openai.base.usage_tokens"}},
        },
    ).body
    models = {b["key"] for b in body["aggregations"]["models"]["buckets"]}
    assert models == {"gpt-4o", "gpt-9-preview"}
    completions = golden_sources("completions", asset_namespace.name)
    tokens = sum(s["openai"]["base"]["usage_tokens"] for s in completions)
    assert body["aggregations"]["tokens"]["value"] == tokens

    for field, value in (
        ("event.action", "login-succeeded"),
        ("openai.audit.type", "login.succeeded"),
    ):
        hits = es_client.search(
            index=asset_namespace.data_stream("audit"), query={"term": {field: value}}
        ).body["hits"]["hits"]
        assert [hit["_source"]["openai"]["audit"]["id"] for hit in hits] == [
            "audit_log-login-0001"
        ], field
        assert hits[0]["_source"]["source"]["geo"]["location"]["lat"] == pytest.approx(58.4109)


def test_ecs_text_multi_fields_match_words(
    es_client: Elasticsearch, clean_templates: bool, asset_namespace: AssetNamespace
) -> None:
    """`organization.name.text` and `user_agent.original.text`, as ECS declares them: a word of
    the value finds the document, where the keyword needs the whole value."""
    run_setup(es=es_client, kibana_url=None, namespaces=[asset_namespace.name])
    index_golden_documents(es_client, asset_namespace)
    index = asset_namespace.data_stream("audit")
    for mapping in _installed_mappings(es_client, index):
        for path in ("organization.name", "user_agent.original"):
            leaf = flatten_mapping(mapping)[path]
            assert leaf["fields"] == {"text": {"type": "match_only_text"}}, path
    for field, word in (("organization.name.text", "acme"), ("user_agent.original.text", "safari")):
        found = es_client.count(index=index, query={"match": {field: word}}).body["count"]
        expected = [
            s for s in golden_sources("audit", asset_namespace.name) if _has_word(s, field, word)
        ]
        assert expected and found == len(expected), field


def _has_word(source: dict[str, Any], field: str, word: str) -> bool:
    value: Any = source
    for key in field.removesuffix(".text").split("."):
        value = value.get(key, {}) if isinstance(value, dict) else {}
    return isinstance(value, str) and word in value.lower().replace("/", " ").split()


@pytest.mark.parametrize(
    ("stream", "paths"),
    [
        ("completions", ("openai.embeddings.input_tokens", "openai.moderations.input_tokens")),
        ("audio_speeches", ("openai.embeddings.input_tokens", "openai.moderations.input_tokens")),
        (
            "audio_transcriptions",
            ("openai.embeddings.input_tokens", "openai.moderations.input_tokens"),
        ),
        ("rate_limits", ("openai.base.usage_images",)),
    ],
)
def test_streams_map_what_elastics_cross_stream_dashboards_read(
    es_client: Elasticsearch,
    clean_templates: bool,
    asset_namespace: AssetNamespace,
    stream: str,
    paths: tuple[str, ...],
) -> None:
    """Elastic maps these, never filled, where another stream writes them, so its dashboards'
    ES|QL resolves them with only this stream enabled: an aggregation finds a long, not an
    unknown field."""
    run_setup(es=es_client, kibana_url=None, namespaces=[asset_namespace.name])
    index_golden_documents(es_client, asset_namespace)
    index = asset_namespace.data_stream(stream)
    for mapping in _installed_mappings(es_client, index):
        flat = flatten_mapping(mapping)
        assert {path: flat[path]["type"] for path in paths} == dict.fromkeys(paths, "long")
    body = es_client.search(
        index=index, size=0, aggs={p: {"sum": {"field": p}} for p in paths}
    ).body
    assert {p: body["aggregations"][p]["value"] for p in paths} == dict.fromkeys(paths, 0.0)


def test_an_undeclared_field_is_kept_but_never_mapped(
    es_client: Elasticsearch, clean_templates: bool, asset_namespace: AssetNamespace
) -> None:
    """dynamic: false: a surprise field does not reject the document nor grow the mapping."""
    run_setup(es=es_client, kibana_url=None, namespaces=[asset_namespace.name])
    source = golden_sources("embeddings", asset_namespace.name)[0]
    source["surprise"] = {"field": "value"}
    index = asset_namespace.data_stream("embeddings")
    es_client.index(index=index, document=source, op_type="create", refresh="wait_for")
    hit = es_client.search(index=index).body["hits"]["hits"][0]
    assert hit["_source"]["surprise"] == {"field": "value"}
    for mapping in _installed_mappings(es_client, index):
        assert "surprise" not in mapping["properties"]


# ---- the API's next fields ------------------------------------------------------------------

DRIFT_KEY = "sk-admin-drift-test-key"
DRIFT_NOW = 1_795_000_000 - 1_795_000_000 % 3600 + 3600 + 37
DRIFT_STREAMS = ("completions", "embeddings")


@contextmanager
def _drifted_backfill(sink: Any, namespace: str) -> Iterator[None]:
    """A 2-day backfill (hourly buckets) of completions and embeddings from a simulator
    answering every request in drift mode: each usage result carries `api_source`, each
    completions result `input_cache_write_30m_tokens`, fields the poller's catalog does not
    know."""
    org = build_organization(seed=7, size="small", settle_seconds=600)
    app = SimulatorApp(
        org, admin_key=DRIFT_KEY, faults=FaultPlan.parse("drift=1"), clock=lambda: DRIFT_NOW
    )
    with SimulatorServer(app) as server:
        settings = load_settings(
            orgs=[
                {
                    "name": "drift",
                    "admin_key": DRIFT_KEY,
                    "base_url": server.base_url,
                    "namespace": namespace,
                }
            ]
        )
        window = BackfillWindow(since=DRIFT_NOW - 2 * 86_400, until=DRIFT_NOW, now=DRIFT_NOW)
        with org_runtime(settings.orgs[0]) as rt:
            result = backfill_org(rt, sink, DRIFT_STREAMS, window, clock=lambda: DRIFT_NOW)
        assert (result.failures, result.interrupted) == (0, False)
        assert app.stats.snapshot()["faults"]["drift"] > 0
        yield


def _assert_next_fields_kept(sources: list[dict[str, Any]]) -> None:
    """Every document holds the new dimension, and every completions document the new counter
    at the exact value the simulator derived from its input_tokens."""
    by_stream: dict[str, int] = {}
    for source in sources:
        stream = source["data_stream"]["dataset"].removeprefix("openai.")
        by_stream[stream] = by_stream.get(stream, 0) + 1
        unmapped = source["openai"]["unmapped"]
        name, value = DRIFT_DIMENSION
        assert unmapped[name] == value
        input_tokens = source["openai"][stream].get("input_tokens", 0)
        if stream == "completions":
            assert unmapped[DRIFT_COUNTER] == drift_counter(input_tokens)
        else:
            assert DRIFT_COUNTER not in unmapped
    assert set(by_stream) == set(DRIFT_STREAMS)


def test_the_apis_next_fields_are_kept_in_sqlite(tmp_path: Path) -> None:
    with SqliteSink(str(tmp_path / "drift.sqlite3")) as sink, _drifted_backfill(sink, "default"):
        pass
    with SqliteSink(str(tmp_path / "drift.sqlite3"), read_only=True) as sink:
        reader = sink.reader()
        stored = [dict(source) for data_stream in reader.data_streams()
                  for source in reader.all_documents(data_stream).values()]
    _assert_next_fields_kept(stored)


def test_the_apis_next_fields_are_kept_and_searchable_in_elasticsearch(
    *,
    elasticsearch_url: str,
    elasticsearch_api_key: str | None,
    elasticsearch_ca_certs: str | None,
    es_client: Elasticsearch,
    clean_templates: bool,
    asset_namespace: AssetNamespace,
) -> None:
    """Under the installed templates (`dynamic: false`), the unknown fields sit in the flattened
    `openai.unmapped`: kept in _source, searchable by exact value, and the mapping does not
    grow."""
    run_setup(es=es_client, kibana_url=None, namespaces=[asset_namespace.name])
    indices = EsIndices(
        state=f"openai-poller-state-{asset_namespace.name}",
        deadletter=f"openai-poller-deadletter-{asset_namespace.name}",
    )
    sink = ElasticsearchSink(
        EsConnection(
            elasticsearch_url,
            credentials=EsCredentials(api_key=elasticsearch_api_key),
            ca_certs=elasticsearch_ca_certs,
        ),
        indices=indices,
    )
    try:
        with sink, _drifted_backfill(sink, asset_namespace.name):
            pass
        pattern = f"logs-openai.*-{asset_namespace.name}"
        es_client.indices.refresh(index=pattern)
        hits = es_client.search(index=pattern, size=10_000).body["hits"]["hits"]
        _assert_next_fields_kept([hit["_source"] for hit in hits])

        name, value = DRIFT_DIMENSION
        found = es_client.count(index=pattern, query={"term": {f"openai.unmapped.{name}": value}})
        assert found.body["count"] == len(hits) > 0
        completions = [h["_source"] for h in hits if h["_index"].startswith("logs-openai.comp")]
        counter = completions[0]["openai"]["unmapped"][DRIFT_COUNTER]
        same = [s for s in completions if s["openai"]["unmapped"][DRIFT_COUNTER] == counter]
        query = {"term": {f"openai.unmapped.{DRIFT_COUNTER}": str(counter)}}
        assert es_client.count(index=pattern, query=query).body["count"] == len(same)
        for stream in DRIFT_STREAMS:
            for mapping in _installed_mappings(es_client, asset_namespace.data_stream(stream)):
                flat = flatten_mapping(mapping)
                assert flat["openai.unmapped"]["type"] == "flattened"
                assert not [path for path in flat if name in path or DRIFT_COUNTER in path]
    finally:
        es_client.indices.delete(
            index=[indices.state, indices.deadletter], ignore_unavailable=True
        )
