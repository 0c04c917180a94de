"""The governance-change rule's query against the test Elasticsearch, after setup: of the
governance documents (golden cases), written two hours after their snapshot, it finds exactly
the change of model permissions and the change of data retention, not the snapshots, baselines,
additions or a change of hosted-tool permissions; and only on `event.ingested`, which the
governance data streams' final pipeline stamps on arrival."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest
from conftest_assets import AssetNamespace, golden_sources
from elasticsearch import Elasticsearch
from test_setup_templates import _rule_hits

from poller.install import run_setup
from tools.assets.kibana._governance_rule import WATCHED_SETTINGS

pytestmark = pytest.mark.integration


def test_the_rule_finds_the_changes_of_retention_and_model_permissions_however_late(
    es_client: Elasticsearch, clean_templates: bool, asset_namespace: AssetNamespace
) -> None:
    if not clean_templates:
        pytest.skip("our templates are in use on this cluster, so they cannot be replaced")
    run_setup(es=es_client, kibana_url=None, namespaces=[asset_namespace.name])
    sources = golden_sources("governance", asset_namespace.name)
    (changed,) = [s for s in sources if s["openai"]["governance"].get("change") == "changed"]
    assert changed["openai"]["governance"]["setting"] == "model_permissions"
    retention = copy.deepcopy(changed)
    retention["openai"]["governance"].update(
        setting="data_retention", before={"type": "none"}, after={"type": "zero_data_retention"}
    )
    tools = copy.deepcopy(changed)
    tools["openai"]["governance"].update(setting="hosted_tool_permissions")
    assert {"data_retention", "model_permissions"} == set(WATCHED_SETTINGS)
    late = datetime.now(UTC) - timedelta(hours=2)
    index = asset_namespace.data_stream("governance")
    for source in [*sources, retention, tools]:
        source["@timestamp"] = late.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        es_client.index(index=index, document=source, op_type="create", refresh="wait_for")

    assert _rule_hits(es_client, "governance-change", "event.ingested", asset_namespace.name) == 2
    assert _rule_hits(es_client, "governance-change", "@timestamp", asset_namespace.name) == 0
