"""The templates against a real Elasticsearch-wire server (noida-db, or the cluster named by
POLLER_TEST_ELASTICSEARCH_URL): every stream's golden documents index into
`logs-openai.<stream>-<ns>`, and the resulting mapping is exactly what the templates declare.

noida-db composes `composed_of` component templates (checked below against
`_index_template/_simulate_index`) and applies index templates to the data stream name, which it
creates as a plain index; real Elasticsearch makes a data stream with backing indices.
"""

from __future__ import annotations

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
from poller.install import run_setup
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
