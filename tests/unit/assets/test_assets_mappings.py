"""The templates map every field the mappers write, with its type, in the stream's data stream;
the fields dashboards and rules read in every stream; and never collide with Elastic's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from poller.assets import (
    RETENTION,
    composed_mapping,
    flatten_mapping,
    load_assets,
    retention_class,
)
from poller.documents import stream_fields
from poller.streams import STREAM_NAMES
from tools.assets import ALIASES, PRIORITY, field_types

GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "golden"
ASSETS = load_assets()
COMPONENTS = ASSETS.components_by_name()
INDEX_TEMPLATES = {t.name: t.body for t in ASSETS.index_templates}


def declared(stream: str) -> dict[str, dict[str, Any]]:
    return flatten_mapping(composed_mapping(stream, COMPONENTS))


@pytest.mark.parametrize("stream", STREAM_NAMES)
def test_every_written_field_is_mapped_with_its_type(stream: str) -> None:
    mapping = declared(stream)
    for spec in stream_fields(stream):
        leaf = mapping[spec.path]
        assert leaf["type"] == spec.type, spec.path
        if spec.type == "keyword" and spec.indexed:
            assert leaf["ignore_above"] == 1024
    assert composed_mapping(stream, COMPONENTS)["dynamic"] is False


def test_event_original_is_stored_not_indexed_as_ecs_does() -> None:
    assert declared("audit")["event.original"] == {
        "type": "keyword",
        "index": False,
        "doc_values": False,
    }


@pytest.mark.parametrize("stream", STREAM_NAMES)
def test_data_stream_fields_are_constant_keywords(stream: str) -> None:
    mapping = declared(stream)
    for name in ("type", "dataset", "namespace"):
        assert mapping[f"data_stream.{name}"] == {"type": "constant_keyword"}


def test_code_interpreter_sessions_has_elastics_name_as_an_alias() -> None:
    mapping = declared("code_interpreter_sessions")
    assert mapping["openai.code_interpreter_sessions.sessions"] == {
        "type": "alias",
        "path": "openai.code_interpreter_sessions.num_sessions",
    }
    # An alias is only ever declared next to its target.
    for stream in STREAM_NAMES:
        mapping = declared(stream)
        for alias, target in ALIASES.items():
            assert (alias in mapping) == (target in mapping)


def test_dashboard_fields_are_mapped_in_every_stream() -> None:
    """Elastic 2.3.0's lesson: a panel must not break when some streams are disabled."""
    shared = flatten_mapping(COMPONENTS["openai-poller@dashboards"]["template"]["mappings"])
    assert "openai.completions.output_tokens" in shared
    assert "openai.costs.amount.value" in shared
    assert "source.geo.location" in shared
    for stream in STREAM_NAMES:
        mapping = declared(stream)
        for path, leaf in shared.items():
            assert mapping[path] == leaf, (stream, path)


@pytest.mark.parametrize("stream", STREAM_NAMES)
def test_templates_declare_nothing_the_poller_does_not_know(stream: str) -> None:
    known = field_types()
    for path, leaf in declared(stream).items():
        target = leaf.get("path", path)
        assert target in known, path
        if leaf["type"] != "alias":
            assert leaf["type"] == known[path].type


def _leaves(node: Any, prefix: str = "") -> list[str]:
    if isinstance(node, dict) and node:
        return [p for key, value in node.items() for p in _leaves(value, f"{prefix}{key}.")]
    if isinstance(node, list) and node and all(isinstance(item, dict) for item in node):
        return [p for item in node for p in _leaves(item, prefix)]
    return [prefix.rstrip(".")]


@pytest.mark.parametrize("stream", STREAM_NAMES)
def test_golden_documents_fit_the_templates(stream: str) -> None:
    """With dynamic: false an undeclared field would silently be unsearchable: none may exist."""
    mapping = declared(stream)
    flattened = [path for path, leaf in mapping.items() if leaf["type"] == "flattened"]
    geo = [path for path, leaf in mapping.items() if leaf["type"] == "geo_point"]
    cases = json.loads((GOLDEN / f"{stream}.json").read_text())["cases"]
    for case in cases:
        for path in _leaves(case["expected"]["source"]):
            if any(path.startswith(f"{f}.") for f in flattened + geo):
                continue
            assert path in mapping, (stream, case["name"], path)


@pytest.mark.parametrize("stream", STREAM_NAMES)
def test_index_template_wins_over_elastic_and_the_stack(stream: str) -> None:
    body = INDEX_TEMPLATES[f"openai-poller-{stream}"]
    assert body["index_patterns"] == [f"logs-openai.{stream}-*"]
    assert body["data_stream"] == {}
    assert body["priority"] == PRIORITY
    assert PRIORITY > 200  # Elastic's logs-openai.<stream> templates
    assert not f"openai-poller-{stream}".startswith(f"logs-openai.{stream}")
    assert set(body["ignore_missing_component_templates"]) <= set(body["composed_of"])
    for name in body["composed_of"]:
        assert name in COMPONENTS or name in body["ignore_missing_component_templates"]
    # Users override in @custom, composed last, never overwritten by setup.
    assert body["composed_of"][-1] == f"openai-poller.{stream}@custom"


@pytest.mark.parametrize("stream", STREAM_NAMES)
def test_retention_is_a_data_stream_lifecycle(stream: str) -> None:
    package = COMPONENTS[f"openai-poller.{stream}@package"]["template"]
    expected = "730d" if stream in ("audit", "governance") else "400d"
    assert package["lifecycle"] == {"data_retention": expected}
    assert RETENTION[retention_class(stream)] == expected


def test_optional_ilm_policies_match_the_retention() -> None:
    policies = {t.name: t.body for t in ASSETS.ilm_policies}
    for retention, age in RETENTION.items():
        phases = policies[f"openai-poller-{retention}"]["policy"]["phases"]
        assert phases["delete"]["min_age"] == age
        assert "rollover" in phases["hot"]["actions"]
        setting = COMPONENTS[f"openai-poller@ilm-{retention}"]["template"]["settings"]
        assert setting["index"]["lifecycle"]["name"] == f"openai-poller-{retention}"
