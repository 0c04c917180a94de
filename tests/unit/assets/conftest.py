"""The fake cluster and the fake Kibana (respx) every setup test installs into."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import respx
from assets_fakes import KIBANA_URL, FakeCluster, FakeKibana


@pytest.fixture
def cluster() -> Iterator[FakeCluster]:
    fake = FakeCluster()
    yield fake
    for client in fake.clients:
        client.close()


@pytest.fixture
def kibana() -> Iterator[FakeKibana]:
    fake = FakeKibana()
    with respx.mock(assert_all_called=False) as router:
        router.route(url__startswith=KIBANA_URL).mock(side_effect=fake)
        yield fake
