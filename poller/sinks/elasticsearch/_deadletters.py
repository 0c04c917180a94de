"""The dead-letter index: documents Elasticsearch refused for good, and API items no document
could be built from, kept with their status, reason and source for inspection.

One entry per data stream and id (`<data stream>/<doc id>`), so keeping the same refusal twice
keeps it once; entries are written with `refresh=wait_for`, so a reader sees them at once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from poller.documents.model import Document, Rejected
from poller.errors import SinkUnavailableError
from poller.sinks._contract import REJECTED_STATUS, DeadLetter
from poller.sinks.elasticsearch._bulk import batches, ndjson_bytes
from poller.sinks.elasticsearch._connection import Cluster, IndexKeeper, now_utc
from poller.sinks.elasticsearch._errors import describe_error
from poller.sinks.elasticsearch._options import EsWriteOptions

__all__ = ["BULK_FILTER", "DEADLETTER_MAPPINGS", "DeadLetterIndex", "Refused"]

logger = logging.getLogger(__name__)

BULK_FILTER = ["errors", "items.*._index", "items.*._id", "items.*.status", "items.*.error"]
DEADLETTER_MAPPINGS: Mapping[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "@timestamp": {"type": "date"},
        "doc_id": {"type": "keyword"},
        "data_stream": {"type": "keyword"},
        "status": {"type": "integer"},
        "reason": {"type": "text"},
        "source": {"type": "text", "index": False},
    },
}


@dataclass(frozen=True)
class Refused:
    doc: Document
    status: int
    reason: str
    kind: str = ""  # the error's type, e.g. "document_parsing_exception"

    def letter(self) -> DeadLetter:
        return DeadLetter(self.doc.doc_id, self.doc.data_stream, self.status, self.reason)


class DeadLetterIndex:
    """Keeps refusals in the index `name`, creating it on first use."""

    def __init__(
        self, cluster: Cluster, keeper: IndexKeeper, name: str, options: EsWriteOptions
    ) -> None:
        self._client = cluster.client
        self._errors = cluster.errors
        self._keeper = keeper
        self.name = name
        self._options = options

    def reject(self, items: Sequence[Rejected]) -> tuple[DeadLetter, ...]:
        """Keep API items no document could be built from (status 422)."""
        refused = [Refused(r.doc, REJECTED_STATUS, r.reason) for r in items]
        self.keep(refused)
        for r in items:
            logger.error("%s item %s rejected: %s; kept in %s",
                         r.doc.stream, r.doc.doc_id, r.reason, self.name)
        return tuple(r.letter() for r in refused)

    def keep(self, refused: Sequence[Refused]) -> None:
        """Store every refusal, or raise `SinkUnavailableError`: a refusal not kept is a
        document lost, so the batch is not acknowledged. Bulk requests are bounded as the
        documents' are (`EsWriteOptions`)."""
        self._keeper.ensure(self.name, DEADLETTER_MAPPINGS)
        now = now_utc()
        entries = [
            (
                {"index": {"_index": self.name, "_id": f"{r.doc.data_stream}/{r.doc.doc_id}"}},
                {
                    "@timestamp": now,
                    "doc_id": r.doc.doc_id,
                    "data_stream": r.doc.data_stream,
                    "status": r.status,
                    "reason": r.reason,
                    "source": json.dumps(r.doc.source, sort_keys=True, default=str),
                },
            )
            for r in refused
        ]
        for run in batches(
            entries, lambda e: ndjson_bytes(*e), self._options.chunk_docs,
            self._options.chunk_bytes,
        ):
            self._bulk([line for entry in run for line in entry], len(refused))

    def _bulk(self, operations: list[Mapping[str, Any]], refused: int) -> None:
        expected = len(operations) // 2
        action = f"storing {expected} dead letters"
        with self._errors(action):
            answer = self._client.bulk(
                operations=operations, refresh="wait_for", filter_path=BULK_FILTER
            ).body
        body = self._errors.answer(answer, action)
        failed = [
            item
            for entry in body.get("items", [])
            for item in entry.values()
            if not 200 <= int(item.get("status", 0)) < 300
        ]
        if failed or len(body.get("items", [])) != expected:
            detail = describe_error(failed[0], "no answer") if failed else "missing items"
            raise SinkUnavailableError(
                f"could not keep {refused} refused documents in {self.name}: {detail}"
            )
