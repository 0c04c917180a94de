"""Running the real `openai-poller` as a subprocess at a fixed terminal width."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from own_env import foreign_environ

WIDTH = 80


def poller(
    *argv: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`python -m poller ARGV` with only `env` of the poller's own variables, 80 columns wide."""
    return subprocess.run(
        [sys.executable, "-m", "poller", *argv],
        cwd=cwd,
        env={**foreign_environ(COLUMNS=str(WIDTH), LINES="50"), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def widest(text: str) -> int:
    return max((len(line) for line in text.splitlines()), default=0)
