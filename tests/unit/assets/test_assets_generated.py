"""The committed assets are exactly what `python -m tools.assets` writes, and the copy that ships
in the wheel (poller/_assets) is identical to the top-level mappings/ and kibana/."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from poller import assets
from tools.assets import drift, expected_files, generate
from tools.assets.__main__ import main

REPO = Path(__file__).resolve().parents[3]


def test_committed_files_equal_a_fresh_generation() -> None:
    assert drift(REPO) == [], "run `python -m tools.assets` and commit the result"


def test_packaged_copy_mirrors_the_top_level_files() -> None:
    top = [rel for rel in expected_files() if rel.parts[0] in ("mappings", "kibana")]
    # 21 components, 17 index templates, 2 policies, 1 ingest pipeline, 2 roles; ndjson, 15 rules
    assert len(top) == 43 + 16
    for rel in top:
        packaged = REPO / "poller" / "_assets" / rel
        assert packaged.read_text(encoding="utf-8") == (REPO / rel).read_text(encoding="utf-8")


def test_generate_rewrites_changed_files_and_removes_stale_ones(tmp_path: Path) -> None:
    for directory in ("mappings", "kibana", "poller/_assets"):
        shutil.copytree(REPO / directory, tmp_path / directory)
    edited = Path("poller/_assets/kibana/rules/spend-spike.json")
    (tmp_path / edited).write_text("{}\n", encoding="utf-8")
    stale = Path("mappings/ilm/openai-poller-retired.json")
    (tmp_path / stale).write_text("{}\n", encoding="utf-8")
    assert drift(tmp_path) == [stale, edited]

    assert generate(tmp_path) == [tmp_path / stale, tmp_path / edited]
    assert not (tmp_path / stale).exists()
    assert (tmp_path / edited).read_text(encoding="utf-8") == (REPO / edited).read_text(
        encoding="utf-8"
    )
    assert drift(tmp_path) == []
    assert generate(tmp_path) == []


def test_loader_reads_the_packaged_copy_and_the_checkout_alike() -> None:
    packaged = assets.load_assets()
    checkout = assets.load_assets(REPO)
    assert packaged == checkout
    assert str(assets.asset_root()).endswith("_assets")
    assert len(packaged.index_templates) == 17
    assert {t.name for t in packaged.ilm_policies} == {
        "openai-poller-metrics",
        "openai-poller-audit",
    }
    # The optional ILM components are kept apart from the default install set.
    assert [t.name for t in packaged.ilm_component_templates] == [
        "openai-poller@ilm-audit",
        "openai-poller@ilm-metrics",
    ]
    assert not any("@ilm-" in t.name for t in packaged.component_templates)
    assert packaged.component_templates[0].name == "openai-poller@ecs"
    assert [(t.kind, t.name) for t in packaged.ingest_pipelines] == [
        ("ingest_pipeline", "openai-poller-event-ingested")
    ]
    assert sorted(packaged.roles) == ["openai-poller-setup", "openai-poller-writer"]


def test_loader_names_the_fix_when_assets_are_missing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"python -m tools\.assets"):
        assets.load_assets(tmp_path)


def test_check_mode_reports_no_drift_and_refuses_unknown_arguments(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--check"]) == 0
    assert main(["generate"]) == 2
    assert capsys.readouterr() == ("", "usage: python -m tools.assets [--check]\n")
