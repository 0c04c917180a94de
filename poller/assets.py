"""The Elasticsearch and Kibana assets: generating the mappings, checking fields, loading files.

The canonical files live at the repository's top level, `mappings/` and `kibana/`, where people
read and review them. Setuptools can only ship files that sit inside a package, so
`python -m poller.assets generate` also writes an identical copy under `poller/_assets/`, which
`pyproject.toml` lists as package data; the loader always reads that copy (`asset_root()`), in a
source checkout and in an installed wheel alike, and a unit test keeps both copies equal to a
fresh generation. No symlinks, no build hook.

Mappings are generated from `poller.documents.stream_fields` (the one declaration of what the
mappers write) plus every field a shipped dashboard or rule reads, so a template can never lack a
field the poller writes or a panel needs.
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from types import ModuleType
from typing import Any, Final

from poller.documents import FieldSpec, all_stream_fields
from poller.errors import ConfigError
from poller.streams import STREAM_NAMES, StreamKind, get_stream

__all__ = [
    "ALIASES",
    "PRIORITY",
    "RETENTION",
    "Assets",
    "FieldUse",
    "RuleAsset",
    "Template",
    "asset_root",
    "check_field_uses",
    "component_templates",
    "composed_mapping",
    "expected_files",
    "field_types",
    "field_uses",
    "flatten_mapping",
    "generate",
    "index_templates",
    "load_assets",
    "main",
]

PREFIX: Final = "openai-poller"
# Above Elastic's OpenAI integration (200, `logs-openai.<stream>`) and the stack's `logs` (100).
PRIORITY: Final = 250
SCHEMA_VERSION: Final = 1
# Data stream lifecycle retention by class; usage, costs and rate limits are "metrics".
RETENTION: Final = {"metrics": "400d", "audit": "730d"}
ROLLOVER: Final = {"max_age": "30d", "max_primary_shard_size": "50gb"}
# Elastic declares `sessions`; the API sends `num_sessions`: keep both names queryable.
ALIASES: Final = {
    "openai.code_interpreter_sessions.sessions": "openai.code_interpreter_sessions.num_sessions"
}
KEYWORD_IGNORE_ABOVE: Final = 1024  # as ECS: longer values are kept in _source, not indexed
ECS_COMPONENT: Final = f"{PREFIX}@ecs"
DASHBOARD_COMPONENT: Final = f"{PREFIX}@dashboards"
MANAGED: Final = {"managed_by": PREFIX, "managed": True}

_GENERATED_MAPPING_DIRS: Final = ("component_templates", "index_templates", "ilm")
_KIBANA_BUILDER: Final = "build_assets.py"


def retention_class(stream: str) -> str:
    return "audit" if get_stream(stream).kind is StreamKind.AUDIT else "metrics"


def _meta(description: str) -> dict[str, Any]:
    return {**MANAGED, "description": description}


# ---- mappings -----------------------------------------------------------------------------------


def field_types() -> dict[str, FieldSpec]:
    """Every field any stream writes, by path (a path has one type in every stream)."""
    merged: dict[str, FieldSpec] = {}
    for specs in all_stream_fields().values():
        for spec in specs:
            seen = merged.setdefault(spec.path, spec)
            if seen != spec:
                raise ValueError(f"{spec.path} is {seen.type} in one stream, {spec.type} elsewhere")
    return merged


def _leaf(spec: FieldSpec) -> dict[str, Any]:
    if spec.type == "keyword" and not spec.indexed:
        return {"type": "keyword", "index": False, "doc_values": False}
    if spec.type == "keyword":
        return {"type": "keyword", "ignore_above": KEYWORD_IGNORE_ABOVE}
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
    for stream, specs in all_stream_fields().items():
        own = [spec for spec in specs if spec.path not in common_paths]
        templates[f"{PREFIX}.{stream}@package"] = {
            "template": {
                "mappings": {"properties": _mapping(own)},
                "lifecycle": {"data_retention": RETENTION[retention_class(stream)]},
            },
            "_meta": _meta(f"Fields and retention of logs-openai.{stream}-*. GENERATED."),
            "version": SCHEMA_VERSION,
        }
    return templates


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
                "_meta": _meta(f"Roll over monthly, delete after {age} (optional; ILM only)."),
                "phases": {
                    "hot": {"min_age": "0ms", "actions": {"rollover": dict(ROLLOVER)}},
                    "delete": {"min_age": age, "actions": {"delete": {}}},
                },
            }
        }
        for retention, age in RETENTION.items()
    }


def composed_of(stream: str) -> tuple[list[str], list[str]]:
    """(every component of the stream's index template, those that may be missing)."""
    optional = [
        f"{PREFIX}@ilm-{retention_class(stream)}",
        f"{PREFIX}@custom",
        f"{PREFIX}.{stream}@custom",
    ]
    return [ECS_COMPONENT, DASHBOARD_COMPONENT, f"{PREFIX}.{stream}@package", *optional], optional


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


def composed_mapping(stream: str, components: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The mapping Elasticsearch composes for `stream` from `components` (later ones win)."""
    merged: dict[str, Any] = {}
    for name in composed_of(stream)[0]:
        mappings = components.get(name, {}).get("template", {}).get("mappings")
        if mappings:
            _deep_merge(merged, mappings)
    return merged


def _deep_merge(into: dict[str, Any], update: Mapping[str, Any]) -> None:
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _deep_merge(into[key], value)
        else:
            into[key] = json.loads(json.dumps(value))


def flatten_mapping(mapping: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Leaf path → leaf definition of a mapping's (nested) `properties`."""
    out: dict[str, dict[str, Any]] = {}

    def walk(properties: Mapping[str, Any], prefix: str) -> None:
        for name, node in properties.items():
            path = f"{prefix}{name}"
            if "properties" in node and "type" not in node:
                walk(node["properties"], f"{path}.")
            else:
                out[path] = dict(node)

    walk(mapping.get("properties", {}), "")
    return out


# ---- fields read by the Kibana assets ------------------------------------------------------------

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


# ---- loading the packaged assets ---------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    """One Elasticsearch object to install: its API kind, name and PUT body."""

    kind: str  # "component_template" | "index_template" | "ilm_policy"
    name: str
    body: Mapping[str, Any]


_PLACEHOLDER: Final = re.compile(r"\$\{(\w+)\}")


@dataclass(frozen=True)
class RuleAsset:
    """A Kibana rule body with `${name}` parameters and their defaults."""

    slug: str
    rule_id: str
    description: str
    parameters: Mapping[str, float | int]
    body: Mapping[str, Any]

    def render(self, overrides: Mapping[str, float | int] | None = None) -> dict[str, Any]:
        """The POST body with parameters filled in; overrides must be finite numbers."""
        overrides = dict(overrides or {})
        unknown = sorted(set(overrides) - set(self.parameters))
        if unknown:
            raise ConfigError(
                f"rule {self.slug} has no parameter {', '.join(unknown)} "
                f"(it takes: {', '.join(sorted(self.parameters)) or 'none'})"
            )
        for name, value in overrides.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
                raise ConfigError(f"rule {self.slug}: {name} must be a number, not {value!r}")
        values = {**self.parameters, **overrides}

        def fill(node: Any) -> Any:
            if isinstance(node, str):
                whole = _PLACEHOLDER.fullmatch(node)
                if whole:
                    return values[whole.group(1)]
                return _PLACEHOLDER.sub(lambda m: repr(values[m.group(1)]), node)
            if isinstance(node, Mapping):
                return {key: fill(value) for key, value in node.items()}
            if isinstance(node, list):
                return [fill(item) for item in node]
            return node

        rendered: dict[str, Any] = fill(self.body)
        return rendered


@dataclass(frozen=True)
class Assets:
    """Everything `setup` installs, in install order within each kind."""

    ilm_policies: tuple[Template, ...]
    component_templates: tuple[Template, ...]
    ilm_component_templates: tuple[Template, ...]
    index_templates: tuple[Template, ...]
    saved_objects_ndjson: str
    rules: tuple[RuleAsset, ...]

    @property
    def saved_objects(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.saved_objects_ndjson.splitlines() if line]

    def components_by_name(self) -> dict[str, Mapping[str, Any]]:
        return {t.name: t.body for t in (*self.component_templates, *self.ilm_component_templates)}


def asset_root() -> Traversable:
    """The packaged copy of mappings/ and kibana/ (package data of `poller`)."""
    return files("poller").joinpath("_assets")


def _json_files(directory: Traversable) -> list[tuple[str, Any]]:
    if not directory.is_dir():
        return []
    found = [
        (entry.name.removesuffix(".json"), json.loads(entry.read_text(encoding="utf-8")))
        for entry in directory.iterdir()
        if entry.name.endswith(".json")
    ]
    return sorted(found, key=lambda item: item[0])


def _component_order(name: str) -> tuple[int, str]:
    return ({ECS_COMPONENT: 0, DASHBOARD_COMPONENT: 1}.get(name, 2), name)


def load_assets(root: Traversable | None = None) -> Assets:
    """Read the assets from `root` (default: the packaged copy); ConfigError if incomplete."""
    root = root or asset_root()
    mappings, kibana = root.joinpath("mappings"), root.joinpath("kibana")
    components = _json_files(mappings.joinpath("component_templates"))
    ndjson = kibana.joinpath("openai-poller.ndjson")
    if not components or not ndjson.is_file():
        raise ConfigError(
            f"the packaged Elasticsearch/Kibana assets are missing under {root}; reinstall "
            "openai-poller, or run `python -m poller.assets generate` in a source checkout"
        )
    ilm_prefix = f"{PREFIX}@ilm-"
    ordered = sorted(components, key=lambda item: _component_order(item[0]))
    rules = [
        RuleAsset(
            slug=slug,
            rule_id=doc["id"],
            description=doc.get("description", ""),
            parameters=doc.get("parameters", {}),
            body=doc["body"],
        )
        for slug, doc in _json_files(kibana.joinpath("rules"))
    ]
    return Assets(
        ilm_policies=tuple(
            Template("ilm_policy", n, b) for n, b in _json_files(mappings.joinpath("ilm"))
        ),
        component_templates=tuple(
            Template("component_template", n, b) for n, b in ordered if not n.startswith(ilm_prefix)
        ),
        ilm_component_templates=tuple(
            Template("component_template", n, b) for n, b in ordered if n.startswith(ilm_prefix)
        ),
        index_templates=tuple(
            Template("index_template", n, b)
            for n, b in _json_files(mappings.joinpath("index_templates"))
        ),
        saved_objects_ndjson=ndjson.read_text(encoding="utf-8"),
        rules=tuple(rules),
    )


# ---- generation (development only) --------------------------------------------------------------


def _dump(body: Any) -> str:
    return json.dumps(body, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _kibana_builder(repo: Path) -> ModuleType:
    path = repo / "kibana" / _KIBANA_BUILDER
    spec = importlib.util.spec_from_file_location("openai_poller_kibana_build", path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot load the Kibana asset builder {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _kibana_rules(kibana_files: Mapping[str, str]) -> list[RuleAsset]:
    rules = []
    for name, text in sorted(kibana_files.items()):
        if name.startswith("rules/"):
            doc = json.loads(text)
            slug = name.removeprefix("rules/").removesuffix(".json")
            description = doc.get("description", "")
            rules.append(RuleAsset(slug, doc["id"], description, doc["parameters"], doc["body"]))
    return rules


def render_mappings(kibana_files: Mapping[str, str]) -> dict[str, str]:
    """Every generated file under mappings/, by relative path, given the Kibana files."""
    objects = [json.loads(line) for line in kibana_files["openai-poller.ndjson"].splitlines()]
    uses = field_uses(objects, _kibana_rules(kibana_files))
    types = {path: spec.type for path, spec in field_types().items()}
    indexed = {path: spec.indexed for path, spec in field_types().items()}
    problems = check_field_uses(uses, types, indexed=indexed, runtime=runtime_fields(objects))
    if problems:
        raise ValueError("Kibana assets read unusable fields:\n  " + "\n  ".join(problems))
    out: dict[str, str] = {}
    components = component_templates(mapped_uses(objects, uses))
    components.update(ilm_component_templates())
    for name, body in components.items():
        out[f"component_templates/{name}.json"] = _dump(body)
    for name, body in index_templates().items():
        out[f"index_templates/{name}.json"] = _dump(body)
    for name, body in ilm_policies().items():
        out[f"ilm/{name}.json"] = _dump(body)
    return out


def expected_files(repo: Path) -> dict[Path, str]:
    """Every generated file of the checkout at `repo`, by path relative to it, with its text."""
    kibana = dict(_kibana_builder(repo).build())
    mappings = render_mappings(kibana)
    out: dict[Path, str] = {}
    for base, generated in (("mappings", mappings), ("kibana", kibana)):
        for rel, text in generated.items():
            out[Path(base) / rel] = text
            out[Path("poller") / "_assets" / base / rel] = text
    return out


def generated_dirs(repo: Path) -> list[Path]:
    """Directories whose every file is generated (stale files there are removed)."""
    dirs = [repo / "mappings" / d for d in _GENERATED_MAPPING_DIRS]
    dirs.append(repo / "kibana" / "rules")
    dirs.append(repo / "poller" / "_assets")
    return dirs


def stale_files(repo: Path, expected: Mapping[Path, str]) -> list[Path]:
    wanted = {repo / rel for rel in expected}
    return sorted(
        path
        for directory in generated_dirs(repo)
        if directory.is_dir()
        for path in directory.rglob("*")
        if path.is_file() and path not in wanted and "__pycache__" not in path.parts
    )


def generate(repo: Path) -> list[Path]:
    """(Re)write every generated file of the checkout at `repo`; returns the files changed."""
    expected = expected_files(repo)
    changed: list[Path] = []
    for path in stale_files(repo, expected):
        path.unlink()
        changed.append(path)
    for rel, text in sorted(expected.items()):
        path = repo / rel
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m poller.assets generate [--check]` from the root of a source checkout."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] != "generate" or set(args[1:]) - {"--check"}:
        sys.stderr.write("usage: python -m poller.assets generate [--check]\n")
        return 2
    repo = Path(__file__).resolve().parent.parent
    if "--check" in args:
        expected = expected_files(repo)
        drift = [
            rel
            for rel, text in expected.items()
            if not (repo / rel).is_file() or (repo / rel).read_text(encoding="utf-8") != text
        ]
        drift += [path.relative_to(repo) for path in stale_files(repo, expected)]
        for rel in sorted(drift):
            sys.stdout.write(f"out of date: {rel}\n")
        return 1 if drift else 0
    for path in generate(repo):
        sys.stdout.write(f"wrote {path.relative_to(repo)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
