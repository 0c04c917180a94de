"""The settings of one OpenAI organization and of each stream it collects.

Several organizations run in one process: `orgs` lists them, and `org_defaults` holds what they
share. A stream's setting is resolved from the most specific place that sets it: the org's
override for that stream, then the org's `defaults`, then the built-in default of its kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, Final

from pydantic import Field, SecretStr, field_validator

from poller.defaults import DEFAULT_BASE_URL
from poller.destinations import Destinations
from poller.settings._validate import (
    ALL_DIMENSIONS,
    Dimensions,
    Duration,
    Frozen,
    Namespace,
    OpenAIUrl,
    OrgName,
    PositiveDuration,
    Secret,
    StreamName,
    StreamNames,
    Syntax,
    check_group_by,
    shown_default,
    shown_name,
)
from poller.streams import STREAM_NAMES, BucketWidth, StreamKind, StreamSpec, get_stream

__all__ = ["OrgDefaults", "OrgSettings", "RetrySettings", "StreamConfig", "StreamSettings"]


class StreamSettings(Frozen):
    """Stream settings as written: every field may be left out to inherit (see `StreamConfig`)."""

    bucket_width: BucketWidth | None = Field(
        default=None,
        description="Width of the usage buckets the daemon collects. Costs buckets are always "
        "`1d`; `backfill` picks its own width (`--bucket-width`).",
    )
    group_by: Dimensions | None = Field(
        default=None,
        description="Dimensions usage and costs results are grouped by, e.g. `project_id,model`; "
        "each is a field of the documents. Under `defaults`, each stream uses the listed "
        "dimensions it has; under `overrides`, each must be a dimension of that stream. Audit "
        "and rate limits take none.",
    )
    interval: PositiveDuration | None = Field(
        default=None,
        description="How often the daemon polls the stream. For rate limits, also the length "
        "of the slot each snapshot stands for.",
    )
    initial_interval: PositiveDuration | None = Field(
        default=None,
        description="How far back the daemon's first collection reaches when the stream has "
        "no cursor yet.",
    )
    settlement_grace: Duration | None = Field(
        default=None,
        description="Usage and costs: a bucket is collected only once it ended this long ago.",
    )
    settlement_window: Duration | None = Field(
        default=None,
        description="Usage and costs: how long after collection a bucket is read again, so that "
        "OpenAI's late revisions replace it in place.",
    )
    overlap: Duration | None = Field(
        default=None,
        description="Audit: how far before the saved cursor each poll starts, so that an event "
        "that appears late is still read.",
    )


@dataclass(frozen=True)
class StreamConfig:
    """The settings one stream of one org runs with, every default resolved.

    A usage or costs bucket is collected once `end_time <= now - settlement_grace`, then read
    again for `settlement_window` after that so late revisions replace it in place. Audit
    windows start `overlap` before the saved cursor, so an event late to appear is still read.
    """

    spec: StreamSpec
    bucket_width: BucketWidth
    group_by: tuple[str, ...]
    interval: timedelta
    initial_interval: timedelta
    settlement_grace: timedelta
    settlement_window: timedelta
    overlap: timedelta

    @property
    def name(self) -> str:
        return self.spec.name


# Built-in defaults by kind. Costs and rate limits change slowly (daily buckets, configuration
# snapshots), so polling them every 5 minutes would only spend requests.
_INTERVAL: Final = {
    StreamKind.USAGE: timedelta(minutes=5),
    StreamKind.AUDIT: timedelta(minutes=5),
    StreamKind.COSTS: timedelta(hours=1),
    StreamKind.RATE_LIMITS: timedelta(hours=1),
    StreamKind.SPEND: timedelta(hours=1),
    # 4 requests per project and 2 more per snapshot: the costliest snapshot, of settings
    # that change rarely; the audit log has the exact moment of most changes.
    StreamKind.GOVERNANCE: timedelta(hours=6),
    StreamKind.ALLOCATION: timedelta(hours=1),
}
_SETTLEMENT_WINDOW: Final = {
    StreamKind.USAGE: timedelta(hours=1),
    StreamKind.COSTS: timedelta(days=3),
    StreamKind.ALLOCATION: timedelta(days=3),  # a revised bill is split again
}


def _builtin_defaults(kind: StreamKind) -> dict[str, Any]:
    return {
        "bucket_width": BucketWidth.MINUTE,
        "interval": _INTERVAL[kind],
        "initial_interval": timedelta(hours=24),
        "settlement_grace": timedelta(minutes=2),
        "settlement_window": _SETTLEMENT_WINDOW.get(kind, timedelta(0)),
        "overlap": timedelta(minutes=5) if kind is StreamKind.AUDIT else timedelta(0),
    }


class RetrySettings(Frozen):
    """Limits for retrying one request to OpenAI, as `AdminClient` takes them.

    A `Retry-After` longer than `max_retry_after` is not waited for (the official SDK's cap);
    `max_elapsed` bounds one request's retries well inside the 5-minute interval.
    """

    max_attempts: int = Field(
        default=6,
        ge=1,
        le=100,
        description="Attempts at one request, the first included, before it fails.",
    )
    max_elapsed: PositiveDuration = Field(
        default=timedelta(minutes=2),
        description="Time one request may spend retrying: no retry is waited for that would "
        "end later than this after the first attempt.",
    )
    max_retry_after: Duration = Field(
        default=timedelta(minutes=2),
        description="Longest `Retry-After` (or `retry-after-ms`) OpenAI may ask for that is "
        "waited out; a longer one fails the request at once instead.",
    )


class OrgDefaults(Frozen):
    """What an org inherits unless it says otherwise; `org_defaults` at the top level."""

    namespace: Namespace = Field(
        default="default",
        description="Data stream namespace: documents go to `logs-openai.<stream>-<namespace>`.",
    )
    streams: StreamNames = Field(
        default=STREAM_NAMES,
        description="The streams to collect, in this order; a repeated name counts once.",
        json_schema_extra=shown_default("every stream"),
    )
    defaults: StreamSettings = Field(
        default=StreamSettings(),
        description="Stream settings for every stream of the org, unless `overrides` sets "
        "them for a stream.",
    )
    overrides: Mapping[StreamName, StreamSettings] = Field(
        default_factory=dict,
        description="Stream settings for single streams, under the stream's name; they win "
        "over `defaults`.",
    )
    directory_ttl: Duration = Field(
        default=timedelta(hours=1),
        description="How long the org's project, user and API key names are reused before "
        "they are listed again from the API (documents and reports show them next to ids).",
    )
    request_timeout: PositiveDuration = Field(
        default=timedelta(seconds=30),
        description="Timeout of each read and write of a request to OpenAI; connecting takes "
        "at most this too.",
    )
    retry: RetrySettings = Field(
        default=RetrySettings(),
        description="How a failed request to OpenAI is retried (408, 409, 429, 5xx and "
        "transport errors).",
    )

    @field_validator("streams")
    @classmethod
    def _unique_streams(cls, streams: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(streams))

    @field_validator("defaults")
    @classmethod
    def _defaults_group_by(cls, defaults: StreamSettings) -> StreamSettings:
        for dim in defaults.group_by or ():
            if dim not in ALL_DIMENSIONS:
                raise ValueError(
                    f"group_by:{shown_name(dim)} is not a dimension of any stream "
                    f"(choose from {', '.join(sorted(ALL_DIMENSIONS))})"
                )
        return defaults

    @field_validator("overrides")
    @classmethod
    def _overrides_fit_their_stream(
        cls, overrides: Mapping[str, StreamSettings]
    ) -> Mapping[str, StreamSettings]:
        for stream, override in overrides.items():
            if override.group_by is not None:
                check_group_by(stream, override.group_by)
            width, fixed = override.bucket_width, get_stream(stream).fixed_width
            if fixed is not None and width not in (None, fixed):
                raise ValueError(f"{stream}.bucket_width: {stream} buckets are always {fixed}")
        return overrides


class OrgSettings(OrgDefaults):
    """One OpenAI organization: its key, where to reach it, and which streams to collect."""

    name: OrgName = Field(
        description="The org's name: in logs, cursors, `--org`, and documents' "
        "`organization.name`.",
    )
    admin_key: Secret = Field(
        description="The org's admin key (`sk-admin-...`).",
        json_schema_extra=shown_default("required, unless `admin_key_credential` is set"),
    )
    admin_key_credential: str | None = Field(
        default=None,
        description="Name of the file in `secrets_dir` that holds the admin key, read when "
        "`admin_key` is unset: a systemd credential or a key of a mounted Kubernetes secret.",
    )
    base_url: OpenAIUrl = Field(
        default=DEFAULT_BASE_URL,
        description="Base URL of OpenAI's API for this org.",
        json_schema_extra=shown_default("`openai_base_url`"),
    )
    destinations: Annotated[
        Destinations,
        Syntax("destinations", "a list of destinations, each with its `type`: see "
               "docs/destinations.md"),
    ] = Field(
        default=(),
        description="Where else the org's documents go, besides the primary sink: "
        "`prometheus`, `remote_write`, `otlp`, `loki`, `splunk_hec` (docs/destinations.md).",
        json_schema_extra=shown_default("none"),
    )
    organization_id: str | None = Field(
        default=None,
        description="OpenAI's id of the org (`org-...`): documents' `organization.id`, and part "
        "of every document id; the org's `name` when unset. Set it once and keep it: "
        "changing it changes document ids.",
    )

    @field_validator("admin_key")
    @classmethod
    def _admin_key_not_blank(cls, key: SecretStr) -> SecretStr:
        if not key.get_secret_value().strip():
            raise ValueError("the OpenAI admin key is empty")
        return key

    def stream(self, name: str) -> StreamConfig:
        """The resolved settings of stream `name`: its override, then `defaults`, then built-ins."""
        spec = get_stream(name)
        override = self.overrides.get(name, StreamSettings())
        builtin = _builtin_defaults(spec.kind)

        def pick(field: str) -> Any:
            for layer in (override, self.defaults):
                if (value := getattr(layer, field)) is not None:
                    return value
            return builtin[field]

        dimensions = spec.usage.dimensions if spec.usage else ()
        group_by = override.group_by
        if group_by is None:
            # Org-wide group_by applies to the dimensions each endpoint has; all of them if unset.
            wanted = self.defaults.group_by
            group_by = dimensions if wanted is None else tuple(d for d in wanted if d in dimensions)
        return StreamConfig(
            spec=spec,
            bucket_width=spec.fixed_width or pick("bucket_width"),
            group_by=group_by,
            interval=pick("interval"),
            initial_interval=pick("initial_interval"),
            settlement_grace=pick("settlement_grace"),
            settlement_window=pick("settlement_window"),
            overlap=pick("overlap"),
        )

    def stream_configs(self) -> tuple[StreamConfig, ...]:
        """The resolved settings of every stream this org collects, in `streams` order."""
        return tuple(self.stream(name) for name in self.streams)
