"""`run` and `backfill` into a cluster without openai-poller's index templates: by default one
line naming `setup` and exit 1, before any call to OpenAI or any write; with `auto_setup` they
install the templates first, and write into data streams with our mappings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cli_run import poller
from elasticsearch import Elasticsearch

from poller.install import missing_templates
from poller.simulator.app import SimulatorApp
from poller.simulator.organization import build_organization
from poller.simulator.server import SimulatorServer

pytestmark = pytest.mark.integration

KEY = "sk-admin-templates-test"


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorServer]:
    org = build_organization(seed=9, size="small", settle_seconds=60)
    with SimulatorServer(SimulatorApp(org, admin_key=KEY)) as server:
        yield server


def _env(simulator: SimulatorServer, url: str, api_key: str | None, ns: Any,
         tmp_path: Path) -> dict[str, str]:
    return {
        "OPENAI_ADMIN_KEY": KEY, "OPENAI_BASE_URL": simulator.base_url,
        "ELASTICSEARCH_URL": url, **({"ELASTICSEARCH_API_KEY": api_key} if api_key else {}),
        "POLLER_ORG_DEFAULTS__NAMESPACE": ns.name,
        "POLLER_ELASTICSEARCH__STATE_INDEX": f"{ns.name}-state",
        "POLLER_ELASTICSEARCH__DEADLETTER_INDEX": f"{ns.name}-dead",
        "POLLER_STORE_PATH": str(tmp_path / "unused.sqlite3"),
    }


def _calls(simulator: SimulatorServer) -> int:
    stats = httpx.get(f"{simulator.base_url.removesuffix('/v1')}/_sim/stats").json()
    return sum(sum(codes.values()) for codes in stats["requests"].values())


@pytest.mark.parametrize("command", [["backfill", "--since", "1d", "--streams", "costs"],
                                     ["run"]])
def test_without_templates_they_refuse_in_one_line_and_write_nothing(
    simulator: SimulatorServer, tmp_path: Path, es_client: Elasticsearch, clean_templates: bool,
    asset_namespace: Any, elasticsearch_url: str, elasticsearch_api_key: str | None,
    command: list[str],
) -> None:
    if not clean_templates:
        pytest.skip("the external cluster keeps the templates its data streams use")
    calls = _calls(simulator)
    env = _env(simulator, elasticsearch_url, elasticsearch_api_key, asset_namespace, tmp_path)
    result = poller(*command, cwd=tmp_path, env={**env, "POLLER_LOG_LEVEL": "ERROR"})
    assert (result.returncode, result.stdout) == (1, "")
    lines = result.stderr.splitlines()
    assert lines[-1].startswith(
        "error: run `openai-poller setup` first (or set POLLER_AUTO_SETUP=true): "
        "Elasticsearch lacks component template openai-poller."
    ), result.stderr
    assert " more" in lines[-1] and len(lines[-1]) <= 220
    assert "Traceback" not in result.stderr
    assert _calls(simulator) == calls  # OpenAI was not called
    assert not es_client.indices.exists(index=f"logs-openai.*-{asset_namespace.name}")


def test_auto_setup_installs_the_templates_then_writes(
    simulator: SimulatorServer, tmp_path: Path, es_client: Elasticsearch, clean_templates: bool,
    asset_namespace: Any, elasticsearch_url: str, elasticsearch_api_key: str | None,
) -> None:
    env = _env(simulator, elasticsearch_url, elasticsearch_api_key, asset_namespace, tmp_path)
    result = poller("backfill", "--since", "1d", "--streams", "costs", cwd=tmp_path,
                    env={**env, "POLLER_AUTO_SETUP": "true", "POLLER_LOG_FORMAT": "text"})
    assert result.returncode == 0, result.stderr
    if clean_templates:
        assert "installing what Elasticsearch lacks (auto_setup): " in result.stderr
    assert missing_templates(es_client, ["costs"]) == []
    costs = asset_namespace.data_stream("costs")
    es_client.indices.refresh(index=costs)
    assert int(es_client.count(index=costs).body["count"]) > 0
    mapping = es_client.indices.get_mapping(index=costs).body
    [properties] = [m["mappings"]["properties"] for m in mapping.values()]
    amount = properties["openai"]["properties"]["costs"]["properties"]["amount"]
    assert amount["properties"]["value"]["type"] == "double"  # ours, not a dynamic guess
