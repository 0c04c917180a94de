"""Storing documents of one data stream inside the caller's write transaction: the id lookup,
the comparison with what is stored, and the two rows each new or changed document becomes.

Lookups run `IN` lists of exactly `LOOKUP_CHUNK` ids (the last one repeated to fill a short
list): one prepared statement whatever the batch's size. (Schema 1 sent each batch as one list
of its own length; every length was another cached statement holding its bound ids, so memory
grew with the number of distinct page sizes a long backfill met.)
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from poller.sinks._canonical import same_source
from poller.sinks.sqlite._codec import decode_id, encode_id
from poller.sinks.sqlite._layout import Catalog, StreamLayout
from poller.sinks.sqlite._schema import SLOT_COLUMNS

__all__ = ["LOOKUP_CHUNK", "Changes", "Item", "lookup_sql", "store", "stored_texts"]

LOOKUP_CHUNK = 256
_COLUMNS = ", ".join(SLOT_COLUMNS)
_PUT_DOCUMENT = (
    f"REPLACE INTO documents (id, data_stream, doc_id, ts, {_COLUMNS}) "  # noqa: S608
    f"VALUES (?, ?, ?, ?, {', '.join('?' * len(SLOT_COLUMNS))})"
)
_PUT_SOURCE = "REPLACE INTO sources (id, dictionary, body) VALUES (?, ?, ?)"


def lookup_sql(per_query: int) -> str:
    """Rowid, id, dictionary and body of the stored documents among `per_query` ids."""
    return (
        "SELECT d.id, d.doc_id, s.dictionary, s.body FROM documents AS d "  # noqa: S608
        "JOIN sources AS s ON s.id = d.id "
        f"WHERE d.data_stream = ? AND d.doc_id IN ({', '.join('?' * per_query)})"
    )


def chunks(keys: Sequence[Any], per_query: int) -> Iterator[list[Any]]:
    """`keys` in lists of exactly `per_query`, the last list filled with its last key."""
    for i in range(0, len(keys), per_query):
        chunk = list(keys[i : i + per_query])
        yield chunk + [chunk[-1]] * (per_query - len(chunk))


def stored_texts(
    conn: sqlite3.Connection, catalog: Catalog, stream: int, doc_ids: Sequence[str]
) -> dict[str, tuple[int, str]]:
    """Rowid and stored JSON of each of `doc_ids` stored in the data stream `stream`."""
    per_query = min(LOOKUP_CHUNK, conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) - 1)
    sql = lookup_sql(per_query)
    found: dict[str, tuple[int, str]] = {}
    for chunk in chunks([encode_id(d) for d in dict.fromkeys(doc_ids)], per_query):
        for rowid, key, dictionary, body in conn.execute(sql, [stream, *chunk]):
            text = catalog.inflate(conn, dictionary, body).decode()
            found[decode_id(key)] = (rowid, text)
    return found


@dataclass(frozen=True)
class Item:
    """A document the store accepted: its JSON text and `@timestamp` in epoch milliseconds."""

    doc_id: str
    source: Mapping[str, Any]
    text: str
    ts: int


@dataclass
class Changes:
    """What a batch of one data stream writes (its created and updated documents, the last
    copy of each id) and its counts."""

    items: dict[str, Item] = field(default_factory=dict)
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    @classmethod
    def of(cls, items: Sequence[Item], stored: Mapping[str, str]) -> Changes:
        """Compares each document with the stored one as it stands when its turn comes: a
        document repeated within the batch meets its earlier copy, as if the batch were written
        one document at a time."""
        changes = cls()
        current = dict(stored)
        for item in items:
            previous = current.get(item.doc_id)
            if previous is None:
                changes.created += 1
            elif previous == item.text or same_source(json.loads(previous), item.source):
                changes.unchanged += 1
                continue
            else:
                changes.updated += 1
            current[item.doc_id] = item.text
            changes.items[item.doc_id] = item
        return changes


def store(
    conn: sqlite3.Connection,
    catalog: Catalog,
    layout: StreamLayout,
    items: Sequence[Item],
    rowids: Mapping[str, int],
) -> None:
    """Writes `items` (one per id) as rows: in place for ids in `rowids`, else as new rows
    numbered in time order, so a report's time range reads neighbouring pages."""
    if not items:
        return
    texts = [item.text.encode() for item in items]
    dictionary = catalog.dictionary(conn, layout, texts)
    top = conn.execute("SELECT max(id) FROM documents").fetchone()[0] or 0
    fresh = sorted((i for i in items if i.doc_id not in rowids), key=lambda i: i.ts)
    numbered = {item.doc_id: top + n for n, item in enumerate(fresh, start=1)}
    documents, sources = [], []
    for item, text in zip(items, texts, strict=True):
        rowid = rowids.get(item.doc_id) or numbered[item.doc_id]
        values = catalog.columns(conn, layout, item.source, item.text)
        documents.append((rowid, layout.id, encode_id(item.doc_id), item.ts, *values))
        sources.append((rowid, dictionary.id, dictionary.deflate(text)))
    # In rowid order: new rows then fill pages one after the other instead of splitting them.
    conn.executemany(_PUT_DOCUMENT, sorted(documents, key=itemgetter(0)))
    conn.executemany(_PUT_SOURCE, sorted(sources, key=itemgetter(0)))
