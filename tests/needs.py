"""Tests that need an outside tool (promtool, systemd-analyze) skip where it is missing, with
the reason, but never in CI: `.ci/run` installs every such tool, so a missing one there is a
broken CI script, and the test fails instead of hiding behind a skip."""

from __future__ import annotations

import os
import shutil

import pytest

__all__ = ["tool"]


def tool(name: str) -> pytest.MarkDecorator:
    """Skip locally without `name`; in CI (`CI=true`) run anyway, so the missing tool fails."""
    missing = shutil.which(name) is None and os.environ.get("CI", "").lower() != "true"
    return pytest.mark.skipif(missing, reason=f"{name} not found (CI installs it: .ci/run)")
