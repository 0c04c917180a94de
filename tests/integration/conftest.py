"""Fixtures shared by the integration tests: the template and setup tests' (their helpers are
in conftest_assets.py), and a poller sink on the test Elasticsearch's own namespace."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from conftest_assets import AssetNamespace, cleared_templates, new_namespace
from elasticsearch import Elasticsearch

from poller.sinks.elasticsearch import ElasticsearchSink, EsConnection, EsCredentials, EsIndices


@pytest.fixture
def clean_templates(es_client: Elasticsearch) -> Iterator[bool]:
    yield from cleared_templates(es_client)


@pytest.fixture
def asset_namespace(es_client: Elasticsearch) -> Iterator[AssetNamespace]:
    yield from new_namespace(es_client)


@pytest.fixture
def es_sink(
    elasticsearch_url: str,
    elasticsearch_api_key: str | None,
    elasticsearch_ca_certs: str | None,
    es_namespace: Any,
) -> Iterator[ElasticsearchSink]:
    """The poller's sink on the test cluster, its state and dead letters in `es_namespace`."""
    connection = EsConnection(
        elasticsearch_url,
        credentials=EsCredentials(api_key=elasticsearch_api_key),
        ca_certs=elasticsearch_ca_certs,
    )
    indices = EsIndices(state=es_namespace.state_index, deadletter=es_namespace.deadletter_index)
    with ElasticsearchSink(connection, indices=indices) as sink:
        yield sink


@pytest.fixture
def es_refresh(es_client: Elasticsearch, es_namespace: Any) -> Callable[[], None]:
    """Makes what `es_sink` wrote visible to searches."""

    def refresh() -> None:
        es_client.indices.refresh(index=f"logs-openai.*-{es_namespace.name}")

    return refresh
