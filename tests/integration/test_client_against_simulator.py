"""`AdminClient` against the simulator on a real socket: every method, the organization's own
truth, real retries through injected faults, and never an early retry."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from poller.client import AdminClient, CostsResult, RetryPolicy, Timeouts, UsagePage
from poller.errors import AuthenticationError, RequestRejectedError
from poller.simulator.app import TENANT_SCOPED_ROLE_EVENTS, SimulatorApp
from poller.simulator.faults import DRIFT_FIELDS, FaultPlan
from poller.simulator.model import SimOrganization
from poller.simulator.organization import build_organization
from poller.simulator.server import SimulatorServer
from poller.streams import USAGE_ENDPOINTS

pytestmark = pytest.mark.integration

ADMIN_KEY = "sk-admin-client-integration-0123456789"
DAY = 86_400
TODAY = math.floor(time.time() / DAY) * DAY
START, END = TODAY - 5 * DAY, TODAY - DAY  # four settled days
# The fault drill's window is fixed, so the same requests meet the same seeded draws every day.
FAULT_START = 1_780_272_000  # 2026-06-01T00:00:00Z
FAULT_END = FAULT_START + 4 * DAY


@pytest.fixture(scope="module")
def org() -> SimOrganization:
    return build_organization(seed=11, size="medium", settle_seconds=600)


@pytest.fixture(scope="module")
def server(org: SimOrganization) -> Iterator[SimulatorServer]:
    with SimulatorServer(SimulatorApp(org, admin_key=ADMIN_KEY)) as running:
        yield running


@pytest.fixture
def client(server: SimulatorServer) -> Iterator[AdminClient]:
    with AdminClient(
        admin_key=ADMIN_KEY, base_url=server.base_url, timeouts=Timeouts(request=10)
    ) as client:
        yield client


def _totals(pages: list[UsagePage], metric: str) -> dict[int, int]:
    return {
        bucket.start_time: sum(getattr(result, metric) for result in bucket.results)
        for page in pages
        for bucket in page.data
    }


@pytest.mark.parametrize("stream", sorted(set(USAGE_ENDPOINTS) - {"costs"}))
def test_usage_pages_match_the_organization(
    client: AdminClient, org: SimOrganization, stream: str
) -> None:
    metric = USAGE_ENDPOINTS[stream].required_metrics[0]
    pages = [p.take() for p in client.usage_pages(stream, start_time=START, end_time=END, limit=3)]
    assert [len(page.data) for page in pages] == [3, 1]  # four days, three per page
    truth = {
        day: sum(row.get(metric, 0) for row in org.usage(stream, day, day + DAY, math.inf).values())
        for day in range(START, END, DAY)
    }
    assert _totals(pages, metric) == truth


def test_grouped_usage_carries_every_dimension(client: AdminClient) -> None:
    dimensions = USAGE_ENDPOINTS["completions"].dimensions
    pages = [
        p.take() for p in client.usage_pages(
            "completions", start_time=START, end_time=END, bucket_width="1h", group_by=dimensions
        )
    ]
    assert sum(len(page.data) for page in pages) == 4 * 24
    results = [r for page in pages for b in page.data for r in b.results]
    assert results, "a medium organization uses completions"
    assert all(r.api_dict().keys() >= set(dimensions) for r in results)


def test_costs_pages_match_the_organization(client: AdminClient, org: SimOrganization) -> None:
    pages = [p.take() for p in client.usage_pages("costs", start_time=START, end_time=END, limit=2)]
    assert len(pages) == 2
    for page in pages:
        for bucket in page.data:
            records = org.costs(bucket.start_time, bucket.end_time, math.inf).values()
            by_currency: dict[str, Decimal] = {}
            for record in records:
                by_currency[record.currency] = by_currency.get(record.currency, Decimal(0)) + (
                    record.amount
                )
            served = {}
            for result in bucket.results:
                assert isinstance(result, CostsResult) and result.amount is not None
                served[result.amount.currency] = result.amount.value
            assert served == {c: Decimal(repr(float(v))) for c, v in by_currency.items()}


def test_audit_log_pages_walk_every_event(client: AdminClient, org: SimOrganization) -> None:
    truth = [
        event
        for event in org.audit_events(START, END, math.inf)
        if not _tenant_scoped(event["type"])
    ]
    pages = list(client.audit_log_pages(effective_at={"gte": START, "lt": END}, limit=7))
    assert len(truth) > 7 and len(pages) == math.ceil(len(truth) / 7)
    assert [log.api_dict() for page in pages for log in page.data] == truth
    tenant = client.audit_log_pages(effective_at={"gte": START, "lt": END}, tenant_only=True)
    assert all(_tenant_scoped(log.type) for page in tenant for log in page.data)


def test_directory_round_trips(client: AdminClient, org: SimOrganization) -> None:
    directory = org.directory
    projects = list(client.list_projects())
    assert [p.api_dict() for p in projects] == list(directory.projects)
    live = [p for p in projects if p.status != "archived"]
    assert len(list(client.list_projects(include_archived=False))) == len(live) < len(projects)
    project = next(  # a project with something in every list
        p.id
        for p in live
        if all(
            kind.get(p.id)
            for kind in (
                directory.project_users,
                directory.project_api_keys,
                directory.project_service_accounts,
                directory.project_rate_limits,
            )
        )
    )
    assert client.get_project(project).api_dict() == next(
        p for p in directory.projects if p["id"] == project
    )

    users = list(client.list_users())
    assert [u.api_dict() for u in users] == list(directory.users)
    assert client.get_user(users[0].id).api_dict() == directory.users[0]
    email = users[0].email
    assert email is not None and [u.id for u in client.list_users(emails=[email])] == [users[0].id]

    members = list(client.list_project_users(project))
    assert [m.api_dict() for m in members] == list(directory.project_users[project])
    assert client.get_project_user(project, members[0].id).api_dict() == members[0].api_dict()

    keys = list(client.list_project_api_keys(project))
    assert [k.api_dict() for k in keys] == list(directory.project_api_keys[project])
    assert client.get_project_api_key(project, keys[0].id).api_dict() == keys[0].api_dict()

    accounts = list(client.list_project_service_accounts(project))
    assert [a.api_dict() for a in accounts] == list(directory.project_service_accounts[project])
    account = client.get_project_service_account(project, accounts[0].id)
    assert account.api_dict() == accounts[0].api_dict()

    limits = list(client.list_project_rate_limits(project))
    assert [rl.api_dict() for rl in limits] == list(directory.project_rate_limits[project])

    admin_keys = list(client.list_admin_api_keys())
    assert [k.api_dict() for k in admin_keys] == list(directory.admin_api_keys)
    assert [k.id for k in client.list_admin_api_keys(order="desc")] == [
        k.id for k in reversed(admin_keys)
    ]
    assert client.get_admin_api_key(admin_keys[0].id).api_dict() == admin_keys[0].api_dict()


def test_refusals(client: AdminClient, server: SimulatorServer, org: SimOrganization) -> None:
    archived = next(p["id"] for p in org.directory.projects if p.get("status") == "archived")
    with pytest.raises(RequestRejectedError, match="archived"):
        list(client.list_project_users(archived))
    with pytest.raises(RequestRejectedError, match="HTTP 404"):
        client.get_project("proj_missing")
    with (
        AdminClient(admin_key="sk-proj-not-an-admin-key", base_url=server.base_url) as wrong,
        pytest.raises(AuthenticationError, match=r"Missing scopes: api\.usage\.read") as raised,
    ):
        list(wrong.usage_pages("costs", start_time=START, end_time=END))
    assert "sk-proj-not-an-admin-key" not in str(raised.value)


def test_faults_are_retried_without_an_early_retry(org: SimOrganization) -> None:
    """Every fault kind, real sleeps: the answers equal a clean server's, no retry is early."""
    plan = FaultPlan.parse(
        "429=0.15,500=0.05,502=0.05,503=0.05,timeout=0.03,malformed=0.07,drift=0.2"
    )
    app = SimulatorApp(
        org, admin_key=ADMIN_KEY, faults=plan, seed=3, fault_retry_after_ms=40, stall_seconds=1
    )

    def daily(client: AdminClient, stream: str) -> list[Any]:
        pages = client.usage_pages(stream, start_time=FAULT_START, end_time=FAULT_END, limit=1)
        return [page.take().api_dict() for page in pages]

    calls: list[Callable[[AdminClient], list[Any]]] = [
        lambda c: daily(c, "embeddings"),
        lambda c: daily(c, "costs"),
        lambda c: [
            p.api_dict()
            for p in c.audit_log_pages(
                effective_at={"gte": FAULT_START, "lt": FAULT_END}, limit=20
            )
        ],
        lambda c: [r.api_dict() for r in c.list_projects()],
        lambda c: [u.api_dict() for u in c.list_users()],
    ]
    with (
        SimulatorServer(app) as faulty,
        AdminClient(
            admin_key=ADMIN_KEY,
            base_url=faulty.base_url,
            timeouts=Timeouts(request=0.3),
            retry=RetryPolicy(max_attempts=10),
        ) as client,
        SimulatorServer(SimulatorApp(org, admin_key=ADMIN_KEY)) as clean,
        AdminClient(admin_key=ADMIN_KEY, base_url=clean.base_url) as reference,
    ):
        for call in calls:
            assert _without_drift(call(client)) == _without_drift(call(reference))
        stats = httpx.get(f"{faulty.url}/_sim/stats").json()
    assert all(stats["faults"][kind] > 0 for kind in ("429", "timeout", "malformed", "drift"))
    assert stats["early_retries"] == 0


def _tenant_scoped(event_type: str) -> bool:
    """Listed only with `tenant_only=true`, as the spec says and the simulator does."""
    return event_type.startswith("tenant.") or event_type in TENANT_SCOPED_ROLE_EVENTS


def _without_drift(value: Any) -> Any:
    """`value` without the fields the simulator's drift mode adds."""
    if isinstance(value, dict):
        return {k: _without_drift(v) for k, v in value.items() if k not in DRIFT_FIELDS}
    if isinstance(value, list):
        return [_without_drift(v) for v in value]
    return value


def test_jobs_sharing_a_client_never_retry_early_when_throttled(org: SimOrganization) -> None:
    """Four jobs read 60 minutes one bucket a page through one client (240 requests), against
    one 429 in five: they leave each pause one at a time, none before its Retry-After, none
    fails for being throttled, and every answer is the truth. Eight attempts a request: which
    request draws which fault depends on how the four threads interleave, and with three, a
    request under load now and then drew three 429s in a row (0.2^3 a request)."""
    app = SimulatorApp(
        org, admin_key=ADMIN_KEY, faults=FaultPlan.parse("429=0.2"), seed=5,
        fault_retry_after_ms=30,
    )
    streams = ["embeddings", "moderations", "images", "completions"]
    day = (FAULT_START, FAULT_START + 60 * 60)
    answers: dict[str, list[Any]] = {}

    def job(client: AdminClient, stream: str) -> None:
        pages = client.usage_pages(stream, start_time=day[0], end_time=day[1],
                                   bucket_width="1m", limit=1)
        answers[stream] = [page.take().api_dict() for page in pages]

    with (
        SimulatorServer(app) as throttled,
        AdminClient(admin_key=ADMIN_KEY, base_url=throttled.base_url,
                    retry=RetryPolicy(max_attempts=8)) as client,
    ):
        threads = [threading.Thread(target=job, args=(client, s)) for s in streams]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        stats = httpx.get(f"{throttled.url}/_sim/stats").json()
    with (
        SimulatorServer(SimulatorApp(org, admin_key=ADMIN_KEY)) as clean,
        AdminClient(admin_key=ADMIN_KEY, base_url=clean.base_url) as reference,
    ):
        for stream in streams:
            truth = [page.take().api_dict() for page in reference.usage_pages(
                stream, start_time=day[0], end_time=day[1], bucket_width="1m", limit=1)]
            assert answers[stream] == truth
    assert stats["faults"]["429"] > 40
    assert stats["early_retries"] == 0
