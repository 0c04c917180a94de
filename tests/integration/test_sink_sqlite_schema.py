"""The embedded store's schema on open: a store of schema 1 (built here with schema 1's own SQL)
or of schema 2 is migrated in place when opened for writing, reads exactly as it did, and is
never migrated twice; a failed migration leaves schema 1 whole; a read-only open refuses it
with one line that says how to migrate; a store of an unknown schema is refused, never
misread."""

from __future__ import annotations

import json
import logging
import random
import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from poller.documents.model import Document
from poller.errors import SinkRejectedError, SinkUnavailableError
from poller.sinks import DeadLetterRecord, SqliteSink, Sums
from poller.sinks.sqlite import SCHEMA_VERSION
from poller.sinks.sqlite import _migration as migration
from poller.sinks.sqlite._codec import encode_id, inflate
from poller.sinks.sqlite._layout import OUTSIDE

SCHEMA_1 = """
PRAGMA journal_mode=WAL;
CREATE TABLE documents (
    data_stream TEXT NOT NULL,
    doc_id      TEXT NOT NULL,
    source      TEXT NOT NULL,
    ts          INTEGER,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (data_stream, doc_id)
) WITHOUT ROWID;
CREATE INDEX documents_by_time ON documents (data_stream, ts);
CREATE TABLE state (key TEXT PRIMARY KEY, state TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE deadletter (
    id          INTEGER PRIMARY KEY,
    data_stream TEXT NOT NULL,
    doc_id      TEXT NOT NULL,
    status      INTEGER NOT NULL,
    reason      TEXT NOT NULL,
    source      TEXT NOT NULL,
    failed_at   TEXT NOT NULL,
    UNIQUE (data_stream, doc_id)
);
PRAGMA user_version=1;
"""
COMPLETIONS = "logs-openai.completions-default"
COSTS = "logs-openai.costs-default"
AUDIT = "logs-openai.audit-default"
TOKENS = "openai.completions.input_tokens"
COST = "openai.base.cost_estimate_usd"
PROJECT = "openai.base.project_id"
NAME = "openai.base.project_name"
BILLED = "openai.costs.amount.value"
HEX = [f"{i:x}" * 32 for i in range(1, 7)]


def _usage(day: int, model: str, project: tuple[str, str | None], tokens: int,
           cost: float) -> dict[str, Any]:
    base = {"model": model, "project_id": project[0], "cost_estimate_usd": cost,
            **({"project_name": project[1]} if project[1] else {})}
    return {"@timestamp": f"2026-11-{day:02d}T00:00:00.000Z",
            "openai": {"base": base, "completions": {"input_tokens": tokens}}}


def _billed(day: int, project: str, value: float) -> dict[str, Any]:
    return {"@timestamp": f"2026-11-{day:02d}T00:00:00.000Z",
            "openai": {"base": {"project_id": project},
                       "costs": {"amount": {"currency": "usd", "value": value}}}}


AUDIT_SOURCE = {
    "@timestamp": "2026-11-02T10:00:00.000Z",
    "openai": {"audit": {"id": "audit_log-abc", "type": "login.succeeded",
                         "actor": {"session": {"user": {"email": "ana@example.com"}}}}},
    "source": {"ip": "198.51.100.7"},
}
# (data stream, id, source) as schema 1 stored them: JSON with keys sorted, compact.
DOCUMENTS = [
    (COMPLETIONS, HEX[0], _usage(1, "m1", ("p1", "One (old)"), 10, 0.5)),
    (COMPLETIONS, HEX[1], _usage(2, "m2", ("p1", "One"), 20, 0.25)),
    (COMPLETIONS, HEX[2], _usage(3, "m1", ("p2", None), 30, 0.125)),
    (COSTS, HEX[3], _billed(1, "p1", 1.5)),
    (COSTS, HEX[4], _billed(1, "p2", 2.25)),
    (AUDIT, "audit_log-abc", AUDIT_SOURCE),
]
# One text as some other writer may have left it: kept byte for byte.
SPACED = (COMPLETIONS, HEX[5], '{"openai": {"base": {"model": "m2"}}, "@timestamp": "2026-11-04"}')
LETTER = DeadLetterRecord(
    "bad-1", COMPLETIONS, 400, "document_parsing_exception: @timestamp is missing or not a date",
    '{"openai": {}}', "2026-11-05T00:00:00.000Z",
)


def _millis(text: str) -> int:
    stamp = json.loads(text)["@timestamp"]
    return int(datetime.fromisoformat(stamp).replace(tzinfo=UTC).timestamp() * 1000)


def _schema_1_store(path: Path) -> None:
    rows = [(ds, i, json.dumps(s, sort_keys=True, separators=(",", ":"))) for ds, i, s in DOCUMENTS]
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.executescript(SCHEMA_1)
        conn.executemany(
            "INSERT INTO documents VALUES (?, ?, ?, ?, '2026-11-05T00:00:00.000Z')",
            [(ds, doc_id, text, _millis(text)) for ds, doc_id, text in [*rows, SPACED]],
        )
        conn.execute("INSERT INTO state VALUES ('org-main/completions', '{\"cursor\":7}', 'x')")
        conn.execute(
            "INSERT INTO deadletter (data_stream, doc_id, status, reason, source, failed_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (LETTER.data_stream, LETTER.doc_id, LETTER.status, LETTER.reason, LETTER.source,
             LETTER.failed_at),
        )


def _version(path: Path) -> tuple[int, list[str]]:
    with closing(sqlite3.connect(path)) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
        )]
        return int(conn.execute("PRAGMA user_version").fetchone()[0]), tables


def _assert_reads_as_schema_1(sink: SqliteSink) -> None:
    reader = sink.reader()
    assert reader.count(COMPLETIONS) == 4
    assert reader.sums(COMPLETIONS, [TOKENS, COST]) == Sums(4, {TOKENS: 60.0, COST: 0.875})
    assert reader.sums_by(COMPLETIONS, [TOKENS], "openai.base.model") == {
        "m1": Sums(2, {TOKENS: 40.0}), "m2": Sums(2, {TOKENS: 20.0}),
    }
    assert reader.sums_by(COMPLETIONS, [TOKENS], PROJECT, name_field=NAME) == {
        "p1": Sums(2, {TOKENS: 30.0}, "One"),
        "p2": Sums(1, {TOKENS: 30.0}),
        None: Sums(1, {TOKENS: 0.0}),
    }
    assert reader.sums_by(COSTS, [BILLED], PROJECT, name_field=NAME) == {
        "p1": Sums(1, {BILLED: 1.5}), "p2": Sums(1, {BILLED: 2.25}),
    }
    assert reader.sums_by(AUDIT, [], "openai.audit.actor.session.user.email") == {
        "ana@example.com": Sums(1, {}),
    }
    assert reader.count(COMPLETIONS, start=datetime(2026, 11, 2, tzinfo=UTC),
                        end=datetime(2026, 11, 4, tzinfo=UTC)) == 2
    assert reader.documents(AUDIT, ["audit_log-abc"]) == {"audit_log-abc": AUDIT_SOURCE}
    assert reader.documents(COMPLETIONS, HEX[:2]) == {
        HEX[0]: DOCUMENTS[0][2], HEX[1]: DOCUMENTS[1][2],
    }
    assert reader.dead_letters() == [LETTER]
    assert sink.load_state("org-main/completions") == {"cursor": 7}


def test_a_schema_1_store_is_migrated_in_place_once_and_reads_the_same(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "store.sqlite3"
    _schema_1_store(path)
    with caplog.at_level(logging.WARNING), SqliteSink(path) as sink:
        _assert_reads_as_schema_1(sink)
        stored = sink._db.query(
            "SELECT s.body, c.content FROM documents AS d JOIN sources AS s ON s.id = d.id "
            "JOIN dictionaries AS c ON c.id = s.dictionary WHERE d.doc_id = ?",
            (encode_id(HEX[5]),),
        )
        assert [inflate(body, content).decode() for body, content in stored] == [SPACED[2]]
    assert [r.getMessage() for r in caplog.records] == [
        f"migrating the embedded store {path} from schema 1 to 3: 7 documents",
        f"migrated the embedded store {path} to schema 3",
    ]
    assert _version(path) == (SCHEMA_VERSION, [
        "data_streams", "deadletter", "dictionaries", "documents", "fields", "sources", "state",
        "terms",
    ])
    caplog.clear()
    with caplog.at_level(logging.WARNING), SqliteSink(path) as sink:  # nothing left to migrate
        _assert_reads_as_schema_1(sink)
        assert sink.write([]).total == 0
    assert caplog.records == []


def test_a_big_migration_logs_its_progress(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(migration, "_CHUNK", 2)
    monkeypatch.setattr(migration, "_PROGRESS_EVERY", 3)
    path = tmp_path / "store.sqlite3"
    _schema_1_store(path)
    with caplog.at_level(logging.WARNING), SqliteSink(path) as sink:
        _assert_reads_as_schema_1(sink)
    assert [r.getMessage() for r in caplog.records] == [
        f"migrating the embedded store {path} from schema 1 to 3: 7 documents",
        f"migrating {path}: 4 of 7 documents",
        f"migrating {path}: 6 of 7 documents",
        f"migrated the embedded store {path} to schema 3",
    ]


def test_a_migration_that_fails_leaves_schema_1_whole(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    _schema_1_store(path)
    before = _version(path)
    with pytest.raises(SinkUnavailableError) as caught:  # no room for a single new page
        SqliteSink(path, max_size_bytes=path.stat().st_size)
    assert str(caught.value).startswith(f"cannot write the embedded store {path}: disk full, ")
    assert str(caught.value).endswith(" while migrating it; nothing of it was stored "
                                      "\N{EM DASH} free space (or raise the limit) and run again")
    assert _version(path) == before == (1, ["deadletter", "documents", "state"])
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT count(*) FROM documents").fetchone()[0] == 7
    with SqliteSink(path) as sink:  # room again: migrated whole
        _assert_reads_as_schema_1(sink)


def test_a_read_only_open_refuses_schema_1_and_says_how_to_migrate(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    _schema_1_store(path)
    before = path.read_bytes()
    with pytest.raises(SinkRejectedError) as caught:
        SqliteSink(path, read_only=True)
    assert str(caught.value) == (
        "run `openai-poller run` or `backfill` once, then read again: it migrates the embedded "
        f"store {path} in place from schema 1 to 3, which is all this version reads"
    )
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("CREATE TABLE t (x); PRAGMA user_version=4",
         "the embedded store {path} was written by a newer openai-poller (schema 4; this one "
         "reads schema 3 and older): upgrade openai-poller"),
        ("CREATE TABLE notes (x)",
         "{path} is not an openai-poller embedded store (schema 0, tables notes): point the "
         "store path elsewhere"),
        ("CREATE TABLE documents (a, b); CREATE TABLE state (k); CREATE TABLE deadletter (x); "
         "PRAGMA user_version=1",
         "{path} is not an openai-poller embedded store (schema 1, tables deadletter, "
         "documents, state): point the store path elsewhere"),
    ],
)
@pytest.mark.parametrize("read_only", [False, True])
def test_a_store_of_an_unknown_schema_is_refused(
    tmp_path: Path, setup: str, message: str, read_only: bool
) -> None:
    path = tmp_path / "store.sqlite3"
    with closing(sqlite3.connect(path)) as conn:
        conn.executescript(setup)
    before = path.read_bytes()
    with pytest.raises(SinkRejectedError) as caught:
        SqliteSink(path, read_only=read_only)
    assert str(caught.value) == message.format(path=path)
    assert path.read_bytes() == before


def _schema_1_answers(path: Path, since: int) -> list[Any]:
    """Schema 1's reader queries, run on a schema 1 store: json_extract over the JSON text."""
    with closing(sqlite3.connect(path)) as conn:
        return [
            conn.execute(
                "SELECT json_extract(source, '$.openai.base.model') AS g, count(*), "  # noqa: S608
                "total(json_extract(source, '$.openai.base.cost_estimate_usd')) "
                f"FROM documents WHERE data_stream = ? {where} GROUP BY g",
                (COMPLETIONS, *params),
            ).fetchall()
            for where, params in (("", ()), ("AND ts >= ?", (since,)))
        ]


def test_float_sums_add_up_in_schema_1_order(tmp_path: Path) -> None:
    """Float addition is not associative: rows are read in the order schema 1 read them (by id,
    or by time then id in a time range), so sums equal schema 1's to the last bit, whether the
    store was migrated or written anew in any order."""
    rng = random.Random(7)
    sources = {
        f"{rng.getrandbits(128):032x}": _usage(
            1 + i % 9, f"m{i % 3}", ("p", None), i, round(rng.uniform(0, 3), 7)
        )
        for i in range(300)
    }
    old = tmp_path / "old.sqlite3"
    with closing(sqlite3.connect(old, isolation_level=None)) as conn:
        conn.executescript(SCHEMA_1)
        conn.executemany(
            "INSERT INTO documents VALUES (?, ?, ?, ?, 'x')",
            [(COMPLETIONS, doc_id, text, _millis(text)) for doc_id, text in (
                (d, json.dumps(s, sort_keys=True, separators=(",", ":")))
                for d, s in sources.items()
            )],
        )
    since = datetime(2026, 11, 4, tzinfo=UTC)
    expected = _schema_1_answers(old, int(since.timestamp() * 1000))
    shuffled = list(sources.items())
    rng.shuffle(shuffled)
    with SqliteSink(old) as migrated, SqliteSink(tmp_path / "new.sqlite3") as written:
        for start in range(0, len(shuffled), 40):
            written.write([Document("completions", COMPLETIONS, d, s)
                           for d, s in shuffled[start : start + 40]])
        for sink in (migrated, written):
            got = [
                sink.reader().sums_by(COMPLETIONS, [COST], "openai.base.model", start=start)
                for start in (None, since)
            ]
            assert got == [
                {g: Sums(n, {COST: total}) for g, n, total in answers} for answers in expected
            ]


ORG = [("org-a", "Org A"), ("org-b", "Org B")]


def _with_org(source: dict[str, Any], n: int) -> dict[str, Any]:
    org_id, org_name = ORG[n % 2]
    return {**source, "organization": {"id": org_id, "name": org_name}}


def _schema_2_store(path: Path, documents: list[Document]) -> None:
    """What schema 2's writer left: the same tables and columns for the fields under `openai`,
    but none for those outside it, and no `documents_read_by_id`. Made by writing the documents
    now and taking away what schema 3 added (a stream's columns handed out stay handed out,
    as they would after any retired field)."""
    with SqliteSink(path) as sink:
        sink.write(documents)
    outside = "', '".join(OUTSIDE)
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        for stream, path_, slot in conn.execute(
            f"SELECT data_stream, path, slot FROM fields WHERE path IN ('{outside}')"  # noqa: S608
        ).fetchall():
            if slot is not None:
                conn.execute(f"UPDATE documents SET {slot} = NULL "  # noqa: S608
                             "WHERE data_stream = ?", (stream,))
            conn.execute("DELETE FROM fields WHERE data_stream = ? AND path = ?", (stream, path_))
        conn.execute("DROP INDEX documents_read_by_id")
        conn.execute("PRAGMA user_version=2")


def test_a_schema_2_store_is_migrated_in_place_once_and_reads_the_same(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Schema 2 read `organization.*`, `user.email` and `service.id` from every document's
    source; migrated, they are columns filled for every stored document, and every answer,
    per org (`where=`) too, is the one the sources give."""
    monkeypatch.setattr(migration, "_CHUNK", 2)
    actor = {"user": {"email": "ana@example.com"}, "service": {"id": "svc-1"}}
    documents = [
        Document(ds.split(".")[1].split("-")[0], ds, doc_id,
                 _with_org({**source, **(actor if ds == AUDIT else {})}, n))
        for n, (ds, doc_id, source) in enumerate(DOCUMENTS)
    ]
    path = tmp_path / "store.sqlite3"
    _schema_2_store(path, documents)
    with pytest.raises(SinkRejectedError) as caught:
        SqliteSink(path, read_only=True)
    assert str(caught.value) == (
        "run `openai-poller run` or `backfill` once, then read again: it migrates the embedded "
        f"store {path} in place from schema 2 to 3, which is all this version reads"
    )
    with caplog.at_level(logging.WARNING), SqliteSink(path) as sink:
        pass
    assert [r.getMessage() for r in caplog.records] == [
        f"migrating the embedded store {path} from schema 2 to 3: 6 documents",
        f"migrated the embedded store {path} to schema 3",
    ]
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
        placed = conn.execute(
            "SELECT path FROM fields WHERE slot IS NOT NULL AND path NOT LIKE 'openai%' "
            "GROUP BY path ORDER BY path"
        ).fetchall()
        assert placed == [("organization.id",), ("organization.name",), ("service.id",),
                          ("user.email",)]
        assert conn.execute("SELECT count(*) FROM sqlite_master "
                            "WHERE name = 'documents_read_by_id'").fetchone()[0] == 1
    caplog.clear()
    with caplog.at_level(logging.WARNING), SqliteSink(path, read_only=True) as sink:
        reader = sink.reader()
        assert reader.sums_by(COSTS, [BILLED], "organization.name") == {
            "Org A": Sums(1, {BILLED: 2.25}), "Org B": Sums(1, {BILLED: 1.5}),
        }
        assert reader.sums_by(COMPLETIONS, [TOKENS], "organization.id") == {
            "org-a": Sums(2, {TOKENS: 40.0}), "org-b": Sums(1, {TOKENS: 20.0}),
        }
        assert reader.sums(COMPLETIONS, [TOKENS], where={"organization.id": "org-a"}) == Sums(
            2, {TOKENS: 40.0}
        )
        assert reader.count(COSTS, where={"organization.id": "org-b"}) == 1
        assert reader.sums_by(AUDIT, [], "user.email") == {"ana@example.com": Sums(1, {})}
        assert reader.sums_by(AUDIT, [], "service.id") == {"svc-1": Sums(1, {})}
        assert reader.documents(AUDIT, ["audit_log-abc"]) == {
            "audit_log-abc": documents[-1].source
        }
    assert caplog.records == []  # nothing left to migrate
