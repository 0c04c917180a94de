"""Whether the data streams that exist map each field as the shipped templates do.

A template only shapes indices created after it. An index created by hand, by another tool, or
before `setup` ran keeps whatever mapping it got, and a field mapped with another type either
refuses every document (`MappingConflictError` at write time) or, worse, accepts them wrongly
(a `long` truncates the `double` costs). `doctor` reads the mapping of every backing index of
each configured data stream and names each field whose type differs from the templates', with
the fix that suits the index:

- a plain index holding the data stream's name (no data stream behind it): it was created
  before the templates, so delete it, run `setup`, and backfill;
- the write index of a data stream: fix the template (`setup`; an `@custom` component template
  of yours may override the type), then roll the data stream over;
- an older backing index: it keeps its mapping until it ages out; delete it and backfill its
  window again if its documents matter.

Only `GET /<data stream>` is used (concrete indices with their mappings and, on Elasticsearch,
the data stream each belongs to), which Elasticsearch 8 and 9 and noida-db all answer.
`field_conflicts` is pure; `read_indices` is the one reader.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from elasticsearch import Elasticsearch

from poller.assets import composed_mapping, load_assets
from poller.install._cluster import errors_for

__all__ = [
    "FieldConflict",
    "LiveIndex",
    "MappingCheck",
    "field_conflicts",
    "live_conflicts",
    "read_indices",
]

_GENERATION: Final = re.compile(r"-(\d+)$")


@dataclass(frozen=True)
class LiveIndex:
    """One concrete index behind a data stream's name, as `GET /<name>` describes it."""

    name: str
    mappings: Mapping[str, Any]
    data_stream: str | None  # None: a plain index (or noida-db, which has no data streams)


@dataclass(frozen=True)
class FieldConflict:
    """A field `index` maps as `live` where the templates say `expected`, and the fix."""

    data_stream: str
    index: str
    field: str
    live: str
    expected: str
    fix: str

    def describe(self) -> str:
        where = self.data_stream if self.index == self.data_stream else (
            f"{self.data_stream} ({self.index})")
        return (f"{where}: {self.field} is mapped as {self.live}, the templates say "
                f"{self.expected} -- fix: {self.fix}")


def _types(mapping: Mapping[str, Any]) -> dict[str, str]:
    """Path → type of every field, objects included (as "object"), so a leaf where the
    templates have an object (or the reverse) shows too."""
    out: dict[str, str] = {}

    def walk(properties: Mapping[str, Any], prefix: str) -> None:
        for name, node in properties.items():
            if not isinstance(node, Mapping):
                continue
            path = f"{prefix}{name}"
            if "properties" in node:
                out[path] = str(node.get("type", "object"))
                walk(node["properties"], f"{path}.")
            else:
                out[path] = str(node.get("type", "object"))

    walk(mapping.get("properties", {}), "")
    return out


def _generation(index: str) -> int:
    match = _GENERATION.search(index)
    return int(match.group(1)) if match else -1


def _fix(data_stream: str, index: LiveIndex, newest: int) -> str:
    if index.data_stream is None:
        return (f"{index.name} is a plain index, not a data stream: delete it (DELETE "
                f"/{index.name}), run openai-poller setup, then backfill its window")
    if _generation(index.name) >= newest:
        return (f"run openai-poller setup (and check your @custom component templates), then "
                f"POST {data_stream}/_rollover and openai-poller replay-deadletters")
    return (f"an older backing index: it keeps this mapping until it ages out; delete it "
            f"(DELETE /{index.name}) and backfill its window if its documents matter")


def field_conflicts(
    data_stream: str, indices: Sequence[LiveIndex], desired: Mapping[str, Any]
) -> list[FieldConflict]:
    """Every field of `indices` whose type differs from `desired` (the composed template
    mapping), per index, in field order. Fields the templates do not map are not conflicts;
    fields an index lacks are `setup`'s to add. Pure: no I/O."""
    wanted = _types(desired)
    newest = max((_generation(i.name) for i in indices), default=-1)
    found: list[FieldConflict] = []
    for index in sorted(indices, key=lambda i: i.name):
        have = _types(index.mappings)
        for path in sorted(wanted.keys() & have.keys()):
            if have[path] != wanted[path]:
                found.append(FieldConflict(data_stream, index.name, path, have[path],
                                           wanted[path], _fix(data_stream, index, newest)))
    return found


def read_indices(es: Elasticsearch, data_stream: str) -> list[LiveIndex]:
    """The concrete indices behind `data_stream` (none when it does not exist)."""
    errors = errors_for(es)
    action = f"reading the mappings of {data_stream}"
    with errors(action):
        body = es.indices.get(
            index=data_stream,
            ignore_unavailable=True,
            allow_no_indices=True,
            filter_path=["*.mappings", "*.data_stream"],
        ).body
    answer = errors.answer(body, action)
    return [
        LiveIndex(name, entry.get("mappings") or {}, entry.get("data_stream"))
        for name, entry in answer.items()
        if isinstance(entry, Mapping)
    ]


@dataclass(frozen=True)
class MappingCheck:
    """The data streams that exist among those asked about, and their conflicts."""

    existing: tuple[str, ...]
    conflicts: tuple[FieldConflict, ...]


def live_conflicts(es: Elasticsearch, data_streams: Sequence[tuple[str, str]]) -> MappingCheck:
    """Each existing (stream, data stream) compared with the shipped templates."""
    components = load_assets().components_by_name()
    existing: list[str] = []
    conflicts: list[FieldConflict] = []
    for stream, data_stream in data_streams:
        indices = read_indices(es, data_stream)
        if indices:
            existing.append(data_stream)
            conflicts += field_conflicts(
                data_stream, indices, composed_mapping(stream, components))
    return MappingCheck(tuple(existing), tuple(conflicts))
