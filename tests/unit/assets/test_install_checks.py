"""What `run`, `backfill` and `doctor` ask before relying on the cluster: whether our templates
are there (`missing_templates`), and whether the credentials hold a role (`check_privileges`),
with the body that would add what they lack."""

from __future__ import annotations

import json
from typing import Any

import pytest
from assets_fakes import FakeCluster

from poller.assets import load_assets
from poller.errors import SinkRejectedError
from poller.install import (
    check_privileges,
    missing_templates,
    run_setup,
    setup_role,
    writer_role,
)

ASSETS = load_assets()


# --- missing_templates ---------------------------------------------------------------------------


def test_an_empty_cluster_lacks_everything_a_stream_needs(cluster: FakeCluster) -> None:
    assert missing_templates(cluster.client(), ["audit"]) == [
        "component template openai-poller.audit@package",
        "component template openai-poller@dashboards",
        "component template openai-poller@ecs",
        "index template openai-poller-audit",
        "ingest pipeline openai-poller-event-ingested",
    ]
    assert missing_templates(cluster.client(), ["costs"]) == [
        "component template openai-poller.costs@package",
        "component template openai-poller@dashboards",
        "component template openai-poller@ecs",
        "index template openai-poller-costs",
    ]
    every = missing_templates(cluster.client())
    assert len(every) == 1 + len(ASSETS.component_templates) + len(ASSETS.index_templates)


def test_after_setup_nothing_is_missing_and_reads_only(cluster: FakeCluster) -> None:
    run_setup(es=cluster.client(), kibana_url=None)
    writes = len(cluster.writes)
    assert missing_templates(cluster.client()) == []
    assert len(cluster.writes) == writes
    del cluster.index_templates["openai-poller-costs"]
    del cluster.ingest_pipelines["openai-poller-event-ingested"]
    assert missing_templates(cluster.client()) == [
        "index template openai-poller-costs",
        "ingest pipeline openai-poller-event-ingested",
    ]
    assert missing_templates(cluster.client(), ["completions"]) == []


def test_a_pipeline_the_writer_may_not_read_is_not_reported(cluster: FakeCluster) -> None:
    run_setup(es=cluster.client(), kibana_url=None)
    cluster.fail[("GET", "/_ingest/pipeline/.*")] = (
        403,
        {"error": {"type": "security_exception", "reason": "action unauthorized"}},
    )
    assert missing_templates(cluster.client(), ["audit"]) == []


def test_missing_templates_refuses_unknown_streams_and_reports_refusals(
    cluster: FakeCluster,
) -> None:
    with pytest.raises(ValueError, match=r"^unknown stream nope$"):
        missing_templates(cluster.client(), ["costs", "nope"])
    cluster.fail[("GET", "/_index_template/.*")] = (401, {"error": "unauthorized"})
    with pytest.raises(SinkRejectedError, match="reading the index templates openai-poller-"):
        missing_templates(cluster.client())


# --- check_privileges ----------------------------------------------------------------------------


def test_the_writer_role_names_the_deployments_own_indices() -> None:
    role = writer_role(state_index="acme-state", deadletter_index="acme-dead")
    assert [entry["names"] for entry in role["indices"][-2:]] == [["acme-state"], ["acme-dead"]]
    assert [entry["names"] for entry in writer_role()["indices"][-2:]] == [
        ["openai-poller-state"],
        ["openai-poller-deadletter"],
    ]
    assert role["indices"][:-2] == writer_role()["indices"][:-2]


def test_credentials_holding_the_role_pass(cluster: FakeCluster) -> None:
    cluster.roles = [writer_role()]
    report = check_privileges(cluster.client(), writer_role())
    assert (report.checked, report.ok, report.missing_names()) == (True, True, [])
    assert report.fix() == "{}"


def test_applying_the_printed_body_makes_the_check_pass(cluster: FakeCluster) -> None:
    """An operator whose writer was given the old, coarser privileges: `index` on every
    `logs-openai.*`, nothing on the cursors' index, no `monitor`."""
    role = writer_role(state_index="acme-state", deadletter_index="acme-dead")
    cluster.roles = [
        {
            "indices": [
                {
                    "names": ["logs-openai.*"],
                    "privileges": ["create_doc", "index", "read", "view_index_metadata"],
                },
                {"names": ["acme-dead"], "privileges": ["all"]},
            ]
        }
    ]
    report = check_privileges(cluster.client(), role)
    assert report.checked and not report.ok
    printed = json.loads(report.fix())
    streams = role["indices"][0]["names"] + role["indices"][1]["names"]
    assert printed == {
        "cluster": ["monitor"],
        "indices": [
            {"names": streams, "privileges": ["auto_configure", "maintenance"]},
            {
                "names": ["acme-state"],
                "privileges": ["create_index", "index", "read", "view_index_metadata"],
            },
        ],
    }
    assert "cluster:monitor" in report.missing_names()
    assert "acme-state:create_index" in report.missing_names()

    cluster.roles.append(printed)
    after = check_privileges(cluster.client(), role)
    assert (after.checked, after.ok) == (True, True)


def test_kibana_feature_privileges_are_checked_per_space(cluster: FakeCluster) -> None:
    role = setup_role()
    granted: dict[str, Any] = {key: role[key] for key in ("cluster", "indices")}
    cluster.roles = [granted]
    report = check_privileges(cluster.client(), role)
    assert json.loads(report.fix()) == {"applications": role["applications"]}
    cluster.roles.append(json.loads(report.fix()))
    assert check_privileges(cluster.client(), role).ok


def test_a_cluster_that_cannot_say_is_unchecked_not_failed(cluster: FakeCluster) -> None:
    report = check_privileges(cluster.client(), writer_role())  # no security API
    assert (report.checked, report.ok) == (False, True)
    assert report.note == (
        "the cluster cannot say: no handler found for uri [/_security/user/_has_privileges] "
        "and method [POST]"
    )


def test_refused_credentials_are_an_error(cluster: FakeCluster) -> None:
    cluster.roles = []
    cluster.fail[("POST", "/_security/user/_has_privileges")] = (
        401,
        {"error": {"type": "security_exception", "reason": "unable to authenticate"}},
    )
    with pytest.raises(SinkRejectedError, match="checking privileges"):
        check_privileges(cluster.client(), writer_role())
