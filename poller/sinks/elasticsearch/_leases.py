"""Versioned records in the sink's state index, for leases and fenced cursors
(`poller.leases.Cells`).

A record is a document of the state index (`{"state": <value>, "updated_at": ...}`, the
index's own mapping), read with its `_seq_no` and `_primary_term` and replaced only with
`if_seq_no`/`if_primary_term` of what was read, or created with `op_type=create`: the cluster
refuses (409) a write based on a stale read, which is what makes a lease exclusive and a stale
holder's cursor write fail. Reads are real-time GETs, so no refresh is needed between replicas.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any, cast

from elasticsearch import ConflictError, NotFoundError

from poller.sinks.elasticsearch._connection import Cluster, IndexKeeper, now_utc
from poller.sinks.elasticsearch._sink import STATE_MAPPINGS

__all__ = ["StateCells"]

Versioned = tuple[Mapping[str, Any] | None, Hashable | None]


class StateCells:
    """Records of the state index `index`. `refresh` makes each write searchable before it
    returns, as the sink's own state writes are (cursors); leases need only real-time GETs."""

    def __init__(self, cluster: Cluster, index: str, *, refresh: bool = False) -> None:
        self._client = cluster.client
        self._errors = cluster.errors
        self._keeper = IndexKeeper(cluster)
        self._index = index
        self._refresh = refresh

    def read(self, key: str) -> Versioned:
        with self._errors(f"reading {key!r}"):
            try:
                found = self._client.get(index=self._index, id=key).body
            except NotFoundError:
                return None, None
        return _versioned(found)

    def read_many(self, keys: Sequence[str]) -> dict[str, Versioned]:
        if not keys:
            return {}
        with self._errors(f"reading {len(keys)} leases"):
            try:
                docs = self._client.mget(index=self._index, ids=list(keys)).body["docs"]
            except NotFoundError:  # no state index yet
                return {}
        return {doc["_id"]: _versioned(doc) for doc in docs if doc.get("found")}

    def write(self, key: str, value: Mapping[str, Any], expected: Hashable | None) -> bool:
        self._keeper.ensure(self._index, STATE_MAPPINGS)
        condition: dict[str, Any] = {"op_type": "create"}
        if expected is not None:
            seq_no, primary_term = cast(tuple[int, int], expected)
            condition = {"if_seq_no": seq_no, "if_primary_term": primary_term}
        with self._errors(f"writing {key!r}"):
            try:
                self._client.index(
                    index=self._index,
                    id=key,
                    document={"state": dict(value), "updated_at": now_utc()},
                    refresh="wait_for" if self._refresh else False,
                    **condition,
                )
            except ConflictError:
                return False
        return True


def _versioned(doc: Mapping[str, Any]) -> Versioned:
    source = doc.get("_source")
    value = source.get("state") if isinstance(source, Mapping) else None
    version = (doc.get("_seq_no"), doc.get("_primary_term"))
    return (dict(value) if isinstance(value, Mapping) else None), version
