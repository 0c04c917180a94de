"""Errors as an operator reads them: one line of at most 200 characters after `error: `, the
fix first, no query string, files by their absolute path; the full text in debug logs."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from cli_run import poller

from poller.cli._text import ERROR_WIDTH, human_age, safe, short_error

pytestmark = pytest.mark.integration

HTTP_ERROR = (
    "GET https://api.openai.com/v1/organization/usage/completions?start_time=1&end_time=2"
    "&group_by%5B%5D=project_id&limit=1440 failed: HTTP 401 (authentication failed: "
    + "the key is not an admin key; " * 20
    + ") -- fix: use an organization admin key (sk-admin-...)"
)


def test_the_fix_comes_first_and_the_query_string_goes() -> None:
    short = short_error(HTTP_ERROR)
    assert short.startswith(
        "use an organization admin key (sk-admin-...) \N{EM DASH} failed: HTTP 401 "
        "(authentication failed: the key is not an admin key;"
    )
    assert len(short) <= ERROR_WIDTH
    assert short.endswith("\N{HORIZONTAL ELLIPSIS}")
    assert "?" not in short


def test_the_request_comes_after_what_happened() -> None:
    url = "https://api.openai.com/v1/organization/costs"
    message = f"GET {url}?start_time=1: server error (HTTP 503)"
    assert short_error(message) == f"server error (HTTP 503) (GET {url})"
    waited = short_error(message, fix="wait")
    assert waited == f"wait \N{EM DASH} server error (HTTP 503) (GET {url})"


def test_relative_files_are_named_by_their_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert short_error("cannot read config/poller.yaml: no such file") == (
        f"cannot read {tmp_path}/config/poller.yaml: no such file"
    )
    assert short_error("cannot read /etc/poller.yaml") == "cannot read /etc/poller.yaml"


def test_control_characters_and_markup_are_neutralised() -> None:
    assert safe("\x1b[31mred\x1b[0m [/]\n\u202eevil") == "[31mred[0m \\[/] evil"
    assert short_error("line one\nline two\x07") == "line one line two"


@pytest.mark.parametrize(("seconds", "text"), [
    (None, "never"), (0, "0s"), (59, "59s"), (60, "1m"), (185, "3m"), (3600, "1h"),
    (7325, "2h 2m"), (93784, "1d 2h"), (86400 + 300, "1d"),
])
def test_ages_read_as_people_say_them(seconds: float | None, text: str) -> None:
    assert human_age(seconds) == text


def test_a_real_error_is_one_short_line_with_an_absolute_path(tmp_path: Path) -> None:
    config = tmp_path / "poller.yaml"
    config.write_text("orgs: [a\n")
    env = {"POLLER_CONFIG": "poller.yaml"}
    result = poller("status", cwd=tmp_path, env=env)
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ")
    assert len(line) <= len("error: ") + ERROR_WIDTH
    assert str(config) in line
    assert "Traceback" not in result.stderr


def test_debug_logs_keep_the_whole_message(tmp_path: Path) -> None:
    (tmp_path / "openai-poller.sqlite3").touch()
    env = {"POLLER_LOG_LEVEL": "DEBUG", "POLLER_LOG_FORMAT": "text"}
    result = poller("report", "--org", "x" * 300, cwd=tmp_path, env=env)
    assert result.returncode == 2
    whole = f"--org: unknown org '{'x' * 300}' (configured: none configured)"
    [logged] = [line for line in result.stderr.splitlines() if "DEBUG" in line]
    assert logged.endswith(f"poller.cli: error: {whole}")
    cut = whole[: ERROR_WIDTH - 1]
    assert result.stderr.splitlines()[-1] == f"error: {cut}\N{HORIZONTAL ELLIPSIS}"


def test_backfill_against_an_unreachable_openai_is_one_line_without_retries(
    tmp_path: Path,
) -> None:
    """Connection refused on the first request: one line naming the setting to check, no
    retry rounds (each would log an `attempt N of M` warning), nothing written."""
    with socket.socket() as held:  # a port nothing listens on: bound, never listening
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        env = {"OPENAI_ADMIN_KEY": "sk-admin-unreachable", "POLLER_LOG_FORMAT": "text",
               "OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1",
               "POLLER_STORE_PATH": str(tmp_path / "s.sqlite3")}
        result = poller("backfill", "--since", "1d", cwd=tmp_path, env=env, timeout=30)
    assert (result.returncode, result.stdout) == (1, "")
    last = result.stderr.splitlines()[-1]
    assert last.startswith("error: ") and "OPENAI_BASE_URL" in last, result.stderr
    assert " attempt " not in result.stderr
    assert "Traceback" not in result.stderr


def test_a_taken_metrics_port_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {"OPENAI_ADMIN_KEY": "sk-admin-port", "POLLER_LOG_FORMAT": "text",
               "OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "POLLER_METRICS__HOST": "127.0.0.1",
               "POLLER_METRICS__PORT": str(port),
               "POLLER_STORE_PATH": str(tmp_path / "s.sqlite3")}
        result = poller("run", cwd=tmp_path, env=env, timeout=30)
    assert (result.returncode, result.stdout) == (2, "")
    last = result.stderr.splitlines()[-1]
    assert last.startswith("error: ") and str(port) in last, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("variable", "nearest"), [
    ("POLLER_INTERVAL", "POLLER_ORG_DEFAULTS__DEFAULTS__INTERVAL"),
    ("ELASTICSEARCH_USER", "ELASTICSEARCH_USERNAME"),
])
def test_a_guessed_variable_is_named_with_the_nearest_setting(
    tmp_path: Path, variable: str, nearest: str
) -> None:
    (tmp_path / "openai-poller.sqlite3").touch()
    env = {variable: "1m", "POLLER_LOG_FORMAT": "text"}
    result = poller("status", cwd=tmp_path, env=env)
    assert f"did you mean {nearest}? (not a setting)" in result.stderr
