"""The whole configuration: one frozen, validated model over every source of `_sources`.

Without `orgs`, one org called "default" is built from `OPENAI_ADMIN_KEY`. Every field carries
an operator's description, which `poller.settings.reference` renders into
docs/configuration.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from poller.defaults import DEFAULT_BASE_URL, DEFAULT_DEADLETTER_INDEX, DEFAULT_STATE_INDEX
from poller.errors import ConfigError
from poller.settings._ha import HaSettings
from poller.settings._orgs import OrgDefaults, OrgSettings
from poller.settings._setup import AlertSettings, SetupSettings
from poller.settings._sources import (
    default_secrets_dir,
    default_store_path,
    expand_orgs,
    ordered_sources,
)
from poller.settings._validate import (
    CaFile,
    Duration,
    ElasticsearchUrl,
    Frozen,
    IndexName,
    LogFormat,
    LogLevel,
    OpenAIUrl,
    PositiveDuration,
    Secret,
    shown,
    shown_default,
)

__all__ = ["MIN_DEADLETTER_RETENTION", "ElasticsearchSettings", "MetricsSettings", "Settings"]

# A week covers a long weekend and the time to notice, fix and replay a mapping problem.
MIN_DEADLETTER_RETENTION = timedelta(days=7)


class ElasticsearchSettings(Frozen):
    """Where documents go; without `url` they go to the embedded store."""

    url: ElasticsearchUrl | None = Field(
        default=None,
        description="The Elasticsearch cluster documents are written to; unset, they go to "
        "the embedded store (`store_path`).",
    )
    api_key: Secret | None = Field(
        default=None,
        description="API key for Elasticsearch (and Kibana): the encoded key, or `id:key`. "
        "Give this or `username` and `password`, not both.",
    )
    username: str | None = Field(
        default=None,
        description="User for basic authentication to Elasticsearch (and Kibana); needs "
        "`password`.",
    )
    password: Secret | None = Field(
        default=None, description="Password of `username`; needs `username`."
    )
    ca_certs: CaFile | None = Field(
        default=None,
        description="PEM file of the CA certificates that verify the cluster's TLS certificate; "
        "it must exist. Unset, the system's CAs are used.",
    )
    timeout: PositiveDuration = Field(
        default=timedelta(seconds=30),
        description="Timeout of one whole request to Elasticsearch, from connecting to the "
        "last byte of the answer.",
    )
    # Separate deployments on one cluster need their own cursors and dead letters.
    state_index: IndexName = Field(
        default=DEFAULT_STATE_INDEX,
        description="Index of the cursors (how far each org's streams are collected). "
        "Deployments sharing a cluster each need their own.",
    )
    deadletter_index: IndexName = Field(
        default=DEFAULT_DEADLETTER_INDEX,
        description="Index of the dead letters: documents Elasticsearch refused, and API items "
        "no document could be built from. Deployments sharing a cluster each need their own.",
    )

    @model_validator(mode="after")
    def _one_way_to_authenticate(self) -> ElasticsearchSettings:
        if (self.username is None) != (self.password is None):
            raise ValueError("set both username and password, or neither")
        if self.api_key is not None and self.username is not None:
            raise ValueError("set either api_key or username and password, not both")
        return self


class MetricsSettings(Frozen):
    """The /metrics, /healthz and /readyz server. Loopback by default; 0.0.0.0 in a pod."""

    enabled: bool = Field(
        default=True, description="Serve the metrics and health endpoints while `run` runs."
    )
    host: str = Field(
        default="127.0.0.1",
        description="Address to listen on: loopback by default; `0.0.0.0` where a scraper or "
        "probe reaches it from outside, as in a pod.",
    )
    port: int = Field(
        default=9464, ge=0, le=65535, description="TCP port to listen on; `0` picks a free one."
    )


class Settings(BaseSettings):
    """Everything the poller is configured with. Frozen: build a new one to change it."""

    model_config = SettingsConfigDict(
        env_prefix="POLLER_",
        env_nested_delimiter="__",
        env_ignore_empty=True,
        case_sensitive=False,
        extra="forbid",
        frozen=True,
        hide_input_in_errors=True,
    )

    config: Path | None = Field(
        default=None,
        description="YAML (`.yaml`, `.yml`) or TOML (`.toml`) file of settings, under the keys "
        "of this reference. Only from the environment: the file cannot name another.",
    )
    secrets_dir: Path | None = Field(
        default_factory=default_secrets_dir,
        description="Directory of secret files, each named like its environment variable "
        "(`OPENAI_ADMIN_KEY`, `ELASTICSEARCH_PASSWORD`, ...) and holding the value; also where "
        "`admin_key_credential` files are read. Point it at a mounted Kubernetes secret.",
        json_schema_extra=shown_default(
            "`$CREDENTIALS_DIRECTORY` (systemd's `LoadCredential=`) when set"
        ),
    )
    openai_admin_key: Secret | None = Field(
        default=None,
        description="Admin key (`sk-admin-...`) of the one org called `default`, used only when "
        "`orgs` is empty.",
    )
    openai_base_url: OpenAIUrl = Field(
        default=DEFAULT_BASE_URL,
        description="Base URL of OpenAI's API for every org that sets no `base_url`.",
    )
    org_defaults: OrgDefaults = Field(
        default=OrgDefaults(),
        description="What every org inherits unless it sets its own: the implicit `default` org "
        "and each entry of `orgs`.",
    )
    orgs: tuple[OrgSettings, ...] = Field(
        default=(),
        description="The OpenAI organizations to poll, each with its own admin key. Unset, "
        "`openai_admin_key` makes one org called `default`.",
    )
    elasticsearch: ElasticsearchSettings = Field(
        default=ElasticsearchSettings(),
        description="Where documents go: an Elasticsearch cluster, or without `url` the "
        "embedded store.",
    )
    store_path: Path = Field(
        default_factory=default_store_path,
        description="SQLite file of the embedded store, used when `elasticsearch.url` is unset.",
        json_schema_extra=shown_default(
            "`openai-poller.sqlite3` in `$STATE_DIRECTORY` "
            "(systemd's `StateDirectory=`) when set, else in the working "
            "directory"
        ),
    )
    kibana_url: ElasticsearchUrl | None = Field(
        default=None,
        description="Kibana, where `setup` also imports the dashboards and alert rules; "
        "it authenticates with setup's credentials (`setup.elasticsearch_api_key`, else the "
        "Elasticsearch ones).",
    )
    kibana_ca_certs: CaFile | None = Field(
        default=None,
        description="PEM file of the CA certificates that verify Kibana's TLS certificate; it "
        "must exist. Set it when Kibana's certificate comes from another CA than the "
        "cluster's.",
        json_schema_extra=shown_default(
            "`elasticsearch.ca_certs` (unset too: the system's CAs are used)"
        ),
    )
    allow_insecure_http: bool = Field(
        default=False,
        description="Send credentials over plain `http://` to OpenAI, Elasticsearch or Kibana "
        "without a warning, on a network trusted not to read them. Loopback addresses "
        "(`localhost`, `127.0.0.0/8`, `::1`) never warn.",
    )
    setup: SetupSettings = Field(
        default=SetupSettings(),
        description="What `setup` installs beyond the defaults (ILM, retention, the Kibana "
        "space) and the credentials it does so with.",
    )
    alerts: AlertSettings = Field(
        default=AlertSettings(),
        description="Thresholds of the Kibana alert rules `setup` creates. A rule already in "
        "Kibana keeps the thresholds it has there; `setup --reset-rules` applies these.",
    )
    auto_setup: bool = Field(
        default=False,
        description="Let `run` and `backfill` install the templates, lifecycle and ingest "
        "pipeline (as `setup` does, without Kibana) when they find them missing, instead of "
        "stopping. Off by default: installing templates needs privileges a writer should not "
        "hold, and a careful operator reviews `setup --dry-run` and installs them deliberately; "
        "writing without them would create data streams with dynamic mappings that only a "
        "rollover can fix.",
    )
    metrics: MetricsSettings = Field(
        default=MetricsSettings(),
        description="The HTTP server of `run` for Prometheus (`/metrics`) and the liveness "
        "and readiness probes (`/healthz`, `/readyz`).",
    )
    ha: HaSettings = Field(
        default=HaSettings(),
        description="Several replicas of `run` on one sink: leases share the orgs among them.",
    )
    log_format: LogFormat = Field(
        default="auto",
        description="Log lines on stderr as `json` (ECS) or `text`; `auto` is text on a "
        "terminal and JSON otherwise.",
    )
    log_level: LogLevel = Field(
        default="INFO", description="Least severe level logged, in any case (`debug` works)."
    )
    jitter: Duration = Field(
        default=timedelta(seconds=10),
        description="Each scheduled poll starts up to this much later, at random, so that "
        "streams and orgs do not all call OpenAI at the same moment.",
    )
    shutdown_timeout: PositiveDuration = Field(
        default=timedelta(seconds=30),
        description="After SIGTERM or SIGINT, how long `run` waits for running polls to "
        "commit and stop; past it, it exits 1 without them.",
    )
    deadletter_retention: PositiveDuration = Field(
        default=timedelta(days=90),
        description="How long a dead letter (a document the sink refused, or an API item no "
        "document could be built from) is kept after it was last refused, to be looked at and "
        "replayed; `run` deletes older ones when it starts and once a day, in Elasticsearch "
        "and the embedded store alike. At least 7 days. Cursors (the state) are never deleted.",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return ordered_sources(settings_cls, init_settings, env_settings)

    @model_validator(mode="before")
    @classmethod
    def _expand_orgs(cls, data: Any) -> Any:
        """Build the implicit "default" org, and give every org the shared `org_defaults`."""
        return expand_orgs(data) if isinstance(data, dict) else data

    @model_validator(mode="before")
    @classmethod
    def _kibana_trusts_the_cluster_cas(cls, data: Any) -> Any:
        """Kibana usually sits behind the cluster's CA: `kibana_ca_certs` defaults to
        `elasticsearch.ca_certs`, from whichever source that came."""
        if not isinstance(data, dict) or data.get("kibana_ca_certs") is not None:
            return data
        es = data.get("elasticsearch")
        ca_certs = es.get("ca_certs") if isinstance(es, Mapping) else getattr(es, "ca_certs", None)
        return data if ca_certs is None else {**data, "kibana_ca_certs": ca_certs}

    @field_validator("deadletter_retention")
    @classmethod
    def _long_enough_to_replay(cls, value: timedelta) -> timedelta:
        if value < MIN_DEADLETTER_RETENTION:
            raise ValueError("must be at least 7d, so that dead letters can be replayed")
        return value

    @field_validator("orgs")
    @classmethod
    def _unique_org_names(cls, orgs: tuple[OrgSettings, ...]) -> tuple[OrgSettings, ...]:
        seen: set[str] = set()
        for org in orgs:
            if org.name in seen:
                raise ValueError(f"duplicate org name{shown(org.name)}")
            seen.add(org.name)
        return orgs

    def neighbours(self, name: str) -> frozenset[str]:
        """The organization ids of the other orgs writing the same namespace as org `name`:
        their documents in its data streams are theirs, not a sign that its own
        `organization_id` changed (`poller.rebuild`)."""
        own = self.org(name)
        return frozenset(
            org.organization_id or org.name
            for org in self.orgs
            if org.name != name and org.namespace == own.namespace
        )

    def org(self, name: str) -> OrgSettings:
        """The org called `name`; a ConfigError names the configured ones."""
        for org in self.orgs:
            if org.name == name:
                return org
        names = ", ".join(org.name for org in self.orgs) or "none"
        raise ConfigError(f"config: unknown org {name!r} (configured: {names})")
