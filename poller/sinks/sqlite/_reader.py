"""Reading the embedded store back: the same answers as the Elasticsearch reader (`SinkReader`
in `poller.sinks`), from indexed columns.

Each call reads one snapshot (the data stream's field columns and its documents agree). A field
held in a column (`_layout`) is read from it; a field under `openai` no document of the data
stream has is absent (a sum of 0, the group `None`); any other field is extracted from the
inflated source with `json_extract`, as schema 1 did for every field: slower, same answer.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from poller.sinks._canonical import epoch_millis
from poller.sinks._contract import DeadLetterRecord, Sums
from poller.sinks.sqlite._codec import decode_id, encode_id, inflate
from poller.sinks.sqlite._database import Database
from poller.sinks.sqlite._layout import ROOT
from poller.sinks.sqlite._writer import LOOKUP_CHUNK, chunks, lookup_sql

__all__ = ["SqliteReader", "json_path"]


def json_path(dotted: str) -> str:
    """`openai.base.model` → `$."openai"."base"."model"` for json_extract."""
    parts = dotted.split(".")
    if not dotted or any(not p or '"' in p for p in parts):
        raise ValueError(f"not a usable field name: {dotted!r}")
    return "$" + "".join(f'."{p}"' for p in parts)


@dataclass(frozen=True)
class _Field:
    """A field as SQL reads it: an expression over `documents AS d` (and `sources AS s` when
    `from_source`); `keyword` when it yields term ids."""

    sql: str
    params: tuple[str, ...] = ()
    from_source: bool = False
    keyword: bool = False

    def total(self) -> str:
        if self.keyword:
            return f"total((SELECT value FROM terms WHERE id = {self.sql}))"  # noqa: S608
        return f"total({self.sql})"


_ABSENT = _Field("NULL")


@dataclass(frozen=True)
class _Stream:
    id: int
    slots: Mapping[str, str | None]

    def field(self, dotted: str) -> _Field:
        path = json_path(dotted)
        if dotted in self.slots:
            slot = self.slots[dotted]
            if slot is not None:
                return _Field(f"d.{slot}", keyword=slot.startswith("k"))
        elif dotted == ROOT or dotted.startswith(f"{ROOT}."):
            return _ABSENT
        return _Field("json_extract(source_text(s.dictionary, s.body), ?)", (path,), True)


@dataclass(frozen=True)
class _Scan:
    """The documents of one data stream in a time range, read in the order schema 1 read them
    in: by id without a time range (from `documents_read_by_id`, which holds every column), by
    time (then id) with one. Float sums then add their terms in the same order, and come out
    equal to the last bit."""

    where: str
    params: list[Any]
    index: str
    filters: tuple[_Field, ...] = ()  # read from the source: the FROM clause must join it

    @classmethod
    def of(
        cls,
        stream: _Stream,
        start: datetime | None,
        end: datetime | None,
        where: Mapping[str, str] | None = None,
    ) -> _Scan:
        sql, params = "d.data_stream = ?", list[Any]([stream.id])
        if start is not None:
            sql += " AND d.ts >= ?"
            params.append(epoch_millis(start))
        if end is not None:
            sql += " AND d.ts < ?"
            params.append(epoch_millis(end))
        filters: list[_Field] = []
        for name, value in (where or {}).items():
            found = stream.field(name)
            term = "(SELECT id FROM terms WHERE value = ?)" if found.keyword else "?"
            sql += f" AND {found.sql} = {term}"
            params += [*found.params, value]
            filters.append(found)
        ranged = start is not None or end is not None
        return cls(sql, params, "documents_by_time" if ranged else "documents_read_by_id",
                   tuple(filters))


class SqliteReader:
    """Reads the embedded store; same answers as `ElasticsearchReader`."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._contents: dict[int, bytes] = {}  # dictionaries never change once stored

    def _stream(self, conn: sqlite3.Connection, data_stream: str) -> _Stream | None:
        row = conn.execute("SELECT id FROM data_streams WHERE name = ?", (data_stream,))
        found = row.fetchone()
        if found is None:
            return None
        slots = conn.execute("SELECT path, slot FROM fields WHERE data_stream = ?", (found[0],))
        return _Stream(int(found[0]), dict(slots.fetchall()))

    def _inflate(self, conn: sqlite3.Connection, dictionary: int, body: bytes) -> str:
        content = self._contents.get(dictionary)
        if content is None:
            row = conn.execute("SELECT content FROM dictionaries WHERE id = ?", (dictionary,))
            content = self._contents[dictionary] = bytes(row.fetchone()[0])
        return inflate(body, content).decode()

    def _from(self, conn: sqlite3.Connection, scan: _Scan, fields: Sequence[_Field]) -> str:
        """The FROM clause; joins the sources (and lets SQL inflate them) when a field needs
        them."""
        documents = f"documents AS d INDEXED BY {scan.index}"
        if not any(f.from_source for f in (*fields, *scan.filters)):
            return documents
        rows = conn.execute("SELECT id, content FROM dictionaries").fetchall()
        self._contents.update((int(i), bytes(c)) for i, c in rows)
        conn.create_function(
            "source_text", 2, lambda d, b: self._inflate(conn, d, b), deterministic=True
        )
        return f"{documents} JOIN sources AS s ON s.id = d.id"

    def count(
        self,
        data_stream: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        where: Mapping[str, str] | None = None,
    ) -> int:
        _check(*(where or {}))
        with self._db.snapshot() as conn:
            stream = self._stream(conn, data_stream)
            if stream is None:
                return 0
            scan = _Scan.of(stream, start, end, where)
            sql = (f"SELECT count(*) FROM {self._from(conn, scan, ())} "  # noqa: S608
                   f"WHERE {scan.where}")
            return int(conn.execute(sql, scan.params).fetchone()[0])

    def sums(
        self,
        data_stream: str,
        fields: Sequence[str],
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        where: Mapping[str, str] | None = None,
    ) -> Sums:
        _check(*fields, *(where or {}))
        with self._db.snapshot() as conn:
            stream = self._stream(conn, data_stream)
            if stream is None:
                return Sums(0, {f: 0.0 for f in fields})
            summed = [stream.field(f) for f in fields]
            scan = _Scan.of(stream, start, end, where)
            row = conn.execute(
                f"SELECT count(*){''.join(', ' + f.total() for f in summed)} "  # noqa: S608
                f"FROM {self._from(conn, scan, summed)} WHERE {scan.where}",
                [*(p for f in summed for p in f.params), *scan.params],
            ).fetchone()
        return Sums(int(row[0]), {f: float(v) for f, v in zip(fields, row[1:], strict=True)})

    def sums_by(
        self,
        data_stream: str,
        fields: Sequence[str],
        group_by: str,
        *,
        name_field: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        where: Mapping[str, str] | None = None,
    ) -> dict[str | None, Sums]:
        """One pass over the documents. A group's name is `n` in the row holding the group's
        newest `@timestamp` among those having a name: with one max() in a query, SQLite fills
        a bare column from the row that holds the maximum (the first of equal ones)."""
        _check(group_by, *fields, *([name_field] if name_field else []), *(where or {}))
        with self._db.snapshot() as conn:
            stream = self._stream(conn, data_stream)
            if stream is None:
                return {}
            group, summed = stream.field(group_by), [stream.field(f) for f in fields]
            name = stream.field(name_field) if name_field else None
            scan = _Scan.of(stream, start, end, where)
            columns = [f"{group.sql} AS g", "count(*) AS c"]
            columns += [f"{f.total()} AS s{i}" for i, f in enumerate(summed)]
            params = [*group.params, *(p for f in summed for p in f.params)]
            read = [group, *summed]
            if name is not None:
                columns += [f"max(CASE WHEN {name.sql} IS NOT NULL THEN d.ts END) AS t",
                            f"{name.sql} AS n"]
                params += [*name.params, *name.params]
                read.append(name)
            inner = (
                f"SELECT {', '.join(columns)} FROM {self._from(conn, scan, read)} "  # noqa: S608
                f"WHERE {scan.where} GROUP BY g"
            )
            keyword = {c for c, f in (("g", group), ("n", name)) if f is not None and f.keyword}
            outer = ["g", "c", *(f"s{i}" for i in range(len(summed)))]
            rows = conn.execute(
                _terms_of(inner, [*outer, *(["t", "n"] if name else [])], keyword),
                [*params, *scan.params],
            ).fetchall()
        out: dict[str | None, Sums] = {}
        for r in rows:
            key = None if r[0] is None else str(r[0])
            sums = {f: float(v) for f, v in zip(fields, r[2 : len(outer)], strict=True)}
            named = name is not None and key is not None and r[len(outer)] is not None
            out[key] = Sums(int(r[1]), sums, str(r[-1]) if named else None)
        return out

    def documents(self, data_stream: str, doc_ids: Sequence[str]) -> dict[str, Mapping[str, Any]]:
        found: dict[str, Mapping[str, Any]] = {}
        with self._db.snapshot() as conn:
            stream = self._stream(conn, data_stream)
            if stream is None or not doc_ids:
                return found
            per_query = min(LOOKUP_CHUNK, conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) - 1)
            sql = lookup_sql(per_query)
            for chunk in chunks([encode_id(d) for d in doc_ids], per_query):
                for _, key, dictionary, body in conn.execute(sql, [stream.id, *chunk]):
                    found[decode_id(key)] = json.loads(self._inflate(conn, dictionary, body))
        return found

    def data_streams(self) -> list[str]:
        """The data streams the store has held documents of, by name."""
        return [name for (name,) in self._db.query("SELECT name FROM data_streams ORDER BY name")]

    def all_documents(self, data_stream: str) -> dict[str, Mapping[str, Any]]:
        """Every stored document of `data_stream`, by id: what the drills compare whole streams
        with, now that sources are not plain text a query can read."""
        with self._db.snapshot() as conn:
            stream = self._stream(conn, data_stream)
            if stream is None:
                return {}
            rows = conn.execute(
                "SELECT d.doc_id, s.dictionary, s.body FROM documents AS d "
                "JOIN sources AS s ON s.id = d.id WHERE d.data_stream = ?",
                (stream.id,),
            )
            return {
                decode_id(key): json.loads(self._inflate(conn, dictionary, body))
                for key, dictionary, body in rows
            }

    def dead_letters(
        self, *, data_stream: str | None = None, limit: int = 100
    ) -> list[DeadLetterRecord]:
        sql = "SELECT doc_id, data_stream, status, reason, source, failed_at FROM deadletter"
        params: list[Any] = []
        if data_stream:
            sql += " WHERE data_stream = ?"
            params.append(data_stream)
        rows = self._db.query(sql + " ORDER BY id DESC LIMIT ?", [*params, limit])
        return [
            DeadLetterRecord(
                doc_id=r[0],
                data_stream=r[1],
                status=int(r[2]),
                reason=r[3],
                source=r[4],
                failed_at=r[5],
            )
            for r in rows
        ]


def _terms_of(inner: str, columns: Sequence[str], keyword: Collection[str]) -> str:
    """`columns` of `inner`, the `keyword` ones turned from term ids into values, in the order of
    the first (the group), as schema 1's GROUP BY of the values themselves returned them."""
    select = ", ".join(f"t_{c}.value" if c in keyword else f"i.{c}" for c in columns)
    joins = "".join(f" LEFT JOIN terms AS t_{c} ON t_{c}.id = i.{c}" for c in keyword)
    return f"SELECT {select} FROM ({inner}) AS i{joins} ORDER BY 1"  # noqa: S608


def _check(*fields: str) -> None:
    """Raises ValueError for a field name no store could read, whether or not data exists."""
    for dotted in fields:
        json_path(dotted)
