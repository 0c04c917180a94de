"""The embedded store: documents and cursor state in one SQLite file, used without Elasticsearch.

It keeps the Elasticsearch sink's semantics: an id is unique within its data stream, a write
classifies each document as created, updated or unchanged by comparing sources the same way
(`same_source`), and a document Elasticsearch would refuse for good (source not JSON,
`@timestamp` missing or not a date) goes to the `deadletter` table instead.

Each `write()` is one `BEGIN IMMEDIATE` transaction (one id lookup per chunk of the batch's
ids, one `executemany` of its new and changed documents): all of it is stored or, on any error,
none of it (`_database` says how a full disk reads).

Thread safety: the sink holds **one connection guarded by one lock**; the daemon's job threads
take turns, which SQLite would impose on writers anyway. Other processes (`report`, `status`)
open their own connection: WAL lets them read while the daemon writes, and `busy_timeout` makes
writers wait for each other before `SinkUnavailableError` ("locked").
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from poller.documents.model import Document, Rejected
from poller.errors import SinkRejectedError
from poller.sinks._canonical import same_source, timestamp_millis
from poller.sinks._contract import REJECTED_STATUS, DeadLetter, WriteReport
from poller.sinks.sqlite._database import Database
from poller.sinks.sqlite._reader import SqliteReader, stored_sources

__all__ = ["SqliteSink"]

logger = logging.getLogger(__name__)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), allow_nan=False)
_UPSERT_DOCUMENT = (
    "INSERT INTO documents (data_stream, doc_id, source, ts, updated_at) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (data_stream, doc_id) DO UPDATE SET "
    "source = excluded.source, ts = excluded.ts, updated_at = excluded.updated_at"
)
_UPSERT_DEADLETTER = (
    "INSERT INTO deadletter (data_stream, doc_id, status, reason, source, failed_at) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (data_stream, doc_id) DO UPDATE SET "
    "status = excluded.status, reason = excluded.reason, "
    "source = excluded.source, failed_at = excluded.failed_at"
)


def _json(value: Any) -> str:
    return _ENCODER.encode(value)


def _stored_sources(
    conn: sqlite3.Connection, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """The stored source text of each (data stream, doc id) in `keys` that is stored: one query
    per data stream and per as many ids as SQLite takes parameters, not one per document."""
    ids: dict[str, dict[str, None]] = {}
    for data_stream, doc_id in keys:
        ids.setdefault(data_stream, {})[doc_id] = None
    per_query = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) - 1  # one is the data stream
    return {
        (data_stream, doc_id): source
        for data_stream, wanted in ids.items()
        for doc_id, source in stored_sources(conn.execute, data_stream, list(wanted), per_query)
    }


# A `documents` row: data_stream, doc_id, source, ts, updated_at.
_Row = tuple[str, str, str, int, str]


def _primary_key(row: _Row) -> tuple[str, str]:
    return row[0], row[1]


@dataclass
class _Changes:
    """The rows a batch writes (its created and updated documents) and its counts."""

    rows: list[_Row] = field(default_factory=list)
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    @classmethod
    def of(
        cls,
        accepted: Sequence[tuple[Document, str, int]],
        stored: dict[tuple[str, str], str],
        now: str,
    ) -> _Changes:
        """Compares each document with the stored one as it stands when its turn comes (`stored`
        takes each written text): a document repeated within the batch meets its earlier copy,
        as if the batch were written one document at a time."""
        changes = cls()
        for doc, text, ts in accepted:
            key = (doc.data_stream, doc.doc_id)
            previous = stored.get(key)
            if previous is None:
                changes.created += 1
            elif same_source(json.loads(previous), doc.source):
                changes.unchanged += 1
                continue
            else:
                changes.updated += 1
            stored[key] = text
            changes.rows.append((doc.data_stream, doc.doc_id, text, ts, now))
        # In key order: ids are hashes, so in batch order each insert would land on a random page
        # of the table. The sort is stable: a repeated id still ends as its last copy.
        changes.rows.sort(key=_primary_key)
        return changes


class SqliteSink:
    """Writes `Document`s and cursor state into one SQLite file (see the module docstring).

    `max_size_bytes` caps the file (SQLite's `max_page_count`): beyond it writes fail exactly
    as on a full disk.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        busy_timeout: float = 30.0,
        max_size_bytes: int | None = None,
    ) -> None:
        self.path = str(path)
        self._db = Database(self.path, busy_timeout, max_size_bytes)

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
        if not documents:
            return WriteReport()
        accepted: list[tuple[Document, str, int]] = []
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
            accepted.append((doc, text, ts))
        now = _now()
        with self._db.transaction(f"writing {len(documents)} documents") as tx:
            stored = _stored_sources(tx, [(doc.data_stream, doc.doc_id) for doc, _, _ in accepted])
            changes = _Changes.of(accepted, stored, now)
            tx.executemany(_UPSERT_DOCUMENT, changes.rows)
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
        return WriteReport(
            created=changes.created,
            updated=changes.updated,
            unchanged=changes.unchanged,
            dead_lettered=tuple(
                DeadLetter(doc.doc_id, doc.data_stream, 400, reason) for doc, reason in refused
            ),
        )

    def reject(self, items: Sequence[Rejected]) -> tuple[DeadLetter, ...]:
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

    def probe(self) -> bool:
        """Whether the store is open: a local file answers whenever the process runs."""
        return self._db.is_open

    def reader(self) -> SqliteReader:
        """A reader sharing this sink's connection (and lock)."""
        return SqliteReader(self._db)

    def close(self) -> None:
        self._db.close()
