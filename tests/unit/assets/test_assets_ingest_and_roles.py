"""The audit streams' final pipeline (`event.ingested`), retention set per class, and the two
roles: what each privilege is for, and that the writer's match what the sink does."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from poller.assets import INGEST_PIPELINE, RETENTION, load_assets
from poller.defaults import DEFAULT_DEADLETTER_INDEX, DEFAULT_STATE_INDEX
from poller.streams import STREAM_NAMES

ASSETS = load_assets()
REPO = Path(__file__).resolve().parents[3]


def _components() -> dict[str, Any]:
    return {t.name: t.body for t in ASSETS.component_templates}


def test_audit_streams_run_the_pipeline_that_stamps_event_ingested() -> None:
    (pipeline,) = ASSETS.ingest_pipelines
    assert pipeline.name == INGEST_PIPELINE
    assert pipeline.body["processors"] == [
        {
            "set": {
                "field": "event.ingested",
                "value": "{{{_ingest.timestamp}}}",
                "tag": "event-ingested",
            }
        }
    ]
    for stamped in ("audit", "governance"):
        template = _components()[f"openai-poller.{stamped}@package"]["template"]
        assert template["settings"] == {"index": {"final_pipeline": INGEST_PIPELINE}}
        ingested = template["mappings"]["properties"]["event"]["properties"]["ingested"]
        assert ingested == {"type": "date"}
    others = [name for name in STREAM_NAMES if name not in ("audit", "governance")]
    assert all(
        "settings" not in _components()[f"openai-poller.{name}@package"]["template"]
        for name in others
    )


def test_retention_is_rewritten_per_class_in_templates_and_policies() -> None:
    changed = ASSETS.with_retention({"audit": "3650d", "metrics": "90d"})
    components = {t.name: t.body for t in changed.component_templates}
    lifecycles = {
        name: body["template"]["lifecycle"]["data_retention"]
        for name, body in components.items()
        if name.endswith("@package")
    }
    assert lifecycles == {
        f"openai-poller.{name}@package": "3650d" if name in ("audit", "governance") else "90d"
        for name in STREAM_NAMES
    }
    policies = {
        t.name: t.body["policy"]["phases"]["delete"]["min_age"] for t in changed.ilm_policies
    }
    assert policies == {"openai-poller-audit": "3650d", "openai-poller-metrics": "90d"}
    # The loaded assets themselves are untouched; an unnamed class keeps its own.
    assert ASSETS.with_retention({}) == ASSETS
    only_audit = ASSETS.with_retention({"audit": "1d"})
    ecs = next(t for t in only_audit.component_templates if t.name == "openai-poller@ecs")
    assert ecs.body == _components()["openai-poller@ecs"]
    kept = {t.name: t.body for t in only_audit.component_templates}["openai-poller.costs@package"]
    assert kept["template"]["lifecycle"] == {"data_retention": RETENTION["metrics"]}
    with pytest.raises(ValueError, match=r"^no retention class logs; classes are: metrics, audit$"):
        ASSETS.with_retention({"logs": "1d"})


def _grants(role: dict[str, Any]) -> dict[str, list[str]]:
    return {name: entry["privileges"] for entry in role["indices"] for name in entry["names"]}


def test_writer_creates_audit_documents_and_revises_the_others() -> None:
    writer = dict(ASSETS.roles["openai-poller-writer"])
    grants = _grants(writer)
    assert writer["cluster"] == ["monitor"]
    assert grants["logs-openai.audit-*"] == [
        "auto_configure",
        "create_doc",
        "maintenance",  # the refresh that ends a backfill
        "read",
        "view_index_metadata",
    ]
    revised = [name for name in STREAM_NAMES if name != "audit"]
    for name in revised:
        assert grants[f"logs-openai.{name}-*"] == [
            "auto_configure",
            "create_doc",
            "index",
            "maintenance",
            "read",
            "view_index_metadata",
        ]
    assert grants[DEFAULT_STATE_INDEX] == ["create_index", "index", "read", "view_index_metadata"]
    # dead letters past deadletter_retention are pruned; cursors never are
    assert grants[DEFAULT_DEADLETTER_INDEX] == [
        "create_index", "delete", "index", "read", "view_index_metadata"]
    assert len(grants) == len(STREAM_NAMES) + 2


def test_setup_installs_and_its_rules_can_read() -> None:
    setup = dict(ASSETS.roles["openai-poller-setup"])
    assert setup["cluster"] == [
        "manage_ilm",
        "manage_index_templates",
        "manage_ingest_pipelines",
        "monitor",
    ]
    assert _grants(setup) == {"logs-openai.*": ["manage", "read", "view_index_metadata"]}
    (kibana,) = setup["applications"]
    assert kibana["application"] == "kibana-.kibana"
    assert kibana["resources"] == ["space:default"]
    assert "feature_stackAlerts.all" in kibana["privileges"]
    assert "feature_savedObjectsManagement.all" in kibana["privileges"]


def test_the_privileges_doc_shows_the_shipped_roles_and_their_api_keys() -> None:
    """docs/elasticsearch-privileges.md is the readable copy of the role files: its JSON is
    what ships, so what an operator pastes from it is what doctor checks."""
    doc = (REPO / "docs" / "elasticsearch-privileges.md").read_text(encoding="utf-8")
    blocks = [json.loads(block) for block in re.findall(r"```json\n(.*?)\n```", doc, re.S)]
    writer, setup = ASSETS.roles["openai-poller-writer"], ASSETS.roles["openai-poller-setup"]
    assert blocks == [
        writer,
        {"name": "openai-poller-writer", "role_descriptors": {"openai-poller-writer": writer}},
        setup,
        {"name": "openai-poller-setup", "role_descriptors": {"openai-poller-setup": setup}},
    ]
