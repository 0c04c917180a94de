"""Reading the dead-letter index for a replay, and removing what was replayed.

Pages are read with `search_after` on (`@timestamp`, `doc_id`), both mapped with doc values (a
sort on `_id` is refused by Elasticsearch 8), each hit with its `_seq_no` and
`_primary_term`. Removal is a bulk `delete` guarded by them, so a letter kept again after it
was read (refused anew, by the replay itself or by a running daemon) answers 409 and stays.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from poller.errors import SinkUnavailableError
from poller.sinks._contract import HeldLetter
from poller.sinks.elasticsearch._connection import Cluster
from poller.sinks.elasticsearch._errors import describe_error
from poller.sinks.elasticsearch._reader import _record

__all__ = ["HeldLetters"]

_FILTER: Final = [
    "hits.hits._id",
    "hits.hits._seq_no",
    "hits.hits._primary_term",
    "hits.hits._source",
    "hits.hits.sort",
]


def _millis(t: datetime) -> str:
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class HeldLetters:
    """The dead letters of the index `name`, for `DeadLetterStore`."""

    def __init__(self, cluster: Cluster, name: str) -> None:
        self._client = cluster.client
        self._errors = cluster.errors
        self.name = name

    def pages(
        self, data_stream: str, *, since: datetime | None, until: datetime, page: int
    ) -> Iterator[list[HeldLetter]]:
        if page < 1:
            raise ValueError("page must be at least 1")
        window: dict[str, str] = {"lt": _millis(until)}
        if since is not None:
            window["gte"] = _millis(since)
        query = {"bool": {"filter": [
            {"term": {"data_stream": data_stream}},
            {"range": {"@timestamp": window}},
        ]}}
        after: list[Any] | None = None
        while True:
            action = f"reading the dead letters of {data_stream} in {self.name}"
            with self._errors(action):
                answer = self._client.search(
                    index=self.name,
                    query=query,
                    size=page,
                    sort=[{"@timestamp": "asc"}, {"doc_id": "asc"}],
                    search_after=after,
                    seq_no_primary_term=True,
                    ignore_unavailable=True,
                    allow_no_indices=True,
                    filter_path=_FILTER,
                ).body
            hits = self._errors.answer(answer, action).get("hits", {}).get("hits", [])
            if not hits:
                return
            yield [self._held(hit) for hit in hits]
            if len(hits) < page:
                return
            after = hits[-1]["sort"]

    @staticmethod
    def _held(hit: Mapping[str, Any]) -> HeldLetter:
        token = json.dumps([hit["_id"], hit["_seq_no"], hit["_primary_term"]])
        return HeldLetter(_record(hit.get("_source", {})), token)

    def release(self, letters: Sequence[HeldLetter]) -> int:
        if not letters:
            return 0
        operations = []
        for letter in letters:
            doc_id, seq_no, primary_term = json.loads(letter.token)
            operations.append({"delete": {
                "_index": self.name, "_id": doc_id,
                "if_seq_no": seq_no, "if_primary_term": primary_term,
            }})
        action = f"removing {len(letters)} replayed dead letters from {self.name}"
        with self._errors(action):
            answer = self._client.bulk(
                operations=operations, refresh="wait_for",
                filter_path=["items.*.status", "items.*.error"],
            ).body
        items = [next(iter(i.values())) for i in self._errors.answer(answer, action)
                 .get("items", [])]
        failed = [i for i in items if int(i.get("status", 0)) not in (200, 404, 409)]
        if failed or len(items) != len(letters):
            detail = describe_error(failed[0], "no answer") if failed else "missing items"
            raise SinkUnavailableError(f"{action}: {detail}")
        return sum(int(i["status"]) == 200 for i in items)
