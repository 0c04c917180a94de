"""Reading data streams (and the dead-letter index) back, for `report`, `status` and the tests.

Answers follow `SinkReader` (`poller.sinks`). Elasticsearch answers with `sum`, `terms`,
`missing`, `filter` and `top_hits` aggregations only (no `composite`, no `top_metrics`: the
test server lacks them), so a grouping with more than `max_groups` distinct values raises
instead of returning a partial answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from elasticsearch import Elasticsearch

from poller.defaults import DEFAULT_DEADLETTER_INDEX
from poller.errors import SinkRejectedError, SinkUnavailableError
from poller.sinks._canonical import epoch_millis
from poller.sinks._contract import DeadLetterRecord, Sums
from poller.sinks.elasticsearch._errors import ErrorTranslator

__all__ = ["MAX_GROUPS", "ElasticsearchReader"]

MAX_GROUPS = 10_000
_IDS_PER_REQUEST = 500


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
    def _range(
        start: datetime | None, end: datetime | None, where: Mapping[str, str] | None = None
    ) -> dict[str, Any] | None:
        filters: list[dict[str, Any]] = []
        if start is not None or end is not None:
            bounds: dict[str, Any] = {"format": "epoch_millis"}
            if start is not None:
                bounds["gte"] = epoch_millis(start)
            if end is not None:
                bounds["lt"] = epoch_millis(end)
            filters.append({"range": {"@timestamp": bounds}})
        filters += [{"term": {name: value}} for name, value in (where or {}).items()]
        return {"bool": {"filter": filters}} if filters else None

    def count(
        self,
        data_stream: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        where: Mapping[str, str] | None = None,
    ) -> int:
        with self._errors(f"counting {data_stream}"):
            resp = self._client.count(
                index=data_stream,
                query=self._range(start, end, where),
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
        where: Mapping[str, str] | None,
    ) -> Mapping[str, Any]:
        with self._errors(f"aggregating {data_stream}"):
            resp = self._client.search(
                index=data_stream,
                size=0,
                query=self._range(start, end, where),
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
        where: Mapping[str, str] | None = None,
    ) -> Sums:
        body = self._aggregate(data_stream, self._sum_aggs(fields), start, end, where)
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
        where: Mapping[str, str] | None = None,
    ) -> dict[str | None, Sums]:
        subs = self._sum_aggs(fields)
        named = {**subs, "name": _latest_agg(name_field)} if name_field else subs
        aggs = {
            "groups": {"terms": {"field": group_by, "size": self._max_groups}, "aggs": named},
            "nogroup": {"missing": {"field": group_by}, "aggs": subs},
        }
        found = self._aggregate(data_stream, aggs, start, end, where).get("aggregations", {})
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
        for i in range(0, len(doc_ids), _IDS_PER_REQUEST):
            chunk = doc_ids[i : i + _IDS_PER_REQUEST]
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
