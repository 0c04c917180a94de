"""`status` as a real process: a verdict and a human lag per stream, the current error only,
orgs and streams found in the store, 80 columns."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from cli_run import WIDTH, poller, widest

from poller.cli._text import human_age
from poller.coverage import Coverage, Segment
from poller.documents.model import Document
from poller.sinks.sqlite import SqliteSink
from poller.state import StreamState, state_key
from poller.streams import STREAM_NAMES, BucketWidth

pytestmark = pytest.mark.integration

LONG_ERROR = (
    "GET https://api.openai.com/v1/organization/audit_logs?limit=100&after=abc failed: "
    "HTTP 500 after 6 attempts " + "(server said: internal error) " * 20
    + "-- fix: check status.openai.com and wait"
)


def _covered(end: int, width: BucketWidth = BucketWidth.MINUTE) -> Coverage:
    step = width.seconds
    start = end - 10 * step
    return Coverage().add(Segment(start, end, width))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    path = tmp_path_factory.mktemp("status") / "store.sqlite3"
    now = time.time()
    minute = int(now) // 60 * 60
    day = int(now) // 86400 * 86400
    states = {
        # 3 minutes behind, succeeded a minute ago: ok.
        state_key("default", "completions"): StreamState(
            coverage=_covered(_completions_end(now)), last_success=now - 60),
        # Failed, then succeeded: the old error is no longer shown.
        state_key("default", "embeddings"): StreamState(
            coverage=_covered(minute - 120), last_success=now - 30, last_error="old",
            last_error_at=now - 600),
        # Three days behind on daily buckets: behind.
        state_key("default", "costs"): StreamState(
            coverage=_covered(day - 2 * 86400, BucketWidth.DAY), last_success=now - 60),
        # The last attempt failed: failing, with its error.
        state_key("default", "audit"): StreamState(
            high_water=int(now) - 7200, last_success=now - 7200, last_error=LONG_ERROR,
            last_error_at=now - 300),
        # An org that is not configured any more, found in the store.
        state_key("legacy", "completions"): StreamState(
            coverage=_covered(minute - 26 * 3600), last_success=now - 26 * 3600),
    }
    legacy = Document("completions", "logs-openai.completions-default", "l1", {
        "@timestamp": "2026-11-02T00:00:00.000Z",
        "organization": {"id": "org-legacy", "name": "legacy"},
    })
    with SqliteSink(path) as sink:
        sink.write([legacy])
        for key, state in states.items():
            sink.save_state(key, state.to_json())
    return path, now


def _status(store: Path, *argv: str) -> tuple[int, str, str]:
    code, out, err, _ = _timed_status(store, *argv)
    return code, out, err


def _timed_status(store: Path, *argv: str) -> tuple[int, str, str, tuple[float, float]]:
    """The status run with the wall-clock span it ran in: its 'now' lies inside that span, so
    an age can be checked exactly however slow the machine is."""
    env = {"POLLER_STORE_PATH": str(store), "OPENAI_ADMIN_KEY": "sk-admin-status-test"}
    before = time.time()
    result = poller("status", *argv, cwd=store.parent, env=env)
    return result.returncode, result.stdout, result.stderr, (before, time.time())


def _ages(since: float, span: tuple[float, float]) -> set[str]:
    """Every way an age since `since` can read for a status that ran within `span`."""
    return {human_age(span[0] - since), human_age(span[1] - since)}


def _completions_end(now: float) -> int:
    return int(now) // 60 * 60 - 180


def _rows(store: Path) -> dict[tuple[str, str], dict[str, Any]]:
    code, out, err = _status(store, "--json")
    assert code == 0, err
    return {(row["org"], row["stream"]): row for row in json.loads(out)}


def test_each_stream_gets_a_verdict(store: tuple[Path, float]) -> None:
    rows = _rows(store[0])
    verdicts = {key: row["verdict"] for key, row in rows.items()}
    assert verdicts[("default", "completions")] == "ok"
    assert verdicts[("default", "embeddings")] == "ok"
    assert verdicts[("default", "costs")] == "behind"
    assert verdicts[("default", "audit")] == "failing"
    assert verdicts[("default", "moderations")] == "behind"  # configured, never collected
    assert verdicts[("legacy", "completions")] == "behind"


def test_orgs_and_streams_in_the_store_are_shown(store: tuple[Path, float]) -> None:
    rows = _rows(store[0])
    assert sorted(k for k in rows if k[0] == "default") == sorted(
        ("default", s) for s in STREAM_NAMES
    )
    assert [k for k in rows if k[0] == "legacy"] == [("legacy", "completions")]
    assert rows[("legacy", "completions")]["configured"] is False


def test_a_later_success_clears_the_error(store: tuple[Path, float]) -> None:
    rows = _rows(store[0])
    assert rows[("default", "embeddings")]["last_error"] is None
    assert rows[("default", "embeddings")]["last_error_at"] is None
    assert rows[("default", "audit")]["last_error"] == LONG_ERROR


def test_lags_read_as_people_say_them(store: tuple[Path, float]) -> None:
    code, out, err, span = _timed_status(store[0], "--json")
    assert code == 0, err
    rows = {(row["org"], row["stream"]): row for row in json.loads(out)}
    end = _completions_end(store[1])
    lag = rows[("default", "completions")]["lag_seconds"]
    assert span[0] - end - 1 <= lag <= span[1] - end + 1  # the table rounds to the second
    assert rows[("default", "completions")]["lag"] == human_age(lag)
    assert human_age(lag) in {"3m", "4m", "5m"}
    assert rows[("legacy", "completions")]["lag"] == "1d 2h"
    assert rows[("default", "moderations")]["lag"] == "never"


def test_the_table_fits_80_columns_and_the_error_is_short(store: tuple[Path, float]) -> None:
    code, out, err, span = _timed_status(store[0])
    assert code == 0, err
    assert widest(out) <= WIDTH
    lines = out.splitlines()
    completions = next(line for line in lines if " completions " in line and "default" in line)
    org, stream, verdict, lag, *ago = completions.split()
    assert (org, stream, verdict, ago[-1]) == ("default", "completions", "ok", "ago")
    assert lag in _ages(_completions_end(store[1]), span)
    assert " ".join(ago[:-1]) in _ages(store[1] - 60, span)
    [at] = [i for i, line in enumerate(lines) if line.startswith("default/audit failed at ")]
    message = " ".join(line.strip() for line in lines[at + 1 :] if line.startswith("  "))
    assert message.startswith("check status.openai.com and wait \N{EM DASH} failed: HTTP 500 "
                              "after 6 attempts (server said: internal error)")
    assert len(message) <= 200
    assert "?" not in message
