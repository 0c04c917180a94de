"""The Elasticsearch sink: documents into data streams exactly once in effect, state beside them.

`write()` is `DataStreamWriter` (the algorithm, its item classification and its worst-case time
are described in `_writer`). Cursor state lives in the plain index `EsIndices.state` (one
document per key, written with `refresh=wait_for`); documents refused for good live in
`EsIndices.deadletter` (`_held` reads and removes them for a replay). `reader()` serves
`report` and `status`; what `doctor` asks the cluster is in `_diagnostics`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from elastic_transport import BaseNode
from elastic_transport import TransportError as ElasticTransportError
from elasticsearch import ApiError, AuthorizationException, Elasticsearch, NotFoundError

from poller.documents.model import Document, Rejected
from poller.redaction import redact
from poller.sinks._contract import DeadLetter, HeldLetter, WriteReport
from poller.sinks.elasticsearch._connection import Cluster, IndexKeeper, now_utc
from poller.sinks.elasticsearch._deadletters import DeadLetterIndex
from poller.sinks.elasticsearch._held import HeldLetters
from poller.sinks.elasticsearch._options import (
    EsConnection,
    EsIndices,
    EsWriteOptions,
    worst_case_seconds,
)
from poller.sinks.elasticsearch._reader import ElasticsearchReader
from poller.sinks.elasticsearch._retention import prune_dead_letters
from poller.sinks.elasticsearch._retry import ItemRetry
from poller.sinks.elasticsearch._transport import DeadlineHttpNode
from poller.sinks.elasticsearch._writer import DataStreamWriter

__all__ = ["STATE_MAPPINGS", "ElasticsearchSink"]

logger = logging.getLogger(__name__)

STATE_MAPPINGS: Mapping[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "state": {"type": "object", "enabled": False},
        "updated_at": {"type": "date"},
    },
}


class ElasticsearchSink:
    """Writes `Document`s into Elasticsearch data streams and keeps cursor state beside them.

    One sink may serve several job threads: the client is thread-safe, each `write()` keeps its
    state on its own stack, and writes of the same ids from two places resolve through the 409
    paths. `node_class` is the seam below the real client and transport (tests answer from a
    fake node there). Raises ValueError when the client refuses the connection's settings.
    """

    def __init__(
        self,
        connection: EsConnection,
        *,
        indices: EsIndices | None = None,
        write: EsWriteOptions | None = None,
        retry: ItemRetry | None = None,
        node_class: type[BaseNode] = DeadlineHttpNode,
    ) -> None:
        self.connection = connection
        self.indices = indices or EsIndices()
        self._options = write or EsWriteOptions()
        self._retry = retry or ItemRetry()
        self.cluster = Cluster.connect(connection, node_class)
        self._client = self.cluster.client
        self._errors = self.cluster.errors
        self._keeper = IndexKeeper(self.cluster)
        self._dead_letters = DeadLetterIndex(
            self.cluster, self._keeper, self.indices.deadletter, self._options
        )
        self._writer = DataStreamWriter(
            self.cluster, self._options, self._retry, self._dead_letters
        )
        self._held = HeldLetters(self.cluster, self.indices.deadletter)
        self._written: set[str] = set()  # data streams written since the last refresh_written
        self._written_lock = threading.Lock()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def client(self) -> Elasticsearch:
        """The underlying client, for `setup` to install templates with the same connection."""
        return self._client

    def write(self, documents: Sequence[Document]) -> WriteReport:
        """Store every document or raise (see `_writer`).

        A batch holding one id twice stores its last version; an earlier copy counts as
        `unchanged` when it equals the last one, else as `updated`.
        """
        report = self._writer.write(documents)
        with self._written_lock:
            self._written.update(doc.data_stream for doc in documents)
        return report

    def refresh_written(self) -> None:
        """Make what this sink wrote searchable now, so a `report` right after a backfill sees
        it (read-after-write); best effort: without the `maintenance` privilege documents
        still show within the index refresh interval (1 s by default)."""
        with self._written_lock:
            streams, self._written = sorted(self._written), set()
        if not streams:
            return
        try:
            self._client.indices.refresh(
                index=",".join(streams), ignore_unavailable=True, allow_no_indices=True
            )
        except (ApiError, ElasticTransportError) as exc:
            logger.warning("could not refresh %s: %s; what was written shows within the "
                           "index refresh interval", ", ".join(streams), redact(str(exc)))

    def reject(self, items: Sequence[Rejected]) -> tuple[DeadLetter, ...]:
        return self._dead_letters.reject(items)

    def held_letters(
        self, data_stream: str, *, since: datetime | None, until: datetime, page: int
    ) -> Iterator[list[HeldLetter]]:
        return self._held.pages(data_stream, since=since, until=until, page=page)

    def release_letters(self, letters: Sequence[HeldLetter]) -> int:
        return self._held.release(letters)

    def load_state(self, key: str) -> Mapping[str, Any] | None:
        with self._errors(f"reading state {key!r}"):
            try:
                resp = self._client.get(
                    index=self.indices.state, id=key, source_includes="state"
                )
            except NotFoundError:
                return None
        state = self._errors.answer(resp.body, f"reading state {key!r}").get("_source", {})
        state = state.get("state") if isinstance(state, Mapping) else None
        return dict(state) if isinstance(state, Mapping) else None

    def save_state(self, key: str, state: Mapping[str, Any]) -> None:
        self._keeper.ensure(self.indices.state, STATE_MAPPINGS)
        with self._errors(f"saving state {key!r}"):
            self._client.index(
                index=self.indices.state,
                id=key,
                document={"state": dict(state), "updated_at": now_utc()},
                refresh="wait_for",
            )

    def prune_dead_letters(self, before: datetime) -> int:
        """Deletes the dead letters last written before `before` (`_retention`); how many."""
        return prune_dead_letters(self.cluster, self.indices.deadletter, before)

    def probe(self) -> bool:
        """Whether the cluster answers and accepts the credentials (a 403 for lack of the
        `monitor` privilege still proves both)."""
        try:
            self._client.info()
        except AuthorizationException:
            return True
        except (ApiError, ElasticTransportError):
            return False
        return True

    def reader(self) -> ElasticsearchReader:
        return ElasticsearchReader(
            self._client, errors=self._errors, deadletter_index=self.indices.deadletter
        )

    def worst_case_seconds(self, documents: int) -> float:
        """The longest a `write()` of that many documents can take (see `_writer`)."""
        return worst_case_seconds(self.connection, self._options, self._retry, documents)

    def close(self) -> None:
        self.cluster.close()
