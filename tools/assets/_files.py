"""Every generated file of the checkout: rendering them, finding drift, writing them.

The Kibana files are built first; the mappings follow from them, because `@dashboards` maps every
field they read. Each file is written twice: at the top level (`mappings/`, `kibana/`), where
people review it, and under `poller/_assets/`, the copy the wheel ships. The destinations'
receiver files are written by hand in `deploy/` and copied to `poller/_assets/destinations/`
for `setup` (setuptools ships only files inside a package).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from poller.assets import RuleAsset
from poller.install import DESTINATION_ASSETS
from tools.assets._lint import check_field_uses, field_uses, mapped_uses, runtime_fields
from tools.assets._roles import roles
from tools.assets._templates import (
    component_templates,
    field_types,
    ilm_component_templates,
    ilm_policies,
    index_templates,
    ingest_pipelines,
)
from tools.assets.kibana import NDJSON_NAME
from tools.assets.kibana import build as build_kibana

__all__ = ["drift", "expected_files", "generate"]

_GENERATED_MAPPING_DIRS: Final = (
    "component_templates",
    "index_templates",
    "ilm",
    "ingest_pipelines",
    "roles",
)


def _dump(body: Any) -> str:
    return json.dumps(body, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _kibana_rules(kibana_files: Mapping[str, str]) -> list[RuleAsset]:
    rules = []
    for name, text in sorted(kibana_files.items()):
        if name.startswith("rules/"):
            doc = json.loads(text)
            slug = name.removeprefix("rules/").removesuffix(".json")
            description = doc.get("description", "")
            rules.append(RuleAsset(slug, doc["id"], description, doc["parameters"], doc["body"]))
    return rules


def _render_mappings(kibana_files: Mapping[str, str]) -> dict[str, str]:
    """Every generated file under mappings/, by relative path, given the Kibana files.

    ValueError when a saved object or rule reads a field the templates cannot serve.
    """
    objects = [json.loads(line) for line in kibana_files[NDJSON_NAME].splitlines()]
    uses = field_uses(objects, _kibana_rules(kibana_files))
    types = {path: spec.type for path, spec in field_types().items()}
    indexed = {path: spec.indexed for path, spec in field_types().items()}
    problems = check_field_uses(uses, types, indexed=indexed, runtime=runtime_fields(objects))
    if problems:
        raise ValueError("Kibana assets read unusable fields:\n  " + "\n  ".join(problems))
    out: dict[str, str] = {}
    components = component_templates(mapped_uses(objects, uses))
    components.update(ilm_component_templates())
    for name, body in components.items():
        out[f"component_templates/{name}.json"] = _dump(body)
    for name, body in index_templates().items():
        out[f"index_templates/{name}.json"] = _dump(body)
    for name, body in ilm_policies().items():
        out[f"ilm/{name}.json"] = _dump(body)
    for name, body in ingest_pipelines().items():
        out[f"ingest_pipelines/{name}.json"] = _dump(body)
    for name, body in roles().items():
        out[f"roles/{name}.json"] = _dump(body)
    return out


_REPO: Final = Path(__file__).resolve().parents[2]


def _destination_files() -> dict[Path, str]:
    return {
        Path("poller") / "_assets" / "destinations" / asset.file:
            (_REPO / asset.source).read_text(encoding="utf-8")
        for asset in DESTINATION_ASSETS
    }


def expected_files() -> dict[Path, str]:
    """Every generated file, by path relative to the checkout's root, with its text."""
    kibana_files = build_kibana()
    mappings = _render_mappings(kibana_files)
    out: dict[Path, str] = {}
    for base, generated in (("mappings", mappings), ("kibana", kibana_files)):
        for rel, text in generated.items():
            out[Path(base) / rel] = text
            out[Path("poller") / "_assets" / base / rel] = text
    out.update(_destination_files())
    return out


def _generated_dirs(repo: Path) -> list[Path]:
    """Directories whose every file is generated (stale files there are removed)."""
    dirs = [repo / "mappings" / d for d in _GENERATED_MAPPING_DIRS]
    dirs.append(repo / "kibana" / "rules")
    dirs.append(repo / "poller" / "_assets")
    return dirs


def _stale_files(repo: Path, expected: Mapping[Path, str]) -> list[Path]:
    """Files under the generated directories of `repo` that the generator no longer writes."""
    wanted = {repo / rel for rel in expected}
    return sorted(
        path
        for directory in _generated_dirs(repo)
        if directory.is_dir()
        for path in directory.rglob("*")
        if path.is_file() and path not in wanted and "__pycache__" not in path.parts
    )


def drift(repo: Path) -> list[Path]:
    """The files of the checkout at `repo` that differ from a fresh generation, relative to it."""
    expected = expected_files()
    changed = [
        rel
        for rel, text in expected.items()
        if not (repo / rel).is_file() or (repo / rel).read_text(encoding="utf-8") != text
    ]
    changed += [path.relative_to(repo) for path in _stale_files(repo, expected)]
    return sorted(changed)


def generate(repo: Path) -> list[Path]:
    """(Re)write every generated file of the checkout at `repo`; returns the files changed."""
    expected = expected_files()
    changed: list[Path] = []
    for path in _stale_files(repo, expected):
        path.unlink()
        changed.append(path)
    for rel, text in sorted(expected.items()):
        path = repo / rel
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed
