"""The Kibana saved objects are importable NDJSON whose panels read fields the templates map."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

import pytest

from poller.assets import composed_mapping, flatten_mapping, load_assets
from poller.streams import STREAM_NAMES
from tools.assets import FieldUse, check_field_uses, field_uses, runtime_fields

ASSETS = load_assets()
OBJECTS = ASSETS.saved_objects
BY_KEY = {(o["type"], o["id"]): o for o in OBJECTS}
DATA_VIEW = next(o for o in OBJECTS if o["type"] == "index-pattern")
DASHBOARDS = [o for o in OBJECTS if o["type"] == "dashboard"]


def _mapped_types() -> tuple[dict[str, str], dict[str, bool]]:
    """Every field of the union of the stream mappings (what `logs-openai.*` sees)."""
    types: dict[str, str] = {}
    indexed: dict[str, bool] = {}
    components = ASSETS.components_by_name()
    for stream in STREAM_NAMES:
        flat = flatten_mapping(composed_mapping(stream, components))
        for path, leaf in flat.items():
            resolved = flat[leaf["path"]] if leaf["type"] == "alias" else leaf
            types[path] = resolved["type"]
            indexed[path] = resolved.get("index", True) is not False
    return types, indexed


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return list(json.loads(dashboard["attributes"]["panelsJSON"]))


def test_every_line_is_an_object_with_id_type_and_attributes() -> None:
    lines = ASSETS.saved_objects_ndjson.splitlines()
    assert ASSETS.saved_objects_ndjson.endswith("\n")
    assert all(line.strip() for line in lines)
    for obj in OBJECTS:
        assert {"id", "type", "attributes", "references"} <= obj.keys()
        assert obj["coreMigrationVersion"] and obj["typeMigrationVersion"]
    keys = Counter((o["type"], o["id"]) for o in OBJECTS)
    assert [k for k, n in keys.items() if n > 1] == []
    kinds = Counter(o["type"] for o in OBJECTS)
    assert kinds == {"index-pattern": 1, "search": 2, "dashboard": 3}


def test_data_view_covers_every_stream_with_its_time_field() -> None:
    attributes = DATA_VIEW["attributes"]
    assert attributes["title"] == "logs-openai.*"
    assert attributes["timeFieldName"] == "@timestamp"


def test_references_resolve_to_objects_in_the_file() -> None:
    for obj in OBJECTS:
        for ref in obj["references"]:
            assert (ref["type"], ref["id"]) in BY_KEY, (obj["id"], ref)


def test_saved_search_uses_its_data_view_reference() -> None:
    search = next(o for o in OBJECTS if o["type"] == "search")
    source = json.loads(search["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
    names = {ref["name"] for ref in search["references"]}
    assert source["indexRefName"] in names


@pytest.mark.parametrize("dashboard", DASHBOARDS, ids=lambda d: d["id"])
def test_dashboard_panels_parse_and_reference_the_data_view(dashboard: dict[str, Any]) -> None:
    refs = {ref["name"]: ref for ref in dashboard["references"]}
    ids = [panel["panelIndex"] for panel in panels(dashboard)]
    assert len(ids) == len(set(ids))
    for panel in panels(dashboard):
        assert panel["gridData"]["i"] == panel["panelIndex"]
        assert panel["gridData"]["x"] + panel["gridData"]["w"] <= 48
        config = panel["embeddableConfig"]
        if panel["type"] == "lens" and "textBased" in _datasources(config):
            _check_esql_panel(config["attributes"])
        elif panel["type"] == "lens":
            attributes = config["attributes"]
            layers = attributes["state"]["datasourceStates"]["formBased"]["layers"]
            inner = {ref["name"]: ref for ref in attributes["references"]}
            for layer_id, layer in layers.items():
                name = f"indexpattern-datasource-layer-{layer_id}"
                assert inner[name]["id"] == DATA_VIEW["id"]
                assert refs[f"{panel['panelIndex']}:{name}"]["id"] == DATA_VIEW["id"]
                assert set(layer["columnOrder"]) == set(layer["columns"])
                for column in layer["columns"].values():
                    order = column.get("params", {}).get("orderBy", {}).get("columnId")
                    assert order is None or order in layer["columns"]
                    for ref in column.get("references", []):
                        assert ref in layer["columns"]
            visualization = attributes["state"]["visualization"]
            accessors = _accessors(visualization)
            assert accessors
            assert accessors <= set(next(iter(layers.values()))["columns"])
        elif panel["type"] == "map":
            ref = f"{panel['panelIndex']}:layer_1_source_index_pattern"
            assert refs[ref]["id"] == DATA_VIEW["id"]
            json.loads(config["attributes"]["mapStateJSON"])
        elif panel["type"] == "search":
            assert refs[f"{panel['panelIndex']}:{panel['panelRefName']}"]["type"] == "search"
        else:
            assert config["savedVis"]["type"] == "markdown"


def _datasources(config: dict[str, Any]) -> set[str]:
    states = config["attributes"]["state"]["datasourceStates"]
    return {name for name, state in states.items() if state["layers"]}


def _check_esql_panel(attributes: dict[str, Any]) -> None:
    """An ES|QL table or chart: one layer on the query of the panel, its ad hoc data view on the
    poller's index pattern, a column per field the query keeps, every one shown."""
    state = attributes["state"]
    (layer,) = state["datasourceStates"]["textBased"]["layers"].values()
    assert layer["query"] == state["query"]
    assert state["adHocDataViews"][layer["index"]]["title"] == DATA_VIEW["attributes"]["title"]
    keep = re.search(r"\| KEEP ([^|]+)", state["query"]["esql"])
    assert keep is not None
    kept = [name.strip() for name in keep.group(1).split(",")]
    assert [column["fieldName"] for column in layer["columns"]] == kept
    visualization = state["visualization"]
    if "columns" in visualization:  # a table, in the query's order
        shown = [column["columnId"] for column in visualization["columns"]]
        assert shown == [column["columnId"] for column in layer["columns"]]
    assert _accessors(visualization) == {column["columnId"] for column in layer["columns"]}
    assert attributes["references"] == []


def _accessors(visualization: dict[str, Any]) -> set[str]:
    if "metricAccessor" in visualization:
        return {visualization["metricAccessor"]}
    if "columns" in visualization:
        return {column["columnId"] for column in visualization["columns"]}
    found: set[str] = set()
    for layer in visualization["layers"]:
        found.update(layer["accessors"])
        found.add(layer["xAccessor"])
        if "splitAccessor" in layer:
            found.add(layer["splitAccessor"])
    return found


def test_every_field_read_is_mapped_with_a_compatible_type() -> None:
    types, indexed = _mapped_types()
    uses = field_uses(OBJECTS, ASSETS.rules)
    assert check_field_uses(uses, types, indexed=indexed, runtime=runtime_fields(OBJECTS)) == []


def test_field_check_catches_wrong_types_and_unknown_fields() -> None:
    types = {"a.num": "long", "a.word": "keyword", "a.geo": "geo_point"}
    uses = [
        FieldUse("a.word", "numeric", "x"),
        FieldUse("a.num", "terms", "x"),
        FieldUse("a.num", "geo", "x"),
        FieldUse("a.missing", "any", "x"),
        FieldUse("a.geo", "geo", "x"),
    ]
    assert len(check_field_uses(uses, types)) == 4


def test_dashboards_cover_what_the_issue_asks_for() -> None:
    """Usage, costs (billed, month to date, estimate vs billed, unpriced) and audit panels."""
    used = {(u.where.split(" ")[1], u.path, u.use) for u in field_uses(OBJECTS, ())}
    wanted = {
        ("openai-poller-usage", "openai.base.usage_tokens", "numeric"),
        ("openai-poller-usage", "openai.base.model", "terms"),
        ("openai-poller-usage", "openai.base.project_name", "terms"),
        ("openai-poller-usage", "openai.base.user_email", "terms"),
        ("openai-poller-usage", "openai.base.api_key_name", "terms"),
        ("openai-poller-usage", "openai.images.images", "numeric"),
        ("openai-poller-usage", "openai.audio_transcriptions.seconds", "numeric"),
        ("openai-poller-usage", "openai.audio_speeches.characters", "numeric"),
        ("openai-poller-usage", "openai.vector_stores.usage_bytes", "numeric_or_date"),
        ("openai-poller-usage", "openai.code_interpreter_sessions.num_sessions", "numeric"),
        ("openai-poller-usage", "openai.file_search_calls.num_requests", "numeric"),
        ("openai-poller-usage", "openai.web_search_calls.num_requests", "numeric"),
        ("openai-poller-costs", "openai.costs.amount.value", "numeric"),
        ("openai-poller-costs", "openai.costs.line_item", "terms"),
        ("openai-poller-costs", "openai.base.cost_estimate_usd", "numeric"),
        ("openai-poller-costs", "openai.base.unpriced", "filter"),
        ("openai-poller-costs", "@timestamp", "filter"),  # month to date
        ("openai-poller-audit", "openai.audit.type", "terms"),
        ("openai-poller-audit", "user.email", "terms"),
        ("openai-poller-audit", "source.geo.location", "geo"),
        ("openai-poller-audit", "source.ip", "terms"),
        ("openai-poller-audit", "event.outcome", "filter"),
    }
    assert wanted <= used


def test_runtime_label_fields_fall_back_from_name_to_id() -> None:
    runtime = json.loads(DATA_VIEW["attributes"]["runtimeFieldMap"])
    script = runtime["openai.base.project_label"]["script"]["source"]
    assert script.index("openai.base.project_name") < script.index("openai.base.project_id")
