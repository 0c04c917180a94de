"""The Elasticsearch templates and ILM policies, generated from the fields the mappers write.

Mappings come from `poller.documents.stream_fields` (the one declaration of what the mappers
write) plus every field a shipped dashboard or rule reads, so a template can never lack a field
the poller writes or a panel needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from poller.assets import (
    DASHBOARD_COMPONENT,
    ECS_COMPONENT,
    INGEST_PIPELINE,
    INGESTED_FIELD,
    INGESTED_KINDS,
    PREFIX,
    RETENTION,
    composed_of,
    retention_class,
)
from poller.documents import FieldSpec, all_stream_fields, mapped_only_fields
from poller.streams import STREAM_NAMES, get_stream

__all__ = [
    "ALIASES",
    "PRIORITY",
    "component_templates",
    "field_types",
    "ilm_component_templates",
    "ilm_policies",
    "index_templates",
    "ingest_pipelines",
]

# Above Elastic's OpenAI integration (200, `logs-openai.<stream>`) and the stack's `logs` (100).
PRIORITY: Final = 250
SCHEMA_VERSION: Final = 1
ROLLOVER: Final = {"max_age": "30d", "max_primary_shard_size": "50gb"}
# Elastic declares `sessions`; the API sends `num_sessions`: keep both names queryable.
ALIASES: Final = {
    "openai.code_interpreter_sessions.sessions": "openai.code_interpreter_sessions.num_sessions"
}
KEYWORD_IGNORE_ABOVE: Final = 1024  # as ECS: longer values are kept in _source, not indexed
MANAGED: Final = {"managed_by": PREFIX, "managed": True}


def _meta(description: str) -> dict[str, Any]:
    return {**MANAGED, "description": description}


def _stream_fields() -> dict[str, tuple[FieldSpec, ...]]:
    """What each stream's template maps: what the mappers write, the fields Elastic maps there
    for its cross-stream dashboards, and what the audit streams' ingest pipeline adds."""
    fields = all_stream_fields()
    for stream, specs in fields.items():
        fields[stream] = (*specs, *mapped_only_fields(stream))
        if get_stream(stream).kind in INGESTED_KINDS:
            fields[stream] = (*fields[stream], FieldSpec(INGESTED_FIELD, "date"))
    return fields


def field_types() -> dict[str, FieldSpec]:
    """Every field any stream holds, by path (a path has one type in every stream)."""
    merged: dict[str, FieldSpec] = {}
    for specs in _stream_fields().values():
        for spec in specs:
            seen = merged.setdefault(spec.path, spec)
            if seen != spec:
                raise ValueError(f"{spec.path} is {seen.type} in one stream, {spec.type} elsewhere")
    return merged


def _leaf(spec: FieldSpec) -> dict[str, Any]:
    if spec.type == "keyword" and not spec.indexed:
        return {"type": "keyword", "index": False, "doc_values": False}
    if spec.type == "keyword" and spec.text:
        return {
            "type": "keyword",
            "ignore_above": KEYWORD_IGNORE_ABOVE,
            "fields": {"text": {"type": "match_only_text"}},
        }
    if spec.type == "keyword":
        return {"type": "keyword", "ignore_above": KEYWORD_IGNORE_ABOVE}
    if spec.type == "flattened":
        # Each leaf of a flattened field is a keyword, and a keyword term above 32766 bytes
        # fails the whole document: an oversized unknown value would be dead-lettered. Above
        # the limit it is kept in _source, unindexed, like any long keyword.
        return {"type": "flattened", "ignore_above": KEYWORD_IGNORE_ABOVE}
    if not spec.indexed:
        return {"type": spec.type, "index": False}
    return {"type": spec.type}


def _properties(leaves: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Dotted path → leaf mapping, as nested `properties`."""
    root: dict[str, Any] = {}
    for path in sorted(leaves):
        *parents, name = path.split(".")
        node = root
        for part in parents:
            node = node.setdefault(part, {"properties": {}})["properties"]
        node[name] = dict(leaves[path])
    return root


def _mapping(specs: Iterable[FieldSpec]) -> dict[str, Any]:
    leaves: dict[str, Mapping[str, Any]] = {spec.path: _leaf(spec) for spec in specs}
    for alias, target in ALIASES.items():
        if target in leaves:
            leaves[alias] = {"type": "alias", "path": target}
    return _properties(leaves)


def _common_fields() -> list[FieldSpec]:
    per_stream = [set(specs) for specs in all_stream_fields().values()]
    return sorted(set.intersection(*per_stream), key=lambda spec: spec.path)


def component_templates(referenced: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The component templates installed by default, by name.

    `@ecs`: the fields every stream writes, and `dynamic: false`. `@dashboards`: every field a
    shipped dashboard or rule reads, mapped in every stream so a panel or an ES|QL query never
    meets a missing field when some streams are disabled (Elastic's 2.3.0 lesson). One
    `<stream>@package` each: that stream's own fields and its retention.
    """
    types = field_types()
    common = _common_fields()
    common_paths = {spec.path for spec in common}
    wanted = sorted(set(referenced))
    unknown = [path for path in wanted if path not in types]
    if unknown:
        raise ValueError(f"dashboards or rules read fields no stream writes: {', '.join(unknown)}")
    templates: dict[str, dict[str, Any]] = {
        ECS_COMPONENT: {
            "template": {
                "mappings": {
                    "dynamic": False,
                    "properties": _mapping(common),
                }
            },
            "_meta": _meta(
                "Fields every openai-poller stream writes. dynamic: false keeps a field the "
                "templates do not declare in _source only, so nothing can grow the mapping."
            ),
            "version": SCHEMA_VERSION,
        },
        DASHBOARD_COMPONENT: {
            "template": {"mappings": {"properties": _mapping(types[p] for p in wanted)}},
            "_meta": _meta(
                "Every field the openai-poller dashboards and rules read, mapped in every stream "
                "so they work whichever streams are enabled. GENERATED from kibana/."
            ),
            "version": SCHEMA_VERSION,
        },
    }
    for stream, specs in _stream_fields().items():
        own = [spec for spec in specs if spec.path not in common_paths]
        template: dict[str, Any] = {
            "mappings": {"properties": _mapping(own)},
            "lifecycle": {"data_retention": RETENTION[retention_class(stream)]},
        }
        what = "Fields and retention"
        if get_stream(stream).kind in INGESTED_KINDS:
            # final, not default: a default_pipeline of yours (in @custom) still runs.
            template["settings"] = {"index": {"final_pipeline": INGEST_PIPELINE}}
            what = f"Fields, retention and final pipeline ({INGESTED_FIELD})"
        templates[f"{PREFIX}.{stream}@package"] = {
            "template": template,
            "_meta": _meta(f"{what} of logs-openai.{stream}-*. GENERATED."),
            "version": SCHEMA_VERSION,
        }
    return templates


def ingest_pipelines() -> dict[str, dict[str, Any]]:
    """The audit streams' final pipeline: `event.ingested`, the time Elasticsearch received the
    document. The audit rules that fire on one event window on it, so an event OpenAI reports
    hours late (`@timestamp` is when it happened) still alerts once it arrives."""
    return {
        INGEST_PIPELINE: {
            "description": f"Sets {INGESTED_FIELD} to the time the document was received. "
            "Installed by openai-poller setup; GENERATED.",
            "processors": [
                {
                    "set": {
                        "field": INGESTED_FIELD,
                        "value": "{{{_ingest.timestamp}}}",
                        "tag": "event-ingested",
                    }
                }
            ],
            "_meta": dict(MANAGED),
            "version": SCHEMA_VERSION,
        }
    }


def ilm_component_templates() -> dict[str, dict[str, Any]]:
    """Optional: hand the backing indices to an ILM policy (installed only when asked)."""
    return {
        f"{PREFIX}@ilm-{retention}": {
            "template": {
                "settings": {
                    "index": {"lifecycle": {"name": f"{PREFIX}-{retention}", "prefer_ilm": True}}
                }
            },
            "_meta": _meta(f"Manage with the ILM policy {PREFIX}-{retention} (optional)."),
            "version": SCHEMA_VERSION,
        }
        for retention in RETENTION
    }


def ilm_policies() -> dict[str, dict[str, Any]]:
    return {
        f"{PREFIX}-{retention}": {
            "policy": {
                "_meta": _meta(
                    f"Roll over monthly, delete at setup.retention.{retention} ({age} unless "
                    "configured) (optional; ILM only)."
                ),
                "phases": {
                    "hot": {"min_age": "0ms", "actions": {"rollover": dict(ROLLOVER)}},
                    "delete": {"min_age": age, "actions": {"delete": {}}},
                },
            }
        }
        for retention, age in RETENTION.items()
    }


def index_templates() -> dict[str, dict[str, Any]]:
    templates: dict[str, dict[str, Any]] = {}
    for stream in STREAM_NAMES:
        components, optional = composed_of(stream)
        templates[f"{PREFIX}-{stream}"] = {
            "index_patterns": [f"logs-openai.{stream}-*"],
            "data_stream": {},
            "priority": PRIORITY,
            "composed_of": components,
            "ignore_missing_component_templates": optional,
            "_meta": _meta(
                f"openai-poller's {stream} data streams. Wins over Elastic's OpenAI integration "
                "(priority 200) and the built-in logs template (100); see mappings/README.md."
            ),
            "version": SCHEMA_VERSION,
        }
    return templates
