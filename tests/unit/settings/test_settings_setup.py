"""`setup`, `alerts` and `auto_setup`: what operators could only set from Python before (retention,
ILM, the Kibana space, every rule threshold) and setup's own credentials, from every source."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest
from settings_files import write_file

from poller.assets import RETENTION, load_assets
from poller.errors import ConfigError
from poller.settings import AlertSettings, load_settings, secret_values

SECRET = "setup-key-must-never-be-printed-77"


def test_every_rule_parameter_is_a_setting_with_the_rules_own_default() -> None:
    """A rule whose threshold no setting fills could only be changed from Python again."""
    rules = load_assets().rules
    defaults = {rule.slug: dict(rule.parameters) for rule in rules if rule.parameters}
    assert AlertSettings().rule_parameters() == defaults
    assert AlertSettings().rule_parameters()["monthly-budget"] == {"budget_usd": 1000}


def test_retention_defaults_are_those_of_the_shipped_templates() -> None:
    settings = load_settings(require_orgs=False)
    retention = settings.setup.retention
    assert {"metrics": retention.metrics, "audit": retention.audit} == {
        "metrics": timedelta(days=400),
        "audit": timedelta(days=730),
    }
    assert RETENTION == {"metrics": "400d", "audit": "730d"}
    assert settings.setup.ilm is False
    assert settings.setup.kibana_space is None
    assert settings.auto_setup is False


def test_thresholds_and_retention_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLLER_ALERTS__MONTHLY_BUDGET_USD", "5000")
    monkeypatch.setenv("POLLER_ALERTS__SPEND_SPIKE_FACTOR", "2.5")
    monkeypatch.setenv("POLLER_ALERTS__RATE_LIMIT_UTILIZATION", "0.9")
    monkeypatch.setenv("POLLER_ALERTS__FAILED_LOGIN_BURST_SIZE", "10")
    monkeypatch.setenv("POLLER_SETUP__RETENTION__AUDIT", "3650d")
    monkeypatch.setenv("POLLER_SETUP__ILM", "true")
    monkeypatch.setenv("POLLER_AUTO_SETUP", "true")
    settings = load_settings(require_orgs=False)
    parameters = settings.alerts.rule_parameters()
    assert parameters["monthly-budget"] == {"budget_usd": 5000}
    assert isinstance(parameters["monthly-budget"]["budget_usd"], int)  # renders as 5000
    assert parameters["spend-spike"] == {"spike_factor": 2.5, "min_daily_usd": 50}
    assert parameters["rate-limit-headroom"] == {"utilization": 0.9}
    assert parameters["failed-login-burst"] == {"min_failures": 10}
    assert settings.setup.retention.audit == timedelta(days=3650)
    assert settings.setup.retention.metrics == timedelta(days=400)
    assert settings.setup.ilm is True
    assert settings.auto_setup is True


def test_sections_from_a_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_file(
        tmp_path / "config.yaml",
        "setup:\n"
        "  kibana_space: finance\n"
        "  retention: {metrics: 90d}\n"
        "alerts:\n"
        "  monthly_budget_usd: 12000.5\n"
        "  high_total_tokens: 250000\n",
    )
    monkeypatch.setenv("POLLER_CONFIG", str(config))
    settings = load_settings(require_orgs=False)
    assert settings.setup.kibana_space == "finance"
    assert settings.setup.retention.metrics == timedelta(days=90)
    parameters = settings.alerts.rule_parameters()
    assert parameters["monthly-budget"] == {"budget_usd": 12000.5}
    assert parameters["high-total-tokens"] == {"threshold": 250000}


def test_setup_credentials_are_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLLER_SETUP__ELASTICSEARCH_API_KEY", SECRET)
    settings = load_settings(require_orgs=False)
    assert settings.setup.elasticsearch_api_key is not None
    assert settings.setup.elasticsearch_api_key.get_secret_value() == SECRET
    assert SECRET in secret_values(settings)
    assert SECRET not in repr(settings)


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        (
            {"POLLER_ALERTS__MONTHLY_BUDGET_USD": "-1"},
            "config: alerts.monthly_budget_usd: Input should be greater than or equal to 0",
        ),
        (
            {"POLLER_ALERTS__RATE_LIMIT_UTILIZATION": "1.5"},
            "config: alerts.rate_limit_utilization: Input should be less than or equal to 1",
        ),
        (
            {"POLLER_ALERTS__SPEND_SPIKE_FACTOR": "0"},
            "config: alerts.spend_spike_factor: Input should be greater than 0",
        ),
        (
            {"POLLER_ALERTS__ADMIN_KEY_CREATED_MIN_EVENTS": "0"},
            "config: alerts.admin_key_created_min_events: Input should be greater than or "
            "equal to 1",
        ),
        (
            {"POLLER_ALERTS__HIGH_TOTAL_TOKENS": "1e400"},
            "config: alerts.high_total_tokens: Input should be a valid integer, unable to parse "
            "string as an integer",
        ),
        (
            {"POLLER_ALERTS__MONTHLY_BUDGET_USD": "nan"},
            "config: alerts.monthly_budget_usd: Input should be a finite number",
        ),
        (
            {"POLLER_SETUP__RETENTION__METRICS": "0d"},
            "config: setup.retention.metrics: must be longer than zero",
        ),
        (
            {"POLLER_SETUP__KIBANA_SPACE": "../admin"},
            "config: setup.kibana_space: invalid Kibana space id '../admin': use a-z, 0-9, "
            "'_' or '-'",
        ),
        (
            {"POLLER_SETUP__ELASTICSEARCH_USERNAME": "admin"},
            "config: setup: set both elasticsearch_username and elasticsearch_password, or "
            "neither",
        ),
        (
            {
                "POLLER_SETUP__ELASTICSEARCH_API_KEY": SECRET,
                "POLLER_SETUP__ELASTICSEARCH_USERNAME": "admin",
                "POLLER_SETUP__ELASTICSEARCH_PASSWORD": SECRET,
            },
            "config: setup: set either elasticsearch_api_key or elasticsearch_username and "
            "password, not both",
        ),
    ],
)
def test_bad_values_are_one_line_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], message: str
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings(require_orgs=False)
    assert str(caught.value) == message
    assert SECRET not in str(caught.value)


def test_setup_credentials_over_plain_http_warn(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """setup sends its own key to the cluster and to Kibana: the same warning as the daemon's."""
    monkeypatch.setenv("ELASTICSEARCH_URL", "http://es.internal:9200")
    monkeypatch.setenv("KIBANA_URL", "http://kibana.internal:5601")
    monkeypatch.setenv("POLLER_SETUP__ELASTICSEARCH_API_KEY", SECRET)
    with caplog.at_level(logging.WARNING, logger="poller.settings"):
        load_settings(require_orgs=False)
    assert [message.split(":")[1].strip() for message in caplog.messages] == [
        "elasticsearch.url",
        "kibana_url",
    ]
    assert all("sends the Elasticsearch credentials unencrypted" in m for m in caplog.messages)
