"""The embedded store: documents and cursor state in one SQLite file, used without Elasticsearch.

It keeps the Elasticsearch sink's semantics: an id is unique within its data stream, a write
classifies each document as created, updated or unchanged by comparing sources the same way
(`same_source`), and a document Elasticsearch would refuse for good (source not JSON,
`@timestamp` missing or not a date) goes to the `deadletter` table instead.

Each `write()` is one `BEGIN IMMEDIATE` transaction (one id lookup per chunk of the batch's
ids, one `executemany` of its new and changed documents, see `_writer`): all of it is stored
or, on any error, none of it (`_database` says how a full disk reads). How a document is laid
out on disk is `_schema`'s, `_layout`'s and `_codec`'s.

Thread safety: the sink holds **one connection guarded by one lock**; the daemon's job threads
take turns, which SQLite would impose on writers anyway. Other processes (`report`, `status`)
open their own connection: WAL lets them read while the daemon writes, and `busy_timeout` makes
writers wait for each other before `SinkUnavailableError` ("locked").
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from poller.documents.model import Document, Rejected
from poller.errors import SinkRejectedError
from poller.sinks._canonical import timestamp_millis
from poller.sinks._contract import REJECTED_STATUS, DeadLetter, HeldLetter, WriteReport
from poller.sinks.sqlite._database import Access, Database
from poller.sinks.sqlite._held import held_pages, release
from poller.sinks.sqlite._layout import Catalog
from poller.sinks.sqlite._migration import prepare
from poller.sinks.sqlite._reader import SqliteReader
from poller.sinks.sqlite._retention import prune_dead_letters
from poller.sinks.sqlite._writer import Changes, Item, store, stored_texts

__all__ = ["SqliteSink"]

logger = logging.getLogger(__name__)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), allow_nan=False)
_UPSERT_DEADLETTER = (
    "INSERT INTO deadletter (data_stream, doc_id, status, reason, source, failed_at) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (data_stream, doc_id) DO UPDATE SET "
    "status = excluded.status, reason = excluded.reason, "
    "source = excluded.source, failed_at = excluded.failed_at"
)


def _json(value: Any) -> str:
    return _ENCODER.encode(value)


class SqliteSink:
    """Writes `Document`s and cursor state into one SQLite file (see the module docstring).

    `max_size_bytes` caps the file (SQLite's `max_page_count`): beyond it writes fail exactly
    as on a full disk. `read_only` opens an existing store for `report` and `status`: it never
    creates a file, and writing through it raises `SinkRejectedError`.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        busy_timeout: float = 30.0,
        max_size_bytes: int | None = None,
        read_only: bool = False,
    ) -> None:
        self.path = str(path)
        self.read_only = read_only
        self._db = Database(self.path, Access(busy_timeout, max_size_bytes, read_only))
        try:
            prepare(self._db)
        except BaseException:
            self._db.close()
            raise
        self._catalog = Catalog()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def write(self, documents: Sequence[Document]) -> WriteReport:
        self._writable()
        if not documents:
            return WriteReport()
        accepted: dict[str, list[Item]] = {}
        refused: list[tuple[Document, str]] = []
        for doc in documents:
            try:
                text = _json(doc.source)
            except (TypeError, ValueError) as exc:
                refused.append((doc, f"document_parsing_exception: source is not JSON: {exc}"))
                continue
            ts = timestamp_millis(doc.source)
            if ts is None:
                refused.append(
                    (doc, "document_parsing_exception: @timestamp is missing or not a date")
                )
                continue
            accepted.setdefault(doc.data_stream, []).append(Item(doc.doc_id, doc.source, text, ts))
        now = _now()
        report = WriteReport()
        with self._changing(f"writing {len(documents)} documents") as tx:
            for data_stream, items in accepted.items():
                layout = self._catalog.stream(tx, data_stream)
                stored = stored_texts(tx, self._catalog, layout.id, [i.doc_id for i in items])
                changes = Changes.of(items, {k: text for k, (_, text) in stored.items()})
                rowids = {k: rowid for k, (rowid, _) in stored.items()}
                store(tx, self._catalog, layout, list(changes.items.values()), rowids)
                report += WriteReport(changes.created, changes.updated, changes.unchanged)
            tx.executemany(
                _UPSERT_DEADLETTER,
                [
                    (doc.data_stream, doc.doc_id, 400, reason,
                     json.dumps(doc.source, default=str), now)
                    for doc, reason in refused
                ],
            )
        for doc, reason in refused:
            logger.error(
                "embedded store refused document %s for %s: %s; kept in its deadletter table",
                doc.doc_id,
                doc.data_stream,
                reason,
            )
        return report + WriteReport(
            dead_lettered=tuple(
                DeadLetter(doc.doc_id, doc.data_stream, 400, reason) for doc, reason in refused
            ),
        )

    @contextmanager
    def _changing(self, action: str) -> Iterator[sqlite3.Connection]:
        """A write transaction; after a rollback the catalog forgets what it learnt in it."""
        try:
            with self._db.transaction(action) as tx:
                self._catalog.begin(tx)
                yield tx
        except BaseException:
            self._catalog.forget()
            raise

    def _writable(self) -> None:
        if self.read_only:
            raise SinkRejectedError(f"the embedded store {self.path} is open read-only")

    def reject(self, items: Sequence[Rejected]) -> tuple[DeadLetter, ...]:
        self._writable()
        now = _now()
        rows = [
            (r.doc.data_stream, r.doc.doc_id, REJECTED_STATUS, r.reason, _json(r.doc.source), now)
            for r in items
        ]
        with self._db.transaction(f"keeping {len(items)} rejected items") as tx:
            tx.executemany(_UPSERT_DEADLETTER, rows)
        for r in items:
            logger.error("%s item %s rejected: %s; kept in the deadletter table",
                         r.doc.stream, r.doc.doc_id, r.reason)
        return tuple(
            DeadLetter(r.doc.doc_id, r.doc.data_stream, REJECTED_STATUS, r.reason) for r in items
        )

    def load_state(self, key: str) -> Mapping[str, Any] | None:
        rows = self._db.query("SELECT state FROM state WHERE key = ?", (key,))
        if not rows:
            return None
        state = json.loads(rows[0][0])
        return state if isinstance(state, dict) else None

    def save_state(self, key: str, state: Mapping[str, Any]) -> None:
        self._writable()
        try:
            text = _json(dict(state))
        except (TypeError, ValueError) as exc:
            raise SinkRejectedError(f"state {key!r} is not JSON: {exc}") from exc
        with self._db.transaction(f"saving state {key!r}") as tx:
            tx.execute(
                "INSERT INTO state (key, state, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET "
                "state = excluded.state, updated_at = excluded.updated_at",
                (key, text, _now()),
            )

    def prune_dead_letters(self, before: datetime) -> int:
        """Deletes the dead letters last written before `before` (`_retention`); how many."""
        self._writable()
        return prune_dead_letters(self._db, before)

    def probe(self) -> bool:
        """Whether the store is open for writing: a local file answers whenever the process
        runs."""
        return self._db.is_open and not self.read_only

    def reader(self) -> SqliteReader:
        """A reader sharing this sink's connection (and lock)."""
        return SqliteReader(self._db)

    def held_letters(
        self, data_stream: str, *, since: datetime | None, until: datetime, page: int
    ) -> Iterator[list[HeldLetter]]:
        return held_pages(self._db, data_stream, since=since, until=until, page=page)

    def release_letters(self, letters: Sequence[HeldLetter]) -> int:
        self._writable()
        return release(self._db, letters)

    def close(self) -> None:
        self._db.close()
