"""Settings that load but are probably a mistake: one warning each from the `poller.settings`
logger, leading with the fix, never with a value."""

from __future__ import annotations

import logging
import re

import pytest

from poller.errors import ConfigError
from poller.settings import Settings, load_settings
from poller.settings._env_names import prefixed_env_names
from poller.settings.reference import render
from poller.streams import STREAM_NAMES

KEY = "sk-admin-unit-test-key-0001"
VALUE = "value-that-must-not-be-printed-1e5b"

HTTP_FIX = "use https://, or set POLLER_ALLOW_INSECURE_HTTP=true on a trusted network"
ADMIN_KEY_NOTE = "; the poller needs an organization admin key, sk-admin-..., not a project API key"


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    assert all(
        (name, level) == ("poller.settings", logging.WARNING)
        for name, level, _ in caplog.record_tuples
    ), caplog.record_tuples
    return [message for _, _, message in caplog.record_tuples]


# --- credentials over plain http:// -----------------------------------------------------------


def test_plain_http_with_credentials_warns_once_per_setting(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://openai-proxy.internal/v1")
    monkeypatch.setenv("ELASTICSEARCH_URL", "http://es.internal:9200")
    monkeypatch.setenv("ELASTICSEARCH_API_KEY", VALUE)
    monkeypatch.setenv("KIBANA_URL", "http://kibana.internal:5601")
    orgs = [
        {"name": "a", "admin_key": KEY},
        {"name": "b", "admin_key": KEY},
        {"name": "c", "admin_key": KEY, "base_url": "http://10.1.2.3/v1"},
        {"name": "d", "admin_key": KEY, "base_url": "https://api.openai.com/v1"},
    ]
    load_settings(orgs=orgs)
    assert _warnings(caplog) == [
        f"config: openai_base_url: {HTTP_FIX}: plain http:// sends the admin key unencrypted",
        f"config: orgs[2].base_url: {HTTP_FIX}: plain http:// sends the admin key unencrypted",
        f"config: elasticsearch.url: {HTTP_FIX}: plain http:// sends the Elasticsearch "
        "credentials unencrypted",
        f"config: kibana_url: {HTTP_FIX}: plain http:// sends the Elasticsearch credentials "
        "unencrypted",
    ]


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "[::1]", "localhost", "LOCALHOST"])
def test_plain_http_to_loopback_does_not_warn(host: str, caplog: pytest.LogCaptureFixture) -> None:
    load_settings(
        openai_admin_key=KEY,
        openai_base_url=f"http://{host}:8080/v1",
        elasticsearch={"url": f"http://{host}:9200", "username": "elastic", "password": VALUE},
        kibana_url=f"http://{host}:5601",
    )
    assert _warnings(caplog) == []


def test_allow_insecure_http_silences_the_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("POLLER_ALLOW_INSECURE_HTTP", "true")
    settings = load_settings(
        openai_admin_key=KEY,
        openai_base_url="http://openai-proxy.internal/v1",
        elasticsearch={"url": "http://es.internal:9200", "api_key": VALUE},
    )
    assert settings.allow_insecure_http is True
    assert _warnings(caplog) == []


def test_plain_http_without_credentials_does_not_warn(caplog: pytest.LogCaptureFixture) -> None:
    """No org, no Elasticsearch credentials: nothing to leak (`setup` against an open cluster)."""
    settings = load_settings(
        require_orgs=False,
        openai_base_url="http://openai-proxy.internal/v1",
        elasticsearch={"url": "http://es.internal:9200"},
        kibana_url="http://kibana.internal:5601",
    )
    assert settings.allow_insecure_http is False
    assert _warnings(caplog) == []


# --- unknown and misspelled variables ---------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "POLLER_INTERVAL",
            "did you mean POLLER_ORG_DEFAULTS__DEFAULTS__INTERVAL? (not a setting)",
        ),
        ("POLLER_ELASTICSEARCH_URL", "did you mean POLLER_ELASTICSEARCH__URL? (not a setting)"),
        ("poller_metrics_port", "did you mean POLLER_METRICS__PORT? (not a setting)"),
        ("POLLER_LOGLEVEL", "did you mean POLLER_LOG_LEVEL? (not a setting)"),
        ("POLLER_SHUTDOWN_TIMOUT", "did you mean POLLER_SHUTDOWN_TIMEOUT? (not a setting)"),
        (
            "POLLER_OPENAI_API_KEY",
            f"did you mean POLLER_OPENAI_ADMIN_KEY? (not a setting{ADMIN_KEY_NOTE})",
        ),
        ("POLLER_FROBNICATE", "not a setting (docs/configuration.md lists every setting)"),
        ("ELASTICSEARCH_USER", "did you mean ELASTICSEARCH_USERNAME? (not a setting)"),
        ("ELASTICSEARCH_PASS", "did you mean ELASTICSEARCH_PASSWORD? (not a setting)"),
        ("OPENAI_API_KEY", f"did you mean OPENAI_ADMIN_KEY? (not a setting{ADMIN_KEY_NOTE})"),
        (
            "OPENAI_ADMIN_API_KEY",
            f"did you mean OPENAI_ADMIN_KEY? (not a setting{ADMIN_KEY_NOTE})",
        ),
        ("KIBANA_CA_CERT", "did you mean KIBANA_CA_CERTS? (not a setting)"),
        ("elasticsearch_url", "did you mean ELASTICSEARCH_URL? (not a setting)"),
    ],
)
def test_unknown_variable_warns_with_the_nearest_setting(
    name: str, expected: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(name, VALUE)
    load_settings(require_orgs=False)
    assert _warnings(caplog) == [f"config: {name}: {expected}"]
    assert VALUE not in caplog.text


@pytest.mark.parametrize(
    "name",
    ["OPENAI_ORGANIZATION", "OPENAI_LOG", "ELASTICSEARCH_HOSTS", "KIBANA_BUILDER", "HOME"],
)
def test_other_tools_variables_are_left_alone(
    name: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(name, VALUE)
    load_settings(require_orgs=False)
    assert _warnings(caplog) == []


def test_near_name_is_no_mistake_when_the_real_one_is_set(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An `OPENAI_API_KEY` kept for other tools, next to the admin key the poller reads."""
    monkeypatch.setenv("OPENAI_API_KEY", VALUE)
    monkeypatch.setenv("OPENAI_ADMIN_KEY", KEY)
    load_settings()
    assert _warnings(caplog) == []


def test_empty_variable_counts_as_unset(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("POLLER_INTERVAL", "")
    load_settings(require_orgs=False)
    assert _warnings(caplog) == []


def test_valid_variables_in_any_case_do_not_warn(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OPENAI_ADMIN_KEY", KEY)
    monkeypatch.setenv("poller_metrics__port", "9000")
    monkeypatch.setenv("POLLER_ORG_DEFAULTS__OVERRIDES__AUDIO_SPEECHES__INTERVAL", "10m")
    monkeypatch.setenv("POLLER_ORG_DEFAULTS__RETRY", '{"max_attempts": 3}')
    monkeypatch.setenv("POLLER_ALLOW_INSECURE_HTTP", "false")
    settings = load_settings()
    assert settings.metrics.port == 9000
    assert _warnings(caplog) == []


def test_warning_comes_before_the_error_it_explains(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", VALUE)
    with pytest.raises(ConfigError, match="no organization configured"):
        load_settings()
    assert _warnings(caplog) == [
        f"config: OPENAI_API_KEY: did you mean OPENAI_ADMIN_KEY? (not a setting{ADMIN_KEY_NOTE})"
    ]


def test_unknown_name_inside_a_section_warns_then_fails(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Pydantic reads it into the section, which refuses it: the warning says what was meant."""
    monkeypatch.setenv("POLLER_ORG_DEFAULTS__OVERRIDES__COST__INTERVAL", "2h")
    with pytest.raises(
        ConfigError, match=r"^config: org_defaults\.overrides\.cost: unknown stream"
    ):
        load_settings(require_orgs=False)
    assert _warnings(caplog) == [
        "config: POLLER_ORG_DEFAULTS__OVERRIDES__COST__INTERVAL: did you mean "
        "POLLER_ORG_DEFAULTS__OVERRIDES__COSTS__INTERVAL? (not a setting)"
    ]


def test_several_unknown_variables_warn_in_name_order(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("POLLER_STREAM", "costs")
    monkeypatch.setenv("ELASTICSEARCH_APIKEY", VALUE)
    load_settings(require_orgs=False)
    assert _warnings(caplog) == [
        "config: ELASTICSEARCH_APIKEY: did you mean ELASTICSEARCH_API_KEY? (not a setting)",
        "config: POLLER_STREAM: did you mean POLLER_ORG_DEFAULTS__STREAMS? (not a setting)",
    ]


def test_known_names_are_those_of_the_reference() -> None:
    """The variables no warning is given for are those the reference documents, each
    `<STREAM>` read as every stream, and one stream's section (as the reference says every
    section may be given whole)."""
    documented = set(re.findall(r"`(POLLER_[A-Z_<>]+)`", render())) - {"POLLER_<KEY>"}
    expected = {name for name in documented if "<STREAM>" not in name}
    for stream in STREAM_NAMES:
        expected.add(f"POLLER_ORG_DEFAULTS__OVERRIDES__{stream.upper()}")
        expected |= {name.replace("<STREAM>", stream.upper()) for name in documented}
    assert set(prefixed_env_names(Settings)) == expected
    assert len(expected) == 72 + 17 * 8  # 72 outside `overrides`, 8 in it for each stream
