"""The embedded store's file: its schema, one connection guarded by one lock, and SQLite's
errors turned into the poller's.

A full disk rolls the transaction back and raises one clear `SinkUnavailableError` ("cannot
write the embedded store <path>: disk full (...)"). SQLite reports a full disk as SQLITE_FULL,
but a write beyond the process's file size limit (`ulimit -f`, EFBIG) or an fsync failing for
lack of space as a plain I/O error; those are recognised by looking at the limit and at the
free space of the store's file system.
"""

from __future__ import annotations

import errno
import logging
import os
import resource
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from poller.errors import PollerError, SinkRejectedError, SinkUnavailableError

__all__ = ["SCHEMA_VERSION", "Database", "disk_full_message"]

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


class Database:
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

    @property
    def is_open(self) -> bool:
        return self._conn is not None

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
