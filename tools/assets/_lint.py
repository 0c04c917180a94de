"""The field-use lint: every field a saved object or rule reads, and whether the mapping serves it.

A panel that sums a keyword, or a rule that filters on a field no template maps, fails silently in
Kibana (an empty chart, a rule that never fires); the generator refuses such assets instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from poller.assets import RuleAsset

__all__ = [
    "COMPATIBLE",
    "FieldUse",
    "check_field_uses",
    "field_uses",
    "mapped_uses",
    "runtime_fields",
]

_AGGREGATABLE: Final = frozenset(
    {"keyword", "constant_keyword", "boolean", "ip", "long", "double", "date"}
)
# How a panel or rule uses a field, and the mapping types that serve that use.
COMPATIBLE: Final = {
    "numeric": frozenset({"long", "double"}),
    "numeric_or_date": frozenset({"long", "double", "date"}),
    "terms": frozenset({"keyword", "constant_keyword", "boolean", "ip"}),
    "date": frozenset({"date"}),
    "geo": frozenset({"geo_point"}),
    "aggregatable": _AGGREGATABLE,
    "filter": _AGGREGATABLE | {"flattened"},
    "any": _AGGREGATABLE | {"flattened", "geo_point"},
}
_LENS_USE: Final = {
    "sum": "numeric",
    "average": "numeric",
    "median": "numeric",
    "percentile": "numeric",
    "standard_deviation": "numeric",
    "min": "numeric_or_date",
    "max": "numeric_or_date",
    "last_value": "any",
    "terms": "terms",
    "date_histogram": "date",
    "unique_count": "aggregatable",
}
_DSL_LEAVES: Final = frozenset(
    {"term", "terms", "range", "match", "match_phrase", "prefix", "wildcard"}
)
_QUOTED: Final = re.compile(r'"(?:[^"\\]|\\.)*"')
_KQL_FIELD: Final = re.compile(r"([A-Za-z_@][\w.@]*)\s*(?::|<=|>=|<|>)")
_ESQL_FIELD: Final = re.compile(r"(?<![\w.])(@timestamp|[A-Za-z_][\w]*(?:\.[A-Za-z_@][\w]*)+)")
_PAINLESS_FIELD: Final = re.compile(r"doc\['([^']+)'\]")


@dataclass(frozen=True)
class FieldUse:
    """`where` (an object or rule) uses `path` as `use` (a key of COMPATIBLE)."""

    path: str
    use: str
    where: str


def _kql(text: str, where: str) -> Iterator[FieldUse]:
    for match in _KQL_FIELD.finditer(_QUOTED.sub('""', text)):
        yield FieldUse(match.group(1), "filter", where)


def _dsl(node: Any, where: str) -> Iterator[FieldUse]:
    if isinstance(node, list):
        for item in node:
            yield from _dsl(item, where)
    elif isinstance(node, Mapping):
        for key, value in node.items():
            if key in _DSL_LEAVES and isinstance(value, Mapping):
                for path in value:
                    yield FieldUse(path, "filter", where)
            elif key == "exists" and isinstance(value, Mapping):
                yield FieldUse(str(value["field"]), "filter", where)
            else:
                yield from _dsl(value, where)


def _esql(query: str, where: str) -> Iterator[FieldUse]:
    body = "\n".join(line for line in query.splitlines() if not line.lstrip().startswith("FROM "))
    for match in _ESQL_FIELD.finditer(_QUOTED.sub('""', body)):
        yield FieldUse(match.group(1), "any", where)


def _lens_uses(attributes: Mapping[str, Any], where: str) -> Iterator[FieldUse]:
    state = attributes["state"]
    yield from _kql(state.get("query", {}).get("query", ""), where)
    for layer in state["datasourceStates"].get("formBased", {}).get("layers", {}).values():
        for column in layer["columns"].values():
            source = column.get("sourceField")
            if source and source != "___records___":
                yield FieldUse(source, _LENS_USE.get(column["operationType"], "any"), where)
            if column.get("filter"):
                yield from _kql(column["filter"]["query"], where)
    for layer in state["datasourceStates"].get("textBased", {}).get("layers", {}).values():
        yield from _esql(layer["query"]["esql"], where)


def _panel_uses(panel: Mapping[str, Any], where: str) -> Iterator[FieldUse]:
    config = panel.get("embeddableConfig", {})
    if panel["type"] == "lens":
        yield from _lens_uses(config["attributes"], where)
    elif panel["type"] == "map":
        for layer in json.loads(config["attributes"]["layerListJSON"]):
            source = layer.get("sourceDescriptor", {})
            if "geoField" in source:
                yield FieldUse(source["geoField"], "geo", where)
            yield from _kql(layer.get("query", {}).get("query", ""), where)


def runtime_fields(objects: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Data-view runtime fields (Kibana-side only) by name, with their type."""
    found: dict[str, str] = {}
    for obj in objects:
        if obj["type"] == "index-pattern":
            runtime = json.loads(obj["attributes"].get("runtimeFieldMap") or "{}")
            found.update({name: spec["type"] for name, spec in runtime.items()})
    return found


def field_uses(objects: Iterable[Mapping[str, Any]], rules: Iterable[RuleAsset]) -> list[FieldUse]:
    """Every field the saved objects and rules read, with how they use it."""
    uses: list[FieldUse] = []
    for obj in objects:
        kind, attributes = obj["type"], obj["attributes"]
        where = f"{kind} {obj['id']}"
        if kind == "index-pattern":
            for path in json.loads(attributes.get("fieldFormatMap") or "{}"):
                uses.append(FieldUse(path, "any", where))
            for spec in json.loads(attributes.get("runtimeFieldMap") or "{}").values():
                for path in _PAINLESS_FIELD.findall(spec["script"]["source"]):
                    uses.append(FieldUse(path, "aggregatable", where))
            uses.append(FieldUse(attributes["timeFieldName"], "date", where))
        elif kind == "search":
            uses += [FieldUse(path, "any", where) for path in attributes.get("columns", [])]
            source = json.loads(attributes["kibanaSavedObjectMeta"]["searchSourceJSON"])
            uses += _kql(source.get("query", {}).get("query", ""), where)
        elif kind == "dashboard":
            for panel in json.loads(attributes["panelsJSON"]):
                uses += _panel_uses(panel, f"{where} panel {panel['panelIndex']}")
    for rule in rules:
        where = f"rule {rule.slug}"
        params = rule.render().get("params", {})
        if "aggField" in params:
            uses.append(FieldUse(params["aggField"], "numeric", where))
        if "termField" in params:
            uses.append(FieldUse(params["termField"], "terms", where))
        uses.append(FieldUse(params["timeField"], "date", where))
        if "esQuery" in params:
            uses += _dsl(json.loads(params["esQuery"]), where)
        if "esqlQuery" in params:
            uses += _esql(params["esqlQuery"]["esql"], where)
    return uses


def mapped_uses(objects: Sequence[Mapping[str, Any]], uses: Iterable[FieldUse]) -> set[str]:
    """The fields of `uses` that must be in the Elasticsearch mapping (not Kibana runtime)."""
    runtime = runtime_fields(objects)
    return {use.path for use in uses if use.path not in runtime}


def check_field_uses(
    uses: Iterable[FieldUse],
    types: Mapping[str, str],
    *,
    indexed: Mapping[str, bool] | None = None,
    runtime: Mapping[str, str] | None = None,
) -> list[str]:
    """Problems with `uses` against field `types` (path → ES type); empty when all is well.

    Rules run in Elasticsearch and cannot read data-view runtime fields.
    """
    runtime = runtime or {}
    problems: list[str] = []
    for use in uses:
        es_type = types.get(use.path)
        if es_type is None and use.path in runtime and not use.where.startswith("rule "):
            es_type = runtime[use.path]
        if es_type is None:
            problems.append(f"{use.where}: {use.path} is not mapped")
        elif es_type not in COMPATIBLE[use.use]:
            problems.append(f"{use.where}: {use.path} is {es_type}, not usable as {use.use}")
        elif use.use != "any" and indexed is not None and not indexed.get(use.path, True):
            problems.append(f"{use.where}: {use.path} is not indexed")
    return problems
