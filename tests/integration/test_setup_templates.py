"""`run_setup` against a real Elasticsearch-wire server: a dry run writes nothing, a second run
reports everything unchanged, and an existing data stream is brought up to date in place."""

from __future__ import annotations

import pytest
from conftest_assets import (
    ASSETS,
    AssetNamespace,
    golden_sources,
)
from elasticsearch import Elasticsearch, NotFoundError

from poller.install import run_setup

pytestmark = pytest.mark.integration


def test_dry_run_then_setup_twice(
    es_client: Elasticsearch, clean_templates: bool, asset_namespace: AssetNamespace
) -> None:
    dry = run_setup(es=es_client, kibana_url=None, dry_run=True, namespaces=[asset_namespace.name])
    if clean_templates:
        assert all(line.endswith(": would create") for line in dry.lines())
        with pytest.raises(NotFoundError):
            es_client.cluster.get_component_template(name=ASSETS.component_templates[0].name)
    expected = len(ASSETS.component_templates) + len(ASSETS.index_templates)
    assert len(dry.lines()) == expected

    first = run_setup(es=es_client, kibana_url=None, namespaces=[asset_namespace.name])
    assert len(first.lines()) == expected
    second = run_setup(es=es_client, kibana_url=None, namespaces=[asset_namespace.name])
    assert not second.changed
    assert all(line.endswith(": unchanged") for line in second.lines()), second.lines()

    again_dry = run_setup(
        es=es_client, kibana_url=None, dry_run=True, namespaces=[asset_namespace.name]
    )
    assert all(line.endswith(": unchanged") for line in again_dry.lines())


def test_existing_data_stream_is_updated_in_place(
    es_client: Elasticsearch, clean_templates: bool, asset_namespace: AssetNamespace
) -> None:
    """A data stream written before setup (dynamic mapping, a number sent as text) gets the
    missing fields now, and setup says which field needs a rollover."""
    if not clean_templates:
        pytest.skip("our templates are in use on this cluster, so they cannot be removed")
    index = asset_namespace.data_stream("costs")
    source = golden_sources("costs", asset_namespace.name)[0]
    source["openai"]["costs"]["amount"]["value"] = "12.50"  # becomes a text/keyword field
    es_client.index(index=index, document=source, op_type="create", refresh="wait_for")

    first = run_setup(es=es_client, kibana_url=None, namespaces=[asset_namespace.name])
    lines = [line for line in first.lines() if line.startswith(f"data stream {index}")]
    assert any(": updated (" in line for line in lines), lines
    assert any("needs a rollover" in line for line in lines), lines

    mappings = es_client.indices.get_mapping(index=index).body
    openai = list(mappings.values())[-1]["mappings"]["properties"]["openai"]["properties"]
    assert openai["base"]["properties"]["cost_estimate_usd"] == {"type": "double"}
    amount = openai["costs"]["properties"]["amount"]["properties"]["value"]
    assert amount["type"] != "double"  # left alone: only a rollover can change it

    second = run_setup(es=es_client, kibana_url=None, namespaces=[asset_namespace.name])
    assert not second.changed
    assert [line for line in second.lines() if "rollover" in line]
