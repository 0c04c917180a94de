"""Settings: sources and their precedence, several orgs, and their resolved stream settings."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError
from settings_files import make_secrets, write_file

from poller.errors import ConfigError
from poller.settings import (
    DEFAULT_BASE_URL,
    ElasticsearchSettings,
    load_settings,
    secret_values,
)
from poller.streams import STREAM_NAMES, BucketWidth

KEY = "sk-admin-unit-test-key-0001"

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
    secrets = make_secrets(
        tmp_path,
        OPENAI_ADMIN_KEY="sk-admin-from-secrets-dir",
        ELASTICSEARCH_URL="http://secrets:9200",
    )
    config = write_file(
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
    secrets = make_secrets(tmp_path, OPENAI_ADMIN_KEY=KEY, ELASTICSEARCH_API_KEY="es-api-key-value")
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
    config = write_file(tmp_path / f"poller{suffix}", text)
    secrets = make_secrets(tmp_path, OPENAI_ADMIN_KEY_ACME="sk-admin-acme-from-file")
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
        "poller:hunter2-pw",  # the pair a Basic header encodes
        "hunter2-pw",
    )


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


# --- Kibana's CA certificates ---------------------------------------------------------------------


def test_kibana_trusts_the_elasticsearch_cas_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cluster_ca = write_file(tmp_path / "cluster-ca.pem", "cluster")
    kibana_ca = write_file(tmp_path / "kibana-ca.pem", "kibana")
    assert load_settings(require_orgs=False).kibana_ca_certs is None
    monkeypatch.setenv("ELASTICSEARCH_CA_CERTS", str(cluster_ca))
    assert load_settings(require_orgs=False).kibana_ca_certs == cluster_ca
    from_file = write_file(tmp_path / "poller.yaml", f"kibana_ca_certs: {kibana_ca}\n")
    monkeypatch.setenv("POLLER_CONFIG", str(from_file))
    assert load_settings(require_orgs=False).kibana_ca_certs == kibana_ca
    monkeypatch.setenv("KIBANA_CA_CERTS", str(cluster_ca))
    assert load_settings(require_orgs=False).kibana_ca_certs == cluster_ca


def test_kibana_ca_certs_from_keyword_arguments_and_the_secrets_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cluster_ca = write_file(tmp_path / "cluster-ca.pem", "cluster")
    kibana_ca = write_file(tmp_path / "kibana-ca.pem", "kibana")
    es = ElasticsearchSettings(ca_certs=cluster_ca)
    assert load_settings(require_orgs=False, elasticsearch=es).kibana_ca_certs == cluster_ca
    monkeypatch.setenv(
        "POLLER_SECRETS_DIR", str(make_secrets(tmp_path, KIBANA_CA_CERTS=str(kibana_ca)))
    )
    assert load_settings(require_orgs=False, elasticsearch=es).kibana_ca_certs == kibana_ca


def test_kibana_ca_certs_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(require_orgs=False, kibana_ca_certs=tmp_path / "missing.pem")
    assert str(caught.value) == f"config: kibana_ca_certs: no such file '{tmp_path}/missing.pem'"


def test_missing_elasticsearch_ca_is_reported_once(tmp_path: Path) -> None:
    """Inherited by Kibana, the same missing file is one problem, not two."""
    with pytest.raises(ConfigError) as caught:
        load_settings(require_orgs=False, elasticsearch={"ca_certs": tmp_path / "missing.pem"})
    assert str(caught.value) == (
        f"config: elasticsearch.ca_certs: no such file '{tmp_path}/missing.pem'"
    )
