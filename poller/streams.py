"""The catalog of streams: one entry per data stream the poller writes.

This module is the single place that knows which OpenAI endpoint feeds which stream, which
`group_by` values and filters each endpoint accepts, and which result fields are metrics. The
client, the simulator, the document mappers and the Elasticsearch templates all read it, so a new
endpoint is added here once.

Everything here is taken from `openapi.subset.json` (the official spec subset).
"""

from __future__ import annotations

from dataclasses import dataclass
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
    "StreamSpec",
    "UsageEndpoint",
    "get_stream",
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


class StreamKind(StrEnum):
    USAGE = "usage"
    COSTS = "costs"
    AUDIT = "audit"
    RATE_LIMITS = "rate_limits"


@dataclass(frozen=True)
class UsageEndpoint:
    """A bucketed endpoint: the ten usage endpoints and costs share one envelope.

    `dimensions` are the allowed `group_by` values in spec order; a result carries each of them,
    null when not grouped. `filters` maps a filter query parameter to the dimension it restricts.
    `metrics` are the numeric result fields (costs has none here: its `amount` is an object).
    """

    path: str
    result_object: str
    dimensions: tuple[str, ...]
    filters: tuple[tuple[str, str], ...]
    metrics: tuple[str, ...]
    required_metrics: tuple[str, ...]
    widths: tuple[BucketWidth, ...] = (BucketWidth.MINUTE, BucketWidth.HOUR, BucketWidth.DAY)

    @property
    def filter_params(self) -> dict[str, str]:
        return dict(self.filters)


@dataclass(frozen=True)
class StreamSpec:
    name: str
    kind: StreamKind
    usage: UsageEndpoint | None = None

    @property
    def dataset(self) -> str:
        return f"openai.{self.name}"

    def data_stream(self, namespace: str) -> str:
        return f"logs-openai.{self.name}-{namespace}"


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
    "completions": UsageEndpoint(
        path="/organization/usage/completions",
        result_object="organization.usage.completions.result",
        dimensions=(*_PEOPLE, "model", "batch", "service_tier"),
        filters=(*_PEOPLE_FILTERS, *_MODEL_FILTER, ("batch", "batch")),
        metrics=COMPLETIONS_METRICS,
        required_metrics=("input_tokens", "output_tokens", "num_model_requests"),
    ),
    "embeddings": UsageEndpoint(
        path="/organization/usage/embeddings",
        result_object="organization.usage.embeddings.result",
        dimensions=(*_PEOPLE, "model"),
        filters=(*_PEOPLE_FILTERS, *_MODEL_FILTER),
        metrics=("input_tokens", "num_model_requests"),
        required_metrics=("input_tokens", "num_model_requests"),
    ),
    "moderations": UsageEndpoint(
        path="/organization/usage/moderations",
        result_object="organization.usage.moderations.result",
        dimensions=(*_PEOPLE, "model"),
        filters=(*_PEOPLE_FILTERS, *_MODEL_FILTER),
        metrics=("input_tokens", "num_model_requests"),
        required_metrics=("input_tokens", "num_model_requests"),
    ),
    "images": UsageEndpoint(
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
    "audio_speeches": UsageEndpoint(
        path="/organization/usage/audio_speeches",
        result_object="organization.usage.audio_speeches.result",
        dimensions=(*_PEOPLE, "model"),
        filters=(*_PEOPLE_FILTERS, *_MODEL_FILTER),
        metrics=("characters", "num_model_requests"),
        required_metrics=("characters", "num_model_requests"),
    ),
    "audio_transcriptions": UsageEndpoint(
        path="/organization/usage/audio_transcriptions",
        result_object="organization.usage.audio_transcriptions.result",
        dimensions=(*_PEOPLE, "model"),
        filters=(*_PEOPLE_FILTERS, *_MODEL_FILTER),
        metrics=("seconds", "num_model_requests"),
        required_metrics=("seconds", "num_model_requests"),
    ),
    "vector_stores": UsageEndpoint(
        path="/organization/usage/vector_stores",
        result_object="organization.usage.vector_stores.result",
        dimensions=("project_id",),
        filters=(("project_ids", "project_id"),),
        metrics=("usage_bytes",),
        required_metrics=("usage_bytes",),
    ),
    "code_interpreter_sessions": UsageEndpoint(
        path="/organization/usage/code_interpreter_sessions",
        result_object="organization.usage.code_interpreter_sessions.result",
        dimensions=("project_id",),
        filters=(("project_ids", "project_id"),),
        metrics=("num_sessions",),
        required_metrics=("num_sessions",),
    ),
    "file_search_calls": UsageEndpoint(
        path="/organization/usage/file_search_calls",
        result_object="organization.usage.file_searches.result",
        dimensions=(*_PEOPLE, "vector_store_id"),
        filters=(*_PEOPLE_FILTERS, ("vector_store_ids", "vector_store_id")),
        metrics=("num_requests",),
        required_metrics=("num_requests",),
    ),
    "web_search_calls": UsageEndpoint(
        path="/organization/usage/web_search_calls",
        result_object="organization.usage.web_searches.result",
        dimensions=(*_PEOPLE, "model", "context_level"),
        filters=(*_PEOPLE_FILTERS, *_MODEL_FILTER, ("context_levels", "context_level")),
        metrics=("num_model_requests", "num_requests"),
        required_metrics=("num_model_requests", "num_requests"),
    ),
    "costs": UsageEndpoint(
        path="/organization/costs",
        result_object="organization.costs.result",
        dimensions=("project_id", "line_item", "api_key_id"),
        filters=(("project_ids", "project_id"), ("api_key_ids", "api_key_id")),
        metrics=(),
        required_metrics=(),
        widths=(BucketWidth.DAY,),
    ),
}

ALL_STREAMS: Final[dict[str, StreamSpec]] = {
    **{
        name: StreamSpec(name=name, kind=StreamKind.USAGE, usage=endpoint)
        for name, endpoint in USAGE_ENDPOINTS.items()
        if name != "costs"
    },
    "costs": StreamSpec(name="costs", kind=StreamKind.COSTS, usage=USAGE_ENDPOINTS["costs"]),
    "audit": StreamSpec(name="audit", kind=StreamKind.AUDIT),
    "rate_limits": StreamSpec(name="rate_limits", kind=StreamKind.RATE_LIMITS),
}

STREAM_NAMES: Final[tuple[str, ...]] = tuple(ALL_STREAMS)


def get_stream(name: str) -> StreamSpec:
    """The stream called `name`; a KeyError names the valid choices."""
    try:
        return ALL_STREAMS[name]
    except KeyError:
        choices = ", ".join(STREAM_NAMES)
        raise KeyError(f"unknown stream {name!r}; choose from: {choices}") from None
