"""Every deploy test starts without the developer's poller settings: some load the examples."""

from __future__ import annotations

import pytest
from own_env import clear_own


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_own(monkeypatch)
