"""The backfill's progress: plain lines off a terminal; on a terminal a live bar, with the log
records printed above it, whole, instead of across it."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_run import poller
from own_env import foreign_environ

from poller.simulator.app import SimulatorApp
from poller.simulator.faults import FaultPlan
from poller.simulator.organization import build_organization
from poller.simulator.server import SimulatorServer

pytestmark = pytest.mark.integration

KEY = "sk-admin-progress-test"
STREAMS = "completions,embeddings,costs"
COLOUR = re.compile(r"\x1b\[[0-9;]*m")
CURSOR = re.compile(r"\x1b\[[0-9;?]*[A-Za-ln-z]|\r")  # moves and erases: a line ends there


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    org = build_organization(seed=5, size="small", settle_seconds=60)
    # Server errors make the client log a retry warning while the bar is drawn.
    app = SimulatorApp(org, admin_key=KEY, faults=FaultPlan.parse("500=0.3"))
    with SimulatorServer(app) as server:
        yield server.base_url


def _env(base_url: str, store: Path) -> dict[str, str]:
    return {"OPENAI_ADMIN_KEY": KEY, "OPENAI_BASE_URL": base_url,
            "POLLER_STORE_PATH": str(store), "POLLER_LOG_FORMAT": "text"}


def test_off_a_terminal_each_stream_is_one_plain_line(base_url: str, tmp_path: Path) -> None:
    result = poller("backfill", "--since", "2d", "--streams", STREAMS, cwd=tmp_path,
                    env=_env(base_url, tmp_path / "s.sqlite3"), timeout=120)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if " streams of default in " in line]
    assert [re.sub(r"\d[\d,]*", "N", line) for line in lines] == [
        f"backfill: default/{stream} N documents, N/s; N/N streams of default in Ns"
        for stream in STREAMS.split(",")
    ]
    assert [line.split("; ")[1].split(" ")[0] for line in lines] == ["1/3", "2/3", "3/3"]
    assert "\x1b" not in result.stderr


def test_on_a_terminal_logs_are_printed_above_the_bar(base_url: str, tmp_path: Path) -> None:
    leader, follower = pty.openpty()
    env = foreign_environ(COLUMNS="100", **_env(base_url, tmp_path / "s.sqlite3"))
    argv = [sys.executable, "-m", "poller", "backfill", "--since", "2d", "--streams", STREAMS]
    with subprocess.Popen(argv, cwd=tmp_path, env=env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=follower) as proc:
        os.close(follower)
        chunks = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        proc.wait(timeout=30)
    os.close(leader)
    assert proc.returncode == 0
    shown = CURSOR.sub("\n", COLOUR.sub("", b"".join(chunks).decode()))
    lines = [line.strip() for line in shown.splitlines() if line.strip()]
    warnings = [line for line in lines if " WARNING " in line]
    assert warnings, "the faults should have caused retries"
    for line in warnings:  # whole: the record, never a bar drawn into it
        assert re.fullmatch(r"\S+Z WARNING +poller\.client\.api: .*attempt \d+ of \d+ failed.*",
                            line), line
        assert "━" not in line
    bars = [line for line in lines if "━" in line]
    for stream in STREAMS.split(","):  # a bar per stream, full at the end
        last = [line for line in bars if line.startswith(f"default/{stream} ")][-1]
        assert re.search(r" 100% +at \S+Z +[\d,]+ docs [\d,]+/s +0s left$", last), last
    assert lines[-1].startswith("backfill: ") and "0 stream(s) failed" in lines[-1]
