"""`--help` explains every command and flag, at 80 columns, and no arguments prints it."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from cli_run import WIDTH, poller, widest
from own_env import foreign_environ

pytestmark = pytest.mark.integration

COMMANDS = ("run", "backfill", "setup", "status", "doctor", "report", "demo", "simulate")
ENVIRONMENT = (
    "OPENAI_ADMIN_KEY", "OPENAI_BASE_URL", "ELASTICSEARCH_URL", "ELASTICSEARCH_API_KEY",
    "ELASTICSEARCH_CA_CERTS", "KIBANA_URL", "POLLER_CONFIG", "POLLER_STORE_PATH",
)


def test_no_arguments_prints_the_help_and_exits_2(tmp_path: Path) -> None:
    result = poller(cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout.startswith("usage: openai-poller")
    for command in COMMANDS:
        assert f"    {command} " in result.stdout, command
    for name in ENVIRONMENT:
        assert name in result.stdout, name
    assert "docs/configuration.md" in result.stdout
    assert widest(result.stdout) <= WIDTH


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_explains_itself_with_an_example(tmp_path: Path, command: str) -> None:
    result = poller(command, "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "example" in result.stdout
    assert f"openai-poller {command}" in result.stdout.split("example", 1)[1]
    assert widest(result.stdout) <= WIDTH
    assert result.stderr == ""


def test_backfill_help_gives_the_formats_and_defaults(tmp_path: Path) -> None:
    out = " ".join(poller("backfill", "--help", cwd=tmp_path).stdout.split())
    assert "ISO-8601 date or datetime" in out
    assert "30d, 12h, 90m" in out
    assert "(default: auto)" in out
    assert "comma-separated stream names" in out


def test_report_help_lists_the_groupings_and_formats(tmp_path: Path) -> None:
    out = " ".join(poller("report", "--help", cwd=tmp_path).stdout.split())
    assert "one of: project, user, key, model, line_item, service_tier, batch" in out
    assert "(default: model)" in out
    assert "{table,json,csv}" in out
    assert "--top N" in out
    assert "(default: every org, each labelled)" in out


def test_simulate_help_gives_its_key_and_the_faults_syntax(tmp_path: Path) -> None:
    out = " ".join(poller("simulate", "--help", cwd=tmp_path).stdout.split())
    assert "(default: sk-admin-demo)" in out
    assert "KIND=PROBABILITY" in out
    assert "429, 500, 502, 503, timeout, malformed, drift" in out


def test_simulate_prints_its_key_and_faults_on_start(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "poller", "simulate", "--port", "0",
            "--faults", "429=0.1,timeout=0.02", "--admin-key", "sk-admin-try"]
    with subprocess.Popen(argv, cwd=tmp_path, env=foreign_environ(), text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        try:
            assert proc.stderr is not None and proc.stdout is not None
            first = proc.stderr.readline()
            listening = proc.stdout.readline()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    assert first == "simulate: admin key sk-admin-try; faults: 429=0.1, timeout=0.02\n"
    assert listening.startswith("simulator listening on http://127.0.0.1:")
    assert proc.returncode == 0
