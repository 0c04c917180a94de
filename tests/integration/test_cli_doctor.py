"""`doctor`: every check passes against a healthy setup, and a project key fails with the fix."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from poller.cli import main
from poller.simulator.app import SimulatorApp
from poller.simulator.organization import build_organization
from poller.simulator.server import SimulatorServer

pytestmark = pytest.mark.integration

KEY = "sk-admin-doctor-test"


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorServer]:
    app = SimulatorApp(build_organization(seed=4, size="small"), admin_key=KEY)
    with SimulatorServer(app) as server:
        yield server


def _env(monkeypatch: pytest.MonkeyPatch, server: SimulatorServer, key: str, tmp: Path) -> None:
    monkeypatch.setenv("OPENAI_ADMIN_KEY", key)
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("POLLER_STORE_PATH", str(tmp / "doctor.sqlite3"))
    monkeypatch.setenv("POLLER_LOG_FORMAT", "text")
    monkeypatch.delenv("ELASTICSEARCH_URL", raising=False)


def test_doctor_passes_every_check(
    simulator: SimulatorServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _env(monkeypatch, simulator, KEY, tmp_path)
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in out] == [
        "ok    default",
        "ok    default",
        "ok    embedded store",
    ]
    assert "admin key works" in out[0]
    assert "audit logging returns events" in out[1]


def test_doctor_names_the_fix_for_a_project_key(
    simulator: SimulatorServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project_key = "sk-proj-doctor-test-0123456789"
    _env(monkeypatch, simulator, project_key, tmp_path)
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("FAIL  default: admin key:")
    assert "insufficient permissions" in out
    assert "fix: use an organization admin key" in out
    assert project_key not in out
