"""`run_setup` against a fake Elasticsearch answering like 8.15 (and like serverless, 8.10, 8.6):
the paths noida-db cannot show — data stream lifecycle, ILM, backing indices, version gates."""

from __future__ import annotations

import pytest
from assets_fakes import FakeCluster

from poller.assets import load_assets
from poller.errors import SinkRejectedError
from poller.install import SetupOptions, run_setup

DS = "logs-openai.completions-default"
ILM = SetupOptions(ilm=True)
OLD, WRITE = f".ds-{DS}-2026.11.01-000001", f".ds-{DS}-2026.11.15-000002"


def setup_lines(cluster: FakeCluster, **kwargs: object) -> list[str]:
    report = run_setup(es=cluster.client(), kibana_url=None, **kwargs)  # type: ignore[arg-type]
    return report.lines()


def test_installs_everything_then_finds_it_unchanged(cluster: FakeCluster) -> None:
    first = setup_lines(cluster)
    assets = load_assets()
    assert len(first) == 1 + len(assets.component_templates) + len(assets.index_templates)
    assert all(line.endswith(": created") for line in first)
    # The pipeline comes before the template that names it.
    assert first[0] == "ingest pipeline openai-poller-event-ingested: created"
    assert set(cluster.component_templates) == {t.name for t in assets.component_templates}
    assert cluster.ingest_pipelines["openai-poller-event-ingested"]["_meta"]["content_hash"]
    body = cluster.component_templates["openai-poller.audit@package"]
    assert body["template"]["lifecycle"] == {"data_retention": "730d"}
    assert body["_meta"]["content_hash"]

    writes = len(cluster.writes)
    second = setup_lines(cluster)
    assert all(line.endswith(": unchanged") for line in second)
    assert len(cluster.writes) == writes


def test_dry_run_only_reads(cluster: FakeCluster) -> None:
    lines = setup_lines(cluster, dry_run=True)
    assert cluster.writes == []
    assert all(line.endswith(": would create") for line in lines)


def test_a_template_we_changed_is_updated_even_if_only_a_field_was_removed(
    cluster: FakeCluster,
) -> None:
    setup_lines(cluster)
    stored = cluster.component_templates["openai-poller@ecs"]
    stored["template"]["mappings"]["properties"]["legacy"] = {"type": "keyword"}
    stored["_meta"]["content_hash"] = "from-an-older-release"
    lines = setup_lines(cluster)
    assert "component template openai-poller@ecs: updated" in lines
    assert (
        "legacy"
        not in cluster.component_templates["openai-poller@ecs"]["template"]["mappings"][
            "properties"
        ]
    )


def test_a_hand_edited_value_is_put_back(cluster: FakeCluster) -> None:
    setup_lines(cluster)
    cluster.index_templates["openai-poller-costs"]["priority"] = 50
    assert "index template openai-poller-costs: updated" in setup_lines(cluster)
    assert cluster.index_templates["openai-poller-costs"]["priority"] == 250


def test_existing_data_stream_gets_missing_fields_and_retention(cluster: FakeCluster) -> None:
    cluster.data_streams[DS] = {
        "indices": [OLD, WRITE],
        "lifecycle": {"enabled": True, "data_retention": "90d"},
    }
    cluster.mappings[WRITE] = {
        "dynamic": "true",
        "properties": {
            "@timestamp": {"type": "date"},
            "data_stream": {
                "properties": {"namespace": {"type": "constant_keyword", "value": "default"}}
            },
            "openai": {
                "properties": {"completions": {"properties": {"input_tokens": {"type": "float"}}}}
            },
        },
    }
    lines = setup_lines(cluster, namespaces=["default"])
    mapping_lines = [line for line in lines if line.startswith(f"data stream {DS} mapping")]
    assert any(": updated (" in line and "dynamic: false" in line for line in mapping_lines)
    assert any(
        "needs a rollover" in line and "openai.completions.input_tokens" in line
        for line in mapping_lines
    )
    assert f"data stream {DS} retention: updated (400d)" in lines
    put = [r for r in cluster.writes if r[1] == f"/{WRITE}/_mapping"]
    assert len(put) == 1  # the write index only; older backing indices keep theirs
    sent = put[0][2]
    assert sent["dynamic"] is False
    # Fields it already has (constant_keyword with a value) are not sent again.
    assert "namespace" not in sent["properties"].get("data_stream", {}).get("properties", {})
    assert "input_tokens" not in str(sent["properties"]["openai"]["properties"].get("completions"))
    assert cluster.data_streams[DS]["lifecycle"]["data_retention"] == "400d"

    again = setup_lines(cluster, namespaces=["default"])
    assert f"data stream {DS} retention: unchanged" in again
    assert [line for line in again if "rollover" in line]  # still honest about the conflict
    assert not [line for line in again if ": updated" in line]


def test_existing_audit_data_stream_gets_the_final_pipeline(cluster: FakeCluster) -> None:
    """Template settings reach a data stream only at its next rollover: until then its audit
    events would have no `event.ingested`, and the audit rules would not see them."""
    audit = "logs-openai.audit-default"
    write = f".ds-{audit}-2026.11.15-000002"
    cluster.data_streams[audit] = {"indices": [write], "lifecycle": {"data_retention": "730d"}}
    cluster.mappings[write] = {"dynamic": "false", "properties": {}}
    dry = setup_lines(cluster, dry_run=True)
    target = f"data stream {audit} settings"
    detail = "(index.final_pipeline: openai-poller-event-ingested)"
    assert f"{target}: would update {detail}" in dry
    assert cluster.writes == []
    assert f"{target}: updated {detail}" in setup_lines(cluster)
    assert cluster.settings[write] == {"index.final_pipeline": "openai-poller-event-ingested"}
    assert f"{target}: unchanged" in setup_lines(cluster)
    # Streams whose templates set no index settings get no settings line.
    cluster.data_streams[DS] = {"indices": [WRITE], "lifecycle": {"data_retention": "400d"}}
    cluster.mappings[WRITE] = {"properties": {}}
    assert not [line for line in setup_lines(cluster) if line.startswith(f"data stream {DS} set")]


def test_namespaces_limit_which_data_streams_are_touched(cluster: FakeCluster) -> None:
    cluster.data_streams[DS] = {"indices": [WRITE], "lifecycle": {"data_retention": "400d"}}
    cluster.mappings[WRITE] = {"properties": {}}
    lines = setup_lines(cluster, namespaces=["prod"])
    assert not [line for line in lines if line.startswith("data stream")]


def test_without_a_data_stream_api_plain_indices_are_updated(cluster: FakeCluster) -> None:
    """noida-db: data streams are plain indices and there is no lifecycle to set."""
    cluster.has_data_stream_api = False
    cluster.mappings[DS] = {"properties": {}}
    lines = setup_lines(cluster)
    assert any(line.startswith(f"data stream {DS} mapping: updated") for line in lines)
    assert not [line for line in lines if "retention" in line]


def test_ilm_installs_policies_and_their_components(cluster: FakeCluster) -> None:
    lines = setup_lines(cluster, options=ILM)
    assert "ilm policy openai-poller-metrics: created" in lines
    assert "component template openai-poller@ilm-audit: created" in lines
    settings = cluster.component_templates["openai-poller@ilm-metrics"]["template"]["settings"]
    assert settings["index"]["lifecycle"]["name"] == "openai-poller-metrics"
    assert cluster.ilm_policies["openai-poller-audit"]["phases"]["delete"]["min_age"] == "730d"
    # Settings come back as strings ("true"); that still counts as unchanged.
    assert all(line.endswith(": unchanged") for line in setup_lines(cluster, options=ILM))
    # Later runs without ILM say the ILM components are still in charge.
    plain = setup_lines(cluster)
    assert any("openai-poller@ilm-metrics: left in place" in line for line in plain)


def test_serverless_has_no_ilm(cluster: FakeCluster) -> None:
    cluster.flavor = "serverless"
    with pytest.raises(
        ValueError, match=r"^Elasticsearch serverless has no ILM: run setup without ILM$"
    ):
        setup_lines(cluster, options=ILM)
    assert setup_lines(cluster)  # data stream lifecycle works there


def test_before_8_11_retention_needs_ilm(cluster: FakeCluster) -> None:
    cluster.version = "8.10.4"
    lines = setup_lines(cluster)
    assert any(line.startswith("data stream lifecycle: skipped") for line in lines)
    assert all("lifecycle" not in body["template"] for body in cluster.component_templates.values())


def test_too_old_a_cluster_is_refused(cluster: FakeCluster) -> None:
    cluster.version = "8.6.2"
    with pytest.raises(SinkRejectedError, match=r"8\.6\.2 .* too old"):
        setup_lines(cluster)
    assert cluster.writes == []


def test_refusals_become_poller_errors(cluster: FakeCluster) -> None:
    cluster.fail[("PUT", "/_component_template/.*")] = (
        403,
        {"error": {"type": "security_exception", "reason": "action unauthorized"}},
    )
    with pytest.raises(SinkRejectedError, match="lack a privilege"):
        setup_lines(cluster)


def test_nothing_to_do_is_a_value_error() -> None:
    with pytest.raises(
        ValueError, match=r"^setup needs an Elasticsearch cluster, a Kibana URL, or both$"
    ):
        run_setup(es=None, kibana_url=None)
