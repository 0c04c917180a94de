"""The committed assets are exactly what `python -m poller.assets generate` writes, and the copy
that ships in the wheel (poller/_assets) is identical to the top-level mappings/ and kibana/."""

from __future__ import annotations

from pathlib import Path

import pytest

from poller import assets
from poller.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]


def test_committed_files_equal_a_fresh_generation() -> None:
    expected = assets.expected_files(REPO)
    drift = [
        str(rel)
        for rel, text in expected.items()
        if not (REPO / rel).is_file() or (REPO / rel).read_text(encoding="utf-8") != text
    ]
    assert drift == [], "run `python -m poller.assets generate` and commit the result"
    assert assets.stale_files(REPO, expected) == []


def test_packaged_copy_mirrors_the_top_level_files() -> None:
    top = {
        rel: text
        for rel, text in assets.expected_files(REPO).items()
        if rel.parts[0] in ("mappings", "kibana")
    }
    for rel in top:
        packaged = REPO / "poller" / "_assets" / rel
        assert packaged.read_text(encoding="utf-8") == (REPO / rel).read_text(encoding="utf-8")


def test_loader_reads_the_packaged_copy_and_the_checkout_alike() -> None:
    packaged = assets.load_assets()
    checkout = assets.load_assets(REPO)
    assert packaged == checkout
    assert str(assets.asset_root()).endswith("_assets")
    assert len(packaged.index_templates) == 13
    assert {t.name for t in packaged.ilm_policies} == {
        "openai-poller-metrics",
        "openai-poller-audit",
    }
    # The optional ILM components are kept apart from the default install set.
    assert all("@ilm-" in t.name for t in packaged.ilm_component_templates)
    assert not any("@ilm-" in t.name for t in packaged.component_templates)
    assert packaged.component_templates[0].name == "openai-poller@ecs"


def test_loader_names_the_fix_when_assets_are_missing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"poller\.assets generate"):
        assets.load_assets(tmp_path)


def test_generate_check_mode_reports_no_drift() -> None:
    assert assets.main(["generate", "--check"]) == 0
    assert assets.main(["nonsense"]) == 2
