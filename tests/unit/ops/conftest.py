"""Fixtures for the operations tests: a clean environment and a restored logging setup."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest

_PREFIXES = ("OPENAI_", "ELASTICSEARCH_", "KIBANA_", "POLLER_")
_NAMES = (
    "CREDENTIALS_DIRECTORY",
    "STATE_DIRECTORY",
    "NOTIFY_SOCKET",
    "WATCHDOG_USEC",
    "WATCHDOG_PID",
)


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read the environment: start every test without the developer's variables."""
    for name in list(os.environ):
        if name.startswith(_PREFIXES) or name in _NAMES:
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """configure_logging and build_scheduler change global loggers: put them back."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in logging.root.manager.loggerDict}
    yield
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)
    for name in list(logging.root.manager.loggerDict):
        logging.getLogger(name).setLevel(levels.get(name, logging.NOTSET))
