"""Versioned records in the embedded store, and per-org file locks beside it, for leases and
fenced cursors (`poller.leases.Cells`).

Records are rows `(key, state, updated_at)` of the `state` table (cursors) or of a `leases`
table of the same shape (leases and the replica roster). A row's version is its JSON text: a
write replaces it only `WHERE state = <the text read>`, one statement, so two processes racing
cannot both win.

The file locks are the embedded store's stronger guarantee: the store lives on one host, so an
exclusive `flock` per org (on an empty file `<store>.lease.<org>` beside the store), held as
long as the lease is, proves whether its holder still runs. Two processes can never both hold
it, even with clocks that disagree; the kernel releases it when a holder dies (kill -9
included); and a paused holder (SIGSTOP) keeps it, so nobody collects its org behind its back.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from collections.abc import Hashable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final, Literal

from poller.sinks.sqlite._database import Access, Database

__all__ = ["OrgLocks", "StoreCells"]

Versioned = tuple[Mapping[str, Any] | None, Hashable | None]
Table = Literal["state", "leases"]

_LEASES_TABLE: Final = (
    "CREATE TABLE IF NOT EXISTS leases (key TEXT PRIMARY KEY, state TEXT NOT NULL, "
    "updated_at TEXT NOT NULL)"
)
# The SQL of each table: the table name is one of two constants, never input.
_SQL: Final = {
    table: {
        "read": f"SELECT state FROM {table} WHERE key = ?",  # noqa: S608
        "read_many": f"SELECT key, state FROM {table} WHERE key IN ",  # noqa: S608
        "create": f"INSERT INTO {table} (key, state, updated_at) "  # noqa: S608
        "VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING",
        "replace": f"UPDATE {table} SET state = ?, updated_at = ? "  # noqa: S608
        "WHERE key = ? AND state = ?",
    }
    for table in ("state", "leases")
}
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), allow_nan=False)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class StoreCells:
    """Records of one table of the store at `path`, on a connection of their own (the sink's
    stays the sink's; SQLite's locking orders the two). Open it after the sink created the
    store: an empty file with only a `leases` table would not read as a store."""

    def __init__(
        self, path: str, table: Table, *, busy_timeout: float = 30.0, read_only: bool = False
    ) -> None:
        """`read_only` (for `status`) changes nothing, not even to create the table: a store
        that never had replicas reads as holding no record."""
        self._sql = _SQL[table]
        self._db = Database(path, Access(busy_timeout, read_only=read_only))
        try:
            if read_only:
                self._exists = bool(self._db.query(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)))
                return
            self._exists = True
            self._db.start_writing()
            with self._db.transaction("creating the leases table") as tx:
                tx.execute(_LEASES_TABLE)
        except BaseException:
            self._db.close()
            raise

    def read(self, key: str) -> Versioned:
        rows = self._db.query(self._sql["read"], (key,)) if self._exists else []
        return _versioned(rows[0][0]) if rows else (None, None)

    def read_many(self, keys: Sequence[str]) -> dict[str, Versioned]:
        if not keys or not self._exists:
            return {}
        marks = ", ".join("?" for _ in keys)
        rows = self._db.query(f"{self._sql['read_many']}({marks})", tuple(keys))
        return {key: _versioned(text) for key, text in rows}

    def write(self, key: str, value: Mapping[str, Any], expected: Hashable | None) -> bool:
        text = _ENCODER.encode(dict(value))
        with self._db.transaction(f"writing {key!r}") as tx:
            if expected is None:
                cursor = tx.execute(self._sql["create"], (key, text, _now()))
            else:
                cursor = tx.execute(self._sql["replace"], (text, _now(), key, expected))
            return cursor.rowcount == 1

    def close(self) -> None:
        self._db.close()


def _versioned(text: str) -> Versioned:
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    return (value if isinstance(value, dict) else None), text


class OrgLocks:
    """An exclusive, non-blocking `flock` per org, held by this process until `unlock`."""

    def __init__(self, store_path: str) -> None:
        self._prefix = f"{store_path}.lease."
        self._held: dict[str, int] = {}
        self._lock = threading.Lock()

    def try_lock(self, org: str) -> bool:
        """Whether this process holds `org`'s lock now (taking it if free)."""
        with self._lock:
            if org in self._held:
                return True
            fd = os.open(self._prefix + org, os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            self._held[org] = fd
            return True

    def held(self, org: str) -> bool:
        with self._lock:
            return org in self._held

    def is_free(self, org: str) -> bool:
        """Whether no process holds `org`'s lock (this one included)."""
        if self.held(org):
            return False
        if not self.try_lock(org):
            return False
        self.unlock(org)
        return True

    def unlock(self, org: str) -> None:
        with self._lock:
            fd = self._held.pop(org, None)
        if fd is not None:
            os.close(fd)  # closing the only descriptor releases the flock

    def close(self) -> None:
        for org in list(self._held):
            self.unlock(org)
