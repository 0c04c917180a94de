"""The embedded SQLite store end to end: the same exact counts, revisions, state and sums as the
Elasticsearch sink, plus what only a file can do wrong: a full disk, a lock, a foreign file."""

from __future__ import annotations

import math
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from poller.documents.model import Document
from poller.errors import SinkRejectedError, SinkUnavailableError
from poller.sinks.sqlite import SqliteSink

DS = "logs-openai.completions-default"
T0 = datetime(2026, 3, 1, tzinfo=UTC)
MODELS = ("gpt-4o", "gpt-4o-mini", "o3")
FIELDS = [
    "openai.completions.input_tokens",
    "openai.completions.output_tokens",
    "openai.costs.amount.value",
    "openai.base.num_model_requests",
]


def _source(i: int, *, bump: int = 0, padding: str = "") -> dict[str, Any]:
    base: dict[str, Any] = {"num_model_requests": i % 7 + 1, "project_id": f"proj_{i % 4}"}
    if i % 10 != 9:
        base["model"] = MODELS[i % 3]
    return {
        "@timestamp": (T0 + timedelta(minutes=i)).isoformat().replace("+00:00", "Z"),
        "event": {"dataset": "openai.completions", "module": "openai", "kind": "metric"},
        "openai": {
            "base": base,
            "completions": {"input_tokens": 100 + i + bump, "output_tokens": 2 * i},
            "costs": {"amount": {"value": i * 0.25}},
        },
        **({"padding": padding} if padding else {}),
    }


def _docs(indices: range, *, bump: int = 0, padding: str = "") -> list[Document]:
    return [
        Document("completions", DS, f"doc-{i:04d}", _source(i, bump=bump, padding=padding))
        for i in indices
    ]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "store" / "openai-poller.sqlite3"


def test_writes_exactly_once_and_revises_in_place(path: Path) -> None:
    with SqliteSink(path) as sink:
        reader = sink.reader()
        first = sink.write(_docs(range(1000)))
        assert (first.created, first.updated, first.unchanged, first.dead_lettered) == (
            1000,
            0,
            0,
            (),
        )
        assert reader.count(DS) == 1000

        again = sink.write(_docs(range(1000)))
        assert (again.created, again.updated, again.unchanged) == (0, 0, 1000)
        assert reader.count(DS) == 1000

        report = sink.write(_docs(range(100, 110), bump=1_000_000))
        assert (report.created, report.updated, report.unchanged) == (0, 10, 0)
        assert reader.count(DS) == 1000
        stored = reader.documents(DS, [f"doc-{i:04d}" for i in range(95, 115)])
        for i in range(95, 115):
            tokens = stored[f"doc-{i:04d}"]["openai"]["completions"]["input_tokens"]
            assert tokens == 100 + i + (1_000_000 if 100 <= i < 110 else 0)

    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_state_survives_a_new_sink_instance(path: Path) -> None:
    with SqliteSink(path) as sink:
        assert sink.load_state("org-main/completions") is None
        sink.save_state("org-main/completions", {"cursor": "2026-03-01T00:00:00Z", "page": None})
        sink.save_state("org-main/audit", {"after": "audit_log-1"})
        sink.save_state("org-main/audit", {"after": "audit_log-2", "high_water": 17})
    with SqliteSink(path) as fresh:
        assert fresh.load_state("org-main/completions") == {
            "cursor": "2026-03-01T00:00:00Z",
            "page": None,
        }
        assert fresh.load_state("org-main/audit") == {"after": "audit_log-2", "high_water": 17}
        assert fresh.load_state("org-other/audit") is None


def test_reader_counts_and_sums_match_exactly(path: Path) -> None:
    with SqliteSink(path) as sink:
        assert sink.write(_docs(range(600))).created == 600
        reader = sink.reader()

        total = reader.sums(DS, FIELDS)
        assert total.count == 600
        assert total.values == {
            "openai.completions.input_tokens": sum(100 + i for i in range(600)),
            "openai.completions.output_tokens": sum(2 * i for i in range(600)),
            "openai.costs.amount.value": sum(i * 0.25 for i in range(600)),
            "openai.base.num_model_requests": sum(i % 7 + 1 for i in range(600)),
        }

        start, end = T0 + timedelta(minutes=120), T0 + timedelta(minutes=300)
        assert reader.count(DS, start=start, end=end) == 180
        assert reader.count(DS, start=start) == 480
        assert reader.count(DS, end=end) == 300
        for rng in (range(600), range(120, 300)):
            kwargs = {} if rng == range(600) else {"start": start, "end": end}
            grouped = reader.sums_by(DS, FIELDS, "openai.base.model", **kwargs)
            assert set(grouped) == {*MODELS, None}
            for key in grouped:
                members = [i for i in rng if (None if i % 10 == 9 else MODELS[i % 3]) == key]
                assert grouped[key].count == len(members)
                assert grouped[key].values["openai.completions.input_tokens"] == sum(
                    100 + i for i in members
                )
                assert grouped[key].values["openai.costs.amount.value"] == sum(
                    i * 0.25 for i in members
                )
        assert reader.count("logs-openai.embeddings-default") == 0
        assert reader.sums("logs-openai.embeddings-default", FIELDS).values == dict.fromkeys(
            FIELDS, 0.0
        )


def test_refused_documents_are_dead_lettered_with_the_rest_stored(path: Path) -> None:
    no_time = _source(1)
    del no_time["@timestamp"]
    not_json = _source(2)
    not_json["openai"]["completions"]["input_tokens"] = math.nan
    with SqliteSink(path) as sink:
        report = sink.write(
            [
                *_docs(range(3, 5)),
                Document("completions", DS, "no-time", no_time),
                Document("completions", DS, "not-json", not_json),
            ]
        )
        assert report.created == 2
        assert [(d.doc_id, d.status) for d in report.dead_lettered] == [
            ("no-time", 400),
            ("not-json", 400),
        ]
        assert "@timestamp" in report.dead_lettered[0].reason
        letters = sink.reader().dead_letters()
        assert {d.doc_id for d in letters} == {"no-time", "not-json"}
        assert all(d.data_stream == DS and d.failed_at.endswith("Z") for d in letters)
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
    sink.close()
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
