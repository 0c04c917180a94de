"""Installs the ingest pipelines, templates and policies in Elasticsearch and updates existing
data streams.

Existing data streams keep the mapping and settings of their current backing index until a
rollover; setup adds the missing fields to them in place (only those, so `constant_keyword` values
stay untouched), gives the write index the settings our templates add (the audit streams' final
pipeline) and the configured retention, and, where a field changed type (e.g. a data stream
Elastic's integration created), says a rollover is needed instead of guessing.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final

from elasticsearch import BadRequestError, Elasticsearch, NotFoundError

from poller.assets import (
    PREFIX,
    Assets,
    Template,
    composed_mapping,
    composed_settings,
    flatten_mapping,
)
from poller.errors import SinkRejectedError
from poller.install._cluster import errors_for
from poller.install._compare import contains, matches, with_hash
from poller.install._report import Recorder
from poller.sinks.elasticsearch import describe_error
from poller.streams import STREAM_NAMES

MIN_VERSION: Final = (8, 7)  # ignore_missing_component_templates
LIFECYCLE_VERSION: Final = (8, 11)  # data stream lifecycle in templates


def _fields(n: int) -> str:
    return f"{n} field" if n == 1 else f"{n} fields"


def _version(number: str) -> tuple[int, int]:
    major, minor, *_ = [*(int(p) if p.isdigit() else 0 for p in number.split(".")[:2]), 0, 0]
    return major, minor


def _lifecycle_free(template: Template) -> Template:
    inner = {k: v for k, v in template.body.get("template", {}).items() if k != "lifecycle"}
    return Template(template.kind, template.name, {**template.body, "template": inner})


@dataclass(frozen=True)
class _DataStream:
    name: str
    stream: str
    write_index: str
    lifecycle: Mapping[str, Any] | None  # None when the cluster has no data stream API


@dataclass(frozen=True)
class _MappingDiff:
    """How a write index's mapping differs from ours."""

    addable: Mapping[str, Any]  # path → leaf: absent, or the same type with other parameters
    conflicting: tuple[str, ...]  # paths mapped with another type: only a rollover fixes them
    dynamic: Any = None  # our `dynamic`, when the index has another

    @property
    def empty(self) -> bool:
        return not (self.addable or self.conflicting or self.dynamic is not None)


class ElasticsearchSetup:
    """Installs templates and policies, and brings existing data streams up to date."""

    def __init__(self, es: Elasticsearch, record: Recorder, *, timeout: float) -> None:
        self._es = es
        self._errors = errors_for(es, timeout)
        self._record = record

    def run(
        self,
        assets: Assets,
        *,
        ilm: bool,
        namespaces: Collection[str] | None,
    ) -> None:
        with self._errors("reading cluster info"):
            version = self._es.info().body.get("version", {})
        number, flavor = str(version.get("number", "")), version.get("build_flavor")
        if _version(number) < MIN_VERSION:
            raise SinkRejectedError(
                f"Elasticsearch {number} at {self._errors.where} is too old: openai-poller's "
                "templates need 8.7 or later"
            )
        if ilm and flavor == "serverless":
            raise ValueError("Elasticsearch serverless has no ILM: run setup without ILM")
        components = list(assets.component_templates)
        if _version(number) < LIFECYCLE_VERSION:
            components = [_lifecycle_free(t) for t in components]
            self._record.add(
                "data stream lifecycle",
                "skip",
                f"Elasticsearch {number} has none before 8.11; pass ILM to enforce retention",
            )
        for pipeline in assets.ingest_pipelines:  # before the templates that name them
            self._install(pipeline)
        if ilm:
            components[:0] = list(assets.ilm_component_templates)
            for policy in assets.ilm_policies:
                self._install(policy)
        for template in components:
            self._install(template)
        if not ilm:
            self._note_leftover_ilm(assets)
        for template in assets.index_templates:
            self._install(template)
        by_name = {t.name: t.body for t in components}
        # Before a version gate dropped it from the templates: existing data streams still get it.
        retention = {
            t.name: t.body["template"]["lifecycle"]["data_retention"]
            for t in assets.component_templates
            if "lifecycle" in t.body.get("template", {})
        }
        for data_stream in self._data_streams(namespaces):
            package = retention.get(f"{PREFIX}.{data_stream.stream}@package")
            self._update_data_stream(data_stream, by_name, None if ilm else package)

    # -- templates and policies

    def _get(self, template: Template) -> Mapping[str, Any] | None:
        with self._errors(f"reading {template.kind.replace('_', ' ')} {template.name}"):
            try:
                if template.kind == "component_template":
                    body = self._es.cluster.get_component_template(name=template.name).body
                    found = body.get("component_templates", [])
                    return found[0]["component_template"] if found else None
                if template.kind == "index_template":
                    body = self._es.indices.get_index_template(name=template.name).body
                    found = body.get("index_templates", [])
                    return found[0]["index_template"] if found else None
                if template.kind == "ingest_pipeline":
                    body = self._es.ingest.get_pipeline(id=template.name).body
                    pipeline: Mapping[str, Any] | None = body.get(template.name)
                    return pipeline
                body = self._es.ilm.get_lifecycle(name=template.name).body
                entry = body.get(template.name)
                return {"policy": entry["policy"]} if entry else None
            except NotFoundError:
                return None

    def _put(self, template: Template, body: dict[str, Any]) -> None:
        with self._errors(f"installing {template.kind.replace('_', ' ')} {template.name}"):
            if template.kind == "component_template":
                self._es.cluster.put_component_template(name=template.name, body=body)
            elif template.kind == "index_template":
                self._es.indices.put_index_template(name=template.name, body=body)
            elif template.kind == "ingest_pipeline":
                self._es.ingest.put_pipeline(id=template.name, body=body)
            else:
                self._es.ilm.put_lifecycle(name=template.name, body=body)

    def _install(self, template: Template) -> None:
        target = f"{template.kind.replace('_', ' ')} {template.name}"
        desired = with_hash(template)
        installed = self._get(template)
        if installed is not None and matches(template.kind, installed, desired):
            self._record.add(target, "unchanged")
            return
        if not self._record.dry_run:
            self._put(template, desired)
        self._record.add(target, "create" if installed is None else "update")

    def _note_leftover_ilm(self, assets: Assets) -> None:
        for template in assets.ilm_component_templates:
            if self._get(template) is not None:
                self._record.add(
                    f"component template {template.name}",
                    "note",
                    "installed earlier with ILM: ILM keeps managing new backing indices "
                    "until you delete it",
                )

    # -- existing data streams

    def _data_streams(self, namespaces: Collection[str] | None) -> list[_DataStream]:
        found: list[tuple[str, str, Mapping[str, Any] | None]] = []
        with self._errors("listing data streams logs-openai.*"):
            try:
                body = self._es.indices.get_data_stream(name="logs-openai.*").body
                for ds in body.get("data_streams", []):
                    indices = ds.get("indices") or [{"index_name": ds["name"]}]
                    found.append((ds["name"], indices[-1]["index_name"], ds.get("lifecycle") or {}))
            except NotFoundError:
                found = []
            except BadRequestError:
                # No data stream API (noida-db): data streams are plain indices there.
                names = self._es.indices.get(
                    index="logs-openai.*", ignore_unavailable=True, allow_no_indices=True
                ).body
                found = [(name, name, None) for name in names]
        streams: list[_DataStream] = []
        for name, write_index, lifecycle in sorted(found, key=lambda item: item[0]):
            stream, _, namespace = name.removeprefix("logs-openai.").rpartition("-")
            if stream in STREAM_NAMES and (namespaces is None or namespace in namespaces):
                streams.append(_DataStream(name, stream, write_index, lifecycle))
        return streams

    def _diff(self, index: str, desired: Mapping[str, Any]) -> _MappingDiff:
        with self._errors(f"reading the mapping of {index}"):
            body = self._es.indices.get_mapping(index=index).body
        indices: list[Mapping[str, Any]] = list(body.values())
        mappings: Mapping[str, Any] = indices[0].get("mappings", {}) if indices else {}
        have = flatten_mapping(mappings)
        addable: dict[str, Any] = {}
        conflicting: list[str] = []
        for path, leaf in flatten_mapping(desired).items():
            current = have.get(path)
            if current is None or (
                current.get("type") == leaf.get("type") and not contains(current, leaf)
            ):
                addable[path] = leaf
            elif not contains(current, leaf):
                conflicting.append(path)
        dynamic = desired.get("dynamic")
        if dynamic is not None and contains(mappings.get("dynamic", True), dynamic):
            dynamic = None
        return _MappingDiff(addable, tuple(conflicting), dynamic)

    def _update_data_stream(
        self, ds: _DataStream, components: Mapping[str, Mapping[str, Any]], retention: str | None
    ) -> None:
        target = f"data stream {ds.name} mapping"
        diff = self._diff(ds.write_index, composed_mapping(ds.stream, components))
        if diff.empty:
            self._record.add(target, "unchanged")
        if diff.addable or diff.dynamic is not None:
            refused = None if self._record.dry_run else self._put_mapping(ds.write_index, diff)
            if refused is None:
                detail = (
                    _fields(len(diff.addable))
                    + " added"
                    + (", dynamic: false" if diff.dynamic is not None else "")
                )
                self._record.add(target, "update", detail)
            else:
                self._record.add(target, "rollover", self._rollover_hint(ds, refused))
        if diff.conflicting:
            shown = ", ".join(diff.conflicting[:5]) + (", ..." if len(diff.conflicting) > 5 else "")
            reason = f"{_fields(len(diff.conflicting))} mapped with another type ({shown})"
            self._record.add(target, "rollover", self._rollover_hint(ds, reason))
        self._update_settings(ds, composed_settings(ds.stream, components))
        if retention is not None and ds.lifecycle is not None:
            self._update_retention(ds, retention)

    @staticmethod
    def _rollover_hint(ds: _DataStream, reason: str) -> str:
        return f"{reason}; new backing indices get our mapping: POST {ds.name}/_rollover"

    def _update_settings(self, ds: _DataStream, desired: Mapping[str, str]) -> None:
        """The write index gets the dynamic settings of our templates (the audit streams' final
        pipeline), which otherwise reach a data stream only at its next rollover. ILM's are left
        to ILM: handing an existing index to a policy is the operator's call."""
        wanted = {k: v for k, v in desired.items() if not k.startswith("index.lifecycle.")}
        if not wanted:
            return
        with self._errors(f"reading the settings of {ds.write_index}"):
            body = self._es.indices.get_settings(index=ds.write_index, flat_settings=True).body
        indices: list[Mapping[str, Any]] = list(body.values())
        have: Mapping[str, Any] = indices[0].get("settings", {}) if indices else {}
        differ = {k: v for k, v in wanted.items() if str(have.get(k)) != v}
        target = f"data stream {ds.name} settings"
        if not differ:
            self._record.add(target, "unchanged")
            return
        if not self._record.dry_run:
            with self._errors(f"updating the settings of {ds.write_index}"):
                self._es.indices.put_settings(index=ds.write_index, settings=differ)
        self._record.add(target, "update", ", ".join(f"{k}: {v}" for k, v in differ.items()))

    def _update_retention(self, ds: _DataStream, retention: str) -> None:
        target = f"data stream {ds.name} retention"
        if ds.lifecycle is not None and ds.lifecycle.get("data_retention") == retention:
            self._record.add(target, "unchanged")
            return
        if not self._record.dry_run:
            with self._errors(f"setting the retention of {ds.name}"):
                self._es.indices.put_data_lifecycle(name=ds.name, data_retention=retention)
        self._record.add(target, "update", retention)

    def _put_mapping(self, index: str, diff: _MappingDiff) -> str | None:
        """None when done, else why Elasticsearch refused (a parameter it cannot change)."""
        properties: dict[str, Any] = {}
        for path in sorted(diff.addable):
            *parents, leaf = path.split(".")
            node = properties
            for part in parents:
                node = node.setdefault(part, {"properties": {}})["properties"]
            node[leaf] = dict(diff.addable[path])
        body: dict[str, Any] = {"properties": properties}
        if diff.dynamic is not None:
            body["dynamic"] = diff.dynamic
        with self._errors(f"updating the mapping of {index}"):
            try:
                self._es.indices.put_mapping(index=index, body=body)
            except BadRequestError as exc:
                return describe_error(exc.body, "HTTP 400")
        return None
