"""The embedded SQLite store end to end, in what only a file can do wrong: a full disk, a lock, a
foreign file, a closed connection, its permissions, a read-only open. What both sinks share is
in test_sink_contract.py; schemas and migration in test_sink_sqlite_schema.py."""

from __future__ import annotations

import math
import os
import sqlite3
import stat
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from poller.documents.model import Document
from poller.errors import SinkRejectedError, SinkUnavailableError
from poller.sinks import SqliteSink

DS = "logs-openai.completions-default"
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _source(i: int, *, padding: str = "") -> dict[str, Any]:
    return {
        "@timestamp": (T0 + timedelta(minutes=i)).isoformat().replace("+00:00", "Z"),
        "openai": {"completions": {"input_tokens": 100 + i, "output_tokens": 2 * i}},
        **({"padding": padding} if padding else {}),
    }


def _docs(indices: range, *, padding: str = "") -> list[Document]:
    return [
        Document("completions", DS, f"doc-{i:04d}", _source(i, padding=padding)) for i in indices
    ]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "store" / "openai-poller.sqlite3"


def test_the_store_runs_in_wal_mode(path: Path) -> None:
    """So that `report` and `status` read while the daemon writes."""
    with SqliteSink(path) as sink:
        assert sink.write(_docs(range(3))).created == 3
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_a_source_that_is_not_json_is_dead_lettered(path: Path) -> None:
    """Beside a missing @timestamp (the contract's refusal), a source JSON cannot hold."""
    not_json = _source(2)
    not_json["openai"]["completions"]["input_tokens"] = math.nan
    with SqliteSink(path) as sink:
        report = sink.write([*_docs(range(3, 5)), Document("completions", DS, "x", not_json)])
        assert report.created == 2
        (letter,) = report.dead_lettered
        assert (letter.doc_id, letter.data_stream, letter.status) == ("x", DS, 400)
        assert letter.reason.startswith("document_parsing_exception: source is not JSON: ")
        assert [(d.doc_id, d.reason) for d in sink.reader().dead_letters()] == [
            ("x", letter.reason)
        ]
        assert sink.reader().count(DS) == 2


def test_full_disk_gives_one_clear_error_and_loses_nothing(path: Path) -> None:
    with SqliteSink(path) as sink:  # create the tables without a limit
        sink.save_state("org-main/completions", {"cursor": "A"})
    with SqliteSink(path, max_size_bytes=256 * 1024) as sink:
        reader = sink.reader()
        stored = 0
        with pytest.raises(SinkUnavailableError) as caught:
            for n in range(1000):  # batches of 50 documents of ~1 KiB until the store is full
                sink.write(_docs(range(n * 50, n * 50 + 50), padding="x" * 1000))
                stored += 50
                sink.save_state("org-main/completions", {"cursor": f"batch-{n}"})
        message = str(caught.value)
        assert "\n" not in message
        assert "is full (database or disk is full)" in message
        assert "nothing of it was stored" in message
        assert stored > 0
        assert reader.count(DS) == stored  # the failed batch left no half of itself
        assert sink.load_state("org-main/completions") == {"cursor": f"batch-{stored // 50 - 1}"}
    with SqliteSink(path) as sink:  # room again: the same batch now goes through whole
        report = sink.write(_docs(range(stored, stored + 50), padding="x" * 1000))
        assert report.created == 50
        assert sink.reader().count(DS) == stored + 50


def test_a_lock_held_too_long_is_unavailable(path: Path) -> None:
    with SqliteSink(path, busy_timeout=0.2) as sink:
        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            with pytest.raises(SinkUnavailableError, match=r"stayed locked .* more than 0\.2s"):
                sink.write(_docs(range(3)))
            other.execute("ROLLBACK")
        finally:
            other.close()
        assert sink.write(_docs(range(3))).created == 3


def test_a_file_that_is_not_a_database_is_rejected(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not SQLite " * 200)
    with pytest.raises(SinkRejectedError, match="cannot be used"):
        SqliteSink(path)


def test_a_closed_sink_says_so(path: Path) -> None:
    sink = SqliteSink(path)
    assert sink.probe() is True
    sink.close()
    assert sink.probe() is False
    with pytest.raises(SinkRejectedError, match="is closed"):
        sink.write(_docs(range(1)))


def test_job_threads_share_one_sink(path: Path) -> None:
    with SqliteSink(path) as sink:
        errors: list[BaseException] = []

        def job(n: int) -> None:
            try:
                for k in range(5):
                    start = n * 1000 + k * 20
                    sink.write(_docs(range(start, start + 20)))
                    sink.save_state(f"job-{n}", {"k": k})
            except BaseException as exc:  # noqa: BLE001 (reported below)
                errors.append(exc)

        threads = [threading.Thread(target=job, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert sink.reader().count(DS) == 8 * 5 * 20
        assert [sink.load_state(f"job-{n}") for n in range(8)] == [{"k": 4}] * 8


@pytest.mark.parametrize("umask", [0o022, 0o000, 0o277])
def test_a_new_store_and_its_wal_files_are_private(path: Path, umask: int) -> None:
    """The store holds emails, IP addresses and locations: 0600 whatever the umask."""
    previous = os.umask(umask)
    try:
        with SqliteSink(path) as sink:
            sink.write(_docs(range(3)))
            modes = {
                p.name: stat.S_IMODE(p.stat().st_mode) for p in sorted(path.parent.iterdir())
            }
    finally:
        os.umask(previous)
    assert modes == {
        "openai-poller.sqlite3": 0o600,
        "openai-poller.sqlite3-shm": 0o600,
        "openai-poller.sqlite3-wal": 0o600,
    }


def test_a_read_only_open_of_a_missing_store_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SinkRejectedError) as caught:
        SqliteSink("state/openai-poller.sqlite3", read_only=True)
    assert str(caught.value) == (
        f"there is no embedded store at {tmp_path}/state/openai-poller.sqlite3: nothing has "
        "been collected into it yet"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def filled(path: Path) -> Iterator[Path]:
    """A store with documents, a cursor and a dead letter, then made read-only (file 0444 in a
    directory 0555), put back afterwards so it can be removed."""
    with SqliteSink(path) as sink:
        sink.write([*_docs(range(5)), Document("completions", DS, "no-time", {"openai": {}})])
        sink.save_state("org-main/completions", {"cursor": "A"})
    path.chmod(0o444)
    path.parent.chmod(0o555)
    yield path
    path.parent.chmod(0o755)
    path.chmod(0o644)


def test_a_read_only_store_reads_everything_and_writes_nothing(filled: Path) -> None:
    before = filled.read_bytes()
    with SqliteSink(filled, read_only=True) as sink:
        reader = sink.reader()
        assert reader.count(DS) == 5
        assert reader.sums(DS, ["openai.completions.input_tokens"]).values == {
            "openai.completions.input_tokens": 510.0
        }
        assert reader.documents(DS, ["doc-0002"]) == {"doc-0002": _source(2)}
        assert [d.doc_id for d in reader.dead_letters()] == ["no-time"]
        assert sink.load_state("org-main/completions") == {"cursor": "A"}
        assert sink.probe() is False
        for write in (  # nothing reaches SQLite, which would refuse it too (below)
            lambda: sink.write(_docs(range(9, 10))),
            lambda: sink.save_state("org-main/completions", {"cursor": "B"}),
        ):
            with pytest.raises(SinkRejectedError) as refused:
                write()
            assert str(refused.value) == f"the embedded store {filled} is open read-only"
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            sink._db._connection().execute("DELETE FROM state")
    assert filled.read_bytes() == before


def test_a_store_whose_wal_cannot_be_created_is_read_immutable(filled: Path) -> None:
    """On a read-only file system SQLite cannot create the `-wal` a reader needs (here a
    directory stands in its place): with no WAL, nothing writes the store, so it is read as it
    is."""
    filled.parent.chmod(0o755)
    (filled.parent / f"{filled.name}-wal").mkdir()
    filled.parent.chmod(0o555)
    try:
        with SqliteSink(filled, read_only=True) as sink:
            assert sink.reader().count(DS) == 5
            assert sink.load_state("org-main/completions") == {"cursor": "A"}
    finally:
        filled.parent.chmod(0o755)
        (filled.parent / f"{filled.name}-wal").rmdir()
