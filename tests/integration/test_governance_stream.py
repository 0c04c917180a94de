"""The governance stream, end to end on both sinks: a backfill stores exactly the simulator
organization's settings as they stand (a snapshot document and a baseline per setting); after
one scheduled change in the simulator, the next snapshot adds exactly one change document, with
the value before and after it; running again adds nothing.

The expected documents are built from the simulator's `governance` (`governance_at`), not from
the mapper: the values in their canonical form (sorted model ids, tools as enabled and disabled
lists, certificate times as ECS dates).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

from poller.collect import backfill_org
from poller.documents.governance import change_doc_id, setting_key, snapshot_doc_id
from poller.runtime import OrgRuntime, org_runtime
from poller.settings import load_settings
from poller.simulator._org_governance import governance_at
from poller.simulator.app import SimulatorApp
from poller.simulator.faults import FaultPlan
from poller.simulator.model import Governance, GovernanceChange
from poller.simulator.organization import Organization, build_organization
from poller.simulator.server import SimulatorServer
from poller.sinks import SqliteSink
from poller.sinks.elasticsearch import ElasticsearchSink
from poller.sources import BackfillWindow, slot_start

pytestmark = pytest.mark.integration

KEY = "sk-admin-governance-test-key"
HOUR = 3600
SLOT = 6 * HOUR  # the stream's built-in interval
# The simulator's setting field -> the snapshot's setting.
SETTING = {
    "data_retention": "data_retention",
    "project_data_retention": "data_retention",
    "model_permissions": "model_permissions",
    "hosted_tool_permissions": "hosted_tool_permissions",
}


def iso(seconds: int) -> str:
    stamp = datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def certificate(listed: Mapping[str, Any]) -> dict[str, Any]:
    details = listed["certificate_details"]
    return {
        "name": listed["name"],
        "active": listed["active"],
        "created_at": iso(listed["created_at"]),
        "valid_at": iso(details["valid_at"]),
        "expires_at": iso(details["expires_at"]),
    }


def tools(permissions: Mapping[str, Any]) -> dict[str, list[str]]:
    return {
        "enabled_tools": sorted(t for t, v in permissions.items() if v["enabled"]),
        "disabled_tools": sorted(t for t, v in permissions.items() if not v["enabled"]),
    }


def truth(org: Organization, now: int) -> dict[str, dict[str, Any]]:
    """Every setting's expected value at `now`, by setting key."""
    gov: Governance = governance_at(org.governance, now)
    out = {setting_key("data_retention", None, None): {"type": gov.data_retention["type"]}}
    for listed in gov.certificates:
        out[setting_key("certificate", None, listed["id"])] = certificate(listed)
    for project in active_projects(org):
        permissions = gov.model_permissions[project]
        out[setting_key("data_retention", project, None)] = {
            "type": gov.project_data_retention[project]["type"]
        }
        out[setting_key("model_permissions", project, None)] = {
            "mode": permissions["mode"],
            "model_ids": sorted(permissions["model_ids"]),
        }
        out[setting_key("hosted_tool_permissions", project, None)] = tools(
            gov.hosted_tool_permissions[project]
        )
        for listed in gov.project_certificates[project]:
            out[setting_key("certificate", project, listed["id"])] = certificate(listed)
    return out


def active_projects(org: Organization) -> list[str]:
    return [p["id"] for p in org.directory.projects if p.get("status") != "archived"]


def a_change(org: Organization) -> GovernanceChange:
    """A scheduled change of a project's model permissions, at least a slot after the
    previous change and before the next."""
    changes = org.governance.changes
    return next(
        change
        for before, change, after in zip(changes, changes[1:], changes[2:], strict=False)
        if change.setting == "model_permissions"
        and change.at - before.at > 2 * SLOT
        and after.at - change.at > 2 * SLOT
    )


@contextmanager
def simulated(
    namespace: str, clock: list[int], faults: str = ""
) -> Iterator[tuple[Organization, OrgRuntime]]:
    org = build_organization(seed=7, size="medium", settle_seconds=600)
    plan = FaultPlan.parse(faults)
    app = SimulatorApp(org, admin_key=KEY, clock=lambda: clock[0], faults=plan)
    with SimulatorServer(app) as server:
        org_settings = {"name": "gov", "admin_key": KEY, "base_url": server.base_url}
        settings = load_settings(orgs=[{**org_settings, "namespace": namespace}])
        with org_runtime(settings.orgs[0]) as rt:
            yield org, rt


def backfill(rt: OrgRuntime, sink: Any, now: int) -> int:
    window = BackfillWindow(since=now - HOUR, until=now, now=now)
    result = backfill_org(rt, sink, ("governance",), window)
    assert (result.failures, result.interrupted) == (0, False)
    (stream,) = result.streams
    return stream.written.created


def kinds(reader: Any, data_stream: str) -> dict[str | None, int]:
    groups = reader.sums_by(data_stream, [], "openai.governance.change")
    return {change: sums.count for change, sums in groups.items()}


def scenario(sink: Any, reader: Any, namespace: str, refresh: Callable[[], None]) -> None:
    clock = [0]
    data_stream = f"logs-openai.governance-{namespace}"
    with simulated(namespace, clock) as (org, rt):
        organization_id = rt.access.context.organization_id
        change = a_change(org)
        first, second = change.at - HOUR + 17, change.at + SLOT + 29
        clock[0] = first
        before, after = truth(org, first), truth(org, second)
        key = setting_key("model_permissions", change.project_id, None)
        assert {k for k in before if before[k] != after[k]} == {key}  # exactly one change

        # The first snapshot: every setting, and a baseline of each.
        assert backfill(rt, sink, first) == 2 * len(before)
        refresh()
        assert kinds(reader, data_stream) == {None: len(before), "baseline": len(before)}
        slot = slot_start(first, SLOT)
        ids = {snapshot_doc_id(organization_id, k, slot): k for k in before}
        stored = reader.documents(data_stream, list(ids))
        assert {ids[i]: doc["openai"]["governance"]["value"] for i, doc in stored.items()} == before
        baselines = {change_doc_id(organization_id, k, None): k for k in before}
        stored = reader.documents(data_stream, list(baselines))
        afters = {baselines[i]: d["openai"]["governance"]["after"] for i, d in stored.items()}
        assert afters == before

        # The simulated change, a slot later: exactly one change document, before and after.
        clock[0] = second
        assert backfill(rt, sink, second) == len(after) + 1
        assert backfill(rt, sink, second + 60) == 0  # same slot, same settings: nothing new
        refresh()
        assert kinds(reader, data_stream) == {
            None: 2 * len(before),
            "baseline": len(before),
            "changed": 1,
        }
        doc_id = change_doc_id(organization_id, key, first - first % 60)
        changed = reader.documents(data_stream, [doc_id])[doc_id]
        fields = changed["openai"]["governance"]
        assert (fields["setting"], fields["project_id"], fields["change"]) == (
            "model_permissions",
            change.project_id,
            "changed",
        )
        assert (fields["before"], fields["after"]) == (before[key], after[key])
        assert fields["after"]["model_ids"] == sorted(change.value["model_ids"])
        assert fields["changed_fields"] == ["model_ids"]
        assert changed["@timestamp"] == iso(second - second % 60)
        assert fields["previous_collected_at"] == iso(first - first % 60)


def test_sqlite_stores_the_simulators_governance_and_its_change(tmp_path: Any) -> None:
    with SqliteSink(str(tmp_path / "governance.sqlite3")) as sink:
        scenario(sink, sink.reader(), "default", lambda: None)


def test_elasticsearch_stores_the_simulators_governance_and_its_change(
    es_sink: ElasticsearchSink, es_refresh: Callable[[], None], es_namespace: Any
) -> None:
    scenario(es_sink, es_sink.reader(), es_namespace.name, es_refresh)


def test_the_apis_next_fields_never_read_as_a_change(tmp_path: Any) -> None:
    """The simulator's drift mode adds fields to every answer: they are kept unmapped, and two
    snapshots of unchanged settings still give no change document."""
    clock = [0]
    with (
        SqliteSink(str(tmp_path / "drift.sqlite3")) as sink,
        simulated("default", clock, faults="drift=1") as (org, rt),
    ):
        change = a_change(org)
        first = change.at + 60
        settings = truth(org, first)
        for now in (first, first + SLOT):
            clock[0] = now
            backfill(rt, sink, now)
        data_stream = "logs-openai.governance-default"
        assert kinds(sink.reader(), data_stream) == {
            None: 2 * len(settings),
            "baseline": len(settings),
        }
        slot = slot_start(first, SLOT)
        key = setting_key("data_retention", None, None)
        doc_id = snapshot_doc_id(rt.access.context.organization_id, key, slot)
        (stored,) = sink.reader().documents(data_stream, [doc_id]).values()
        assert stored["openai"]["governance"]["value"] == settings[key]
        assert stored["openai"]["unmapped"]  # what drift added
