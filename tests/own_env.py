"""The environment openai-poller reads, so that tests start without the developer's settings.

Settings come from the environment (pydantic-settings, systemd's credentials and notify socket):
a variable left over in a developer's shell would change what a test runs against.
"""

from __future__ import annotations

import os

import pytest

OWN_PREFIXES = ("OPENAI_", "POLLER_", "ELASTICSEARCH_", "KIBANA_")
OWN_NAMES = (
    "CREDENTIALS_DIRECTORY",
    "STATE_DIRECTORY",
    "NOTIFY_SOCKET",
    "WATCHDOG_USEC",
    "WATCHDOG_PID",
)


def is_own(name: str) -> bool:
    return name.startswith(OWN_PREFIXES) or name in OWN_NAMES


def foreign_environ(**extra: str) -> dict[str, str]:
    """`os.environ` without anything the poller reads, plus `extra`: a subprocess's environment."""
    return {**{k: v for k, v in os.environ.items() if not is_own(k)}, **extra}


def clear_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove everything the poller reads from this process's environment, for one test."""
    for name in list(os.environ):
        if is_own(name):
            monkeypatch.delenv(name)
