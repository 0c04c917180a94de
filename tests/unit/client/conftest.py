"""Fixtures of the client tests: an `AdminClient` over a mock transport, on fake time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from client_fakes import ADMIN_KEY, BASE, FakeTime, Handler, MakeClient

from poller.client import AdminClient


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def make_client(fake_time: FakeTime) -> Iterator[MakeClient]:
    """`make_client(handler, **kwargs)`: an AdminClient over `handler`, on fake time, with
    jitter 0 (so backoff waits are exactly 0.5, 1, 2, 4, 8) unless `jitter=` says otherwise."""
    clients: list[AdminClient] = []

    def make(handler: Handler, **kwargs: Any) -> AdminClient:
        kwargs.setdefault("admin_key", ADMIN_KEY)
        kwargs.setdefault("base_url", BASE)
        kwargs.setdefault("sleep", fake_time.sleep)
        kwargs.setdefault("clock", fake_time.clock)
        kwargs.setdefault("jitter", lambda: 0.0)
        client = AdminClient(transport=httpx.MockTransport(handler), **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
