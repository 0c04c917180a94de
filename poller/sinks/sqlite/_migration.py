"""Making an opened store one of schema 3: creating a new one's tables, migrating one of
schema 1 or 2 in place, or refusing what cannot be read.

A migration is one transaction (a crash or a full disk leaves the store as it was, and the next
open starts again) that re-checks the version once it holds the write lock, so two processes
opening the same old store migrate it once. From schema 1 it reads the old documents in key
order, a chunk at a time, through the same writer as `write()` (texts are kept byte for byte),
logs its progress, and VACUUMs afterwards so the file shrinks to the new size. From schema 2 it
fills the columns of the fields outside `openai` (`_layout.OUTSIDE`) from every document's
source, in rowid order a chunk at a time, and builds `documents_read_by_id`.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections import defaultdict
from typing import Any

from poller.errors import SinkRejectedError, SinkUnavailableError
from poller.sinks.sqlite._database import Database
from poller.sinks.sqlite._files import missing_message
from poller.sinks.sqlite._layout import OUTSIDE, Catalog
from poller.sinks.sqlite._schema import (
    INDEXES,
    READ_INDEX,
    SCHEMA_VERSION,
    SLOT_COLUMNS,
    TABLES,
    create,
    found_version,
    run_script,
)
from poller.sinks.sqlite._writer import Item, store

__all__ = ["prepare"]

logger = logging.getLogger(__name__)

_CHUNK = 5000
_PROGRESS_EVERY = 100_000


def prepare(db: Database) -> None:
    """Makes the store behind `db` readable at schema 3, or raises `SinkRejectedError`."""
    with db.snapshot("opening it") as conn:
        version = found_version(conn, db.path)
    if db.read_only:
        if version == 0:
            raise SinkRejectedError(missing_message(db.path))
        if version != SCHEMA_VERSION:
            raise SinkRejectedError(
                "run `openai-poller run` or `backfill` once, then read again: it migrates the "
                f"embedded store {os.path.abspath(db.path)} in place from schema {version} to "
                f"{SCHEMA_VERSION}, which is all this version reads"
            )
        return
    db.start_writing()
    if version == SCHEMA_VERSION:
        return
    with db.transaction("creating its tables" if version == 0 else "migrating it") as tx:
        version = found_version(tx, db.path)  # another process may have got there first
        if version == 0:
            create(tx)
        elif version == 1:
            _migrate(tx, db.path)
        elif version == 2:
            _upgrade(tx, db.path)
    if version == 1:
        _vacuum(db)


def _migrate(tx: sqlite3.Connection, path: str) -> None:
    """Schema 1 → 3 inside the caller's transaction (see the module docstring)."""
    total = int(tx.execute("SELECT count(*) FROM documents").fetchone()[0])
    logger.warning(
        "migrating the embedded store %s from schema 1 to %d: %d documents",
        path, SCHEMA_VERSION, total,
    )
    tx.execute("ALTER TABLE documents RENAME TO documents_v1")
    tx.execute("DROP INDEX IF EXISTS documents_by_time")
    run_script(tx, TABLES)
    catalog = Catalog()
    done, after = 0, ("", "")
    while True:
        rows = tx.execute(
            "SELECT data_stream, doc_id, source, ts FROM documents_v1 "
            "WHERE (data_stream, doc_id) > (?, ?) ORDER BY data_stream, doc_id LIMIT ?",
            (*after, _CHUNK),
        ).fetchall()
        if not rows:
            break
        catalog.begin(tx)
        by_stream: dict[str, list[Item]] = defaultdict(list)
        for data_stream, doc_id, text, ts in rows:
            by_stream[data_stream].append(Item(doc_id, json.loads(text), text, ts))
        for data_stream, items in by_stream.items():
            store(tx, catalog, catalog.stream(tx, data_stream), items, {})
        after = rows[-1][0], rows[-1][1]
        if (done + len(rows)) // _PROGRESS_EVERY > done // _PROGRESS_EVERY:
            logger.warning("migrating %s: %d of %d documents", path, done + len(rows), total)
        done += len(rows)
    # Freed pages are not zeroed one by one (gigabytes through the WAL): VACUUM drops them.
    secure_delete = int(tx.execute("PRAGMA secure_delete").fetchone()[0])
    tx.execute("PRAGMA secure_delete=FAST")
    tx.execute("DROP TABLE documents_v1")
    tx.execute(f"PRAGMA secure_delete={secure_delete}")
    run_script(tx, INDEXES)
    tx.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    logger.warning("migrated the embedded store %s to schema %d", path, SCHEMA_VERSION)


def _upgrade(tx: sqlite3.Connection, path: str) -> None:
    """Schema 2 → 3 inside the caller's transaction (see the module docstring)."""
    total = int(tx.execute("SELECT count(*) FROM documents").fetchone()[0])
    logger.warning(
        "migrating the embedded store %s from schema 2 to %d: %d documents",
        path, SCHEMA_VERSION, total,
    )
    names = dict(tx.execute("SELECT id, name FROM data_streams").fetchall())
    catalog = Catalog()
    done, after = 0, 0
    while True:
        rows = tx.execute(
            "SELECT d.id, d.data_stream, s.dictionary, s.body FROM documents AS d "
            "JOIN sources AS s ON s.id = d.id WHERE d.id > ? ORDER BY d.id LIMIT ?",
            (after, _CHUNK),
        ).fetchall()
        if not rows:
            break
        catalog.begin(tx)
        by_stream: dict[int, list[tuple[int, list[Any]]]] = defaultdict(list)
        for rowid, stream, dictionary, body in rows:
            layout = catalog.stream(tx, names[stream])
            values: list[Any] = [None] * len(SLOT_COLUMNS)
            catalog.outside(tx, layout, json.loads(catalog.inflate(tx, dictionary, body)), values)
            by_stream[stream].append((rowid, values))
        for stream, updates in by_stream.items():
            slots = catalog.stream(tx, names[stream]).slots
            placed = [SLOT_COLUMNS.index(s) for p in OUTSIDE if (s := slots.get(p)) is not None]
            if placed:  # columns handed out only now: NULL in every earlier row of the stream
                assignments = ", ".join(f"{SLOT_COLUMNS[i]} = ?" for i in placed)
                tx.executemany(
                    f"UPDATE documents SET {assignments} WHERE id = ?",  # noqa: S608
                    [(*(values[i] for i in placed), rowid) for rowid, values in updates],
                )
        after = rows[-1][0]
        if (done + len(rows)) // _PROGRESS_EVERY > done // _PROGRESS_EVERY:
            logger.warning("migrating %s: %d of %d documents", path, done + len(rows), total)
        done += len(rows)
    tx.execute(READ_INDEX)
    tx.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    logger.warning("migrated the embedded store %s to schema %d", path, SCHEMA_VERSION)


def _vacuum(db: Database) -> None:
    """Gives the old documents' pages back to the file system (and overwrites them)."""
    try:
        db.execute_alone("VACUUM", "shrinking it after its migration")
    except SinkUnavailableError as exc:
        logger.warning("%s; the store works, only its file stays larger", exc)
