"""Destination settings: one model per type, told apart by `type`, listed per org.

This module imports no backend (no HTTP client, no protobuf), so the settings can include it.
Secrets (`token`, `password`, header values) are `SecretStr`: never printed, never echoed in a
validation error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Final, Literal
from urllib.parse import urlsplit
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    model_validator,
)

from poller.destinations._dimensions import DEFAULT_DIMENSIONS, DIMENSIONS
from poller.streams import STREAM_NAMES, StreamKind

__all__ = [
    "DEFAULT_SOURCETYPES",
    "DeliveryRetry",
    "DestinationSettings",
    "Destinations",
    "LokiSettings",
    "OtlpSettings",
    "PrometheusSettings",
    "RemoteWriteSettings",
    "SplunkHecSettings",
    "name_of",
    "streams_of",
]

DEFAULT_SOURCETYPES: Final = {kind.value: f"openai:{kind.value}" for kind in StreamKind}


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)


def _url(value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("malformed URL: expected http(s)://host[:port][/path]")
    if "@" in parts.netloc:  # never echoed: the password would be in it
        raise ValueError("credentials go in token, token_file or username/password, not the URL")
    return value.strip().rstrip("/")


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise ValueError(f"no such file {str(path)!r}")
    return path


def _streams(names: tuple[str, ...]) -> tuple[str, ...]:
    unknown = [name for name in names if name not in STREAM_NAMES]
    if unknown:
        raise ValueError(f"unknown streams {unknown}: choose from {', '.join(STREAM_NAMES)}")
    return names


def _dimensions(names: tuple[str, ...]) -> tuple[str, ...]:
    unknown = [name for name in names if name not in DIMENSIONS]
    if unknown or len(set(names)) != len(names):
        raise ValueError(f"dimensions must be distinct, from: {', '.join(DIMENSIONS)}")
    return names


def _duration(value: object) -> timedelta:
    """Seconds, or `90s`, `5m`, `1h30m`, as every other duration setting is written."""
    # poller.settings includes these models: importing it at the top would be circular.
    from poller.settings import parse_duration  # noqa: PLC0415

    return parse_duration(value)


Url = Annotated[str, AfterValidator(_url)]
File = Annotated[Path, AfterValidator(_existing)]
Duration = Annotated[timedelta, BeforeValidator(_duration)]
Positive = Annotated[timedelta, BeforeValidator(_duration), Field(gt=timedelta(0))]


class DeliveryRetry(_Section):
    """How one request to a receiver is retried before the batch counts as not acknowledged."""

    attempts: int = Field(
        default=4, ge=1, le=20,
        description="Tries of one request (transport errors, 429, 5xx, a busy Splunk) before "
        "the batch counts as not acknowledged: the cursor stays and the next cycle delivers it "
        "again.",
    )
    backoff: Positive = Field(
        default=timedelta(seconds=1),
        description="Wait before the second try, doubled before each further one.",
    )
    max_backoff: Positive = Field(
        default=timedelta(seconds=30),
        description="Longest wait between tries, also the most a `Retry-After` is honoured.",
    )


class _Common(_Section):
    name: str | None = Field(
        default=None, pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$",
        description="Unique among the org's destinations: the `destination` label of the "
        "poller's metrics about it, and part of its state key. Default: the type.",
    )
    streams: Annotated[tuple[str, ...], AfterValidator(_streams)] | None = Field(
        default=None,
        description="Streams whose documents it takes. Default: every stream (`loki`: "
        "`audit`). Metric destinations count usage and costs documents only.",
    )


class _Counting(_Section):
    dimensions: Annotated[tuple[str, ...], AfterValidator(_dimensions)] = Field(
        default=DEFAULT_DIMENSIONS,
        description=f"Labels (attributes) of the series, from: {', '.join(DIMENSIONS)}. "
        "`org` is the org's name here; the others read the documents (ids, and names beside "
        "them: `project_name`, `user_email`, `api_key_name`).",
    )
    max_series: int = Field(
        default=2000, ge=1,
        description="Cardinality limit: documents that would create a series past it are not "
        "counted, and counted in `openai_poller_series_dropped_total`.",
    )


class _Http(_Section):
    url: Url = Field(description="The receiver's URL (what each type expects is in its "
                     "description).")
    headers: Mapping[str, SecretStr] = Field(
        default_factory=dict,
        description="Extra request headers, e.g. a tenant; values are secrets.",
    )
    ca_file: File | None = Field(
        default=None,
        description="PEM file of the CAs that verify the receiver's certificate; unset, the "
        "system's CAs.",
    )
    client_cert: File | None = Field(
        default=None, description="PEM client certificate for mutual TLS; needs `client_key`."
    )
    client_key: File | None = Field(default=None, description="Key of `client_cert`.")
    timeout: Positive = Field(
        default=timedelta(seconds=10), description="Timeout of one request, whole."
    )
    batch_size: int = Field(
        default=500, ge=1, le=10000,
        description="Documents per request. Each acknowledged request is remembered at once, "
        "so a failure later in a batch never sends the earlier requests again.",
    )
    retry: DeliveryRetry = Field(default_factory=DeliveryRetry, description="Retries.")

    @model_validator(mode="after")
    def _client_pair(self) -> _Http:
        if (self.client_cert is None) != (self.client_key is None):
            raise ValueError("client_cert and client_key go together")
        return self


class _Auth(_Section):
    token: SecretStr | None = Field(
        default=None, description="Bearer token (`Authorization: Bearer ...`)."
    )
    token_file: File | None = Field(
        default=None,
        description="File holding the token (a systemd credential or mounted secret), read at "
        "start; instead of `token`.",
    )
    username: str | None = Field(default=None, description="Basic authentication user.")
    password: SecretStr | None = Field(default=None, description="Password of `username`.")

    @model_validator(mode="after")
    def _one_way(self) -> _Auth:
        if self.token is not None and self.token_file is not None:
            raise ValueError("give token or token_file, not both")
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together")
        if self.username is not None and (self.token or self.token_file):
            raise ValueError("give a token or username/password, not both")
        return self


class PrometheusSettings(_Common, _Counting):
    """Usage and cost counters served on the daemon's `/metrics`, for Prometheus to scrape."""

    type: Literal["prometheus"] = Field(description="The kind of destination: `prometheus`.")
    new_series_hold: Duration = Field(
        default=timedelta(minutes=2),
        description="A new series is shown at 0 this long before its first value, so "
        "Prometheus sees it start from 0 and `increase()` counts the first value too; make it "
        "at least one scrape interval.",
    )


class RemoteWriteSettings(_Common, _Counting, _Http, _Auth):
    """Prometheus remote write 1.0: per-bucket increments, stamped with each bucket's start.
    `url` is the write endpoint, e.g. `http://prometheus:9090/api/v1/write` or Mimir's
    `/api/v1/push`."""

    type: Literal["remote_write"] = Field(description="The kind of destination: `remote_write`.")


class OtlpSettings(_Common, _Counting, _Http):
    """OTLP/HTTP metrics (protobuf): delta sums, one data point per bucket. `url` is the
    metrics endpoint, e.g. `http://collector:4318/v1/metrics`."""

    type: Literal["otlp"] = Field(description="The kind of destination: `otlp`.")
    service_name: str = Field(default="openai-poller", description="Resource `service.name`.")
    resource_attributes: Mapping[str, str] = Field(
        default_factory=dict, description="More resource attributes, e.g. `deployment.environment`."
    )
    gzip: bool = Field(default=True, description="Compress request bodies.")


class LokiSettings(_Common, _Http, _Auth):
    """Grafana Loki's push API: each document is a line (its ECS JSON) under the labels `org`,
    `event_type` and `outcome`. `url` is Loki's base URL (`/loki/api/v1/push` is added)."""

    type: Literal["loki"] = Field(description="The kind of destination: `loki`.")
    tenant: str | None = Field(
        default=None, description="Tenant (`X-Scope-OrgID`) of a multi-tenant Loki."
    )


class SplunkHecSettings(_Common, _Http):
    """Splunk's HTTP Event Collector: each document is an event, at its bucket or event time.
    `url` is the collector's base URL, e.g. `https://splunk:8088`."""

    type: Literal["splunk_hec"] = Field(description="The kind of destination: `splunk_hec`.")
    token: SecretStr | None = Field(default=None, description="The HEC token.")
    token_file: File | None = Field(
        default=None, description="File holding the HEC token; instead of `token`."
    )
    index: str | None = Field(
        default=None, description="Index of the events; unset, the token's default index."
    )
    source: str = Field(default="openai-poller", description="`source` of the events.")
    host: str | None = Field(default=None, description="`host` of the events; unset, Splunk's.")
    sourcetypes: Mapping[str, str] = Field(
        default_factory=dict,
        description="Sourcetype per kind of stream (`usage`, `costs`, `audit`, `rate_limits`); "
        "a kind left out keeps its default: " + ", ".join(DEFAULT_SOURCETYPES.values()) + ".",
    )
    gzip: bool = Field(default=True, description="Compress request bodies.")
    ack: bool = Field(
        default=False,
        description="Indexer acknowledgment (the token must have it on): a batch counts as "
        "delivered only once Splunk says it is indexed.",
    )
    channel: UUID | None = Field(
        default=None, description="Channel of the acknowledgments; unset, a new one per start."
    )
    ack_timeout: Positive = Field(
        default=timedelta(minutes=1),
        description="How long to wait for the acknowledgment before the batch counts as not "
        "delivered (it is sent again next cycle).",
    )
    ack_poll_interval: Positive = Field(
        default=timedelta(seconds=2), description="Wait between acknowledgment checks."
    )

    @model_validator(mode="after")
    def _token(self) -> SplunkHecSettings:
        if (self.token is None) == (self.token_file is None):
            raise ValueError("give token or token_file (one of them)")
        unknown = set(self.sourcetypes) - set(DEFAULT_SOURCETYPES)
        if unknown:
            raise ValueError(f"sourcetypes: unknown kinds {sorted(unknown)}")
        return self

    def sourcetype(self, kind: StreamKind) -> str:
        return self.sourcetypes.get(kind.value, DEFAULT_SOURCETYPES[kind.value])


DestinationSettings = Annotated[
    PrometheusSettings | RemoteWriteSettings | OtlpSettings | LokiSettings | SplunkHecSettings,
    Field(discriminator="type"),
]


def _unique(destinations: Sequence[DestinationSettings]) -> Sequence[DestinationSettings]:
    names = [d.name or d.type for d in destinations]
    if len(set(names)) != len(names):
        raise ValueError("destinations of one org need distinct names (`name`, default the type)")
    if sum(isinstance(d, PrometheusSettings) for d in destinations) > 1:
        raise ValueError("an org has at most one prometheus destination")
    return destinations


Destinations = Annotated[tuple[DestinationSettings, ...], AfterValidator(_unique)]


def name_of(settings: DestinationSettings) -> str:
    return settings.name or settings.type


def streams_of(settings: DestinationSettings) -> frozenset[str]:
    """The streams a destination takes: its `streams`, or by default every stream (Loki: the
    audit log, since its labels are made for events)."""
    if settings.streams is not None:
        return frozenset(settings.streams)
    return frozenset(("audit",) if isinstance(settings, LokiSettings) else STREAM_NAMES)
