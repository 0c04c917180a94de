"""Fixtures shared by the template and setup tests (their helpers are in conftest_assets.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest_assets import AssetNamespace, cleared_templates, new_namespace
from elasticsearch import Elasticsearch


@pytest.fixture
def clean_templates(es_client: Elasticsearch) -> Iterator[bool]:
    yield from cleared_templates(es_client)


@pytest.fixture
def asset_namespace(es_client: Elasticsearch) -> Iterator[AssetNamespace]:
    yield from new_namespace(es_client)
