"""Reading documents back from a sink, for `report`, `status` and the tests.

`SinkReader` is the protocol; `ElasticsearchReader` and `SqliteReader` implement it with the same
semantics: a time range is `start <= @timestamp < end` (aware datetimes), a sum over no documents
is 0.0, and documents that lack the `group_by` field form the group `None`. A group's `name` is
the `name_field` of its newest document (by @timestamp) that has one, so a renamed project shows
its latest name. Elasticsearch answers with `sum`, `terms`, `missing`, `filter` and `top_hits`
aggregations only (no `composite`, no `top_metrics`: the test server lacks them), so a grouping
with more than `max_groups` distinct values raises instead of returning a partial answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from elasticsearch import Elasticsearch

from poller.errors import SinkRejectedError, SinkUnavailableError
from poller.sinks.base import DeadLetter
from poller.sinks.es_client import DEFAULT_DEADLETTER_INDEX, ErrorTranslator

__all__ = [
    "DeadLetterRecord",
    "ElasticsearchReader",
    "SinkReader",
    "SqlQuery",
    "SqliteReader",
    "Sums",
]

MAX_GROUPS = 10_000
_IDS_PER_REQUEST = 500
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Sums:
    """How many documents matched, the sum of each requested field over them, and (for a group
    of `sums_by` with a `name_field`) the group's latest name."""

    count: int
    values: Mapping[str, float] = field(default_factory=dict)
    name: str | None = None


@dataclass(frozen=True)
class DeadLetterRecord(DeadLetter):
    """A stored dead letter: the refusal, the refused document as JSON, and when."""

    source: str = ""
    failed_at: str = ""  # ISO-8601, UTC


class SinkReader(Protocol):
    def count(
        self, data_stream: str, *, start: datetime | None = None, end: datetime | None = None
    ) -> int:
        """Documents in `data_stream`, optionally with `start <= @timestamp < end`."""
        ...

    def sums(
        self,
        data_stream: str,
        fields: Sequence[str],
        *,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> Sums:
        """The sum of each numeric field (dotted name) over the matching documents."""
        ...

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
        """`sums` per value of the keyword field `group_by`; `None` holds documents without it.
        With `name_field`, each group's `name` is that field in its newest document having it."""
        ...

    def documents(self, data_stream: str, doc_ids: Sequence[str]) -> dict[str, Mapping[str, Any]]:
        """The stored source of each id found in `data_stream`."""
        ...

    def dead_letters(
        self, *, data_stream: str | None = None, limit: int = 100
    ) -> list[DeadLetterRecord]:
        """The newest dead letters first."""
        ...


def epoch_millis(when: datetime) -> int:
    if when.tzinfo is None:
        raise ValueError("time range bounds must be timezone-aware datetimes")
    return (when - _EPOCH) // timedelta(milliseconds=1)


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


# --------------------------------------------------------------------------------- Elasticsearch


class ElasticsearchReader:
    """Reads data streams (and the dead-letter index) with searches and aggregations."""

    def __init__(
        self,
        client: Elasticsearch,
        *,
        errors: ErrorTranslator | None = None,
        deadletter_index: str = DEFAULT_DEADLETTER_INDEX,
        max_groups: int = MAX_GROUPS,
    ) -> None:
        self._client = client
        self._errors = errors or ErrorTranslator("the configured cluster", (), 0)
        self._deadletter_index = deadletter_index
        self._max_groups = max_groups

    @staticmethod
    def _range(start: datetime | None, end: datetime | None) -> dict[str, Any] | None:
        if start is None and end is None:
            return None
        bounds: dict[str, Any] = {"format": "epoch_millis"}
        if start is not None:
            bounds["gte"] = epoch_millis(start)
        if end is not None:
            bounds["lt"] = epoch_millis(end)
        return {"bool": {"filter": [{"range": {"@timestamp": bounds}}]}}

    def count(
        self, data_stream: str, *, start: datetime | None = None, end: datetime | None = None
    ) -> int:
        with self._errors(f"counting {data_stream}"):
            resp = self._client.count(
                index=data_stream,
                query=self._range(start, end),
                ignore_unavailable=True,
                allow_no_indices=True,
                filter_path=["count"],
            )
        return int(resp.body.get("count", 0))

    def _aggregate(
        self,
        data_stream: str,
        aggs: Mapping[str, Any],
        start: datetime | None,
        end: datetime | None,
    ) -> Mapping[str, Any]:
        with self._errors(f"aggregating {data_stream}"):
            resp = self._client.search(
                index=data_stream,
                size=0,
                query=self._range(start, end),
                aggs=aggs,
                track_total_hits=True,
                ignore_unavailable=True,
                allow_no_indices=True,
                filter_path=["hits.total", "aggregations", "_shards.failed"],
            )
        body: Mapping[str, Any] = resp.body
        if body.get("_shards", {}).get("failed"):
            raise SinkUnavailableError(f"some shards of {data_stream} failed to answer")
        return body

    @staticmethod
    def _sum_aggs(fields: Sequence[str]) -> dict[str, Any]:
        return {f"f{i}": {"sum": {"field": name}} for i, name in enumerate(fields)}

    @staticmethod
    def _sums_of(bucket: Mapping[str, Any], fields: Sequence[str]) -> dict[str, float]:
        return {
            name: float((bucket.get(f"f{i}") or {}).get("value") or 0.0)
            for i, name in enumerate(fields)
        }

    def sums(
        self,
        data_stream: str,
        fields: Sequence[str],
        *,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> Sums:
        body = self._aggregate(data_stream, self._sum_aggs(fields), start, end)
        total = body.get("hits", {}).get("total", {})
        count = int(total.get("value", 0)) if isinstance(total, Mapping) else int(total or 0)
        return Sums(count, self._sums_of(body.get("aggregations", {}), fields))

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
        subs = self._sum_aggs(fields)
        named = {**subs, "name": _latest_agg(name_field)} if name_field else subs
        aggs = {
            "groups": {"terms": {"field": group_by, "size": self._max_groups}, "aggs": named},
            "nogroup": {"missing": {"field": group_by}, "aggs": subs},
        }
        found = self._aggregate(data_stream, aggs, start, end).get("aggregations", {})
        groups = found.get("groups", {})
        if groups.get("sum_other_doc_count"):
            raise SinkRejectedError(
                f"{data_stream} has more than {self._max_groups} values of {group_by}; "
                "narrow the time range"
            )
        out: dict[str | None, Sums] = {}
        for bucket in groups.get("buckets", []):
            key = bucket.get("key_as_string", bucket.get("key"))
            name = _latest_name(bucket, name_field) if name_field else None
            sums = self._sums_of(bucket, fields)
            out[str(key)] = Sums(int(bucket.get("doc_count", 0)), sums, name)
        missing = found.get("nogroup", {})
        if missing.get("doc_count"):
            out[None] = Sums(int(missing["doc_count"]), self._sums_of(missing, fields))
        return out

    def documents(self, data_stream: str, doc_ids: Sequence[str]) -> dict[str, Mapping[str, Any]]:
        out: dict[str, Mapping[str, Any]] = {}
        for chunk in _chunks(list(doc_ids), _IDS_PER_REQUEST):
            with self._errors(f"reading documents of {data_stream}"):
                resp = self._client.search(
                    index=data_stream,
                    query={"ids": {"values": list(chunk)}},
                    size=2 * len(chunk),
                    ignore_unavailable=True,
                    allow_no_indices=True,
                    filter_path=["hits.hits._id", "hits.hits._source"],
                )
            for hit in resp.body.get("hits", {}).get("hits", []):
                out[hit["_id"]] = hit.get("_source", {})
        return out

    def dead_letters(
        self, *, data_stream: str | None = None, limit: int = 100
    ) -> list[DeadLetterRecord]:
        query = {"term": {"data_stream": data_stream}} if data_stream else {"match_all": {}}
        with self._errors("listing dead letters"):
            resp = self._client.search(
                index=self._deadletter_index,
                query=query,
                size=limit,
                sort=[{"@timestamp": {"order": "desc"}}],
                ignore_unavailable=True,
                allow_no_indices=True,
                filter_path=["hits.hits._source"],
            )
        return [
            _record(hit.get("_source", {})) for hit in resp.body.get("hits", {}).get("hits", [])
        ]


def _latest_agg(name_field: str) -> dict[str, Any]:
    """The newest document of a bucket that has `name_field`, with only that field."""
    latest = {
        "size": 1,
        "sort": [{"@timestamp": {"order": "desc"}}],
        "_source": {"includes": [name_field]},
    }
    return {"filter": {"exists": {"field": name_field}}, "aggs": {"latest": {"top_hits": latest}}}


def _latest_name(bucket: Mapping[str, Any], name_field: str) -> str | None:
    """The name in a bucket's top hit, whose source holds only `name_field` (nested)."""
    hits = bucket.get("name", {}).get("latest", {}).get("hits", {}).get("hits", [])
    value: Any = hits[0].get("_source", {}) if hits else None
    for part in name_field.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return None if value is None else str(value)


def _record(src: Mapping[str, Any]) -> DeadLetterRecord:
    return DeadLetterRecord(
        doc_id=str(src.get("doc_id", "")),
        data_stream=str(src.get("data_stream", "")),
        status=int(src.get("status", 0)),
        reason=str(src.get("reason", "")),
        source=str(src.get("source", "")),
        failed_at=str(src.get("@timestamp", "")),
    )


# ---------------------------------------------------------------------------------------- SQLite


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
    for chunk in _chunks(doc_ids, per_query):
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
