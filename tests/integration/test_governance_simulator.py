"""The simulator's governance settings over time: each scheduled change is served from its
moment on, exactly, and every governance path still conforms to the official schema after it.
"""

from __future__ import annotations

from itertools import pairwise

import httpx
import pytest
from test_simulator_conformance import ADMIN_KEY, BASE, conforms

from poller.simulator._org_governance import CHANGE_EVERY_DAYS, governance_at
from poller.simulator.app import SimulatorApp
from poller.simulator.model import GovernanceChange, SimOrganization
from poller.simulator.organization import build_organization

pytestmark = pytest.mark.integration

DAY = 86_400
PATHS = {
    "data_retention": "/organization/projects/{}/data_retention",
    "project_data_retention": "/organization/projects/{}/data_retention",
    "model_permissions": "/organization/projects/{}/model_permissions",
    "hosted_tool_permissions": "/organization/projects/{}/hosted_tool_permissions",
}


def client_at(org: SimOrganization, clock: list[float]) -> httpx.Client:
    app = SimulatorApp(org, admin_key=ADMIN_KEY, clock=lambda: clock[0], sleep=lambda _: None)
    return httpx.Client(
        transport=httpx.WSGITransport(app=app),
        base_url=BASE,
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
    )


def url(change: GovernanceChange) -> str:
    if change.project_id is None:
        return "/organization/data_retention"
    return PATHS[change.setting].format(change.project_id)


def test_each_change_is_served_from_its_moment_on_and_conforms() -> None:
    org = build_organization(seed=5, size="small", settle_seconds=600)
    changes = org.governance.changes
    assert len(changes) > 100
    gaps = [b.at - a.at for a, b in pairwise(changes)]
    assert min(gaps) > (CHANGE_EVERY_DAYS - 1) * DAY
    assert {c.setting for c in changes} == set(PATHS)  # every kind occurs
    clock = [0.0]
    with client_at(org, clock) as client:
        for change in changes[:40]:
            clock[0] = change.at - 1
            was = conforms(client.get(url(change))).json()
            clock[0] = change.at
            now = conforms(client.get(url(change))).json()
            assert now == change.value
            assert was != now
            previous = governance_at(org.governance, change.at - 1)
            if change.project_id is None:
                assert was == previous.data_retention
            else:
                assert was == getattr(previous, change.setting)[change.project_id]


def test_the_schedule_is_a_pure_function_of_the_seed() -> None:
    one, two = (build_organization(seed=11, size="medium") for _ in range(2))
    assert one.governance.changes == two.governance.changes
    other = build_organization(seed=12, size="medium")
    assert other.governance.changes != one.governance.changes
