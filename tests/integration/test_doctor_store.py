"""`doctor` checks the embedded store without creating it: it changes nothing it checks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from poller.cli import main
from poller.simulator.app import SimulatorApp
from poller.simulator.organization import build_organization
from poller.simulator.server import SimulatorServer

pytestmark = pytest.mark.integration

KEY = "sk-admin-doctor-store-test"


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorServer]:
    app = SimulatorApp(build_organization(seed=4, size="small"), admin_key=KEY)
    with SimulatorServer(app) as server:
        yield server


@pytest.fixture
def env(simulator: SimulatorServer, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("OPENAI_ADMIN_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", simulator.base_url)
    monkeypatch.setenv("POLLER_LOG_FORMAT", "text")
    monkeypatch.delenv("ELASTICSEARCH_URL", raising=False)
    return monkeypatch


def test_doctor_creates_no_store_and_no_directory(
    env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "not" / "yet" / "openai-poller.sqlite3"
    env.setenv("POLLER_STORE_PATH", str(store))
    assert main(["doctor"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"ok    embedded store: none yet at {store}; backfill or run creates it"
    )
    assert list(tmp_path.iterdir()) == []


def test_doctor_opens_an_existing_store_read_only(
    env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "openai-poller.sqlite3"
    env.setenv("POLLER_STORE_PATH", str(store))
    assert main(["backfill", "--since", "1d", "--streams", "costs"]) == 0
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    capsys.readouterr()
    assert main(["doctor"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"ok    embedded store: writable at {store}"
    after = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    assert after.keys() <= before.keys() | {store.name + "-wal", store.name + "-shm"}
    assert after[store.name] == before[store.name]


def test_doctor_says_when_the_store_cannot_be_created(
    env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file where the store's directory should be (a permission test would pass as root)."""
    blocker = tmp_path / "state"
    blocker.write_text("not a directory")
    store = blocker / "openai-poller.sqlite3"
    env.setenv("POLLER_STORE_PATH", str(store))
    assert main(["doctor"]) == 1
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"FAIL  embedded store: cannot create the embedded store {store}: {blocker} is not a "
        "writable directory -- fix: point POLLER_STORE_PATH at a writable directory"
    )
    assert [p.name for p in tmp_path.iterdir()] == ["state"]
