"""Test tiers by directory, and shared fixtures: a real Elasticsearch-wire server.

Every test is marked with its tier from the directory it lives in (`tests/unit/` → `unit`,
`tests/integration/` → `integration`, `tests/drills/` → `drill`), so `pytest -m unit` runs exactly
the unit tier and a test file cannot land in a tier by forgetting a `pytestmark`.

`elasticsearch_url` starts `noida-db` (an Elasticsearch-compatible server, reporting 8.15.3) once
per session on a free port, or uses the cluster named by `POLLER_TEST_ELASTICSEARCH_URL` (with
`POLLER_TEST_ELASTICSEARCH_API_KEY` and `POLLER_TEST_ELASTICSEARCH_CA_CERTS` when set) and starts
nothing. Each test gets its own `es_namespace`, so data streams and indices never overlap between
tests; everything created under it is deleted afterwards.

noida-db gaps (probed with 0.2.3): no `_data_stream`, `_ilm`, `_security` or `_resolve` APIs, no
`composite` aggregation, no `missing` option on `terms`, no rollover, and a data stream name is
created as a plain index (so `_index` in answers is the data stream name itself). Paths that need
those are covered by unit tests against recorded responses instead.
"""

from __future__ import annotations

import contextlib
import os
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pytest
from elasticsearch import ApiError, Elasticsearch, ElasticsearchWarning
from loopback import NoidaError, noida

from poller.sinks.elasticsearch import Compat8Transport

_TESTS: Final = Path(__file__).parent
_TIER_MARKERS: Final = {"unit": "unit", "integration": "integration", "drills": "drill"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if not item.path.is_relative_to(_TESTS):
            continue
        marker = _TIER_MARKERS.get(item.path.relative_to(_TESTS).parts[0])
        if marker is not None:
            item.add_marker(marker)


@pytest.fixture(scope="session")
def elasticsearch_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of the test Elasticsearch: POLLER_TEST_ELASTICSEARCH_URL, or a fresh noida-db."""
    external = os.environ.get("POLLER_TEST_ELASTICSEARCH_URL")
    if external:
        yield external
        return
    try:
        with noida(tmp_path_factory.mktemp("noida")) as url:
            yield url
    except NoidaError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def elasticsearch_api_key() -> str | None:
    return os.environ.get("POLLER_TEST_ELASTICSEARCH_API_KEY") or None


@pytest.fixture(scope="session")
def elasticsearch_ca_certs() -> str | None:
    return os.environ.get("POLLER_TEST_ELASTICSEARCH_CA_CERTS") or None


@pytest.fixture
def es_client(
    elasticsearch_url: str, elasticsearch_api_key: str | None, elasticsearch_ca_certs: str | None
) -> Iterator[Elasticsearch]:
    """An `elasticsearch.Elasticsearch` client on the test cluster, closed afterwards. It speaks
    REST compatibility version 8, like the sink, so it works with 8.x and 9.x clusters."""
    kwargs: dict[str, Any] = {"request_timeout": 30, "transport_class": Compat8Transport}
    if elasticsearch_api_key:
        kwargs["api_key"] = elasticsearch_api_key
    if elasticsearch_ca_certs:
        kwargs["ca_certs"] = elasticsearch_ca_certs
    client = Elasticsearch(elasticsearch_url, **kwargs)
    try:
        yield client
    finally:
        client.close()


@dataclass(frozen=True)
class EsNamespace:
    """One test's corner of the cluster: data streams `logs-openai.<stream>-<name>` and its own
    state and dead-letter indices."""

    name: str

    def data_stream(self, stream: str) -> str:
        return f"logs-openai.{stream}-{self.name}"

    @property
    def state_index(self) -> str:
        return f"openai-poller-state-{self.name}"

    @property
    def deadletter_index(self) -> str:
        return f"openai-poller-deadletter-{self.name}"


@pytest.fixture
def es_namespace(es_client: Elasticsearch) -> Iterator[EsNamespace]:
    """A unique namespace, with an index template making `logs-openai.*-<ns>` data streams with
    exact numeric types (long/double) and keyword strings; all of it is deleted afterwards."""
    ns = EsNamespace("t" + uuid.uuid4().hex[:12])
    template = f"openai-poller-test-{ns.name}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ElasticsearchWarning)
        es_client.indices.put_index_template(
            name=template,
            index_patterns=[f"logs-openai.*-{ns.name}"],
            data_stream={},
            priority=500,
            template={
                "mappings": {
                    "dynamic_templates": [
                        {
                            "strings": {
                                "match_mapping_type": "string",
                                "mapping": {"type": "keyword"},
                            }
                        },
                        {"longs": {"match_mapping_type": "long", "mapping": {"type": "long"}}},
                        {
                            "doubles": {
                                "match_mapping_type": "double",
                                "mapping": {"type": "double"},
                            }
                        },
                    ],
                    "properties": {"@timestamp": {"type": "date"}},
                }
            },
        )
    try:
        yield ns
    finally:
        _cleanup(es_client, ns.name, template)


def _cleanup(client: Elasticsearch, ns: str, template: str) -> None:
    """Best effort: data streams (real Elasticsearch), then plain indices, then the template."""
    try:
        streams = client.indices.get_data_stream(name=f"*-{ns}").body.get("data_streams", [])
        if streams:
            client.indices.delete_data_stream(name=[s["name"] for s in streams])
    except ApiError:
        pass  # noida-db has no data stream API: its data streams are plain indices
    try:
        names = [
            name
            for name in client.indices.get(
                index=f"*{ns}*",
                expand_wildcards="all",
                ignore_unavailable=True,
                allow_no_indices=True,
            ).body
            if not name.startswith(".ds-")
        ]
        if names:
            client.indices.delete(index=names)
    except ApiError:
        pass
    with contextlib.suppress(ApiError):
        client.indices.delete_index_template(name=template)
