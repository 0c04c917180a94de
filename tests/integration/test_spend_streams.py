"""The spend-control streams, end to end on both sinks: a backfill of `spend_limits` and
`spend_alerts` stores exactly the simulator organization's limits and alerts, one document per
limit and per alert of the organization and of each active project, in cents and in dollars.

The organization is built enforcing, so both enforcement states occur. A second backfill in
the same slot writes nothing new; one in the next slot is a second snapshot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest

from poller.collect import backfill_org
from poller.documents.spend import spend_doc_id
from poller.runtime import OrgRuntime, org_runtime
from poller.settings import load_settings
from poller.simulator.app import SimulatorApp
from poller.simulator.organization import Organization, build_organization
from poller.simulator.server import SimulatorServer
from poller.sinks import SqliteSink
from poller.sinks.elasticsearch import ElasticsearchSink
from poller.sources import BackfillWindow, slot_start

pytestmark = pytest.mark.integration

KEY = "sk-admin-spend-test-key"
NOW = 1_795_000_000 - 1_795_000_000 % 60 + 37
HOUR = 3600
STREAMS = ("spend_limits", "spend_alerts")


@contextmanager
def simulated(namespace: str) -> Iterator[tuple[Organization, OrgRuntime]]:
    org = build_organization(seed=7, size="medium", settle_seconds=600, enforcing=True)
    app = SimulatorApp(org, admin_key=KEY, clock=lambda: NOW)
    with SimulatorServer(app) as server:
        org_settings = {"name": "spend", "admin_key": KEY, "base_url": server.base_url}
        settings = load_settings(orgs=[{**org_settings, "namespace": namespace}])
        with org_runtime(settings.orgs[0]) as rt:
            yield org, rt


def backfill(rt: OrgRuntime, sink: Any, now: int) -> dict[str, int]:
    result = backfill_org(rt, sink, STREAMS, BackfillWindow(since=now - HOUR, until=now, now=now))
    assert (result.failures, result.interrupted) == (0, False)
    return {r.stream: r.written.created for r in result.streams}


def project_names(org: Organization) -> dict[str, Mapping[str, Any]]:
    return {p["id"]: p for p in org.directory.projects if p.get("status") != "archived"}


def expected(org: Organization, organization_id: str, slot: int) -> dict[str, dict[str, Any]]:
    """Every document the backfill must store, by data stream and id: built from the
    simulator's `spend`, not from the mapper."""
    active = project_names(org)
    out: dict[str, dict[str, Any]] = {"spend_limits": {}, "spend_alerts": {}}
    limits: list[tuple[str | None, Any]] = [(None, org.spend.limit)]
    limits += [(p, org.spend.project_limits[p]) for p in active if p in org.spend.project_limits]
    for project, limit in limits:
        doc_id = spend_doc_id(organization_id, "spend_limits", project, None, slot)
        out["spend_limits"][doc_id] = (project, limit)
    alerts: list[tuple[str | None, Any]] = [(None, a) for a in org.spend.alerts]
    alerts += [(p, a) for p in active for a in org.spend.project_alerts.get(p, ())]
    for project, alert in alerts:
        doc_id = spend_doc_id(organization_id, "spend_alerts", project, alert["id"], slot)
        out["spend_alerts"][doc_id] = (project, alert)
    return out


def check_document(stream: str, doc: Mapping[str, Any], project: str | None, truth: Any) -> None:
    fields = doc["openai"][stream]
    cents = truth["threshold_amount"]
    assert fields["threshold"] == {"cents": cents, "usd": float(Decimal(cents) / 100)}
    assert (fields["currency"], fields["interval"]) == (truth["currency"], truth["interval"])
    assert fields["object"] == truth["object"]
    assert fields["scope"] == ("organization" if project is None else "project")
    assert fields.get("project_id") == project
    if stream == "spend_limits":
        assert fields["enforcement"] == truth["enforcement"]
    else:
        assert fields["id"] == truth["id"]
        channel = {k: v for k, v in truth["notification_channel"].items() if v is not None}
        assert fields["notification_channel"] == channel
    assert doc["data_stream"]["dataset"] == f"openai.{stream}"


def scenario(sink: Any, reader: Any, namespace: str, refresh: Callable[[], None]) -> None:
    with simulated(namespace) as (org, rt):
        organization_id = rt.access.context.organization_id
        slot = slot_start(NOW, HOUR)
        want = expected(org, organization_id, slot)
        assert backfill(rt, sink, NOW) == {name: len(want[name]) for name in STREAMS}
        refresh()
        names = project_names(org)
        statuses = set()
        for stream in STREAMS:
            data_stream = f"logs-openai.{stream}-{namespace}"
            assert reader.count(data_stream) == len(want[stream])
            stored = reader.documents(data_stream, list(want[stream]))
            assert set(stored) == set(want[stream])
            for doc_id, (project, truth) in want[stream].items():
                check_document(stream, stored[doc_id], project, truth)
                if project is not None:
                    got = stored[doc_id]["openai"][stream]["project_name"]
                    assert got == names[project]["name"]
                if stream == "spend_limits":
                    statuses.add(truth["enforcement"]["status"])
        assert statuses == {"inactive", "enforcing"}
        assert len(want["spend_alerts"]) > len(org.spend.alerts) > 0  # projects have some too

        assert backfill(rt, sink, NOW + 60) == dict.fromkeys(STREAMS, 0)  # same slot
        assert backfill(rt, sink, NOW + HOUR) == {name: len(want[name]) for name in STREAMS}
        refresh()
        for stream in STREAMS:
            assert reader.count(f"logs-openai.{stream}-{namespace}") == 2 * len(want[stream])


def test_sqlite_stores_the_simulators_spend_controls(tmp_path: Any) -> None:
    with SqliteSink(str(tmp_path / "spend.sqlite3")) as sink:
        scenario(sink, sink.reader(), "default", lambda: None)


def test_elasticsearch_stores_the_simulators_spend_controls(
    es_sink: ElasticsearchSink, es_refresh: Callable[[], None], es_namespace: Any
) -> None:
    scenario(es_sink, es_sink.reader(), es_namespace.name, es_refresh)
