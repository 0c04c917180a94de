"""Settings: one frozen, validated model built from every place configuration can come from.

`load_settings` reads keyword arguments, the environment, the `POLLER_CONFIG` file and a
secrets directory, in that order of precedence (`_sources`), into `Settings` (`_model`, with the
per-org and per-stream sections in `_orgs`), validated by the value types of `_validate`; any
problem is one `ConfigError` line (`_load`) that never shows a secret. What loads but is likely
a mistake is a warning of the `poller.settings` logger: an unknown or misspelled environment
variable (`_env_names`), credentials over plain `http://` (`_plain_http`). Every setting is
listed in docs/configuration.md, which `python -m poller.settings.reference` generates from the
model.

Nothing here imports a sink or a backend: every command loads settings, and most never touch
Elasticsearch.
"""

from __future__ import annotations

from poller.defaults import DEFAULT_BASE_URL
from poller.settings._ha import HaSettings
from poller.settings._load import load_settings, secret_values
from poller.settings._model import ElasticsearchSettings, MetricsSettings, Settings
from poller.settings._orgs import (
    OrgDefaults,
    OrgSettings,
    RetrySettings,
    StreamConfig,
    StreamSettings,
)
from poller.settings._setup import AlertSettings, RetentionSettings, SetupSettings
from poller.settings._validate import parse_duration

__all__ = [
    "DEFAULT_BASE_URL",
    "AlertSettings",
    "ElasticsearchSettings",
    "HaSettings",
    "MetricsSettings",
    "OrgDefaults",
    "OrgSettings",
    "RetentionSettings",
    "RetrySettings",
    "Settings",
    "SetupSettings",
    "StreamConfig",
    "StreamSettings",
    "load_settings",
    "parse_duration",
    "secret_values",
]
