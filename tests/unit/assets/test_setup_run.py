"""`run_setup` as a whole: retention from the options, a dry run that cannot reach a server
(the plan instead of a failure), a run that fails half-way (what it did was already reported),
and who the Kibana rules will run as."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
import respx
from assets_fakes import KIBANA_URL, FakeCluster, FakeKibana

from poller.assets import load_assets
from poller.errors import SinkUnavailableError
from poller.install import (
    Change,
    KibanaAuth,
    SetupOptions,
    duration_text,
    plan_setup,
    run_setup,
)

ASSETS = load_assets()
AUDIT_DS = "logs-openai.audit-default"
AUDIT_WRITE = f".ds-{AUDIT_DS}-2026.11.15-000002"
RUNS_AS_WHY = "(Kibana runs a rule's queries with an API key of whoever saved it last)"


def test_retention_from_the_options_reaches_templates_policies_and_data_streams(
    cluster: FakeCluster,
) -> None:
    cluster.data_streams[AUDIT_DS] = {
        "indices": [AUDIT_WRITE],
        "lifecycle": {"data_retention": "730d"},
    }
    cluster.mappings[AUDIT_WRITE] = {"properties": {}}
    options = SetupOptions(retention={"audit": "3650d", "metrics": "90d"})
    lines = run_setup(es=cluster.client(), kibana_url=None, options=options).lines()
    audit = cluster.component_templates["openai-poller.audit@package"]["template"]
    costs = cluster.component_templates["openai-poller.costs@package"]["template"]
    assert (audit["lifecycle"], costs["lifecycle"]) == (
        {"data_retention": "3650d"},
        {"data_retention": "90d"},
    )
    assert f"data stream {AUDIT_DS} retention: updated (3650d)" in lines
    assert cluster.data_streams[AUDIT_DS]["lifecycle"]["data_retention"] == "3650d"

    ilm = SetupOptions(ilm=True, retention={"audit": "3650d"})
    run_setup(es=cluster.client(), kibana_url=None, options=ilm)
    assert cluster.ilm_policies["openai-poller-audit"]["phases"]["delete"]["min_age"] == "3650d"
    assert cluster.ilm_policies["openai-poller-metrics"]["phases"]["delete"]["min_age"] == "400d"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(days=400), "400d"),
        (timedelta(hours=36), "36h"),
        (timedelta(minutes=90), "90m"),
        (timedelta(seconds=45), "45s"),
        (timedelta(milliseconds=1500), "1500ms"),
    ],
)
def test_durations_are_written_in_the_largest_exact_unit(value: timedelta, text: str) -> None:
    assert duration_text(value) == text


@pytest.mark.parametrize("value", [timedelta(0), timedelta(days=-1), timedelta(microseconds=5)])
def test_durations_elasticsearch_cannot_hold_are_refused(value: timedelta) -> None:
    with pytest.raises(ValueError) as caught:
        duration_text(value)
    assert str(caught.value) == (
        f"a retention must be a positive whole number of milliseconds: {value}"
    )


def _plan_lines(*, kibana: bool, options: SetupOptions | None = None) -> list[str]:
    return plan_setup(kibana=kibana, options=options).lines()


def test_the_plan_needs_no_server_and_lists_everything_setup_installs() -> None:
    lines = _plan_lines(kibana=True, options=SetupOptions(retention={"audit": "3650d"}))
    objects = len(ASSETS.saved_objects) + len(ASSETS.rules)
    templates = len(ASSETS.component_templates) + len(ASSETS.index_templates)
    assert len(lines) == 1 + templates + 1 + objects
    assert lines[0] == "ingest pipeline openai-poller-event-ingested: would install"
    assert "component template openai-poller.audit@package: would install (retention 3650d)" in (
        lines
    )
    assert "component template openai-poller.costs@package: would install (retention 400d)" in (
        lines
    )
    assert (
        "existing data streams logs-openai.*: would install (missing fields, the audit pipeline "
        "and the retention, where they differ)"
    ) in lines
    assert "kibana dashboard openai-poller-costs: would install" in lines
    assert "kibana rule monthly-budget: would install (budget_usd=1000)" in lines
    assert not [line for line in lines if "ilm" in line]
    with_ilm = _plan_lines(kibana=False, options=SetupOptions(ilm=True))
    assert "ilm policy openai-poller-audit: would install (delete after 730d)" in with_ilm
    assert not [line for line in with_ilm if line.startswith("kibana")]
    assert plan_setup().changed  # not compared: everything counts as to be written


def test_a_dry_run_against_an_unreachable_cluster_reports_the_plan(cluster: FakeCluster) -> None:
    cluster.down = True
    report = run_setup(es=cluster.client(), kibana_url=None, dry_run=True)
    lines = report.lines()
    assert lines[0].startswith("elasticsearch: not compared (Elasticsearch at ")
    assert "unreachable" in lines[0]
    assert lines[1:] == _plan_lines(kibana=False)
    with pytest.raises(SinkUnavailableError, match="unreachable"):
        run_setup(es=cluster.client(), kibana_url=None)


def test_a_dry_run_against_an_unreachable_kibana_reports_its_plan(cluster: FakeCluster) -> None:
    with respx.mock(assert_all_called=False) as router:
        router.route(url__startswith=KIBANA_URL).mock(
            side_effect=httpx.ConnectError("refused")
        )
        report = run_setup(es=cluster.client(), kibana_url=KIBANA_URL, dry_run=True)
    lines = report.lines()
    first_kibana = next(i for i, line in enumerate(lines) if line.startswith("kibana"))
    assert lines[first_kibana].startswith(
        "kibana: not compared (Kibana at http://kibana.example.internal:5601 is unreachable"
    )
    planned = [line for line in _plan_lines(kibana=True) if line.startswith("kibana")]
    assert lines[first_kibana + 1 :] == planned
    assert all(line.endswith(": would create") for line in lines[:first_kibana])


def test_a_failure_half_way_has_already_reported_what_was_done(
    cluster: FakeCluster, kibana: FakeKibana
) -> None:
    kibana.status = 500
    heard: list[Change] = []
    with pytest.raises(SinkUnavailableError, match="HTTP 500"):
        run_setup(es=cluster.client(), kibana_url=KIBANA_URL, on_change=heard.append)
    installed = 1 + len(ASSETS.component_templates) + len(ASSETS.index_templates)
    assert len(heard) == installed
    assert {change.action for change in heard} == {"create"}
    assert heard[0].line(dry_run=False) == "ingest pipeline openai-poller-event-ingested: created"
    assert len(cluster.index_templates) == len(ASSETS.index_templates)  # they were installed


def test_kibana_rules_run_as_the_identity_setup_authenticates_as(
    cluster: FakeCluster, kibana: FakeKibana
) -> None:
    cluster.authenticated = {
        "username": "ops-admin",
        "authentication_type": "api_key",
        "api_key": {"id": "VuaCfGcBCdbkQm-e5aOx", "name": "openai-poller-setup"},
    }
    auth = KibanaAuth(api_key="VuaCfGcBCdbkQm-e5aOx:ui2lp2axTNmsyakw9tvNnw")
    lines = run_setup(es=cluster.client(), kibana_url=KIBANA_URL, kibana_auth=auth).lines()
    assert (
        "kibana rules: run as API key 'openai-poller-setup' (id VuaCfGcBCdbkQm-e5aOx) of user "
        f"ops-admin {RUNS_AS_WHY}"
    ) in lines
    cluster.authenticated = {"username": "elastic", "authentication_type": "realm"}
    lines = run_setup(es=cluster.client(), kibana_url=KIBANA_URL, dry_run=True).lines()
    assert f"kibana rules: would run as user elastic {RUNS_AS_WHY}" in lines


def test_a_cluster_without_security_cannot_name_the_identity(
    cluster: FakeCluster, kibana: FakeKibana
) -> None:
    lines = run_setup(es=cluster.client(), kibana_url=KIBANA_URL).lines()
    (line,) = [line for line in lines if line.startswith("kibana rules:")]
    assert line == (
        "kibana rules: run as setup's credentials (Elasticsearch did not say whose: no handler "
        "found for uri [/_security/_authenticate] and method [GET]) " + RUNS_AS_WHY
    )
