"""Bad input to the command line: exit 2 with exactly one line on stderr and no traceback; a
key that lacks permissions is a runtime failure: exit 1, one line, no traceback."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from poller.cli import main
from poller.simulator.app import SimulatorApp
from poller.simulator.organization import build_organization
from poller.simulator.server import SimulatorServer

pytestmark = pytest.mark.integration

ADMIN_KEY = "sk-admin-errors-test-4b1d"
_OWN_PREFIXES = ("OPENAI_", "POLLER_", "ELASTICSEARCH_", "KIBANA_")
_OWN_NAMES = ("CREDENTIALS_DIRECTORY", "STATE_DIRECTORY")

BAD_YAML = "orgs: [a\n"
UNKNOWN_STREAM = "org_defaults:\n  streams: [completions, bogus]\n"
BAD_DURATION = "org_defaults:\n  defaults:\n    interval: five minutes\n"
DUPLICATE_ORG = (
    "orgs:\n  - {name: a, admin_key: sk-admin-1}\n  - {name: a, admin_key: sk-admin-2}\n"
)


@dataclass(frozen=True)
class Case:
    argv: list[str]
    expect: str  # a piece of the one stderr line
    env: dict[str, str] = field(default_factory=dict)  # "" removes the variable
    config: str | None = None  # written to config.yaml and named by POLLER_CONFIG


CASES = {
    "unknown command": Case(["frobnicate"], "invalid choice: 'frobnicate'"),
    "backfill without --since": Case(["backfill"], "--since"),
    "--since nonsense": Case(["backfill", "--since", "nonsense"], "'nonsense' is neither"),
    "--since in the future": Case(["backfill", "--since", "2999-01-01"], "in the future"),
    "--since after --until": Case(
        ["backfill", "--since", "2d", "--until", "3d"], "--since must be before --until"
    ),
    "unknown stream": Case(
        ["backfill", "--since", "2d", "--streams", "completions,nope"], "unknown stream 'nope'"
    ),
    "bad bucket width": Case(["backfill", "--since", "2d", "--bucket-width", "5m"], "'5m'"),
    "unknown org": Case(["backfill", "--since", "2d", "--org", "nope"], "unknown org 'nope'"),
    "no admin key": Case(
        ["backfill", "--since", "2d"], "no organization configured", {"OPENAI_ADMIN_KEY": ""}
    ),
    "malformed yaml": Case(["backfill", "--since", "2d"], "invalid YAML", config=BAD_YAML),
    "config unknown stream": Case(
        ["backfill", "--since", "2d"], "unknown stream 'bogus'", config=UNKNOWN_STREAM
    ),
    "config bad duration": Case(
        ["backfill", "--since", "2d"], "bad duration 'five minutes'", config=BAD_DURATION
    ),
    "duplicate org": Case(
        ["backfill", "--since", "2d"], "duplicate org name 'a'", config=DUPLICATE_ORG
    ),
    "missing config file": Case(
        ["status"], "cannot read", {"POLLER_CONFIG": "/nonexistent/poller.yaml"}
    ),
    "malformed ELASTICSEARCH_URL": Case(
        ["status"], "elasticsearch.url: malformed URL", {"ELASTICSEARCH_URL": "not-a-url"}
    ),
    "simulate bad fault probability": Case(
        ["simulate", "--port", "0", "--faults", "429=lots"], "--faults"
    ),
    "simulate unknown fault": Case(
        ["simulate", "--port", "0", "--faults", "bogus=0.5"], "unknown fault kind 'bogus'"
    ),
    "setup without ELASTICSEARCH_URL": Case(["setup"], "ELASTICSEARCH_URL is not set"),
    "report --since nonsense": Case(["report", "--since", "junk"], "'junk' is neither"),
}

# These also run as real processes: argparse, settings and the entry point end to end.
SUBPROCESS_CASES = [
    "unknown command",
    "--since nonsense",
    "malformed yaml",
    "malformed ELASTICSEARCH_URL",
    "simulate unknown fault",
]


def _base_env(tmp_path: Path) -> dict[str, str]:
    return {
        "OPENAI_ADMIN_KEY": ADMIN_KEY,
        "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",  # never reached: every case fails earlier
        "POLLER_STORE_PATH": str(tmp_path / "store.sqlite3"),
    }


def _case_env(case: Case, tmp_path: Path) -> dict[str, str]:
    env = _base_env(tmp_path)
    if case.config is not None:
        config = tmp_path / "config.yaml"
        config.write_text(case.config, encoding="utf-8")
        env["POLLER_CONFIG"] = str(config)
    env.update(case.env)
    return {k: v for k, v in env.items() if v}


def _assert_one_line(stderr: str, expect: str) -> None:
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), stderr
    assert expect in lines[0], stderr


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No poller settings from the developer's environment; logging restored afterwards, since
    the CLI points the root logger at the (captured) stderr of the test."""
    for name in list(os.environ):
        if name.startswith(_OWN_PREFIXES) or name in _OWN_NAMES:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_in_process(
    name: str,
    clean_env: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    case = CASES[name]
    for key, value in _case_env(case, tmp_path).items():
        monkeypatch.setenv(key, value)
    assert main(case.argv) == 2
    captured = capsys.readouterr()
    _assert_one_line(captured.err, case.expect)
    assert captured.out == ""


def _clean_process_env(env: dict[str, str]) -> dict[str, str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(_OWN_PREFIXES) and k not in _OWN_NAMES
    }
    return {**base, **env}


@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_bad_input_as_a_process(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    result = subprocess.run(
        [sys.executable, "-m", "poller", *case.argv],
        cwd=tmp_path,
        env=_clean_process_env(_case_env(case, tmp_path)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    _assert_one_line(result.stderr, case.expect)
    assert result.stdout == ""


def test_backfill_never_quotes_a_secret_in_a_config_error(
    clean_env: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    secret = "sk-admin-SECRET-in-config-91c2"
    config = tmp_path / "config.yaml"
    config.write_text(f"orgs:\n  - {{name: 'bad name!', admin_key: {secret}}}\n")
    monkeypatch.setenv("POLLER_CONFIG", str(config))
    assert main(["backfill", "--since", "2d"]) == 2
    err = capsys.readouterr().err
    _assert_one_line(err, "invalid org name")
    assert secret not in err


def test_project_key_is_one_line_runtime_failure(tmp_path: Path) -> None:
    """A project key passes start-up, then OpenAI refuses it: exit 1 (a runtime failure) with
    one line naming the missing permission, not one error per stream, and no traceback."""
    project_key = "sk-proj-SECRET-not-an-admin-key-55e0"
    org = build_organization(seed=2, size="small", settle_seconds=60)
    with SimulatorServer(SimulatorApp(org, admin_key=ADMIN_KEY)) as server:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "poller",
                "backfill",
                "--since",
                "2d",
                "--streams",
                "completions,costs,audit",
            ],
            cwd=tmp_path,
            env=_clean_process_env(
                {
                    "OPENAI_ADMIN_KEY": project_key,
                    "OPENAI_BASE_URL": server.base_url,
                    "POLLER_STORE_PATH": str(tmp_path / "store.sqlite3"),
                    "POLLER_LOG_FORMAT": "json",
                }
            ),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1, result.stderr
    _assert_one_line(result.stderr, "insufficient permissions")
    assert "admin key" in result.stderr
    assert project_key not in result.stderr + result.stdout


def test_bad_backfill_input_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Arguments are checked before the store is opened: nothing is created or written."""

    store = tmp_path / "never.sqlite3"
    monkeypatch.setenv("OPENAI_ADMIN_KEY", "sk-admin-unused")
    monkeypatch.setenv("POLLER_STORE_PATH", str(store))
    assert main(["backfill", "--since", "2099-01-01"]) == 2
    assert "in the future" in capsys.readouterr().err
    assert not store.exists()
