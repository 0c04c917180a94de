"""The catalog of streams: one entry per data stream the poller writes.

This module is the single place that knows which OpenAI endpoint feeds which stream, which
`group_by` values and filters each endpoint accepts, and which result fields are metrics. The
client, the simulator, the document mappers and the Elasticsearch templates all read it, so a new
endpoint is added here once.

Everything here is taken from `openapi.subset.json` (the official spec subset).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

__all__ = [
    "ALL_STREAMS",
    "BUCKET_SECONDS",
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "STREAM_NAMES",
    "USAGE_ENDPOINTS",
    "BucketWidth",
    "StreamKind",
    "StreamName",
    "StreamSpec",
    "UsageEndpoint",
    "get_stream",
    "streams_of_kind",
]


class BucketWidth(StrEnum):
    """A usage bucket width as the API spells it."""

    MINUTE = "1m"
    HOUR = "1h"
    DAY = "1d"

    @property
    def seconds(self) -> int:
        return BUCKET_SECONDS[self]


BUCKET_SECONDS: Final[dict[BucketWidth, int]] = {
    BucketWidth.MINUTE: 60,
    BucketWidth.HOUR: 3600,
    BucketWidth.DAY: 86400,
}

# Buckets per page, from the `limit` parameter's description on every usage endpoint.
DEFAULT_LIMIT: Final[dict[BucketWidth, int]] = {
    BucketWidth.MINUTE: 60,
    BucketWidth.HOUR: 24,
    BucketWidth.DAY: 7,
}
MAX_LIMIT: Final[dict[BucketWidth, int]] = {
    BucketWidth.MINUTE: 1440,
    BucketWidth.HOUR: 168,
    BucketWidth.DAY: 31,
}
# Costs: "Limit can range between 1 and 180, and the default is 7." Only 1d buckets.
COSTS_DEFAULT_LIMIT: Final = 7
COSTS_MAX_LIMIT: Final = 180


class StreamName(StrEnum):
    """Every stream the poller writes. A member equals its string, so `"costs"` still works
    wherever a name is taken; comparing with a member instead lets a typo fail type checks."""

    COMPLETIONS = "completions"
    EMBEDDINGS = "embeddings"
    MODERATIONS = "moderations"
    IMAGES = "images"
    AUDIO_SPEECHES = "audio_speeches"
    AUDIO_TRANSCRIPTIONS = "audio_transcriptions"
    VECTOR_STORES = "vector_stores"
    CODE_INTERPRETER_SESSIONS = "code_interpreter_sessions"
    FILE_SEARCH_CALLS = "file_search_calls"
    WEB_SEARCH_CALLS = "web_search_calls"
    COSTS = "costs"
    AUDIT = "audit"
    RATE_LIMITS = "rate_limits"
    SPEND_LIMITS = "spend_limits"
    SPEND_ALERTS = "spend_alerts"
    GOVERNANCE = "governance"
    ALLOCATED_COSTS = "allocated_costs"


class StreamKind(StrEnum):
    USAGE = "usage"
    COSTS = "costs"
    AUDIT = "audit"
    RATE_LIMITS = "rate_limits"
    SPEND = "spend"  # snapshots of hard spend limits and spend alerts, org and projects
    GOVERNANCE = "governance"  # snapshots of retention, permissions, certificates, and changes
    ALLOCATION = "allocation"  # each project's billed day split over its users, keys and models


@dataclass(frozen=True)
class UsageEndpoint:
    """A bucketed endpoint: the ten usage endpoints and costs share one envelope.

    `dimensions` are the allowed `group_by` values in spec order; a result carries each of them,
    null when not grouped. `filters` maps a filter query parameter to the dimension it restricts.
    `metrics` are the numeric result fields (costs has none here: its `amount` is an object).
    `max_limits` and `default_limits` are the most buckets a page may hold and how many it holds
    when no `limit` is asked, per width the endpoint serves.
    """

    path: str
    result_object: str
    dimensions: tuple[str, ...]
    filters: tuple[tuple[str, str], ...]
    metrics: tuple[str, ...]
    required_metrics: tuple[str, ...]
    max_limits: Mapping[BucketWidth, int] = field(default_factory=lambda: dict(MAX_LIMIT))
    default_limits: Mapping[BucketWidth, int] = field(default_factory=lambda: dict(DEFAULT_LIMIT))

    @property
    def widths(self) -> tuple[BucketWidth, ...]:
        """The bucket widths the endpoint serves, finest first."""
        return tuple(width for width in BucketWidth if width in self.max_limits)

    @property
    def filter_params(self) -> dict[str, str]:
        return dict(self.filters)


@dataclass(frozen=True)
class StreamSpec:
    name: StreamName
    kind: StreamKind
    usage: UsageEndpoint | None = None
    # The one width of a stream computed from bucketed endpoints (allocated_costs: 1d).
    derived_width: BucketWidth | None = None

    @property
    def dataset(self) -> str:
        return f"openai.{self.name}"

    def data_stream(self, namespace: str) -> str:
        return f"logs-openai.{self.name}-{namespace}"

    @property
    def widths(self) -> tuple[BucketWidth, ...]:
        """The bucket widths the stream can be collected at; none for unbucketed streams."""
        if self.usage is not None:
            return self.usage.widths
        return (self.derived_width,) if self.derived_width is not None else ()

    @property
    def fixed_width(self) -> BucketWidth | None:
        """The one width a stream with a single choice is always collected at (costs: 1d)."""
        widths = self.widths
        return widths[0] if len(widths) == 1 else None

    def page_limit(self, width: BucketWidth) -> int:
        """The most buckets one page may hold at `width`: what a backfill asks for, so that it
        makes as few calls as the API allows. ValueError for a width the stream lacks."""
        limits = self.usage.max_limits if self.usage is not None else {}
        if width not in limits:
            allowed = ", ".join(w.value for w in self.widths) or "none"
            raise ValueError(f"{self.name} has no {width} buckets (widths: {allowed})")
        return limits[width]


_PEOPLE: Final = ("project_id", "user_id", "api_key_id")
_PEOPLE_FILTERS: Final = (
    ("project_ids", "project_id"),
    ("user_ids", "user_id"),
    ("api_key_ids", "api_key_id"),
)
_MODEL_FILTER: Final = (("models", "model"),)

COMPLETIONS_METRICS: Final = (
    "input_tokens",
    "output_tokens",
    "num_model_requests",
    "input_cached_tokens",
    "input_cache_write_tokens",
    "input_uncached_tokens",
    "input_text_tokens",
    "output_text_tokens",
    "input_cached_text_tokens",
    "input_audio_tokens",
    "input_cached_audio_tokens",
    "output_audio_tokens",
    "input_image_tokens",
    "input_cached_image_tokens",
    "output_image_tokens",
)

USAGE_ENDPOINTS: Final[dict[str, UsageEndpoint]] = {
    StreamName.COMPLETIONS: UsageEndpoint(
        path="/organization/usage/completions",
        result_object="organization.usage.completions.result",
        dimensions=(*_PEOPLE, "model", "batch", "service_tier"),
        filters=(*_PEOPLE_FILTERS, *_MODEL_FILTER, ("batch", "batch")),
        metrics=COMPLETIONS_METRICS,
        required_metrics=("input_tokens", "output_tokens", "num_model_requests"),
    ),
    StreamName.EMBEDDINGS: UsageEndpoint(
        path="/organization/usage/embeddings",
        result_object="organization.usage.embeddings.result",
        dimensions=(*_PEOPLE, "model"),
        filters=(*_PEOPLE_FILTERS, *_MODEL_FILTER),
        metrics=("input_tokens", "num_model_requests"),
        required_metrics=("input_tokens", "num_model_requests"),
    ),
    StreamName.MODERATIONS: UsageEndpoint(
        path="/organization/usage/moderations",
        result_object="organization.usage.moderations.result",
        dimensions=(*_PEOPLE, "model"),
        filters=(*_PEOPLE_FILTERS, *_MODEL_FILTER),
        metrics=("input_tokens", "num_model_requests"),
        required_metrics=("input_tokens", "num_model_requests"),
    ),
    StreamName.IMAGES: UsageEndpoint(
        path="/organization/usage/images",
        result_object="organization.usage.images.result",
        dimensions=(*_PEOPLE, "model", "size", "source"),
        filters=(
            ("sources", "source"),
            ("sizes", "size"),
            *_PEOPLE_FILTERS,
            *_MODEL_FILTER,
        ),
        metrics=("images", "num_model_requests"),
        required_metrics=("images", "num_model_requests"),
    ),
    StreamName.AUDIO_SPEECHES: UsageEndpoint(
        path="/organization/usage/audio_speeches",
        result_object="organization.usage.audio_speeches.result",
        dimensions=(*_PEOPLE, "model"),
        filters=(*_PEOPLE_FILTERS, *_MODEL_FILTER),
        metrics=("characters", "num_model_requests"),
        required_metrics=("characters", "num_model_requests"),
    ),
    StreamName.AUDIO_TRANSCRIPTIONS: UsageEndpoint(
        path="/organization/usage/audio_transcriptions",
        result_object="organization.usage.audio_transcriptions.result",
        dimensions=(*_PEOPLE, "model"),
        filters=(*_PEOPLE_FILTERS, *_MODEL_FILTER),
        metrics=("seconds", "num_model_requests"),
        required_metrics=("seconds", "num_model_requests"),
    ),
    StreamName.VECTOR_STORES: UsageEndpoint(
        path="/organization/usage/vector_stores",
        result_object="organization.usage.vector_stores.result",
        dimensions=("project_id",),
        filters=(("project_ids", "project_id"),),
        metrics=("usage_bytes",),
        required_metrics=("usage_bytes",),
    ),
    StreamName.CODE_INTERPRETER_SESSIONS: UsageEndpoint(
        path="/organization/usage/code_interpreter_sessions",
        result_object="organization.usage.code_interpreter_sessions.result",
        dimensions=("project_id",),
        filters=(("project_ids", "project_id"),),
        metrics=("num_sessions",),
        required_metrics=("num_sessions",),
    ),
    StreamName.FILE_SEARCH_CALLS: UsageEndpoint(
        path="/organization/usage/file_search_calls",
        result_object="organization.usage.file_searches.result",
        dimensions=(*_PEOPLE, "vector_store_id"),
        filters=(*_PEOPLE_FILTERS, ("vector_store_ids", "vector_store_id")),
        metrics=("num_requests",),
        required_metrics=("num_requests",),
    ),
    StreamName.WEB_SEARCH_CALLS: UsageEndpoint(
        path="/organization/usage/web_search_calls",
        result_object="organization.usage.web_searches.result",
        dimensions=(*_PEOPLE, "model", "context_level"),
        filters=(*_PEOPLE_FILTERS, *_MODEL_FILTER, ("context_levels", "context_level")),
        metrics=("num_model_requests", "num_requests"),
        required_metrics=("num_model_requests", "num_requests"),
    ),
    StreamName.COSTS: UsageEndpoint(
        path="/organization/costs",
        result_object="organization.costs.result",
        dimensions=("project_id", "line_item", "api_key_id"),
        filters=(("project_ids", "project_id"), ("api_key_ids", "api_key_id")),
        metrics=(),
        required_metrics=(),
        max_limits={BucketWidth.DAY: COSTS_MAX_LIMIT},
        default_limits={BucketWidth.DAY: COSTS_DEFAULT_LIMIT},
    ),
}

# The kind of each bucketed stream; costs is the one bucketed stream that is not usage.
_BUCKETED_KINDS: Final[dict[str, StreamKind]] = {StreamName.COSTS: StreamKind.COSTS}

ALL_STREAMS: Final[dict[str, StreamSpec]] = {
    **{
        name: StreamSpec(StreamName(name), _BUCKETED_KINDS.get(name, StreamKind.USAGE), endpoint)
        for name, endpoint in USAGE_ENDPOINTS.items()
    },
    StreamName.AUDIT: StreamSpec(StreamName.AUDIT, StreamKind.AUDIT),
    StreamName.RATE_LIMITS: StreamSpec(StreamName.RATE_LIMITS, StreamKind.RATE_LIMITS),
    StreamName.SPEND_LIMITS: StreamSpec(StreamName.SPEND_LIMITS, StreamKind.SPEND),
    StreamName.SPEND_ALERTS: StreamSpec(StreamName.SPEND_ALERTS, StreamKind.SPEND),
    StreamName.GOVERNANCE: StreamSpec(StreamName.GOVERNANCE, StreamKind.GOVERNANCE),
    # Computed from the costs and usage endpoints at 1d (poller.sources.allocation).
    StreamName.ALLOCATED_COSTS: StreamSpec(
        StreamName.ALLOCATED_COSTS, StreamKind.ALLOCATION, derived_width=BucketWidth.DAY
    ),
}

STREAM_NAMES: Final[tuple[StreamName, ...]] = tuple(spec.name for spec in ALL_STREAMS.values())


def get_stream(name: str) -> StreamSpec:
    """The stream called `name`; a KeyError names the valid choices."""
    try:
        return ALL_STREAMS[StreamName(name)]
    except ValueError:
        choices = ", ".join(STREAM_NAMES)
        raise KeyError(f"unknown stream {name!r}; choose from: {choices}") from None


def streams_of_kind(kind: StreamKind) -> tuple[StreamSpec, ...]:
    """The streams of one kind, in catalog order (e.g. the ten usage streams, without costs)."""
    return tuple(spec for spec in ALL_STREAMS.values() if spec.kind is kind)

