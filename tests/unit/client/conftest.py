"""Fixtures of the client tests: an `AdminClient` over a mock transport, on fake time."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields
from typing import Any

import httpx
import pytest
from client_fakes import ADMIN_KEY, BASE, FakeTime, Handler, MakeClient

from poller.client import AdminClient, RetryPolicy

_POLICY_FIELDS = frozenset(field.name for field in fields(RetryPolicy))


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def make_client(fake_time: FakeTime) -> Iterator[MakeClient]:
    """`make_client(handler, **kwargs)`: an AdminClient over `handler`, on fake time, with
    jitter 0 (so backoff waits are exactly 0.5, 1, 2, 4, 8) unless `jitter=` says otherwise.
    Keyword arguments naming a `RetryPolicy` field make up its retry policy."""
    clients: list[AdminClient] = []

    def make(handler: Handler, **kwargs: Any) -> AdminClient:
        policy: dict[str, Any] = {
            "sleep": fake_time.sleep,
            "clock": fake_time.clock,
            "jitter": lambda: 0.0,
        }
        policy.update({name: kwargs.pop(name) for name in _POLICY_FIELDS & set(kwargs)})
        kwargs.setdefault("admin_key", ADMIN_KEY)
        kwargs.setdefault("base_url", BASE)
        client = AdminClient(
            transport=httpx.MockTransport(handler), retry=RetryPolicy(**policy), **kwargs
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
