"""Chargeback end to end on both sinks against the simulator: the allocated cost of every
project and day sums to its billed cost to the cent, a later backfill after the bill settled
rewrites the split in place, and usage documents carry their user's groups as the simulator's
directory has them.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from poller.cli.report import ReportRequest, report
from poller.collect import backfill_org, cycle
from poller.documents.allocated import AMOUNT_CENTS
from poller.documents.allocation import to_cents
from poller.rebuild import RebuildTarget, rebuild_state
from poller.reporting import Scope, Window
from poller.reporting_allocated import allocated_table
from poller.runtime import OrgRuntime, org_runtime
from poller.settings import load_settings
from poller.simulator.app import SimulatorApp
from poller.simulator.organization import Organization, build_organization
from poller.simulator.server import SimulatorServer
from poller.sinks import SqliteSink
from poller.sinks.elasticsearch import ElasticsearchSink
from poller.sources import BackfillWindow
from poller.state import load_stream_state

pytestmark = pytest.mark.integration

KEY = "sk-admin-chargeback-test-key"
DAY = 86400
SETTLE = 2 * DAY  # the newest billed days are still revised at the first backfill
NOW = 1_795_000_000 - 1_795_000_000 % DAY + 5 * 3600
DAYS = 5


class Clock:
    def __init__(self) -> None:
        self.now = float(NOW)

    def __call__(self) -> float:
        return self.now


@contextmanager
def simulated(namespace: str) -> Iterator[tuple[Organization, OrgRuntime, Clock]]:
    org = build_organization(seed=11, size="small", settle_seconds=SETTLE)
    clock = Clock()
    app = SimulatorApp(org, admin_key=KEY, clock=clock)
    with SimulatorServer(app) as server:
        org_settings = {"name": "chargeback", "admin_key": KEY, "base_url": server.base_url,
                        "namespace": namespace}
        settings = load_settings(orgs=[org_settings])
        with org_runtime(settings.orgs[0]) as rt:
            yield org, rt, clock


def backfill(rt: OrgRuntime, sink: Any, streams: tuple[str, ...], now: int) -> None:
    window = BackfillWindow(since=NOW - DAYS * DAY, until=now, now=now, width=None)
    result = backfill_org(rt, sink, streams, window)
    assert (result.failures, result.interrupted) == (0, False)


def billed_cents(org: Organization, now: float) -> dict[tuple[str, int], int]:
    """The simulator's bill per project and day, in cents: its own ledger, not the API."""
    out: dict[tuple[str, int], int] = {}
    start = NOW - NOW % DAY - DAYS * DAY
    for day in range(start, NOW - NOW % DAY, DAY):
        sums: dict[str, Decimal] = defaultdict(Decimal)
        for dims, record in org.costs(day, day + DAY, now).items():
            sums[str(dims[0] or "")] += record.amount
        out.update({(project, day): to_cents(amount) for project, amount in sums.items()})
    return {key: cents for key, cents in out.items() if cents}  # as `stored_cents` reads them


def stored_cents(reader: Any, data_stream: str) -> dict[tuple[str, int], int]:
    out: dict[tuple[str, int], int] = {}
    start = NOW - NOW % DAY - DAYS * DAY
    for day in range(start, NOW - NOW % DAY, DAY):
        groups = reader.sums_by(data_stream, [AMOUNT_CENTS], "openai.base.project_id",
                                start=_dt(day), end=_dt(day + DAY))
        for project, sums in groups.items():
            if sums.values[AMOUNT_CENTS] or project is not None:
                out[(project or "", day)] = round(sums.values[AMOUNT_CENTS])
    return {k: v for k, v in out.items() if v}


def _dt(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


Sources = Callable[[str], list[dict[str, Any]]]


def groups_of_users(org: Organization) -> dict[str, list[tuple[str, str]]]:
    members: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for group in org.access.groups:
        for user in org.access.group_users[group["id"]]:
            members[user["id"]].add((group["id"], group["name"]))
    return {user: sorted(groups) for user, groups in members.items()}


def check_usage_groups(org: Organization, docs: list[dict[str, Any]]) -> int:
    """Every usage document with a user lists exactly that user's groups, in id order."""
    truth = groups_of_users(org)
    grouped = 0
    for doc in docs:
        user = doc["openai"]["base"].get("user_id")
        want = truth.get(user, []) if user else []
        got = doc.get("user", {}).get("group")
        if not want:
            assert got is None
            continue
        assert got == {"id": [g for g, _ in want], "name": [n for _, n in want]}
        grouped += 1
    return grouped


def check_allocated_groups(org: Organization, docs: list[dict[str, Any]]) -> None:
    """Each allocated row is charged to one of its user's groups, named as the directory names
    it; a user in groups has no row without one."""
    truth = groups_of_users(org)
    for doc in docs:
        user = doc["openai"]["base"].get("user_id")
        group = doc.get("user", {}).get("group")
        want = dict(truth.get(user, [])) if user else {}
        if want:
            assert group is not None and want[group["id"]] == group["name"]
        else:
            assert group is None


def check_report(org: Organization, reader: Any, namespace: str,
                 billed: dict[tuple[str, int], int]) -> None:
    """`report --by team` and `--by user`: totals equal the bill to the cent, rows sum to it,
    teams carry the directory's names."""
    names = {g["id"]: g["name"] for g in org.access.groups}
    window = Window(_dt(NOW - NOW % DAY - DAYS * DAY), _dt(NOW - NOW % DAY))
    for by in ("team", "user"):
        table = allocated_table(reader, Scope(namespace), by, window)
        assert table is not None and table.total.cost is not None
        assert round(table.total.cost * 100) == sum(billed.values())
        assert sum(round((row.cost or 0) * 100) for row in table.rows) == sum(billed.values())
        if by == "team":
            named = {row.key: row.name for row in table.rows if row.key is not None}
            assert named and all(names[key] == name for key, name in named.items())
    assert allocated_table(reader, Scope(namespace), "project", window) is None


def scenario(sink: Any, namespace: str, refresh: Callable[[], None], sources: Sources) -> None:
    allocated = f"logs-openai.allocated_costs-{namespace}"
    with simulated(namespace) as (org, rt, clock):
        backfill(rt, sink, ("allocated_costs", "completions"), NOW)
        refresh()
        saved = load_stream_state(sink, "chargeback", "allocated_costs")
        target = RebuildTarget("chargeback", "allocated_costs", allocated,
                               rt.access.context.organization_id)
        assert rebuild_state(sink.reader(), target, now=NOW).coverage == saved.coverage
        first = billed_cents(org, NOW)
        assert first and stored_cents(sink.reader(), allocated) == first
        count = sink.reader().count(allocated)

        later = NOW + SETTLE + DAY  # every day of the window settled, its bill revised
        clock.now = float(later)
        backfill(rt, sink, ("allocated_costs",), later)
        refresh()
        settled = billed_cents(org, later)
        assert settled != first  # the simulator did revise the newest days
        assert stored_cents(sink.reader(), allocated) == settled
        assert sink.reader().count(allocated) >= count  # rewritten in place, rows only added

        # A daemon cycle re-reads the settlement window through the same source: no error, and
        # the split still equals the settled bill.
        done = cycle(rt.access, rt.settings.stream("allocated_costs"), sink, now=later + 3600)
        assert done.error is None and done.report is not None and done.report.batches >= 1
        refresh()
        assert stored_cents(sink.reader(), allocated) == settled
        check_report(org, sink.reader(), namespace, settled)
        rows = sources(allocated)
        check_allocated_groups(org, rows)
        assert any("group" in doc.get("user", {}) for doc in rows)
        assert check_usage_groups(org, sources(f"logs-openai.completions-{namespace}")) > 0


def test_sqlite_allocates_the_simulators_bill_to_the_cent(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    with SqliteSink(str(tmp_path / "chargeback.sqlite3")) as sink:
        reader = sink.reader()
        scenario(sink, "default", lambda: None,
                 lambda ds: [dict(doc) for doc in reader.all_documents(ds).values()])
        # `report --by team --json` renders the same table under `allocated`
        window = Window(_dt(NOW - NOW % DAY - DAYS * DAY), _dt(NOW - NOW % DAY))
        table = allocated_table(reader, Scope("default"), "team", window)
        capsys.readouterr()
        request = ReportRequest((Scope("default", ("chargeback",)),), "team", window, None, "json")
        assert report(reader, request) == 0
        (shown,) = json.loads(capsys.readouterr().out)["namespaces"]
        assert table is not None
        assert shown["allocated"]["total"]["cost_usd"] == table.total.cost
        assert [row["key"] for row in shown["allocated"]["rows"]] == [r.key for r in table.rows]
        assert shown["usage"] == {}  # no usage stream has a team dimension


def test_elasticsearch_allocates_the_simulators_bill_to_the_cent(
    es_sink: ElasticsearchSink, es_refresh: Callable[[], None], es_namespace: Any,
    es_client: Any,
) -> None:
    def sources(data_stream: str) -> list[dict[str, Any]]:
        found = es_client.search(index=data_stream, size=10_000, query={"match_all": {}})
        return [hit["_source"] for hit in found["hits"]["hits"]]

    scenario(es_sink, es_namespace.name, es_refresh, sources)
    # The "Billed cost by team" panel's aggregation: terms on the team name and the missing
    # bucket (Lens's missingBucket; noida-db ignores `missing` inside terms, so apart), summing
    # allocated dollars: the teams and no team add up to the allocated total.
    usd = {"usd": {"sum": {"field": "openai.allocated_costs.amount_usd"}}}
    found = es_client.search(
        index=f"logs-openai.allocated_costs-{es_namespace.name}", size=0,
        query={"term": {"data_stream.dataset": "openai.allocated_costs"}},
        aggs={"team": {"terms": {"field": "user.group.name", "size": 100}, "aggs": usd},
              "none": {"missing": {"field": "user.group.name"}, "aggs": usd}, **usd},
    )["aggregations"]
    teams = {b["key"]: round(b["usd"]["value"] * 100) for b in found["team"]["buckets"]}
    teams["(none)"] = round(found["none"]["usd"]["value"] * 100)
    assert len(teams) > 2 and sum(teams.values()) == round(found["usd"]["value"] * 100)
