"""The embedded store's tables (schema 3), and what opening a store finds in it.

A document is two rows. `documents` holds what `report` and `status` read, as columns: the data
stream and `@timestamp`, the id (16 bytes for a 32-hex id), and the fields of its `openai` object
in numbered columns: `k<i>` a string interned in `terms`, `n<i>` a number (or whatever scalar
that field holds) as it is. `fields` says, per data stream, which column holds which field; a
field without a column (none left, or a value no column can hold) is read from the source.
`sources` holds the source, deflated with a dictionary of `dictionaries` (see `_codec`).

`documents_read_by_id` holds every column of `documents` in the order of `documents_by_id`: a
report over a whole data stream reads its rows in that order (its float sums add up in it, see
`_reader`) and would otherwise fetch each row from wherever the table placed it, one random page
read a document (about 100 bytes a document, for `report` over a million documents in seconds,
not tens of them).

Schema 1 kept each source as JSON text in one `WITHOUT ROWID` table: ~4.8 KB a document on disk,
and reports extracting every value from the JSON. Schema 2 had the tables of schema 3, without
`documents_read_by_id` and without columns for the fields outside `openai` that reports read
(`_layout.OUTSIDE`). Both are migrated in place when opened for writing (`_migration`), and
refused when opened read-only. A store of an unknown schema is refused: it is never read as if
it were one of these.
"""

from __future__ import annotations

import sqlite3

from poller.errors import SinkRejectedError

__all__ = [
    "INDEXES",
    "K_SLOTS",
    "N_SLOTS",
    "READ_INDEX",
    "SCHEMA_VERSION",
    "SLOT_COLUMNS",
    "TABLES",
    "create",
    "found_version",
]

SCHEMA_VERSION = 3
K_SLOTS = 16
N_SLOTS = 24
SLOT_COLUMNS = tuple(f"k{i}" for i in range(K_SLOTS)) + tuple(f"n{i}" for i in range(N_SLOTS))

TABLES = f"""
CREATE TABLE data_streams (
    id     INTEGER PRIMARY KEY,
    name   TEXT NOT NULL UNIQUE,
    next_k INTEGER NOT NULL DEFAULT 0,  -- columns handed out so far: never handed out twice
    next_n INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE fields (
    data_stream INTEGER NOT NULL,
    path        TEXT NOT NULL,  -- dotted, under `openai`
    slot        TEXT,           -- its column in `documents`, or NULL: read from the source
    PRIMARY KEY (data_stream, path)
) WITHOUT ROWID;
CREATE TABLE terms (
    id    INTEGER PRIMARY KEY,
    value TEXT NOT NULL UNIQUE
);
CREATE TABLE dictionaries (
    id          INTEGER PRIMARY KEY,
    data_stream INTEGER NOT NULL,
    content     BLOB NOT NULL
);
CREATE TABLE documents (
    id          INTEGER PRIMARY KEY,
    data_stream INTEGER NOT NULL,
    doc_id      BLOB NOT NULL,      -- 16 bytes for a 32-hex id, else the id's text
    ts          INTEGER NOT NULL,   -- @timestamp in epoch milliseconds
    {", ".join(SLOT_COLUMNS)}
);
CREATE TABLE sources (
    id         INTEGER PRIMARY KEY,  -- the document's id
    dictionary INTEGER NOT NULL,
    body       BLOB NOT NULL         -- its JSON (keys sorted), deflated
);
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
)
"""
READ_INDEX = (
    "CREATE INDEX documents_read_by_id "
    f"ON documents (data_stream, doc_id, ts, {', '.join(SLOT_COLUMNS)})"
)
INDEXES = f"""
CREATE UNIQUE INDEX documents_by_id ON documents (data_stream, doc_id);
CREATE INDEX documents_by_time ON documents (data_stream, ts, doc_id);
{READ_INDEX}
"""
_V1_DOCUMENTS = ["data_stream", "doc_id", "source", "ts", "updated_at"]


def run_script(conn: sqlite3.Connection, script: str) -> None:
    """Each statement of `script` in the caller's transaction (`executescript` would commit)."""
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def create(conn: sqlite3.Connection) -> None:
    run_script(conn, TABLES)
    run_script(conn, INDEXES)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")


def found_version(conn: sqlite3.Connection, path: str) -> int:
    """The schema of the store: 0 when it is empty (new), else 1, 2 or 3. Raises
    `SinkRejectedError` for a file that is none of these."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if version == 0 and not tables:
        return 0
    if version == 1:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(documents)")]
        if columns == _V1_DOCUMENTS and {"state", "deadletter"} <= tables:
            return 1
    if version in (2, SCHEMA_VERSION) and {"documents", "sources", "fields", "terms"} <= tables:
        return version
    if version > SCHEMA_VERSION:
        raise SinkRejectedError(
            f"the embedded store {path} was written by a newer openai-poller (schema {version}; "
            f"this one reads schema {SCHEMA_VERSION} and older): upgrade openai-poller"
        )
    raise SinkRejectedError(
        f"{path} is not an openai-poller embedded store (schema {version}, tables "
        f"{', '.join(sorted(tables)) or 'none'}): point the store path elsewhere"
    )
