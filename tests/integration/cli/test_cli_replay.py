"""`replay-deadletters` as a real process: its help, bad input (exit 2, nothing opened), and a
run over the embedded store (one line per stream, the summary; a letter that cannot be written
is skipped and stays)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from cli_run import WIDTH, poller, widest

from poller.sinks import SqliteSink

pytestmark = pytest.mark.integration

ENV = {"OPENAI_ADMIN_KEY": "sk-admin-replay-cli"}


def test_help_explains_the_command_with_an_example(tmp_path: Path) -> None:
    result = poller("replay-deadletters", "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "openai-poller replay-deadletters --stream completions" in result.stdout
    assert "--since WHEN" in result.stdout and "--org NAME" in result.stdout
    assert widest(result.stdout) <= WIDTH
    top = poller("--help", cwd=tmp_path)
    assert "    replay-deadletters\n" in top.stdout
    assert widest(top.stdout) <= WIDTH


def test_bad_input_is_one_line_exit_2_and_opens_nothing(tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite3"
    env = {**ENV, "POLLER_STORE_PATH": str(store)}
    for argv, start in [
        (("--streams", "nope"), "error: --streams: unknown stream 'nope'"),
        (("--since", "yesterday"), "error: --since: 'yesterday' is neither"),
    ]:
        result = poller("replay-deadletters", *argv, cwd=tmp_path, env=env)
        assert result.returncode == 2
        assert result.stderr.startswith(start) and result.stderr.count("\n") == 1
    assert not store.exists()


def test_a_letter_that_cannot_be_written_is_skipped_and_stays(tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite3"
    SqliteSink(store).close()
    db = sqlite3.connect(store)
    with db:
        db.execute(
            "INSERT INTO deadletter (data_stream, doc_id, status, reason, source, failed_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            ("logs-openai.audit-default", "evt-1", 400, "test", json.dumps({"no": "time"}),
             "2026-01-01T00:00:00.000Z"),
        )
    db.close()
    env = {**ENV, "POLLER_STORE_PATH": str(store)}

    result = poller("replay-deadletters", "--stream", "audit", cwd=tmp_path, env=env)

    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "default/audit: 0 replayed, 0 already stored, 0 still refused, 1 skipped (source is "
        "not a JSON document)",
        "replay-deadletters: 0 replayed, 0 already stored, 0 still refused, 1 skipped; 0 "
        "stream(s) failed",
    ]
    with SqliteSink(store, read_only=True) as sink:
        assert [d.doc_id for d in sink.reader().dead_letters()] == ["evt-1"]
