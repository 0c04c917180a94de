"""Response models shared by every endpoint, plus the usage and costs envelope and results.

OpenAI adds fields without notice (the spec changed its usage, costs and audit objects several
times in 2026, REFERENCE.md §9), so every model is tolerant: unknown fields are kept and can be
read back, every optional field accepts null, and nothing but the fields the poller cannot work
without is required. Models are frozen: a page is a fact received from the API, not a buffer.

Usage results are typed per endpoint: a bucket picks each result's model by its `object` (the
spec's discriminator) and falls back to the permissive base for an `object` it does not know.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Final, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from poller.streams import USAGE_ENDPOINTS

__all__ = [
    "RESULT_MODELS",
    "APIModel",
    "AnyUsageResult",
    "AudioSpeechesResult",
    "AudioTranscriptionsResult",
    "CodeInterpreterSessionsResult",
    "CompletionsResult",
    "CostAmount",
    "CostsResult",
    "EmbeddingsResult",
    "FileSearchCallsResult",
    "ImagesResult",
    "ListPage",
    "ModerationsResult",
    "UsageBucket",
    "UsagePage",
    "UsageResult",
    "VectorStoresResult",
    "WebSearchCallsResult",
]

# A finite decimal: a cost of NaN or Infinity is a broken response, not a number to sum.
FiniteDecimal = Annotated[Decimal, Field(allow_inf_nan=False)]


class APIModel(BaseModel):
    """Base of every response model: drift-tolerant, immutable, and convertible back to data."""

    model_config = ConfigDict(extra="allow", frozen=True)

    def api_dict(self) -> dict[str, Any]:
        """The object as plain data under the API's own field names, for the document mappers.

        Holds exactly the fields the API sent (unknown ones included, absent ones absent), with
        values normalised by the model: e.g. a costs `amount.value` is a `Decimal` even when the
        API sent the string `"12.50"`.
        """
        return self.model_dump(exclude_unset=True)


ItemT = TypeVar("ItemT", bound=APIModel)


class ListPage(APIModel, Generic[ItemT]):
    """A cursor page of a list endpoint: `{object: "list", data, first_id, last_id, has_more}`."""

    data: list[ItemT]
    has_more: bool
    first_id: str | None = None
    last_id: str | None = None


# --- usage and costs results -------------------------------------------------------------------


class UsageResult(APIModel):
    """One result in a usage or costs bucket; dimension fields are null unless grouped by."""

    object: str | None = None
    project_id: str | None = None


class _ByPrincipal(UsageResult):
    user_id: str | None = None
    api_key_id: str | None = None


class _ByModel(_ByPrincipal):
    model: str | None = None


class CompletionsResult(_ByModel):
    input_tokens: int
    output_tokens: int
    num_model_requests: int
    input_cached_tokens: int | None = None
    input_cache_write_tokens: int | None = None
    input_uncached_tokens: int | None = None
    input_text_tokens: int | None = None
    output_text_tokens: int | None = None
    input_cached_text_tokens: int | None = None
    input_audio_tokens: int | None = None
    input_cached_audio_tokens: int | None = None
    output_audio_tokens: int | None = None
    input_image_tokens: int | None = None
    input_cached_image_tokens: int | None = None
    output_image_tokens: int | None = None
    batch: bool | None = None
    service_tier: str | None = None


class EmbeddingsResult(_ByModel):
    input_tokens: int
    num_model_requests: int


class ModerationsResult(_ByModel):
    input_tokens: int
    num_model_requests: int


class ImagesResult(_ByModel):
    images: int
    num_model_requests: int
    size: str | None = None
    source: str | None = None


class AudioSpeechesResult(_ByModel):
    characters: int
    num_model_requests: int


class AudioTranscriptionsResult(_ByModel):
    seconds: int
    num_model_requests: int


class VectorStoresResult(UsageResult):
    usage_bytes: int


class CodeInterpreterSessionsResult(UsageResult):
    num_sessions: int


class FileSearchCallsResult(_ByPrincipal):
    num_requests: int
    vector_store_id: str | None = None


class WebSearchCallsResult(_ByModel):
    num_model_requests: int
    num_requests: int
    context_level: str | None = None


class CostAmount(APIModel):
    """`value` is typed `number`, but the live API has sent `"12.50"`: both parse to Decimal."""

    value: FiniteDecimal | None = None
    currency: str | None = None


class CostsResult(UsageResult):
    amount: CostAmount | None = None
    line_item: str | None = None
    api_key_id: str | None = None
    quantity: FiniteDecimal | None = None
    quantity_unit: str | None = None


# Stream name (poller.streams) -> result model.
RESULT_MODELS: Final[dict[str, type[UsageResult]]] = {
    "completions": CompletionsResult,
    "embeddings": EmbeddingsResult,
    "moderations": ModerationsResult,
    "images": ImagesResult,
    "audio_speeches": AudioSpeechesResult,
    "audio_transcriptions": AudioTranscriptionsResult,
    "vector_stores": VectorStoresResult,
    "code_interpreter_sessions": CodeInterpreterSessionsResult,
    "file_search_calls": FileSearchCallsResult,
    "web_search_calls": WebSearchCallsResult,
    "costs": CostsResult,
}
_KNOWN_OBJECTS: Final = frozenset(endpoint.result_object for endpoint in USAGE_ENDPOINTS.values())
_OTHER: Final = "other"


def _result_tag(value: Any) -> str:
    """The spec's discriminator, `object`; an unknown one selects the permissive base model."""
    tag = value.get("object") if isinstance(value, dict) else getattr(value, "object", None)
    return tag if isinstance(tag, str) and tag in _KNOWN_OBJECTS else _OTHER


def _tag(stream: str) -> Tag:
    return Tag(USAGE_ENDPOINTS[stream].result_object)


AnyUsageResult = Annotated[
    Annotated[CompletionsResult, _tag("completions")]
    | Annotated[EmbeddingsResult, _tag("embeddings")]
    | Annotated[ModerationsResult, _tag("moderations")]
    | Annotated[ImagesResult, _tag("images")]
    | Annotated[AudioSpeechesResult, _tag("audio_speeches")]
    | Annotated[AudioTranscriptionsResult, _tag("audio_transcriptions")]
    | Annotated[VectorStoresResult, _tag("vector_stores")]
    | Annotated[CodeInterpreterSessionsResult, _tag("code_interpreter_sessions")]
    | Annotated[FileSearchCallsResult, _tag("file_search_calls")]
    | Annotated[WebSearchCallsResult, _tag("web_search_calls")]
    | Annotated[CostsResult, _tag("costs")]
    | Annotated[UsageResult, Tag(_OTHER)],
    Discriminator(_result_tag),
]


# --- the envelope ------------------------------------------------------------------------------


class UsageBucket(APIModel):
    """One time bucket `[start_time, end_time)`; empty buckets come back with `results: []`."""

    start_time: int
    end_time: int
    results: list[AnyUsageResult]


class UsagePage(APIModel):
    """One page of a usage or costs endpoint; follow `next_page` while `has_more`."""

    data: list[UsageBucket]
    has_more: bool
    next_page: str | None = None
