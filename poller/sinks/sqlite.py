"""The embedded store: documents and cursor state in one SQLite file, used without Elasticsearch.

It keeps the Elasticsearch sink's semantics: an id is unique within its data stream, a write
classifies each document as created, updated or unchanged by comparing sources the same way
(`poller.sinks.canonical.same_source`), and a document Elasticsearch would refuse for good (source
not JSON, `@timestamp` missing or not a date) goes to the `deadletter` table instead.

Each `write()` is one `BEGIN IMMEDIATE` transaction (one id lookup per chunk of the batch's
ids, one `executemany` of its new and changed documents): all of it is stored or, on any error,
none of it (a full disk rolls the transaction back and raises one clear `SinkUnavailableError`:
"cannot write the embedded store <path>: disk full (...)"). SQLite reports a full disk as
SQLITE_FULL, but a write beyond the process's file size limit (`ulimit -f`, EFBIG) or an fsync
failing for lack of space as a plain I/O error; those are recognised by looking at the limit
and at the free space of the store's file system.

Thread safety: the sink holds **one connection guarded by one lock**; the daemon's job threads
take turns, which SQLite would impose on writers anyway. Other processes (`report`, `status`)
open their own connection: WAL lets them read while the daemon writes, and `busy_timeout` makes
writers wait for each other before `SinkUnavailableError` ("locked").
"""

from __future__ import annotations

import errno
import json
import logging
import os
import resource
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from poller.documents.model import Document, Rejected
from poller.errors import PollerError, SinkRejectedError, SinkUnavailableError
from poller.sinks.base import REJECTED_STATUS, DeadLetter, WriteReport
from poller.sinks.canonical import same_source, timestamp_millis
from poller.sinks.reader import SqliteReader, stored_sources

__all__ = ["SCHEMA_VERSION", "SqliteSink"]

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    data_stream TEXT NOT NULL,
    doc_id      TEXT NOT NULL,
    source      TEXT NOT NULL,  -- JSON, keys sorted
    ts          INTEGER,        -- @timestamp in epoch milliseconds
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (data_stream, doc_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS documents_by_time ON documents (data_stream, ts);
CREATE TABLE IF NOT EXISTS state (
    key        TEXT PRIMARY KEY,
    state      TEXT NOT NULL,  -- JSON object
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS deadletter (
    id          INTEGER PRIMARY KEY,
    data_stream TEXT NOT NULL,
    doc_id      TEXT NOT NULL,
    status      INTEGER NOT NULL,
    reason      TEXT NOT NULL,
    source      TEXT NOT NULL,  -- the refused document, as JSON
    failed_at   TEXT NOT NULL,
    UNIQUE (data_stream, doc_id)
);
"""
_UNAVAILABLE = ("SQLITE_FULL", "SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_IOERR")
# Write-side I/O errors that may mean "no room": checked against the limit and the free space.
_WRITE_IOERR = (
    "SQLITE_IOERR_WRITE", "SQLITE_IOERR_FSYNC", "SQLITE_IOERR_TRUNCATE",
    "SQLITE_IOERR_SHMSIZE", "SQLITE_IOERR_DIR_FSYNC",
)
_NO_ROOM_ERRNOS = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
# Within this much of the file size limit, or with this little space left, a failed write is
# taken for a full disk (SQLite writes pages and WAL frames of a few KiB at a time).
_LIMIT_MARGIN = 64 * 1024
_SPACE_MARGIN = 1024 * 1024


def _no_room(path: str) -> str | None:
    """Why a write to the store at `path` may have failed for lack of space, if it may have."""
    if path == ":memory:":
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    if soft != resource.RLIM_INFINITY:
        sizes = []
        for suffix in ("", "-wal", "-journal"):
            try:
                sizes.append(os.stat(path + suffix).st_size)
            except OSError:
                continue
        if sizes and max(sizes) + _LIMIT_MARGIN >= soft:
            return f"the file size limit of {soft} bytes is reached"
    try:
        fs = os.statvfs(Path(path).parent)
    except OSError:
        return None
    if fs.f_bavail * fs.f_frsize < _SPACE_MARGIN:
        return "no space left on the device"
    return None


def disk_full_message(path: str, detail: str, action: str) -> str:
    """The one line every "no room" failure of the store reads as."""
    return (
        f"cannot write the embedded store {path}: disk full, {detail} while {action}; "
        "nothing of it was stored \N{EM DASH} free space (or raise the limit) and run again"
    )


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


class _Database:
    """One connection, one lock, and SQLite errors turned into the poller's."""

    def __init__(self, path: str, busy_timeout: float, max_size_bytes: int | None) -> None:
        self.path = path
        self._busy_timeout = busy_timeout
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        try:
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
            self._conn = conn
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal" and path != ":memory:":
                logger.warning("embedded store %s runs in %s journal mode, not WAL", path, mode)
            conn.execute("PRAGMA synchronous=FULL")
            if max_size_bytes is not None:
                page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
                conn.execute(f"PRAGMA max_page_count={max(1, max_size_bytes // page_size)}")
            with self.transaction("creating its tables") as tx:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        tx.execute(statement)
                tx.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except OSError as exc:
            self.close()
            if exc.errno in _NO_ROOM_ERRNOS:
                reason = exc.strerror or str(exc)
                raise SinkUnavailableError(
                    disk_full_message(path, reason.lower(), "creating it")
                ) from exc
            raise SinkRejectedError(f"cannot create the embedded store {path}: {exc}") from exc
        except sqlite3.Error as exc:
            self.close()
            raise self.translate(exc, "opening it") from exc
        except PollerError:
            self.close()
            raise

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise SinkRejectedError(f"the embedded store {self.path} is closed")
        return self._conn

    @contextmanager
    def transaction(self, action: str) -> Iterator[sqlite3.Connection]:
        """All statements in the block commit together, or none of them do."""
        with self._lock:
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
                yield conn
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback(conn)
                raise self.translate(exc, action) from exc
            except BaseException:
                self._rollback(conn)
                raise

    @staticmethod
    def _rollback(conn: sqlite3.Connection) -> None:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                logger.warning("rollback failed; SQLite rolls back on close", exc_info=True)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._connection().execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise self.translate(exc, "reading") from exc

    def translate(self, exc: sqlite3.Error, action: str) -> PollerError:
        name = getattr(exc, "sqlite_errorname", "") or ""
        where = f"the embedded store {self.path}"
        if name.startswith("SQLITE_FULL"):
            # SQLite's text ("database or disk is full") covers max_page_count too.
            return SinkUnavailableError(
                disk_full_message(self.path, f"the store is full ({exc})", action)
            )
        if name in _WRITE_IOERR and (why := _no_room(self.path)) is not None:
            return SinkUnavailableError(disk_full_message(self.path, f"{why} ({exc})", action))
        if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
            return SinkUnavailableError(
                f"{where} stayed locked by another connection for more than "
                f"{self._busy_timeout:g}s while {action}"
            )
        if name.startswith(_UNAVAILABLE) or (
            not name and isinstance(exc, sqlite3.OperationalError)
        ):
            return SinkUnavailableError(f"{where} failed while {action}: {exc}")
        return SinkRejectedError(f"{where} cannot be used ({exc}) while {action}")

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


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
        self._db = _Database(self.path, busy_timeout, max_size_bytes)

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

    def reader(self) -> SqliteReader:
        """A reader sharing this sink's connection (and lock)."""
        return SqliteReader(self._db)

    def close(self) -> None:
        self._db.close()
