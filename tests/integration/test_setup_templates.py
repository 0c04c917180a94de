"""`run_setup` against a real Elasticsearch-wire server: a dry run writes nothing, a second run
reports everything unchanged, and an existing data stream is brought up to date in place."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import respx
from conftest_assets import (
    ASSETS,
    AssetNamespace,
    golden_sources,
)
from elasticsearch import Elasticsearch, NotFoundError
from loopback import free_port
from own_env import clear_own

from poller.cli import main
from poller.install import plan_setup, run_setup

pytestmark = pytest.mark.integration


def test_dry_run_then_setup_twice(
    es_client: Elasticsearch, clean_templates: bool, asset_namespace: AssetNamespace
) -> None:
    dry = run_setup(es=es_client, kibana_url=None, dry_run=True, namespaces=[asset_namespace.name])
    if clean_templates:
        assert all(line.endswith(": would create") for line in dry.lines())
        with pytest.raises(NotFoundError):
            es_client.cluster.get_component_template(name=ASSETS.component_templates[0].name)
    expected = (
        len(ASSETS.ingest_pipelines) + len(ASSETS.component_templates) + len(ASSETS.index_templates)
    )
    assert len(dry.lines()) == expected

    first = run_setup(es=es_client, kibana_url=None, namespaces=[asset_namespace.name])
    assert len(first.lines()) == expected
    second = run_setup(es=es_client, kibana_url=None, namespaces=[asset_namespace.name])
    assert not second.changed
    assert all(line.endswith(": unchanged") for line in second.lines()), second.lines()

    again_dry = run_setup(
        es=es_client, kibana_url=None, dry_run=True, namespaces=[asset_namespace.name]
    )
    assert all(line.endswith(": unchanged") for line in again_dry.lines())


def test_existing_data_stream_is_updated_in_place(
    es_client: Elasticsearch, clean_templates: bool, asset_namespace: AssetNamespace
) -> None:
    """A data stream written before setup (dynamic mapping, a number sent as text) gets the
    missing fields now, and setup says which field needs a rollover."""
    if not clean_templates:
        pytest.skip("our templates are in use on this cluster, so they cannot be removed")
    index = asset_namespace.data_stream("costs")
    source = golden_sources("costs", asset_namespace.name)[0]
    source["openai"]["costs"]["amount"]["value"] = "12.50"  # becomes a text/keyword field
    es_client.index(index=index, document=source, op_type="create", refresh="wait_for")

    first = run_setup(es=es_client, kibana_url=None, namespaces=[asset_namespace.name])
    lines = [line for line in first.lines() if line.startswith(f"data stream {index}")]
    assert any(": updated (" in line for line in lines), lines
    assert any("needs a rollover" in line for line in lines), lines

    mappings = es_client.indices.get_mapping(index=index).body
    openai = list(mappings.values())[-1]["mappings"]["properties"]["openai"]["properties"]
    assert openai["base"]["properties"]["cost_estimate_usd"] == {"type": "double"}
    amount = openai["costs"]["properties"]["amount"]["properties"]["value"]
    assert amount["type"] != "double"  # left alone: only a rollover can change it

    second = run_setup(es=es_client, kibana_url=None, namespaces=[asset_namespace.name])
    assert not second.changed
    assert [line for line in second.lines() if "rollover" in line]


def _rule_hits(client: Elasticsearch, slug: str, time_field: str, namespace: str) -> int:
    """What the rule's Elasticsearch query finds in its window, as Kibana runs it: the rule's
    `esQuery` plus a range over its last `timeWindowSize` on `time_field` (here one
    namespace's documents only, so other tests' documents cannot count)."""
    params = next(rule for rule in ASSETS.rules if rule.slug == slug).render()["params"]
    window = f"now-{params['timeWindowSize']}{params['timeWindowUnit']}"
    query = json.loads(params["esQuery"])["query"]
    body = client.count(
        index=params["index"],
        query={
            "bool": {
                "filter": [
                    query,
                    {"range": {time_field: {"gte": window, "lte": "now"}}},
                    {"term": {"data_stream.namespace": namespace}},
                ]
            }
        },
    ).body
    return int(body["count"])


@pytest.mark.parametrize(
    ("slug", "action"),
    [
        ("admin-key-created", "tenant.admin_api_key.created"),
        ("role-or-owner-change", "role.assignment.created"),
    ],
)
def test_an_audit_event_reported_late_still_falls_in_the_rule_window(
    es_client: Elasticsearch,
    clean_templates: bool,
    asset_namespace: AssetNamespace,
    slug: str,
    action: str,
) -> None:
    """OpenAI reports an event two hours after it happened: its `@timestamp` is already out of
    the rule's hour, but the audit streams' final pipeline stamps `event.ingested` on arrival,
    and that is what the rule windows on."""
    if not clean_templates:
        pytest.skip("our templates are in use on this cluster, so they cannot be replaced")
    run_setup(es=es_client, kibana_url=None, namespaces=[asset_namespace.name])
    source = golden_sources("audit", asset_namespace.name)[0]
    source["openai"]["audit"]["type"] = action
    happened = datetime.now(UTC) - timedelta(hours=2)
    source["@timestamp"] = happened.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    index = asset_namespace.data_stream("audit")
    es_client.index(index=index, document=source, op_type="create", refresh="wait_for")

    (stored,) = [hit["_source"] for hit in es_client.search(index=index).body["hits"]["hits"]]
    ingested = datetime.fromisoformat(stored["event"]["ingested"].replace("Z", "+00:00"))
    assert timedelta(minutes=119) < ingested - happened < timedelta(minutes=125)

    rule = next(rule for rule in ASSETS.rules if rule.slug == slug).render()["params"]
    assert rule["timeField"] == "event.ingested"
    assert _rule_hits(es_client, slug, rule["timeField"], asset_namespace.name) == 1
    assert _rule_hits(es_client, slug, "@timestamp", asset_namespace.name) == 0


@pytest.fixture
def setup_env(
    monkeypatch: pytest.MonkeyPatch, elasticsearch_url: str, asset_namespace: AssetNamespace
) -> None:
    """`openai-poller setup` on the test cluster, touching only this test's data streams."""
    clear_own(monkeypatch)
    monkeypatch.setenv("ELASTICSEARCH_URL", elasticsearch_url)
    monkeypatch.setenv("OPENAI_ADMIN_KEY", "sk-admin-setup-test")
    monkeypatch.setenv("POLLER_ORG_DEFAULTS__NAMESPACE", asset_namespace.name)
    monkeypatch.setenv("POLLER_LOG_FORMAT", "text")
    monkeypatch.setenv("POLLER_ALLOW_INSECURE_HTTP", "true")


def test_cli_dry_run_against_an_unreachable_cluster_prints_the_plan(
    setup_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real client, a port nothing listens on: the dry run still says what setup would
    install, and exits 0; the real run fails with one line."""
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("ELASTICSEARCH_URL", url)
    assert main(["setup", "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    unreachable = f"elasticsearch: not compared (Elasticsearch at {url} is unreachable"
    assert lines[0].startswith(unreachable)
    assert lines[1:] == plan_setup().lines()
    assert main(["setup"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"error: Elasticsearch at {url} is unreachable")


def test_cli_setup_failing_at_kibana_lists_what_elasticsearch_got(
    setup_env: None,
    clean_templates: bool,
    es_client: Elasticsearch,
    *,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    kibana = "http://kibana.setup-test.internal:5601"
    monkeypatch.setenv("KIBANA_URL", kibana)
    with respx.mock(assert_all_called=False) as router:
        router.route(url__startswith=kibana).mock(
            return_value=httpx.Response(500, json={"message": "Kibana is starting"})
        )
        assert main(["setup"]) == 1
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    expected = (
        len(ASSETS.ingest_pipelines) + len(ASSETS.component_templates) + len(ASSETS.index_templates)
    )
    assert len(lines) == expected
    if clean_templates:
        assert all(line.endswith(": created") for line in lines), lines
    assert captured.err == (
        f"error: Kibana at {kibana} refused reading index-pattern openai-poller-logs-openai: "
        "HTTP 500: Kibana is starting\n"
    )
    # What the output says was installed is there.
    assert es_client.indices.get_index_template(name="openai-poller-audit").body["index_templates"]
