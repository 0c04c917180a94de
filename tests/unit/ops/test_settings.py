"""Settings: sources and their precedence, several orgs, and one clear line per mistake."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from poller.errors import ConfigError
from poller.settings import (
    DEFAULT_BASE_URL,
    Settings,
    load_settings,
    parse_duration,
    secret_values,
)
from poller.streams import STREAM_NAMES, BucketWidth

KEY = "sk-admin-unit-test-key-0001"


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _secrets(tmp_path: Path, **files: str) -> Path:
    directory = tmp_path / "secrets"
    directory.mkdir(exist_ok=True)
    for name, value in files.items():
        (directory / name).write_text(value + "\n", encoding="utf-8")
    return directory


# --- defaults and the implicit org --------------------------------------------------------------


def test_admin_key_alone_makes_one_default_org_with_every_stream(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_ADMIN_KEY", KEY)
    settings = load_settings()
    (org,) = settings.orgs
    assert org.name == "default"
    assert org.admin_key.get_secret_value() == KEY
    assert org.base_url == DEFAULT_BASE_URL
    assert org.namespace == "default"
    assert org.streams == STREAM_NAMES
    assert settings.elasticsearch.url is None  # the embedded store
    assert settings.store_path == Path("openai-poller.sqlite3")
    assert (settings.metrics.host, settings.metrics.port) == ("127.0.0.1", 9464)
    assert settings.shutdown_timeout == timedelta(seconds=30)


def test_resolved_stream_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_ADMIN_KEY", KEY)
    org = load_settings().orgs[0]
    completions, costs, audit = org.stream("completions"), org.stream("costs"), org.stream("audit")
    assert completions.bucket_width is BucketWidth.MINUTE
    assert completions.group_by == completions.spec.usage.dimensions  # type: ignore[union-attr]
    assert completions.interval == timedelta(minutes=5)
    assert completions.initial_interval == timedelta(hours=24)
    assert completions.settlement_grace == timedelta(minutes=2)
    assert completions.settlement_window == timedelta(hours=1)
    assert costs.bucket_width is BucketWidth.DAY
    assert costs.settlement_window == timedelta(days=3)
    assert audit.overlap == timedelta(minutes=5)
    assert audit.group_by == ()
    assert [config.name for config in org.stream_configs()] == list(STREAM_NAMES)


def test_state_directory_holds_the_embedded_store(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("STATE_DIRECTORY", f"{tmp_path}:/elsewhere")
    settings = load_settings(openai_admin_key=KEY)
    assert settings.store_path == tmp_path / "openai-poller.sqlite3"


def test_no_key_is_allowed_only_when_orgs_are_not_required() -> None:
    assert load_settings(require_orgs=False).orgs == ()
    with pytest.raises(ConfigError, match="no organization configured"):
        load_settings()


def test_settings_are_frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(openai_admin_key=KEY)
    with pytest.raises(ValidationError):
        settings.log_level = "DEBUG"


# --- precedence ---------------------------------------------------------------------------------


@pytest.fixture
def every_source(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The same two settings from the secrets dir, the config file and the environment."""
    secrets = _secrets(
        tmp_path,
        OPENAI_ADMIN_KEY="sk-admin-from-secrets-dir",
        ELASTICSEARCH_URL="http://secrets:9200",
    )
    config = _write(
        tmp_path / "poller.yaml",
        "openai_admin_key: sk-admin-from-config-file\nelasticsearch:\n  url: http://file:9200\n",
    )
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(secrets))
    monkeypatch.setenv("POLLER_CONFIG", str(config))
    return tmp_path


def test_config_file_beats_secrets_dir(every_source: Path) -> None:
    settings = load_settings()
    assert settings.elasticsearch.url == "http://file:9200"
    assert settings.orgs[0].admin_key.get_secret_value() == "sk-admin-from-config-file"


def test_environment_beats_config_file(every_source: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELASTICSEARCH_URL", "http://env:9200")
    monkeypatch.setenv("OPENAI_ADMIN_KEY", "sk-admin-from-environment")
    settings = load_settings()
    assert settings.elasticsearch.url == "http://env:9200"
    assert settings.orgs[0].admin_key.get_secret_value() == "sk-admin-from-environment"


def test_keyword_arguments_beat_environment(
    every_source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ELASTICSEARCH_URL", "http://env:9200")
    settings = load_settings(elasticsearch={"url": "http://kwargs:9200"})
    assert settings.elasticsearch.url == "http://kwargs:9200"


def test_secrets_dir_alone_supplies_secrets(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secrets = _secrets(tmp_path, OPENAI_ADMIN_KEY=KEY, ELASTICSEARCH_API_KEY="es-api-key-value")
    monkeypatch.setenv("POLLER_SECRETS_DIR", str(secrets))
    settings = load_settings()
    assert settings.orgs[0].admin_key.get_secret_value() == KEY  # trailing newline stripped
    assert settings.elasticsearch.api_key == SecretStr("es-api-key-value")


def test_prefixed_variables_reach_nested_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_ADMIN_KEY", KEY)
    monkeypatch.setenv("POLLER_ELASTICSEARCH__TIMEOUT", "45s")
    monkeypatch.setenv("POLLER_METRICS__PORT", "9000")
    monkeypatch.setenv("POLLER_LOG_LEVEL", "debug")
    monkeypatch.setenv("POLLER_ORG_DEFAULTS__STREAMS", "costs, audit")
    monkeypatch.setenv("POLLER_ORG_DEFAULTS__OVERRIDES__COSTS__INTERVAL", "2h")
    settings = load_settings()
    assert settings.elasticsearch.timeout == timedelta(seconds=45)
    assert settings.metrics.port == 9000
    assert settings.log_level == "DEBUG"
    assert settings.orgs[0].streams == ("costs", "audit")
    assert settings.orgs[0].stream("costs").interval == timedelta(hours=2)


# --- several orgs -------------------------------------------------------------------------------

MULTI_ORG_YAML = """
org_defaults:
  namespace: shared
  defaults: {interval: 10m}
  overrides:
    costs: {settlement_window: 2d}
orgs:
  - name: acme
    admin_key_credential: OPENAI_ADMIN_KEY_ACME
    streams: [completions, costs]
    overrides:
      completions: {bucket_width: 1h, group_by: [project_id, model]}
  - name: globex
    admin_key: sk-admin-globex-inline-key
    base_url: http://localhost:8080/v1/
    namespace: globex
    defaults: {interval: 1m}
"""

MULTI_ORG_TOML = """
[org_defaults]
namespace = "shared"
defaults = { interval = "10m" }
overrides = { costs = { settlement_window = "2d" } }

[[orgs]]
name = "acme"
admin_key_credential = "OPENAI_ADMIN_KEY_ACME"
streams = ["completions", "costs"]
overrides = { completions = { bucket_width = "1h", group_by = ["project_id", "model"] } }

[[orgs]]
name = "globex"
admin_key = "sk-admin-globex-inline-key"
base_url = "http://localhost:8080/v1/"
namespace = "globex"
defaults = { interval = 60 }
"""


@pytest.mark.parametrize(("suffix", "text"), [(".yaml", MULTI_ORG_YAML), (".toml", MULTI_ORG_TOML)])
def test_several_orgs_from_a_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str, text: str
) -> None:
    config = _write(tmp_path / f"poller{suffix}", text)
    secrets = _secrets(tmp_path, OPENAI_ADMIN_KEY_ACME="sk-admin-acme-from-file")
    monkeypatch.setenv("POLLER_CONFIG", str(config))
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(secrets))

    acme, globex = load_settings().orgs

    assert acme.admin_key.get_secret_value() == "sk-admin-acme-from-file"
    assert acme.namespace == "shared"  # from org_defaults
    assert acme.streams == ("completions", "costs")
    completions = acme.stream("completions")
    assert completions.bucket_width is BucketWidth.HOUR
    assert completions.group_by == ("project_id", "model")
    assert completions.interval == timedelta(minutes=10)  # org_defaults.defaults
    assert acme.stream("costs").settlement_window == timedelta(days=2)

    assert globex.admin_key.get_secret_value() == "sk-admin-globex-inline-key"
    assert globex.base_url == "http://localhost:8080/v1"
    assert globex.namespace == "globex"
    assert globex.streams == STREAM_NAMES
    assert globex.stream("audit").interval == timedelta(minutes=1)  # its own defaults win
    assert globex.stream("costs").settlement_window == timedelta(days=2)


def test_org_wide_group_by_applies_to_the_dimensions_each_stream_has() -> None:
    settings = load_settings(
        openai_admin_key=KEY, org_defaults={"defaults": {"group_by": "project_id,model"}}
    )
    org = settings.orgs[0]
    assert org.stream("completions").group_by == ("project_id", "model")
    assert org.stream("vector_stores").group_by == ("project_id",)


def test_unknown_org_is_a_config_error() -> None:
    settings = load_settings(openai_admin_key=KEY)
    with pytest.raises(ConfigError, match=r"unknown org 'nope' \(configured: default\)"):
        settings.org("nope")


def test_secret_values_lists_every_secret() -> None:
    settings = load_settings(
        orgs=[
            {"name": "a", "admin_key": "sk-admin-first-org-key"},
            {"name": "b", "admin_key": "sk-admin-second-org-key-longer"},
        ],
        elasticsearch={"url": "http://es:9200", "username": "poller", "password": "hunter2-pw"},
    )
    assert secret_values(settings) == (
        "sk-admin-second-org-key-longer",
        "sk-admin-first-org-key",
        "hunter2-pw",
    )


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
    monkeypatch.setenv("POLLER_CONFIG", str(_write(tmp_path / name, text)))
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
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(_secrets(tmp_path)))
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


def test_state_and_deadletter_indices_are_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_ADMIN_KEY", KEY)
    assert load_settings().elasticsearch.state_index == "openai-poller-state"
    assert load_settings().elasticsearch.deadletter_index == "openai-poller-deadletter"
    monkeypatch.setenv("POLLER_ELASTICSEARCH__STATE_INDEX", "poller-state-eu")
    monkeypatch.setenv("POLLER_ELASTICSEARCH__DEADLETTER_INDEX", "poller-dlq-eu")
    es = load_settings().elasticsearch
    assert (es.state_index, es.deadletter_index) == ("poller-state-eu", "poller-dlq-eu")
    monkeypatch.setenv("POLLER_ELASTICSEARCH__STATE_INDEX", "_State")
    with pytest.raises(ConfigError, match=r"state_index: invalid index name '_State'"):
        load_settings()
