"""The generated Elasticsearch and Kibana assets, read for `setup` and `doctor`.

The canonical files live at the repository's top level, `mappings/` and `kibana/`, where people
read and review them. Setuptools can only ship files that sit inside a package, so the generator
(`python -m tools.assets` in a source checkout: build-time code, not part of the wheel) also
writes an identical copy under `poller/_assets/`, which `pyproject.toml` lists as package data;
the loader always reads that copy (`asset_root()`), in a source checkout and in an installed
wheel alike, and a unit test keeps both copies equal to a fresh generation. No symlinks, no build
hook.

Besides loading, this module holds the conventions the installed templates follow and `setup`
needs again at run time: how an index template is composed (mapping and settings), each stream's
retention (`Assets.with_retention` applies a configured one), and the audit streams' ingest
pipeline. The Elasticsearch roles (`mappings/roles/`) load with the rest; rules read their
parameters back from an installed copy (`RuleAsset.parameters_in`) so setup can keep thresholds
edited in Kibana.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any, Final

from poller.streams import StreamKind, get_stream

__all__ = [
    "DASHBOARD_COMPONENT",
    "ECS_COMPONENT",
    "INGESTED_FIELD",
    "INGESTED_KINDS",
    "INGEST_PIPELINE",
    "PREFIX",
    "RETENTION",
    "Assets",
    "RuleAsset",
    "Template",
    "asset_root",
    "composed_mapping",
    "composed_of",
    "composed_settings",
    "flatten_mapping",
    "load_assets",
    "retention_class",
]

PREFIX: Final = "openai-poller"
# Data stream lifecycle retention by class; usage, costs and rate limits are "metrics".
RETENTION: Final = {"metrics": "400d", "audit": "730d"}
ECS_COMPONENT: Final = f"{PREFIX}@ecs"
DASHBOARD_COMPONENT: Final = f"{PREFIX}@dashboards"
# The audit data streams' final pipeline stamps each document with the time Elasticsearch
# received it, so the single-event audit rules window on arrival, however late OpenAI reports.
INGESTED_FIELD: Final = "event.ingested"
INGEST_PIPELINE: Final = f"{PREFIX}-event-ingested"
# The streams it runs on: the audit log, and governance changes (an access review's record, kept
# as long as the audit log; its rule windows on arrival too).
INGESTED_KINDS: Final = frozenset({StreamKind.AUDIT, StreamKind.GOVERNANCE})


def retention_class(stream: str) -> str:
    return "audit" if get_stream(stream).kind in INGESTED_KINDS else "metrics"


# ---- how the templates compose ------------------------------------------------------------------


def composed_of(stream: str) -> tuple[list[str], list[str]]:
    """(every component of the stream's index template, those that may be missing)."""
    optional = [
        f"{PREFIX}@ilm-{retention_class(stream)}",
        f"{PREFIX}@custom",
        f"{PREFIX}.{stream}@custom",
    ]
    return [ECS_COMPONENT, DASHBOARD_COMPONENT, f"{PREFIX}.{stream}@package", *optional], optional


def composed_mapping(stream: str, components: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The mapping Elasticsearch composes for `stream` from `components` (later ones win)."""
    merged: dict[str, Any] = {}
    for name in composed_of(stream)[0]:
        mappings = components.get(name, {}).get("template", {}).get("mappings")
        if mappings:
            _deep_merge(merged, mappings)
    return merged


def composed_settings(stream: str, components: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """The index settings `components` give the stream's new backing indices, flat
    (`index.final_pipeline`) and as text, as Elasticsearch reports them with `flat_settings`."""
    flat: dict[str, str] = {}

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        for key, value in node.items():
            if isinstance(value, Mapping):
                walk(value, f"{prefix}{key}.")
            else:
                flat[prefix + key] = str(value).lower() if isinstance(value, bool) else str(value)

    for name in composed_of(stream)[0]:
        settings = components.get(name, {}).get("template", {}).get("settings")
        if settings:
            walk(settings, "")
    return {
        key if key.startswith("index.") else f"index.{key}": value for key, value in flat.items()
    }


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


# ---- the loaded assets --------------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    """One Elasticsearch object to install: its API kind, name and PUT body."""

    kind: str  # "component_template" | "index_template" | "ilm_policy" | "ingest_pipeline"
    name: str
    body: Mapping[str, Any]


_PLACEHOLDER: Final = re.compile(r"\$\{(\w+)\}")
_NUMBER: Final = r"(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)"


def _number(text: str) -> float | int:
    return int(text) if text.lstrip("-").isdigit() else float(text)


@dataclass(frozen=True)
class RuleAsset:
    """A Kibana rule body with `${name}` parameters and their defaults."""

    slug: str
    rule_id: str
    description: str
    parameters: Mapping[str, float | int]
    body: Mapping[str, Any]

    def render(self, overrides: Mapping[str, float | int] | None = None) -> dict[str, Any]:
        """The POST body with parameters filled in.

        ValueError for an unknown parameter or NaN, TypeError for a value that is not a number.
        """
        overrides = dict(overrides or {})
        unknown = sorted(set(overrides) - set(self.parameters))
        if unknown:
            raise ValueError(
                f"rule {self.slug} has no parameter {', '.join(unknown)} "
                f"(it takes: {', '.join(sorted(self.parameters)) or 'none'})"
            )
        for name, value in overrides.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"rule {self.slug}: {name} must be a number, not {value!r}")
            if math.isnan(value):
                raise ValueError(f"rule {self.slug}: {name} must be a number, not {value!r}")
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

    def parameters_in(self, installed: Mapping[str, Any]) -> dict[str, float | int]:
        """The parameter values an installed copy of this rule holds (say, thresholds edited in
        Kibana): `render` read backwards, at each place our body has a `${name}`. A parameter
        whose place no longer fits (a number replaced by text, a query rewritten around it) is
        left out, so the caller falls back to its own value."""
        found: dict[str, float | int] = {}

        def read(ours: Any, theirs: Any) -> None:
            if isinstance(ours, Mapping) and isinstance(theirs, Mapping):
                for key, value in ours.items():
                    if key in theirs:
                        read(value, theirs[key])
            elif isinstance(ours, list) and isinstance(theirs, list) and len(ours) == len(theirs):
                for mine, other in zip(ours, theirs, strict=True):
                    read(mine, other)
            elif isinstance(ours, str):
                whole = _PLACEHOLDER.fullmatch(ours)
                if whole and isinstance(theirs, int | float) and not isinstance(theirs, bool):
                    found.setdefault(whole.group(1), theirs)
                elif not whole and isinstance(theirs, str):
                    parts = _PLACEHOLDER.split(ours)  # literal, name, literal, name, ..., literal
                    pattern = "".join(
                        _NUMBER if i % 2 else re.escape(part) for i, part in enumerate(parts)
                    )
                    match = re.fullmatch(pattern, theirs)
                    values = match.groups() if match else ()
                    for name, text in zip(parts[1::2], values, strict=False):
                        found.setdefault(name, _number(text))

        read(self.body, installed)
        return {name: value for name, value in found.items() if name in self.parameters}


@dataclass(frozen=True)
class Assets:
    """Everything `setup` installs, in install order within each kind."""

    ilm_policies: tuple[Template, ...]
    component_templates: tuple[Template, ...]
    ilm_component_templates: tuple[Template, ...]
    index_templates: tuple[Template, ...]
    saved_objects_ndjson: str
    rules: tuple[RuleAsset, ...]
    ingest_pipelines: tuple[Template, ...] = ()
    roles: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # name → role body

    @property
    def saved_objects(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.saved_objects_ndjson.splitlines() if line]

    def components_by_name(self) -> dict[str, Mapping[str, Any]]:
        return {t.name: t.body for t in (*self.component_templates, *self.ilm_component_templates)}

    def with_retention(self, retention: Mapping[str, str]) -> Assets:
        """These assets keeping documents for `retention`, class → Elasticsearch duration
        (`{"audit": "3650d"}`; a class left out keeps its own): in each stream's `@package`
        lifecycle and in the delete phase of the class's ILM policy.

        ValueError for a class that is not one of RETENTION's.
        """
        unknown = sorted(set(retention) - set(RETENTION))
        if unknown:
            raise ValueError(
                f"no retention class {', '.join(unknown)}; classes are: {', '.join(RETENTION)}"
            )

        def component(template: Template) -> Template:
            stream = template.name.removeprefix(f"{PREFIX}.").removesuffix("@package")
            lifecycle = template.body.get("template", {}).get("lifecycle")
            if stream == template.name or lifecycle is None:
                return template
            age = retention.get(retention_class(stream))
            if age is None:
                return template
            body = json.loads(json.dumps(template.body))
            body["template"]["lifecycle"]["data_retention"] = age
            return Template(template.kind, template.name, body)

        def policy(template: Template) -> Template:
            age = retention.get(template.name.removeprefix(f"{PREFIX}-"))
            if age is None:
                return template
            body = json.loads(json.dumps(template.body))
            body["policy"]["phases"]["delete"]["min_age"] = age
            return Template(template.kind, template.name, body)

        return replace(
            self,
            component_templates=tuple(component(t) for t in self.component_templates),
            ilm_policies=tuple(policy(t) for t in self.ilm_policies),
        )


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
    """Read the assets from `root` (default: the packaged copy).

    FileNotFoundError when they are incomplete: a broken installation, not a bad argument.
    """
    root = root or asset_root()
    mappings, kibana = root.joinpath("mappings"), root.joinpath("kibana")
    components = _json_files(mappings.joinpath("component_templates"))
    ndjson = kibana.joinpath("openai-poller.ndjson")
    if not components or not ndjson.is_file():
        raise FileNotFoundError(
            f"the packaged Elasticsearch/Kibana assets are missing under {root}; reinstall "
            "openai-poller, or run `python -m tools.assets` in a source checkout"
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
        ingest_pipelines=tuple(
            Template("ingest_pipeline", n, b)
            for n, b in _json_files(mappings.joinpath("ingest_pipelines"))
        ),
        roles=dict(_json_files(mappings.joinpath("roles"))),
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
