"""deploy/splunk: the Dashboard Studio definition holds together, and its searches read the
sourcetypes and fields the poller sends."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from poller.destinations import DEFAULT_SOURCETYPES
from poller.documents import all_stream_fields

SPLUNK = Path(__file__).resolve().parents[3] / "deploy" / "splunk"
DASHBOARD: dict[str, Any] = json.loads(
    (SPLUNK / "openai-poller-dashboard.json").read_text(encoding="utf-8")
)
QUERIES = {name: ds["options"]["query"] for name, ds in DASHBOARD["dataSources"].items()}
FIELDS = {spec.path for specs in all_stream_fields().values() for spec in specs}


def test_every_panel_has_its_search_and_its_place() -> None:
    visualizations = DASHBOARD["visualizations"]
    used = {viz["dataSources"]["primary"] for viz in visualizations.values()}
    assert used == set(DASHBOARD["dataSources"])
    placed = [item["item"] for item in DASHBOARD["layout"]["structure"]]
    assert sorted(placed) == sorted(visualizations)
    assert set(DASHBOARD["layout"]["globalInputs"]) == set(DASHBOARD["inputs"])
    for item in DASHBOARD["layout"]["structure"]:
        position = item["position"]
        assert position["x"] + position["w"] <= DASHBOARD["layout"]["options"]["width"]


def test_the_views_cover_usage_costs_and_audit() -> None:
    kinds = {re.search(r'sourcetype="([^"]+)"', q)[1] for q in QUERIES.values()}  # type: ignore[index]
    assert kinds == {"openai:usage", "openai:costs", "openai:audit"}
    assert kinds <= set(DEFAULT_SOURCETYPES.values())


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_each_search_keeps_the_newest_event_per_document(name: str) -> None:
    query = QUERIES[name]
    assert "dedup doc_id sortby -_indextime" in query
    tokens = set(re.findall(r"\$([a-z_.]+)\$", query))
    assert tokens <= {"index", "org"}
    assert query.startswith("index=$index$ org=$org$ ")


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_each_search_reads_fields_the_documents_have(name: str) -> None:
    paths = set(re.findall(r"\b((?:openai|event|user|source)\.[a-z_.]+[a-z_])", QUERIES[name]))
    assert paths
    assert paths <= FIELDS, paths - FIELDS


def test_the_time_range_drives_every_search() -> None:
    parameters = DASHBOARD["defaults"]["dataSources"]["ds.search"]["options"]["queryParameters"]
    assert parameters == {"earliest": "$time.earliest$", "latest": "$time.latest$"}
    assert DASHBOARD["inputs"]["input_time"]["options"]["token"] == "time"


def test_props_extract_json_for_every_sourcetype() -> None:
    props = (SPLUNK / "props.conf").read_text(encoding="utf-8")
    stanzas = re.findall(r"(?m)^\[([^\]]+)\]\nKV_MODE = json$", props)
    assert stanzas == list(DEFAULT_SOURCETYPES.values())
