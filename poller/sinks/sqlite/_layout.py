"""Which column holds which field of a data stream, the interned strings, and the deflate
dictionaries: what the writer keeps in memory about the store, and how it places a document's
fields into columns.

A field is a dotted path under `openai` (where every usage dimension, name, metric and cost of
a document lives). The first value a data stream's field shows decides its column: a string of
`openai.<object>.<name>` gets a `k` column (interned: ids and names repeat), a number or a
boolean anywhere under `openai` an `n` column (stored as it is, so a later string fits too).
Any other field (deeper strings, objects, arrays, numbers beyond 64 bits), a field arriving
when its kind's columns are all handed out, and a field whose later value its column cannot
hold exactly, is read from the source instead: the column is then retired, never handed out
again. A column therefore always answers exactly what `json_extract` on the source would.

Keys that are empty or hold `.` or `"` cannot be named by a dotted field, so they are left out.

Outside `openai`, the fields `report` groups and filters by (`OUTSIDE`: the org a document
belongs to, an audit event's actor, a user's group) get `k` columns by the same rules when their
value is a string; any other field outside `openai` is read from the source.

Caches: the layouts are reloaded whenever another connection committed (`PRAGMA data_version`),
everything is forgotten after a rolled-back write, and the interned strings kept are bounded,
so memory does not grow with the store.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from poller.sinks.sqlite._codec import DICTIONARY_BYTES, Dictionary, inflate, train
from poller.sinks.sqlite._schema import K_SLOTS, N_SLOTS, SLOT_COLUMNS

__all__ = ["OUTSIDE", "ROOT", "Catalog", "StreamLayout"]

ROOT = "openai"
OUTSIDE = (
    "organization.id", "organization.name", "service.id", "user.email", "user.group.id",
    "user.group.name",
)
_OUTSIDE_KEYS = tuple((path, tuple(path.split("."))) for path in OUTSIDE)
_KEYWORD_DEPTH = 3  # openai.<object>.<name>
_MAX_TERMS = 20_000
_INT64 = (-(2**63), 2**63 - 1)
_INDEX = {column: i for i, column in enumerate(SLOT_COLUMNS)}
_UNFIT = object()
_NEW: Any = object()


class _NotJsonKeys(Exception):
    """A key JSON would write differently (not a string): walk the parsed JSON instead."""


@dataclass
class _Node:
    """A field met before in a data stream's documents: its dotted path (whose hash Python keeps,
    unlike a path built afresh for every document), its column's index in `SLOT_COLUMNS` (None:
    read from the source; `_NEW` until the walk has looked it up), and the fields under it."""

    path: str
    index: Any = _NEW
    children: dict[str, _Node] = field(default_factory=dict)


def _number(value: Any) -> Any:
    """`value` as an `n` column holds it (what json_extract would return), or `_UNFIT`."""
    if isinstance(value, bool):
        return int(value)  # JSON true reads back as 1
    if isinstance(value, int):
        return value if _INT64[0] <= value <= _INT64[1] else _UNFIT
    return value if isinstance(value, float | str) else _UNFIT


def _kind(depth: int, value: Any) -> str | None:
    """The kind of column a field's first value asks for, if any."""
    if isinstance(value, str):
        return "k" if depth == _KEYWORD_DEPTH else None
    if isinstance(value, bool | float) or (
        isinstance(value, int) and _INT64[0] <= value <= _INT64[1]
    ):
        return "n" if depth > 1 else None
    return None


@dataclass
class StreamLayout:
    """One data stream: its id, its fields' columns (None: read from the source), the columns
    handed out so far, and its newest dictionary."""

    id: int
    slots: dict[str, str | None]
    next_k: int = 0
    next_n: int = 0
    dictionary: Dictionary | None = None
    fields: dict[str, _Node] = field(default_factory=dict)  # the walk's memory, from `openai`


@dataclass
class Catalog:
    """The writer's view of the store's layouts, terms and dictionaries (see the module
    docstring). Every method runs inside the caller's write transaction."""

    _streams: dict[str, StreamLayout] = field(default_factory=dict)
    _terms: dict[str, int] = field(default_factory=dict)
    _contents: dict[int, bytes] = field(default_factory=dict)
    _seen: int | None = None

    def begin(self, conn: sqlite3.Connection) -> None:
        """At the start of a write transaction: drop layouts another connection may have
        changed since the last one."""
        version = int(conn.execute("PRAGMA data_version").fetchone()[0])
        if version != self._seen:
            self._streams.clear()
            self._seen = version
        if len(self._terms) > _MAX_TERMS:
            self._terms.clear()

    def forget(self) -> None:
        """After a rolled-back write: ids handed out in it may be handed out again."""
        self._streams.clear()
        self._terms.clear()
        self._contents.clear()
        self._seen = None

    def stream(self, conn: sqlite3.Connection, name: str) -> StreamLayout:
        layout = self._streams.get(name)
        if layout is not None:
            return layout
        row = conn.execute(
            "SELECT id, next_k, next_n FROM data_streams WHERE name = ?", (name,)
        ).fetchone()
        if row is None:
            created = conn.execute("INSERT INTO data_streams (name) VALUES (?)", (name,))
            layout = StreamLayout(int(created.lastrowid or 0), {})
        else:
            slots = conn.execute("SELECT path, slot FROM fields WHERE data_stream = ?", (row[0],))
            layout = StreamLayout(int(row[0]), dict(slots.fetchall()), int(row[1]), int(row[2]))
            newest = conn.execute(
                "SELECT id, content FROM dictionaries WHERE data_stream = ? "
                "ORDER BY id DESC LIMIT 1",
                (layout.id,),
            ).fetchone()
            if newest is not None:
                layout.dictionary = Dictionary(int(newest[0]), bytes(newest[1]))
        self._streams[name] = layout
        return layout

    def columns(
        self, conn: sqlite3.Connection, layout: StreamLayout, source: Mapping[str, Any], text: str
    ) -> list[Any]:
        """The values of every slot column for one document (`text` is its JSON): every
        non-null node under `openai` a dotted field can name, objects and arrays included (a
        reader may ask for one), visited parent first."""
        values: list[Any] = [None] * len(SLOT_COLUMNS)
        top = {ROOT: source.get(ROOT)}
        try:
            self._visit(conn, layout, layout.fields, "", 1, top, values)
        except _NotJsonKeys:
            source = json.loads(text)
            values = [None] * len(SLOT_COLUMNS)
            self._visit(conn, layout, layout.fields, "", 1, {ROOT: source.get(ROOT)}, values)
        self.outside(conn, layout, source, values)
        return values

    def outside(
        self,
        conn: sqlite3.Connection,
        layout: StreamLayout,
        source: Mapping[str, Any],
        values: list[Any],
    ) -> None:
        """Fills the columns of the `OUTSIDE` fields of one document into `values` (a string:
        its term; anything else retires the field's column)."""
        for path, keys in _OUTSIDE_KEYS:
            value: Any = source
            for key in keys:
                value = value.get(key) if isinstance(value, Mapping) else None
            if value is None:
                continue
            slot = layout.slots.get(path, _NEW)
            if slot is _NEW:
                slot = self._place(conn, layout, path, "k" if isinstance(value, str) else None)
            if slot is None:
                continue
            if isinstance(value, str):
                values[_INDEX[slot]] = self._terms.get(value) or self.term(conn, value)
            else:
                self._retire(conn, layout, path)

    def _visit(
        self,
        conn: sqlite3.Connection,
        layout: StreamLayout,
        known: dict[str, _Node],
        prefix: str,
        depth: int,
        tree: Mapping[Any, Any],
        values: list[Any],
    ) -> None:
        slots = layout.slots
        for key, value in tree.items():
            node = known.get(key)
            if node is None:
                if not isinstance(key, str):
                    raise _NotJsonKeys
                if value is None or not key or "." in key or '"' in key:
                    continue
                node = known[key] = _Node(f"{prefix}.{key}" if prefix else key)
            elif value is None:
                continue
            index = node.index
            if index is _NEW:
                slot = slots.get(node.path, _NEW)
                if slot is _NEW:
                    slot = self._place(conn, layout, node.path, _kind(depth, value))
                index = node.index = None if slot is None else _INDEX[slot]
            if index is not None:
                if index >= K_SLOTS:
                    stored = _number(value)
                elif isinstance(value, str):
                    stored = self._terms.get(value) or self.term(conn, value)
                else:
                    stored = _UNFIT
                if stored is _UNFIT:
                    self._retire(conn, layout, node.path)
                    node.index = None
                else:
                    values[index] = stored
            if not isinstance(value, str | int | float | list) and isinstance(value, Mapping):
                self._visit(conn, layout, node.children, node.path, depth + 1, value, values)

    def _place(
        self, conn: sqlite3.Connection, layout: StreamLayout, path: str, kind: str | None
    ) -> str | None:
        slot: str | None = None
        if kind == "k" and layout.next_k < K_SLOTS:
            slot, layout.next_k = f"k{layout.next_k}", layout.next_k + 1
        elif kind == "n" and layout.next_n < N_SLOTS:
            slot, layout.next_n = f"n{layout.next_n}", layout.next_n + 1
        conn.execute(
            "INSERT INTO fields (data_stream, path, slot) VALUES (?, ?, ?)",
            (layout.id, path, slot),
        )
        if slot is not None:
            conn.execute(
                "UPDATE data_streams SET next_k = ?, next_n = ? WHERE id = ?",
                (layout.next_k, layout.next_n, layout.id),
            )
        layout.slots[path] = slot
        return slot

    @staticmethod
    def _retire(conn: sqlite3.Connection, layout: StreamLayout, path: str) -> None:
        conn.execute(
            "UPDATE fields SET slot = NULL WHERE data_stream = ? AND path = ?", (layout.id, path)
        )
        layout.slots[path] = None

    def term(self, conn: sqlite3.Connection, value: str) -> int:
        found = self._terms.get(value)
        if found is None:
            row = conn.execute("SELECT id FROM terms WHERE value = ?", (value,)).fetchone()
            if row is None:
                found = int(conn.execute(
                    "INSERT INTO terms (value) VALUES (?)", (value,)
                ).lastrowid or 0)
            else:
                found = int(row[0])
            self._terms[value] = found
        return found

    def dictionary(
        self, conn: sqlite3.Connection, layout: StreamLayout, texts: Sequence[bytes]
    ) -> Dictionary:
        """The dictionary to deflate `texts` with: the stream's newest, or a new one drawn from
        them while the newest is short and they offer twice as much."""
        current = layout.dictionary
        if current is None or (
            len(current.content) < DICTIONARY_BYTES // 2
            and sum(map(len, texts)) >= 2 * len(current.content)
        ):
            content = train(texts)
            if current is None or len(content) > len(current.content):
                made = conn.execute(
                    "INSERT INTO dictionaries (data_stream, content) VALUES (?, ?)",
                    (layout.id, content),
                )
                current = layout.dictionary = Dictionary(int(made.lastrowid or 0), content)
                self._contents[current.id] = content
        return current

    def inflate(self, conn: sqlite3.Connection, dictionary: int, body: bytes) -> bytes:
        content = self._contents.get(dictionary)
        if content is None:
            row = conn.execute(
                "SELECT content FROM dictionaries WHERE id = ?", (dictionary,)
            ).fetchone()
            content = self._contents[dictionary] = bytes(row[0])
        return inflate(body, content)
