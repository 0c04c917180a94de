"""The SQLite sink writes a batch with one id lookup per chunk of ids and one `executemany`, and
counts, stores and revises exactly as writing its documents one at a time would. Lookups are
one prepared statement, whatever the batch's size."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from poller.documents.model import Document
from poller.sinks import SqliteSink, WriteReport
from poller.sinks.sqlite._codec import decode_id, inflate

COMPLETIONS = "logs-openai.completions-default"
EMBEDDINGS = "logs-openai.embeddings-default"
STREAMS = {COMPLETIONS: "completions", EMBEDDINGS: "embeddings"}
LOOKUP = "SELECT d.id, d.doc_id, s.dictionary, s.body FROM documents"
PUT = "REPLACE INTO documents"


def _doc(data_stream: str, doc_id: str, tokens: Any, **extra: Any) -> Document:
    source = {"@timestamp": "2026-03-01T00:00:00.000Z", "openai": {"tokens": tokens}, **extra}
    return Document(STREAMS[data_stream], data_stream, doc_id, source)


def _counts(report: WriteReport) -> tuple[int, int, int, int]:
    return report.created, report.updated, report.unchanged, len(report.dead_lettered)


def _stored(sink: SqliteSink) -> dict[tuple[str, str], tuple[str, int]]:
    """(data stream, id) → (stored JSON text, ts) of every document."""
    rows = sink._db.query(
        "SELECT n.name, d.doc_id, d.ts, s.body, c.content FROM documents AS d "
        "JOIN data_streams AS n ON n.id = d.data_stream JOIN sources AS s ON s.id = d.id "
        "JOIN dictionaries AS c ON c.id = s.dictionary"
    )
    return {
        (ds, decode_id(key)): (inflate(body, content).decode(), ts)
        for ds, key, ts, body, content in rows
    }


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[SqliteSink]:
    opened = SqliteSink(tmp_path / "store.sqlite3")
    yield opened
    opened.close()


def _lookups(sink: SqliteSink) -> list[str]:
    """The id lookups the sink runs from now on."""
    statements: list[str] = []
    conn = sink._db._connection()
    conn.set_trace_callback(statements.append)
    return statements


STORED = [
    _doc(COMPLETIONS, "same", 1),
    _doc(COMPLETIONS, "revised", 1),
    _doc(COMPLETIONS, "same-as-float", 2.0),
    _doc(EMBEDDINGS, "same", 3),
]
# Unchanged, updated, unchanged once normalised (2 == 2.0, a null field), created, created and
# then updated within the batch, refused, another stream's same id unchanged, an unchanged id
# repeated, and the batch's new id repeated with the same content (unchanged).
BATCH = [
    _doc(COMPLETIONS, "same", 1),
    _doc(COMPLETIONS, "revised", 10),
    _doc(COMPLETIONS, "same-as-float", 2, gone=None),
    _doc(COMPLETIONS, "new", 4),
    _doc(EMBEDDINGS, "new-twice", 5),
    Document("completions", COMPLETIONS, "refused", {"openai": {}}),
    _doc(EMBEDDINGS, "new-twice", 6),
    _doc(EMBEDDINGS, "same", 3),
    _doc(COMPLETIONS, "same", 1),
    _doc(COMPLETIONS, "new", 4),
]


def test_a_mixed_batch_counts_and_stores_as_one_document_at_a_time(tmp_path: Path) -> None:
    with SqliteSink(tmp_path / "batch.sqlite3") as batched, SqliteSink(
        tmp_path / "single.sqlite3"
    ) as single:
        batched.write(STORED)
        single.write(STORED)
        report = batched.write(BATCH)
        one_by_one = [single.write([doc]) for doc in BATCH]
        assert _counts(report) == (2, 2, 5, 1)
        assert _counts(report) == tuple(map(sum, zip(*map(_counts, one_by_one), strict=True)))
        assert _stored(batched) == _stored(single)
        assert [d.doc_id for d in report.dead_lettered] == ["refused"]
        revised = batched.reader().documents(EMBEDDINGS, ["new-twice"])["new-twice"]
        assert revised["openai"] == {"tokens": 6}


def test_one_lookup_per_data_stream_of_a_batch(sink: SqliteSink) -> None:
    statements = _lookups(sink)
    sink.write([_doc(COMPLETIONS, f"c{i}", i) for i in range(50)] + [_doc(EMBEDDINGS, "e", 0)])
    assert sum(s.startswith(LOOKUP) for s in statements) == 2
    assert sum(s.startswith(PUT) for s in statements) == 51


def test_a_batch_beyond_the_variable_limit_is_looked_up_in_chunks(sink: SqliteSink) -> None:
    # A row takes 44 variables (id, data stream, doc id, ts and 40 field columns).
    sink._db._connection().setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 50)
    first = sink.write([_doc(COMPLETIONS, f"d{i:03d}", i) for i in range(100)])
    assert _counts(first) == (100, 0, 0, 0)

    statements = _lookups(sink)
    again = [_doc(COMPLETIONS, f"d{i:03d}", i + (i % 4 == 0)) for i in range(110)]
    report = sink.write(again)
    assert _counts(report) == (10, 25, 75, 0)
    assert sum(s.startswith(LOOKUP) for s in statements) == 3  # 110 ids, 49 a query
    assert len(_stored(sink)) == 110
    assert _stored(sink)[COMPLETIONS, "d008"][0] == (
        '{"@timestamp":"2026-03-01T00:00:00.000Z","openai":{"tokens":9}}'
    )


def test_lookups_of_any_batch_size_are_one_prepared_statement(sink: SqliteSink) -> None:
    """Schema 1 sent each batch's ids as one list of its own length: every page size was a
    statement of its own, cached with its bound ids, and memory grew with a long backfill."""
    statements = _lookups(sink)
    for size in (1, 7, 300, 513):
        sink.write([_doc(COMPLETIONS, f"s{size}-{i}", i) for i in range(size)])
    # The trace shows each statement with its values bound: 256 ids each, 1 + 1 + 2 + 3 lookups.
    ids = [len(s.split(" IN (")[1].split(", ")) for s in statements if s.startswith(LOOKUP)]
    assert ids == [256] * 7
