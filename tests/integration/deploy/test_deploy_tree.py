"""deploy/ as a whole: every YAML file parses, and the README's table names every file there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from deploy_files import DEPLOY, K8S, yaml_docs


def _yaml_files() -> list[Path]:
    return sorted(DEPLOY.rglob("*.yaml")) + sorted(DEPLOY.rglob("*.yml"))


@pytest.mark.parametrize("path", _yaml_files(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_yaml_file_parses(path: Path) -> None:
    docs = yaml_docs(path)
    assert docs
    if path.parent == K8S:
        for doc in docs:
            assert {"apiVersion", "kind", "metadata"} <= doc.keys()
            assert doc["metadata"]["labels"]["app.kubernetes.io/name"] == "openai-poller"


def test_readme_lists_every_file() -> None:
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    listed = re.findall(r"(?m)^\| `([^`]+)` \|", readme)
    files = sorted(str(p.relative_to(DEPLOY)) for p in DEPLOY.rglob("*") if p.is_file())
    assert sorted(listed) == [name for name in files if name != "README.md"]
