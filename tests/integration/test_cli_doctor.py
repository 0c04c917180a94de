"""`doctor`: every check passes against a healthy setup, a project key fails with the fix, and
the Elasticsearch checks ask the cluster itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from poller.cli import main
from poller.install import run_setup
from poller.simulator.app import SimulatorApp
from poller.simulator.organization import build_organization
from poller.simulator.server import SimulatorServer

pytestmark = pytest.mark.integration

KEY = "sk-admin-doctor-test"
# noida-db has no security API; a real test cluster's credentials hold every privilege.
PRIVILEGES = (
    "ok    elasticsearch: privileges: not checked (the cluster cannot say: no handler found for "
    "uri [/_security/user/_has_privileges] and method [POST])",
    "ok    elasticsearch: privileges: privileges ok",
)


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


@pytest.fixture
def es_env(
    elasticsearch_url: str, elasticsearch_api_key: str | None, es_namespace: Any
) -> dict[str, str]:
    """The environment naming the test cluster, with this test's own state and dead-letter
    indices."""
    return {
        "ELASTICSEARCH_URL": elasticsearch_url,
        **({"ELASTICSEARCH_API_KEY": elasticsearch_api_key} if elasticsearch_api_key else {}),
        "POLLER_ELASTICSEARCH__STATE_INDEX": es_namespace.state_index,
        "POLLER_ELASTICSEARCH__DEADLETTER_INDEX": es_namespace.deadletter_index,
    }


def test_doctor_checks_the_cluster_it_writes_to(
    simulator: SimulatorServer,
    tmp_path: Path,
    es_client: Elasticsearch,
    clean_templates: bool,
    *,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    es_env: dict[str, str],
) -> None:
    """noida-db reports 8.15.3 and has no security API (privileges cannot be checked, which is
    no failure); without our templates doctor names what is missing, after setup it passes."""
    _env(monkeypatch, simulator, KEY, tmp_path)
    for name, value in es_env.items():
        monkeypatch.setenv(name, value)
    version = es_client.info().body["version"]["number"]
    reachable = f"ok    elasticsearch: reachable: Elasticsearch {version}"
    if clean_templates:
        assert main(["doctor"]) == 1
        out = capsys.readouterr().out.splitlines()
        assert out[3] in PRIVILEGES
        assert [out[2], out[4]] == [
            reachable,
            "FAIL  elasticsearch: templates: templates missing (component template "
            "openai-poller.allocated_costs@package, component template "
            "openai-poller.audio_speeches@package, component template "
            "openai-poller.audio_transcriptions@package, ...) -- fix: run openai-poller setup",
        ]
    run_setup(es=es_client, kibana_url=None, namespaces=["default"])

    assert main(["doctor"]) == 0

    out = capsys.readouterr().out.splitlines()
    assert out[3] in PRIVILEGES
    assert [out[2], *out[4:]] == [
        reachable,
        "ok    elasticsearch: templates: templates installed",
        "ok    elasticsearch: mappings: no data stream of the configured streams exists yet",
    ]
    assert not (tmp_path / "doctor.sqlite3").exists()  # the embedded store is not opened
