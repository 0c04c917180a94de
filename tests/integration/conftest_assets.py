"""Fixtures for the template and setup tests against the test Elasticsearch.

Unlike `es_namespace` (whose priority-500 template would win over ours), `new_namespace` adds no
template: the data streams it names get openai-poller's own templates. `cleared_templates` removes
our templates and ingest pipeline for the test and puts back whatever was there before.
tests/integration/conftest.py wraps both in fixtures.
"""

from __future__ import annotations

import contextlib
import json
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from elasticsearch import ApiError, Elasticsearch, ElasticsearchWarning, NotFoundError

from poller.assets import load_assets
from poller.streams import STREAM_NAMES

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "golden"
ASSETS = load_assets()
COMPONENT_NAMES = [t.name for t in (*ASSETS.component_templates, *ASSETS.ilm_component_templates)]
INDEX_TEMPLATE_NAMES = [t.name for t in ASSETS.index_templates]
PIPELINE_NAMES = [t.name for t in ASSETS.ingest_pipelines]


@dataclass(frozen=True)
class AssetNamespace:
    name: str

    def data_stream(self, stream: str) -> str:
        return f"logs-openai.{stream}-{self.name}"


def _delete_data(client: Elasticsearch, ns: str) -> None:
    with contextlib.suppress(ApiError):
        streams = client.indices.get_data_stream(name=f"logs-openai.*-{ns}").body
        names = [s["name"] for s in streams.get("data_streams", [])]
        if names:
            client.indices.delete_data_stream(name=names)
    with contextlib.suppress(ApiError):
        found = client.indices.get(
            index=f"logs-openai.*-{ns}", ignore_unavailable=True, allow_no_indices=True
        ).body
        names = [name for name in found if not name.startswith(".ds-")]
        if names:
            client.indices.delete(index=names)


def new_namespace(client: Elasticsearch) -> Iterator[AssetNamespace]:
    """A fresh namespace; its data streams are deleted afterwards (use as a fixture body)."""
    ns = AssetNamespace("a" + uuid.uuid4().hex[:12])
    yield ns
    _delete_data(client, ns.name)


def _snapshot(client: Elasticsearch) -> dict[tuple[str, str], Any]:
    saved: dict[tuple[str, str], Any] = {}
    for name in COMPONENT_NAMES:
        with contextlib.suppress(NotFoundError):
            found = client.cluster.get_component_template(name=name).body
            saved[("component", name)] = found["component_templates"][0]["component_template"]
    for name in INDEX_TEMPLATE_NAMES:
        with contextlib.suppress(NotFoundError):
            found = client.indices.get_index_template(name=name).body
            saved[("index", name)] = found["index_templates"][0]["index_template"]
    for name in PIPELINE_NAMES:
        with contextlib.suppress(NotFoundError):
            saved[("pipeline", name)] = client.ingest.get_pipeline(id=name).body[name]
    return saved


def _delete_templates(client: Elasticsearch) -> None:
    for name in INDEX_TEMPLATE_NAMES:
        with contextlib.suppress(ApiError):
            client.indices.delete_index_template(name=name)
    for name in COMPONENT_NAMES:
        with contextlib.suppress(ApiError):
            client.cluster.delete_component_template(name=name)
    for name in PIPELINE_NAMES:
        with contextlib.suppress(ApiError):
            client.ingest.delete_pipeline(id=name)


def cleared_templates(es_client: Elasticsearch) -> Iterator[bool]:
    """Our templates removed for a test, then what was there put back (a fixture body).

    Yields whether they are really gone (a real cluster keeps those its data streams use).
    """
    saved = _snapshot(es_client)
    _delete_templates(es_client)
    yield not _snapshot(es_client)
    _delete_templates(es_client)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ElasticsearchWarning)
        for (kind, name), body in sorted(saved.items()):
            if kind == "pipeline":
                es_client.ingest.put_pipeline(id=name, body=body)
        for (kind, name), body in sorted(saved.items()):
            if kind == "component":
                es_client.cluster.put_component_template(name=name, body=body)
        for (kind, name), body in sorted(saved.items()):
            if kind == "index":
                es_client.indices.put_index_template(name=name, body=body)


def golden_sources(stream: str, namespace: str) -> list[dict[str, Any]]:
    """The expected documents of the stream's golden cases, moved to `namespace`."""
    cases = json.loads((GOLDEN / f"{stream}.json").read_text())["cases"]
    sources = []
    for case in cases:
        source = json.loads(json.dumps(case["expected"]["source"]))
        source["data_stream"]["namespace"] = namespace
        sources.append(source)
    return sources


def index_golden_documents(client: Elasticsearch, ns: AssetNamespace) -> dict[str, int]:
    """Bulk-creates every stream's golden documents; returns the count per stream."""
    operations: list[dict[str, Any]] = []
    counts: dict[str, int] = {}
    for stream in STREAM_NAMES:
        sources = golden_sources(stream, ns.name)
        counts[stream] = len(sources)
        for source in sources:
            operations += [{"create": {"_index": ns.data_stream(stream)}}, source]
    body = client.bulk(operations=operations, refresh="wait_for").body
    failed = [item for item in body["items"] if item["create"]["status"] >= 300]
    assert not failed, failed[:3]
    return counts
