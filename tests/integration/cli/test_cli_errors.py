"""Errors as an operator reads them: one line of at most 200 characters after `error: `, the
fix first, no query string, files by their absolute path; the full text in debug logs."""

from __future__ import annotations

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
