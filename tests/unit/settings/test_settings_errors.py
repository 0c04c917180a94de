"""Settings: durations, and one clear line per mistake that never quotes a secret."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from settings_files import make_secrets, write_file

from poller.errors import ConfigError
from poller.settings import Settings, load_settings, parse_duration

# --- durations ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("90s", 90),
        ("5m", 300),
        ("24h", 86400),
        ("3d", 259200),
        ("1h30m", 5400),
        ("1.5h", 5400),
        ("250ms", 0.25),
        (" 5M ", 300),
        ("300", 300),
        (300, 300),
        (2.5, 2.5),
        (timedelta(minutes=1), 60),
        ("0s", 0),
    ],
)
def test_parse_duration(value: object, seconds: float) -> None:
    assert parse_duration(value) == timedelta(seconds=seconds)


@pytest.mark.parametrize("value", ["5x", "", "m5", "5 m", "1h-30m", None, True, [5]])
def test_bad_durations_are_rejected(value: object) -> None:
    with pytest.raises(ValueError, match="bad duration"):
        parse_duration(value)


@pytest.mark.parametrize("value", [-3, "-3", timedelta(seconds=-1)])
def test_negative_durations_are_rejected(value: object) -> None:
    with pytest.raises(ValueError, match="cannot be negative"):
        parse_duration(value)


# --- every kind of mistake: one line, no secret -------------------------------------------------

SECRET = "sk-admin-must-never-be-printed-0042"


def _org(**fields: object) -> dict[str, object]:
    return {"name": "acme", "admin_key": SECRET, **fields}


CASES = [
    pytest.param(
        {"orgs": [_org(defaults={"interval": "5x"})]},
        "orgs[0].defaults.interval: bad duration '5x'",
        id="bad duration",
    ),
    pytest.param(
        {"orgs": [_org(defaults={"interval": 0})]},
        "orgs[0].defaults.interval: must be longer than zero",
        id="zero interval",
    ),
    pytest.param(
        {"orgs": [_org(streams=["completions", "foo"])]},
        "orgs[0].streams[1]: unknown stream 'foo' (choose from completions, embeddings",
        id="unknown stream",
    ),
    pytest.param({"orgs": [{"name": "acme"}]}, "orgs[0].admin_key: required", id="missing key"),
    pytest.param(
        {"orgs": [_org(base_url=f"ftp://user:{SECRET}@host")]},
        "orgs[0].base_url: malformed URL",
        id="malformed URL",
    ),
    pytest.param(
        {"openai_admin_key": SECRET, "elasticsearch": {"url": "not a url"}},
        "elasticsearch.url: malformed URL",
        id="malformed ES URL",
    ),
    pytest.param(
        {"orgs": [_org(), _org()]}, "orgs: duplicate org name 'acme'", id="duplicate orgs"
    ),
    pytest.param(
        {"orgs": [_org(namespace="Prod-EU")]},
        "orgs[0].namespace: invalid namespace 'Prod-EU'",
        id="bad namespace",
    ),
    pytest.param(
        {"orgs": [_org(name="a b")]}, "orgs[0].name: invalid org name 'a b'", id="bad org name"
    ),
    pytest.param(
        {"orgs": [_org(overrides={"embeddings": {"group_by": ["batch"]}})]},
        "orgs[0].overrides: embeddings.group_by: 'batch' is not a dimension of embeddings",
        id="group_by not allowed",
    ),
    pytest.param(
        {"orgs": [_org(overrides={"audit": {"group_by": ["project_id"]}})]},
        "orgs[0].overrides: audit.group_by: audit takes no group_by",
        id="group_by on audit",
    ),
    pytest.param(
        {"orgs": [_org(overrides={"costs": {"bucket_width": "1m"}})]},
        "costs.bucket_width: costs buckets are always 1d",
        id="costs width",
    ),
    pytest.param(
        {"orgs": [_org(defaults={"bucket_width": "5m"})]},
        "orgs[0].defaults.bucket_width: Input should be '1m', '1h' or '1d'",
        id="bad width",
    ),
    pytest.param(
        {"orgs": [_org(overrides={"foo": {}})]},
        "orgs[0].overrides.foo: unknown stream 'foo'",
        id="unknown override",
    ),
    pytest.param(
        {"openai_admin_key": SECRET, "elasticsearch": {"urll": "x"}},
        "elasticsearch.urll: unknown setting",
        id="unknown setting",
    ),
    pytest.param(
        {"openai_admin_key": SECRET, "elasticsearch": {"username": "u"}},
        "elasticsearch: set both username and password, or neither",
        id="half basic auth",
    ),
    pytest.param(
        {
            "openai_admin_key": SECRET,
            "elasticsearch": {"api_key": SECRET, "username": "u", "password": SECRET},
        },
        "elasticsearch: set either api_key or username and password, not both",
        id="two auth methods",
    ),
    pytest.param(
        {"openai_admin_key": SECRET, "elasticsearch": {"ca_certs": "/nonexistent/ca.pem"}},
        "elasticsearch.ca_certs: no such file",
        id="missing CA file",
    ),
    pytest.param(
        {"openai_admin_key": SECRET, "log_format": "xml"},
        "log_format: Input should be 'auto', 'json' or 'text'",
        id="bad log format",
    ),
    pytest.param(
        {"openai_admin_key": SECRET, "metrics": {"port": 70000}},
        "metrics.port: Input should be less than or equal to 65535",
        id="bad port",
    ),
    pytest.param(
        {"orgs": [{"name": "acme", "admin_key": 42}]},
        "orgs[0].admin_key: Input should be a valid string",
        id="key of the wrong type",
    ),
]


def _assert_one_clean_line(exc: ConfigError, expected: str) -> None:
    message = str(exc)
    assert message.startswith("config: ")
    assert expected in message
    assert "\n" not in message
    assert SECRET not in message
    assert "Traceback" not in message
    assert exc.__cause__ is None


@pytest.mark.parametrize(("kwargs", "expected"), CASES)
def test_invalid_settings_are_one_config_error_line(kwargs: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(**kwargs)
    _assert_one_clean_line(caught.value, expected)


FILE_CASES = [
    pytest.param(
        "poller.yaml",
        f"orgs:\n  - name: acme\n    admin_key: {SECRET}\n  - [\n",
        "invalid YAML at line 5",
        id="malformed YAML",
    ),
    pytest.param(
        "poller.toml", f'admin_key = "{SECRET}"\n[[orgs]\n', "invalid TOML", id="malformed TOML"
    ),
    pytest.param(
        "poller.yaml", "- a\n- b\n", "the top level must be a mapping", id="not a mapping"
    ),
    pytest.param("poller.json", "{}", "must end in .yaml, .yml or .toml", id="wrong extension"),
    pytest.param(
        "poller.yaml", "config: other.yaml\n", "'config' cannot be set", id="config inside config"
    ),
    pytest.param(
        "poller.yaml",
        f"orgs:\n  - name: acme\n    admin_key: {SECRET}\n    streams: [foo]\n",
        "orgs[0].streams[0]: unknown stream 'foo'",
        id="unknown stream in file",
    ),
]


@pytest.mark.parametrize(("name", "text", "expected"), FILE_CASES)
def test_config_file_problems_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, text: str, expected: str
) -> None:
    monkeypatch.setenv("POLLER_CONFIG", str(write_file(tmp_path / name, text)))
    with pytest.raises(ConfigError) as caught:
        load_settings()
    _assert_one_clean_line(caught.value, expected)


def test_unreadable_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLLER_CONFIG", str(tmp_path / "missing.yaml"))
    with pytest.raises(ConfigError) as caught:
        load_settings()
    _assert_one_clean_line(caught.value, "cannot read")
    assert "No such file or directory" in str(caught.value)


def test_missing_credential_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(make_secrets(tmp_path)))
    with pytest.raises(ConfigError) as caught:
        load_settings(orgs=[{"name": "acme", "admin_key_credential": "OPENAI_ADMIN_KEY_ACME"}])
    _assert_one_clean_line(
        caught.value, "orgs[0].admin_key_credential: no non-empty file 'OPENAI_ADMIN_KEY_ACME'"
    )


def test_credential_needs_a_secrets_dir() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(orgs=[{"name": "acme", "admin_key_credential": "KEY"}])
    _assert_one_clean_line(caught.value, "no secrets directory")


def test_secrets_dir_must_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLLER_SECRETS_DIR", str(tmp_path / "missing"))
    with pytest.raises(ConfigError) as caught:
        load_settings(openai_admin_key=SECRET)
    _assert_one_clean_line(caught.value, "secrets_dir")


def test_malformed_json_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLLER_ORGS", "[{not json")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    _assert_one_clean_line(caught.value, '"orgs"')


def test_problems_shared_by_every_org_are_counted_once() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(openai_admin_key=SECRET, org_defaults={"namespace": "Bad"})
    assert "more" not in str(caught.value)


def test_settings_repr_hides_secrets() -> None:
    settings = load_settings(openai_admin_key=SECRET)
    assert SECRET not in repr(settings)
    assert isinstance(settings, Settings)
