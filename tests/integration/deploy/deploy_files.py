"""Where deploy/ keeps each file, and how the deploy tests read them: shared by every module here.

The Dockerfile and the unit file are read by small parsers of their own (one instruction or one
assignment per line), enough for what the tests ask of them; the outside validators (hadolint,
systemd-analyze) check the full syntax.
"""

from __future__ import annotations

import re
import shutil
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import yaml

__all__ = [
    "BUILD_LOCK",
    "DEPLOY",
    "DOCKERFILE",
    "K8S",
    "LOCK",
    "PYPROJECT",
    "REPO",
    "SHUTDOWN_TIMEOUT",
    "UNIT",
    "dockerfile_instructions",
    "k8s",
    "pyproject",
    "unit_entries",
    "unit_to_analyze",
    "yaml_docs",
]

REPO: Final = Path(__file__).resolve().parents[3]
DEPLOY: Final = REPO / "deploy"
PYPROJECT: Final = REPO / "pyproject.toml"
K8S: Final = DEPLOY / "kubernetes"
UNIT: Final = DEPLOY / "systemd" / "openai-poller.service"
DOCKERFILE: Final = DEPLOY / "Dockerfile"
LOCK: Final = DEPLOY / "requirements.lock"
BUILD_LOCK: Final = DEPLOY / "requirements-build.lock"
SHUTDOWN_TIMEOUT: Final = 30  # the default POLLER_SHUTDOWN_TIMEOUT, seconds


def yaml_docs(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def k8s(kind: str) -> dict[str, Any]:
    """The one manifest of `kind` in deploy/kubernetes/."""
    found = [doc for path in K8S.glob("*.yaml") for doc in yaml_docs(path) if doc["kind"] == kind]
    assert len(found) == 1, kind
    manifest: dict[str, Any] = found[0]
    return manifest


def pyproject() -> dict[str, Any]:
    return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(KEYWORD, rest) for every instruction, continuation lines joined."""
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), " ".join(rest.split())))
    return out


def unit_entries(text: str) -> Iterator[tuple[str, str, str]]:
    """(section, key, value) for every assignment of a unit file, in order."""
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        assert not line.endswith("\\"), "no line continuations, please"
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not an assignment: {line!r}"
        yield section, key.strip(), value.strip()


def unit_to_analyze(directory: Path, text: str | None = None) -> Path:
    """The unit (or `text`) written to `directory`, ExecStart pointed at a binary that exists.

    systemd-analyze insists that ExecStart's binary exists; the poller is not installed there.
    """
    true = shutil.which("true")
    assert true is not None
    source = UNIT.read_text(encoding="utf-8") if text is None else text
    unit = directory / UNIT.name
    unit.write_text(re.sub(r"(?m)^ExecStart=\S+", f"ExecStart={true}", source), encoding="utf-8")
    return unit
