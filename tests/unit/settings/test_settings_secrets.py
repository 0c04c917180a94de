"""Settings never show a secret: not a password inside a URL, not a key pasted into the wrong
setting, not in the loaded model's repr or dump."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from settings_files import make_secrets, write_file

from poller.errors import ConfigError
from poller.settings import Settings, load_settings
from poller.settings._validate import shown

ADMIN_KEY = "sk-admin-pasted-where-it-does-not-belong-7f3a"
PASSWORD = "hunter2-correct-horse"
API_KEY = "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="

ES_FIX = (
    "put the credentials in ELASTICSEARCH_USERNAME/ELASTICSEARCH_PASSWORD or "
    "ELASTICSEARCH_API_KEY, not in the URL"
)
OPENAI_FIX = "put the admin key in OPENAI_ADMIN_KEY or the org's admin_key, not in the URL"


def _refused(**overrides: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(**overrides)
    assert caught.value.__cause__ is None
    return str(caught.value)


# --- credentials inside a URL -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "url", "expected"),
    [
        pytest.param(
            "ELASTICSEARCH_URL",
            f"https://elastic:{PASSWORD}@es.example.com:9200",
            f"config: elasticsearch.url: {ES_FIX}",
            id="ELASTICSEARCH_URL",
        ),
        pytest.param(
            "KIBANA_URL",
            f"https://elastic:{PASSWORD}@kibana.example.com",
            f"config: kibana_url: {ES_FIX}",
            id="KIBANA_URL",
        ),
        pytest.param(
            "OPENAI_BASE_URL",
            f"https://org:{PASSWORD}@api.example.com/v1",
            f"config: openai_base_url: {OPENAI_FIX}",
            id="OPENAI_BASE_URL",
        ),
        pytest.param(
            "POLLER_ELASTICSEARCH__URL",
            f"http://{PASSWORD}@10.0.0.5:9200",
            f"config: elasticsearch.url: {ES_FIX}",
            id="user only, prefixed variable",
        ),
    ],
)
def test_url_with_credentials_is_refused_without_showing_them(
    monkeypatch: pytest.MonkeyPatch, variable: str, url: str, expected: str
) -> None:
    monkeypatch.setenv("OPENAI_ADMIN_KEY", ADMIN_KEY)
    monkeypatch.setenv(variable, url)
    assert _refused() == expected


def test_org_base_url_with_credentials_is_refused() -> None:
    orgs = [
        {"name": "eu", "admin_key": ADMIN_KEY, "base_url": "https://eu.example.com/v1"},
        {"name": "us", "admin_key": ADMIN_KEY, "base_url": f"https://k:{PASSWORD}@us.example"},
    ]
    assert _refused(orgs=orgs) == f"config: orgs[1].base_url: {OPENAI_FIX}"


def test_url_credentials_from_a_config_file_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_file(
        tmp_path / "poller.yaml",
        f"openai_admin_key: {ADMIN_KEY}\nelasticsearch:\n"
        f"  url: https://elastic:{PASSWORD}@es.example.com\n",
    )
    monkeypatch.setenv("POLLER_CONFIG", str(config))
    assert _refused() == f"config: elasticsearch.url: {ES_FIX}"


def test_pydantic_does_not_echo_the_url_either() -> None:
    """Built directly, without `load_settings`: pydantic's own message hides the input."""
    fields: dict[str, Any] = {"elasticsearch": {"url": f"https://u:{PASSWORD}@es.example.com"}}
    with pytest.raises(ValidationError) as caught:
        Settings(**fields)
    assert PASSWORD not in str(caught.value)
    assert ES_FIX in str(caught.value)


def test_malformed_url_with_credentials_stays_malformed() -> None:
    message = _refused(openai_admin_key=ADMIN_KEY, kibana_url=f"ftp://u:{PASSWORD}@kb")
    assert message == "config: kibana_url: malformed URL: expected http(s)://host[:port][/path]"


# --- a secret pasted into another setting -----------------------------------------------------


def test_admin_key_pasted_into_a_duration_is_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: `bad duration 'sk-admin-pasted-where-it-does-not-bel`, 40 characters of it."""
    monkeypatch.setenv("OPENAI_ADMIN_KEY", ADMIN_KEY)
    monkeypatch.setenv("POLLER_ORG_DEFAULTS__DEFAULTS__INTERVAL", ADMIN_KEY)
    assert _refused() == (
        "config: org_defaults.defaults.interval: bad duration: use seconds or a value like "
        "90s, 5m, 24h, 3d"
    )


def test_short_key_shaped_value_is_not_echoed() -> None:
    message = _refused(openai_admin_key=ADMIN_KEY, jitter="sk-abc")
    assert message == "config: jitter: bad duration: use seconds or a value like 90s, 5m, 24h, 3d"


def test_secret_of_another_setting_is_redacted_wherever_it_is_echoed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A short password is no key shape: it is known as the value of a secret being loaded.
    The secret comes after the bad setting in field order, and is still known."""
    password = "tr0ub4dor"
    monkeypatch.setenv("POLLER_JITTER", password)
    monkeypatch.setenv("ELASTICSEARCH_USERNAME", "elastic")
    monkeypatch.setenv("ELASTICSEARCH_PASSWORD", password)
    assert _refused(openai_admin_key=ADMIN_KEY) == (
        "config: jitter: bad duration '[REDACTED]': use seconds or a value like 90s, 5m, 24h, 3d"
    )


def test_secret_from_the_secrets_directory_is_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = make_secrets(tmp_path, ELASTICSEARCH_API_KEY="abc123xyz")
    monkeypatch.setenv("POLLER_SECRETS_DIR", str(secrets))
    monkeypatch.setenv("POLLER_ORG_DEFAULTS__NAMESPACE", "abc123xyz-")
    message = _refused(openai_admin_key=ADMIN_KEY)
    assert message.startswith("config: org_defaults.namespace: invalid namespace '[REDACTED]-': ")


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        pytest.param(
            {"org_defaults": {"namespace": "A" * 30}},
            "config: org_defaults.namespace: invalid namespace: use at most 100 lowercase",
            id="long namespace",
        ),
        pytest.param(
            {"org_defaults": {"streams": ["completions", ADMIN_KEY]}},
            "config: org_defaults.streams[1]: unknown stream (choose from completions, ",
            id="key as a stream",
        ),
        pytest.param(
            {"org_defaults": {"defaults": {"group_by": ["project_id", ADMIN_KEY]}}},
            "config: org_defaults.defaults: group_by: one of the names is not a dimension of "
            "any stream (choose from ",
            id="key as a dimension",
        ),
        pytest.param(
            {"org_defaults": {"overrides": {"embeddings": {"group_by": [ADMIN_KEY]}}}},
            "config: org_defaults.overrides: embeddings.group_by: one of the names is not a "
            "dimension of embeddings (choose from ",
            id="key as a dimension of one stream",
        ),
        pytest.param(
            {"elasticsearch": {"state_index": ADMIN_KEY.upper()}},
            "config: elasticsearch.state_index: invalid index name: use lowercase letters",
            id="key as an index name",
        ),
    ],
)
def test_long_or_key_shaped_input_is_described_not_echoed(
    overrides: dict[str, Any], expected: str
) -> None:
    message = _refused(openai_admin_key=ADMIN_KEY, **overrides)
    assert message.startswith(expected)
    assert "sk-" not in message.lower()
    assert "AAAA" not in message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5x", " '5x'"),
        ("five minutes", " 'five minutes'"),
        ("x" * 22, " '" + "x" * 22 + "'"),
        ("x" * 23, ""),
        ("sk-1", ""),
        ("SK-proj-x", ""),
        ("desk-1", " 'desk-1'"),
        (None, " None"),
        (["sk-a"], ""),
    ],
)
def test_shown_quotes_only_short_values_that_are_not_key_shaped(
    value: object, expected: str
) -> None:
    assert shown(value) == expected


# --- the loaded model -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "credentials",
    [{"username": "elastic", "password": PASSWORD}, {"api_key": API_KEY}],
    ids=["basic", "api key"],
)
def test_repr_and_dump_of_loaded_settings_show_no_secret(credentials: dict[str, str]) -> None:
    settings = load_settings(
        openai_admin_key=ADMIN_KEY,
        orgs=[{"name": "a", "admin_key": ADMIN_KEY}, {"name": "b", "admin_key": API_KEY}],
        elasticsearch={"url": "https://es.example.com:9200", **credentials},
        kibana_url="https://kibana.example.com",
    )
    dumped = settings.model_dump()
    assert dumped["elasticsearch"]["url"] == "https://es.example.com:9200"
    texts = (repr(settings), str(settings), repr(dumped), settings.model_dump_json())
    leaks = [
        secret for text in texts for secret in (ADMIN_KEY, PASSWORD, API_KEY) if secret in text
    ]
    assert leaks == []
