"""`setup` and the destinations: the packaged files are the ones in deploy/, and setup says what
each configured destination's receiver needs and writes its files where asked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from own_env import clear_own

from poller import cli
from poller.install import DESTINATION_ASSETS, DestinationAsset

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("asset", DESTINATION_ASSETS, ids=lambda a: a.file)
def test_the_packaged_copy_is_the_deploy_file(asset: DestinationAsset) -> None:
    assert asset.text() == (ROOT / asset.source).read_bytes(), (
        f"{asset.source} changed: run python -m tools.assets"
    )


def _orgs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *destinations: dict[str, str]) -> None:
    clear_own(monkeypatch)
    monkeypatch.setenv("POLLER_STORE_PATH", str(tmp_path / "store.sqlite3"))
    monkeypatch.setenv("POLLER_ORGS", json.dumps([{
        "name": "acme", "admin_key": "sk-admin-setup-test", "destinations": list(destinations),
    }]))


def test_setup_writes_what_the_configured_destinations_need(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _orgs(monkeypatch, tmp_path, {"type": "prometheus"},
          {"type": "splunk_hec", "url": "https://splunk:8088", "token": "hec-token-x"})
    target = tmp_path / "assets"
    assert cli.main(["setup", "--dry-run", "--destination-assets", str(target)]) == 0
    planned = capsys.readouterr().out
    assert not target.exists()
    assert f"would create {target / 'openai-usage-rules.yaml'}" in planned

    assert cli.main(["setup", "--destination-assets", str(target)]) == 0
    out = capsys.readouterr().out
    written = {
        "openai-usage-rules.yaml", "openai-destination-rules.yaml",
        "openai-poller-dashboard.json", "props.conf",
    }
    assert {p.name for p in target.iterdir()} == written
    for asset in DESTINATION_ASSETS:
        assert (target / asset.file).read_bytes() == (ROOT / asset.source).read_bytes()
        assert f"created {target / asset.file}: {asset.what}; {asset.where}" in out
    assert "destinations: prometheus, splunk_hec" in out
    assert "  prometheus: scrape the daemon's /metrics" in out
    assert "hec-token-x" not in out

    (target / "props.conf").write_text("# edited\n", encoding="utf-8")
    assert cli.main(["setup", "--destination-assets", str(target)]) == 0
    again = capsys.readouterr().out
    assert f"updated {target / 'props.conf'}" in again
    assert f"unchanged {target / 'openai-poller-dashboard.json'}" in again


def test_setup_names_only_the_files_a_destination_needs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _orgs(monkeypatch, tmp_path, {"type": "loki", "url": "http://loki:3100"})
    assert cli.main(["setup"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "destinations: loki",
        "  loki: nothing to install; query the lines with {org=\"<org>\"} | json",
        "  openai-destination-rules.yaml (deploy/prometheus/openai-destination-rules.yaml): "
        "Prometheus alerts on the destinations: one not acknowledging, data refused for good, "
        "series at max_series; write it with --destination-assets DIR",
    ]


def test_destination_assets_without_destinations_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _orgs(monkeypatch, tmp_path)
    assert cli.main(["setup", "--destination-assets", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "no org has destinations" in err and "Traceback" not in err
    assert cli.main(["setup"]) == 2  # the embedded store, nothing to set up
    assert "ELASTICSEARCH_URL is not set" in capsys.readouterr().err
