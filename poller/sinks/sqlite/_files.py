"""Opening the store's file: created private, or opened read-only without creating anything.

The store holds emails, IP addresses and locations (audit documents), so a new store file is
created with mode 0600 whatever the umask; SQLite gives its `-wal` and `-shm` files the mode of
the database file.

A read-only open (`report`, `status`) uses SQLite's `mode=ro`, so it never creates the store
(SQLite still creates the `-wal` and `-shm` files any reader of a WAL database needs, where it
may). Where it may not (a read-only file system) a store without a `-wal` file cannot be opened
that way; then no writer has it open, so it is opened `immutable` instead.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from poller.errors import SinkRejectedError

__all__ = ["connect", "create_private", "missing_message"]

_PRIVATE = 0o600


def missing_message(path: str) -> str:
    return (
        f"there is no embedded store at {os.path.abspath(path)}: nothing has been collected "
        "into it yet"
    )


def create_private(path: str) -> None:
    """Creates the empty store file with mode 0600 unless it exists (an empty file is an empty
    SQLite database)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, _PRIVATE)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, _PRIVATE)  # the umask may have taken bits off (0400 would not write)
    finally:
        os.close(fd)


def connect(path: str, busy_timeout: float, *, read_only: bool) -> sqlite3.Connection:
    """A connection to the store at `path`: read-only ones first check it exists, and read
    something, so an unopenable file fails here."""
    if not read_only:
        if path != ":memory:":
            create_private(path)
        return sqlite3.connect(
            path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
    if os.path.isdir(path):
        raise SinkRejectedError(
            f"the embedded store {os.path.abspath(path)} cannot be used: it is a directory; "
            "point POLLER_STORE_PATH at a file"
        )
    if path == ":memory:" or not os.path.isfile(path):
        raise SinkRejectedError(missing_message(path))
    uri = Path(os.path.abspath(path)).as_uri()
    try:
        return _read_only(f"{uri}?mode=ro", busy_timeout)
    except sqlite3.OperationalError as exc:
        cannot_open = getattr(exc, "sqlite_errorname", "") == "SQLITE_CANTOPEN"
        if not cannot_open or os.path.isfile(f"{path}-wal"):
            raise
    return _read_only(f"{uri}?mode=ro&immutable=1", busy_timeout)


def _read_only(uri: str, busy_timeout: float) -> sqlite3.Connection:
    conn = sqlite3.connect(
        uri, uri=True, timeout=busy_timeout, isolation_level=None, check_same_thread=False
    )
    try:
        conn.execute("PRAGMA query_only=ON")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except BaseException:
        conn.close()
        raise
    return conn
