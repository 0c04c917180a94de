"""The embedded store's connection: its settings, one lock guarding it, transactions and
snapshots, and SQLite's errors turned into the poller's.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from poller.errors import PollerError, SinkRejectedError, SinkUnavailableError
from poller.sinks.sqlite._files import connect

__all__ = ["Access", "Database", "disk_full_message"]

logger = logging.getLogger(__name__)

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
_CACHE_KIB = 16 * 1024


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


@dataclass(frozen=True)
class Access:
    """How the store is opened: how long to wait for another writer's lock, the file's cap
    (SQLite's `max_page_count`), and whether only to read it."""

    busy_timeout: float = 30.0
    max_size_bytes: int | None = None
    read_only: bool = False


class Database:
    """One connection, one lock, and SQLite errors turned into the poller's."""

    def __init__(self, path: str, access: Access) -> None:
        self.path = path
        self.read_only = access.read_only
        self._busy_timeout = access.busy_timeout
        self._max_size_bytes = access.max_size_bytes
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        try:
            conn = connect(path, access.busy_timeout, read_only=access.read_only)
            self._conn = conn
            # A fixed page cache and no memory mapping: memory stays the same however large
            # the store grows.
            conn.execute(f"PRAGMA cache_size=-{_CACHE_KIB}")
            conn.execute("PRAGMA mmap_size=0")
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

    def start_writing(self) -> None:
        """WAL (readers never wait for the writer), full syncs, and the size cap: set once the
        file is known to be a store, since WAL mode rewrites its header."""
        with self._lock:
            conn = self._connection()
            try:
                mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if str(mode).lower() != "wal" and self.path != ":memory:":
                    logger.warning(
                        "embedded store %s runs in %s journal mode, not WAL", self.path, mode
                    )
                conn.execute("PRAGMA synchronous=FULL")
                if self._max_size_bytes is not None:
                    page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
                    pages = max(1, self._max_size_bytes // page_size)
                    conn.execute(f"PRAGMA max_page_count={pages}")
            except sqlite3.Error as exc:
                raise self.translate(exc, "opening it") from exc

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
        with self._within("BEGIN IMMEDIATE", action) as conn:
            yield conn

    @contextmanager
    def snapshot(self, action: str = "reading") -> Iterator[sqlite3.Connection]:
        """All statements in the block read the same state of the store."""
        with self._within("BEGIN", action) as conn:
            yield conn

    @contextmanager
    def _within(self, begin: str, action: str) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._connection()
            try:
                conn.execute(begin)
                yield conn
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback(conn)
                raise self.translate(exc, action) from exc
            except BaseException:
                self._rollback(conn)
                raise

    def execute_alone(self, sql: str, action: str) -> None:
        """One statement outside any transaction (VACUUM cannot run inside one)."""
        with self._lock:
            try:
                self._connection().execute(sql)
            except sqlite3.Error as exc:
                raise self.translate(exc, action) from exc

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
