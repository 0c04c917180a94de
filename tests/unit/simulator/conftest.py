"""In-process simulator fixtures, named `sim_*`: the app over `httpx.WSGITransport`, no sleeps."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fake_org import ADMIN_KEY, FakeClock, FakeOrganization, MakeClient

from poller.simulator.app import SimulatorApp
from poller.simulator.faults import FaultPlan


@pytest.fixture
def sim_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim_org() -> FakeOrganization:
    return FakeOrganization()


@pytest.fixture
def make_sim_client(sim_org: FakeOrganization, sim_clock: FakeClock) -> Iterator[MakeClient]:
    """A client on a fresh app; keyword arguments go to SimulatorApp (`faults` may be a spec)."""
    clients: list[httpx.Client] = []

    def make(*, key: str | None = ADMIN_KEY, faults: str = "", **app_kwargs: Any) -> httpx.Client:
        app = SimulatorApp(
            sim_org,
            admin_key=ADMIN_KEY,
            faults=FaultPlan.parse(faults),
            clock=sim_clock,
            sleep=sim_clock.sleep,
            **app_kwargs,
        )
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        sim_client = httpx.Client(
            transport=httpx.WSGITransport(app=app), base_url="http://sim/v1", headers=headers
        )
        clients.append(sim_client)
        return sim_client

    yield make
    for sim_client in clients:
        sim_client.close()


@pytest.fixture
def sim_client(make_sim_client: MakeClient) -> httpx.Client:
    return make_sim_client()
