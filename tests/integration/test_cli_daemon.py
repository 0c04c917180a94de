"""`openai-poller run` as a real process against the simulator: health, readiness, metrics,
documents in the sink, a clean SIGTERM, and the admin key nowhere in what it leaves behind."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from loopback import free_port
from own_env import foreign_environ

from poller.simulator.app import SimulatorApp
from poller.simulator.organization import build_organization
from poller.simulator.server import SimulatorServer
from poller.sinks.sqlite import SqliteSink

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

    from tests.conftest import EsNamespace

pytestmark = pytest.mark.integration

ADMIN_KEY = "sk-admin-SECRET-daemon-7f3c9a1e5b"
READY_SECONDS = 60.0
STOP_SECONDS = 30.0
COMPLETIONS = "logs-openai.completions-{ns}"

def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 (our own http URL)
            return int(resp.status), resp.read().decode()
    except urllib.error.HTTPError as exc:
        with exc:
            return int(exc.code), exc.read().decode()
    except (urllib.error.URLError, OSError):
        return 0, ""


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorServer]:
    org = build_organization(seed=2, size="small", settle_seconds=60)
    with SimulatorServer(SimulatorApp(org, admin_key=ADMIN_KEY)) as server:
        yield server


class Daemon:
    """`python -m poller run` with stdout/stderr in files, stopped (SIGTERM, then SIGKILL)."""

    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self.metrics = f"http://127.0.0.1:{env['POLLER_METRICS__PORT']}"
        self.out, self.err = tmp / "daemon.out", tmp / "daemon.err"
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "poller", "run"],
                cwd=tmp,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )

    def output(self) -> str:
        return self.out.read_text(errors="replace") + self.err.read_text(errors="replace")

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"daemon exited with {self.proc.returncode}:\n{self.output()}")
            if _get(f"{self.metrics}/readyz")[0] == 200:
                return
            time.sleep(0.2)
        pytest.fail(f"/readyz not 200 within {READY_SECONDS}s:\n{self.output()}")

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            pytest.fail(f"daemon ignored SIGTERM for {STOP_SECONDS}s:\n{self.output()}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)


def _daemon_env(simulator: SimulatorServer, **extra: str) -> dict[str, str]:
    return foreign_environ(**{
        "OPENAI_ADMIN_KEY": ADMIN_KEY,
        "OPENAI_BASE_URL": simulator.base_url,
        "POLLER_METRICS__PORT": str(free_port()),
        "POLLER_LOG_FORMAT": "json",
        "POLLER_JITTER": "0",
        "POLLER_ORG_DEFAULTS__DEFAULTS__INITIAL_INTERVAL": "2h",
        "POLLER_ORG_DEFAULTS__DEFAULTS__INTERVAL": "1h",
        **extra,
    })


@pytest.fixture
def daemon_factory(tmp_path: Path) -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for daemon in started:
        daemon.kill()


def test_run_serves_health_writes_documents_and_stops_cleanly(
    simulator: SimulatorServer, tmp_path: Path, daemon_factory: list[Daemon]
) -> None:
    store = tmp_path / "s.sqlite3"
    env = _daemon_env(simulator, POLLER_STORE_PATH=str(store))
    daemon = Daemon(tmp_path, env)
    daemon_factory.append(daemon)

    daemon.wait_ready()
    assert _get(f"{daemon.metrics}/healthz")[0] == 200
    status, metrics = _get(f"{daemon.metrics}/metrics")
    assert status == 200
    assert "openai_poller_" in metrics

    with SqliteSink(store) as sink:
        assert sink.reader().count(COMPLETIONS.format(ns="default")) > 0
        assert sink.reader().count("logs-openai.rate_limits-default") > 0

    assert daemon.terminate() == 0, daemon.output()
    output = daemon.output()
    assert "Traceback" not in output
    for line in filter(None, daemon.err.read_text().splitlines()):
        json.loads(line)  # POLLER_LOG_FORMAT=json: every stderr line is one JSON record

    # The admin key is nowhere: not in the logs, /metrics, the store, nor `status --json`.
    status_run = subprocess.run(
        [sys.executable, "-m", "poller", "status", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert status_run.returncode == 0, status_run.stderr
    rows = json.loads(status_run.stdout)
    assert {row["stream"] for row in rows} >= {"completions", "costs", "audit", "rate_limits"}
    for text in (output, metrics, status_run.stdout, status_run.stderr):
        assert ADMIN_KEY not in text
    for path in tmp_path.glob("s.sqlite3*"):  # the database and any WAL/journal left over
        assert ADMIN_KEY.encode() not in path.read_bytes()


@dataclass(frozen=True)
class EsTarget:
    url: str
    api_key: str | None
    client: Elasticsearch
    namespace: EsNamespace


@pytest.fixture
def es_target(
    elasticsearch_url: str,
    elasticsearch_api_key: str | None,
    es_client: Elasticsearch,
    es_namespace: EsNamespace,
) -> EsTarget:
    return EsTarget(elasticsearch_url, elasticsearch_api_key, es_client, es_namespace)


def test_run_into_elasticsearch(
    simulator: SimulatorServer, tmp_path: Path, daemon_factory: list[Daemon], es_target: EsTarget
) -> None:
    es_namespace, es_client = es_target.namespace, es_target.client
    extra = {
        "ELASTICSEARCH_URL": es_target.url,
        "POLLER_ORG_DEFAULTS__NAMESPACE": es_namespace.name,
        "POLLER_ORG_DEFAULTS__STREAMS": "completions,costs,audit",
        "POLLER_STORE_PATH": str(tmp_path / "unused.sqlite3"),
        "POLLER_AUTO_SETUP": "true",  # our templates, under the test namespace's own
    }
    if es_target.api_key:
        extra["ELASTICSEARCH_API_KEY"] = es_target.api_key
    daemon = Daemon(tmp_path, _daemon_env(simulator, **extra))
    daemon_factory.append(daemon)

    daemon.wait_ready()
    index = es_namespace.data_stream("completions")
    es_client.indices.refresh(index=index)
    assert int(es_client.count(index=index).body["count"]) > 0
    assert daemon.terminate() == 0, daemon.output()
    assert ADMIN_KEY not in daemon.output()
    assert not (tmp_path / "unused.sqlite3").exists()


def test_a_refused_key_is_not_ready_logs_one_short_line_per_stream_and_counts(
    simulator: SimulatorServer, tmp_path: Path, daemon_factory: list[Daemon]
) -> None:
    """The key OpenAI refuses: alive (restarting would not help) but not ready, with a reason
    that names the org; each stream's failure is one short line that says what to do, said
    again only as a summary; every failed cycle counts."""
    wrong_key = "sk-admin-WRONG-daemon-0b1d2e3f4a"
    env = _daemon_env(
        simulator,
        OPENAI_ADMIN_KEY=wrong_key,
        POLLER_STORE_PATH=str(tmp_path / "s.sqlite3"),
        POLLER_ORG_DEFAULTS__STREAMS="completions,audit",
        POLLER_ORG_DEFAULTS__DEFAULTS__INTERVAL="1s",
    )
    daemon = Daemon(tmp_path, env)
    daemon_factory.append(daemon)

    def errors() -> float:
        _, text = _get(f"{daemon.metrics}/metrics")
        return sum(float(line.rpartition(" ")[2]) for line in text.splitlines()
                   if line.startswith("openai_poller_errors_total{"))

    deadline = time.monotonic() + READY_SECONDS
    while errors() < 6 and time.monotonic() < deadline:  # three cycles of each stream
        assert daemon.proc.poll() is None, daemon.output()
        time.sleep(0.2)
    assert errors() >= 6
    assert _get(f"{daemon.metrics}/readyz") == (
        503, '{"status": "unavailable", "reason": "org default: OpenAI refused the admin key"}'
    )
    assert _get(f"{daemon.metrics}/healthz") == (200, '{"status": "ok"}')
    assert daemon.terminate() == 0, daemon.output()

    records = [json.loads(line) for line in daemon.err.read_text().splitlines() if line]
    failures = [r["message"] for r in records if r["log"]["logger"] == "poller.daemon"
                and r["log.level"] == "error"]
    advice = "check the org's admin key: OpenAI refused it (AuthenticationError, HTTP 401)"
    assert sorted(failures) == [
        f"cycle default/audit failed: {advice}",
        f"cycle default/completions failed: {advice}",
    ]
    assert wrong_key not in daemon.output()
