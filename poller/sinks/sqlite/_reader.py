"""Reading the embedded store back with json_extract: the same answers as the Elasticsearch
reader (`SinkReader` in `poller.sinks`).

`stored_sources` is the one id lookup of the store: the reader's `documents()` and the sink's
batch write both use it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from poller.sinks._canonical import epoch_millis
from poller.sinks._contract import DeadLetterRecord, Sums

__all__ = ["SqlQuery", "SqliteReader", "json_path", "stored_sources"]

_IDS_PER_REQUEST = 500


class SqlQuery(Protocol):
    """Runs one read-only statement on the embedded store and returns all rows."""

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...


def stored_sources(
    run: Callable[[str, Sequence[Any]], Iterable[tuple[Any, ...]]],
    data_stream: str,
    doc_ids: Sequence[str],
    per_query: int,
) -> Iterator[tuple[str, str]]:
    """(doc id, stored source text) of each of `doc_ids` found in `data_stream`, `per_query` ids
    a statement. `run` executes one statement: the reader's query, or the sink's transaction."""
    for i in range(0, len(doc_ids), per_query):
        chunk = doc_ids[i : i + per_query]
        yield from run(
            "SELECT doc_id, source FROM documents "  # noqa: S608
            f"WHERE data_stream = ? AND doc_id IN ({', '.join('?' * len(chunk))})",
            [data_stream, *chunk],
        )


def json_path(dotted: str) -> str:
    """`openai.base.model` → `$."openai"."base"."model"` for json_extract."""
    parts = dotted.split(".")
    if not dotted or any(not p or '"' in p for p in parts):
        raise ValueError(f"not a usable field name: {dotted!r}")
    return "$" + "".join(f'."{p}"' for p in parts)


class SqliteReader:
    """Reads the embedded store with json_extract; same answers as `ElasticsearchReader`."""

    def __init__(self, db: SqlQuery) -> None:
        self._db = db

    @staticmethod
    def _where(
        data_stream: str, start: datetime | None, end: datetime | None
    ) -> tuple[str, list[Any]]:
        sql, params = "data_stream = ?", list[Any]([data_stream])
        if start is not None:
            sql += " AND ts >= ?"
            params.append(epoch_millis(start))
        if end is not None:
            sql += " AND ts < ?"
            params.append(epoch_millis(end))
        return sql, params

    def count(
        self, data_stream: str, *, start: datetime | None = None, end: datetime | None = None
    ) -> int:
        where, params = self._where(data_stream, start, end)
        rows = self._db.query(f"SELECT count(*) FROM documents WHERE {where}", params)  # noqa: S608
        return int(rows[0][0])

    @staticmethod
    def _totals(fields: Sequence[str]) -> tuple[str, list[Any]]:
        paths = [json_path(f) for f in fields]
        cols = "".join(", total(json_extract(source, ?))" for _ in paths)
        return cols, list(paths)

    def sums(
        self,
        data_stream: str,
        fields: Sequence[str],
        *,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> Sums:
        cols, col_params = self._totals(fields)
        where, params = self._where(data_stream, start, end)
        row = self._db.query(
            f"SELECT count(*){cols} FROM documents WHERE {where}",  # noqa: S608
            col_params + params,
        )[0]
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
    ) -> dict[str | None, Sums]:
        cols, col_params = self._totals(fields)
        where, params = self._where(data_stream, start, end)
        rows = self._db.query(
            f"SELECT json_extract(source, ?) AS g, count(*){cols} "  # noqa: S608
            f"FROM documents WHERE {where} GROUP BY g",
            [json_path(group_by), *col_params, *params],
        )
        names = self._latest_names(group_by, name_field, where, params) if name_field else {}
        out: dict[str | None, Sums] = {}
        for r in rows:
            key = None if r[0] is None else str(r[0])
            sums = {f: float(v) for f, v in zip(fields, r[2:], strict=True)}
            out[key] = Sums(int(r[1]), sums, names.get(key) if key is not None else None)
        return out

    def _latest_names(
        self, group_by: str, name_field: str, where: str, params: list[Any]
    ) -> dict[str, str]:
        """Group → `name_field` of its newest document having it. SQLite fills the bare column
        `n` from the row that holds `max(ts)`."""
        rows = self._db.query(
            "SELECT json_extract(source, ?) AS g, json_extract(source, ?) AS n, max(ts) "  # noqa: S608
            f"FROM documents WHERE {where} AND g IS NOT NULL AND n IS NOT NULL GROUP BY g",
            [json_path(group_by), json_path(name_field), *params],
        )
        return {str(g): str(n) for g, n, _ in rows}

    def documents(self, data_stream: str, doc_ids: Sequence[str]) -> dict[str, Mapping[str, Any]]:
        found = stored_sources(self._db.query, data_stream, doc_ids, _IDS_PER_REQUEST)
        return {doc_id: json.loads(source) for doc_id, source in found}

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
