"""Response models shared by every endpoint, plus the usage and costs envelope and results.

OpenAI adds fields without notice (the spec changed its usage, costs and audit objects several
times in 2026, REFERENCE.md §9), so every model is tolerant: unknown fields are kept and can be
read back, every optional field accepts null, and nothing but the fields the poller cannot work
without is required. Models are frozen: a page is a fact received from the API, not a buffer.

Usage results are typed per endpoint: a bucket picks each result's model by its `object` (the
spec's discriminator) and falls back to the permissive base for an `object` it does not know.

The pages the poller collects (`ItemPage`: usage and costs, audit logs, rate limits) are parsed
item by item when the page as a whole fails: one item the schema rejects must not withhold the
others, nor stall its stream by failing every retry of the page. It is kept, as sent, in the
page's `invalid`. A page whose envelope is broken (not JSON, no `data`, a bucket without times)
still fails as a whole.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Annotated, Any, Final, Generic, Self, TypeVar, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    TypeAdapter,
    ValidationError,
)

from poller.streams import USAGE_ENDPOINTS, StreamName

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
    "InvalidItem",
    "ItemListPage",
    "ItemPage",
    "ListPage",
    "ModerationsResult",
    "UsageBucket",
    "UsagePage",
    "UsageResult",
    "VectorStoresResult",
    "WebSearchCallsResult",
    "describe_errors",
    "split_items",
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


def describe_errors(exc: ValidationError) -> str:
    """What failed validation, by location; never the input values, which may hold anything."""
    first = exc.errors(include_url=False, include_input=False)[0]
    if first["type"] == "json_invalid":
        return f"the body is not JSON ({first['msg']})"
    location = ".".join(str(part) for part in first["loc"]) or "the body"
    return f"{exc.error_count()} schema error(s), first at {location}: {first['msg']}"


@dataclass(frozen=True)
class InvalidItem:
    """An item of a page that fails its schema: the JSON object as sent, and why it failed."""

    raw: Mapping[str, Any]
    reason: str


def split_items(items: Any, adapter: TypeAdapter[Any]) -> tuple[Any, list[InvalidItem]]:
    """(the items `adapter` accepts, the objects it rejects). Anything but a list of objects is
    left as it is, for the page's own validation to report as a broken envelope."""
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        return items, []
    valid: list[Any] = []
    invalid: list[InvalidItem] = []
    for item in items:
        try:
            adapter.validate_python(item)
        except ValidationError as exc:
            invalid.append(InvalidItem(item, describe_errors(exc)))
        else:
            valid.append(item)
    return valid, invalid


class ItemPage(APIModel):
    """A page parsed item by item when it fails as a whole; `invalid` holds the rejected items.

    The whole page is validated first, in one pass: nearly every page is valid, and that pass
    is what makes collection fast. Only a failing page is split.
    """

    _invalid: tuple[InvalidItem, ...] = PrivateAttr(default=())

    @property
    def invalid(self) -> tuple[InvalidItem, ...]:
        """The items the schema rejected, in page order; empty for nearly every page."""
        return self._invalid

    @classmethod
    def parse_json(cls, content: bytes | str) -> Self:
        """The page in `content`. Raises `ValidationError` when the body is not JSON or its
        envelope is broken; an item that fails goes to `invalid` instead."""
        try:
            return cls.model_validate_json(content)
        except ValidationError as whole:
            try:
                body = json.loads(content)
            except ValueError:
                body = None
            if not isinstance(body, dict):
                raise whole from None
            return cls._split(body)

    @classmethod
    def from_data(cls, body: dict[str, Any]) -> Self:
        """`parse_json` for a body already decoded: how a usage page's buckets become models a
        few at a time (`RawUsagePage.take`). `body` is the caller's: its items may be removed."""
        try:
            return cls.model_validate(body)
        except ValidationError:
            return cls._split(body)

    @classmethod
    def _split(cls, body: dict[str, Any]) -> Self:
        invalid = cls._split_items(body)
        page = cls.model_validate(body)  # only the envelope can fail now
        page._invalid = tuple(invalid)
        return page

    @classmethod
    @abstractmethod
    def _split_items(cls, body: dict[str, Any]) -> list[InvalidItem]:
        """Remove the items that fail their schema from `body` (in place); return them."""


class ListPage(APIModel, Generic[ItemT]):
    """A cursor page of a list endpoint: `{object: "list", data, first_id, last_id, has_more}`."""

    data: list[ItemT]
    has_more: bool
    first_id: str | None = None
    last_id: str | None = None


class ItemListPage(ListPage[ItemT], ItemPage, Generic[ItemT]):
    """A list page whose `data` items fail one by one (audit logs, rate limits)."""

    @classmethod
    def _split_items(cls, body: dict[str, Any]) -> list[InvalidItem]:
        if "data" not in body:
            return []
        body["data"], invalid = split_items(body["data"], _item_adapter(cls))
        return invalid


@cache
def _item_adapter(page: type[ItemListPage[Any]]) -> TypeAdapter[Any]:
    """Validates one item of `page`: the type its `data` list holds."""
    (item,) = get_args(page.model_fields["data"].annotation)
    return TypeAdapter(item)


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
    StreamName.COMPLETIONS: CompletionsResult,
    StreamName.EMBEDDINGS: EmbeddingsResult,
    StreamName.MODERATIONS: ModerationsResult,
    StreamName.IMAGES: ImagesResult,
    StreamName.AUDIO_SPEECHES: AudioSpeechesResult,
    StreamName.AUDIO_TRANSCRIPTIONS: AudioTranscriptionsResult,
    StreamName.VECTOR_STORES: VectorStoresResult,
    StreamName.CODE_INTERPRETER_SESSIONS: CodeInterpreterSessionsResult,
    StreamName.FILE_SEARCH_CALLS: FileSearchCallsResult,
    StreamName.WEB_SEARCH_CALLS: WebSearchCallsResult,
    StreamName.COSTS: CostsResult,
}
_KNOWN_OBJECTS: Final = frozenset(endpoint.result_object for endpoint in USAGE_ENDPOINTS.values())
_OTHER: Final = "other"


def _result_tag(value: Any) -> str:
    """The spec's discriminator, `object`; an unknown one selects the permissive base model."""
    tag = value.get("object") if isinstance(value, dict) else getattr(value, "object", None)
    return tag if isinstance(tag, str) and tag in _KNOWN_OBJECTS else _OTHER


def _tag(stream: StreamName) -> Tag:
    return Tag(USAGE_ENDPOINTS[stream].result_object)


AnyUsageResult = Annotated[
    Annotated[CompletionsResult, _tag(StreamName.COMPLETIONS)]
    | Annotated[EmbeddingsResult, _tag(StreamName.EMBEDDINGS)]
    | Annotated[ModerationsResult, _tag(StreamName.MODERATIONS)]
    | Annotated[ImagesResult, _tag(StreamName.IMAGES)]
    | Annotated[AudioSpeechesResult, _tag(StreamName.AUDIO_SPEECHES)]
    | Annotated[AudioTranscriptionsResult, _tag(StreamName.AUDIO_TRANSCRIPTIONS)]
    | Annotated[VectorStoresResult, _tag(StreamName.VECTOR_STORES)]
    | Annotated[CodeInterpreterSessionsResult, _tag(StreamName.CODE_INTERPRETER_SESSIONS)]
    | Annotated[FileSearchCallsResult, _tag(StreamName.FILE_SEARCH_CALLS)]
    | Annotated[WebSearchCallsResult, _tag(StreamName.WEB_SEARCH_CALLS)]
    | Annotated[CostsResult, _tag(StreamName.COSTS)]
    | Annotated[UsageResult, Tag(_OTHER)],
    Discriminator(_result_tag),
]
_RESULT_ADAPTER: Final[TypeAdapter[AnyUsageResult]] = TypeAdapter(AnyUsageResult)


# --- the envelope ------------------------------------------------------------------------------


class UsageBucket(APIModel):
    """One time bucket `[start_time, end_time)`; empty buckets come back with `results: []`."""

    start_time: int
    end_time: int
    results: list[AnyUsageResult]


class UsagePage(ItemPage):
    """One page of a usage or costs endpoint, or the part of one taken so far; follow
    `next_page` while `has_more`. Its items are the buckets' results: a bucket itself is
    envelope. The client yields `RawUsagePage`s, whose results become this only as they are
    taken, so a page of 30,000 results is never all models at once."""

    data: list[UsageBucket]
    has_more: bool
    next_page: str | None = None

    @classmethod
    def _split_items(cls, body: dict[str, Any]) -> list[InvalidItem]:
        invalid: list[InvalidItem] = []
        buckets = body.get("data")
        for bucket in buckets if isinstance(buckets, list) else ():
            if isinstance(bucket, dict) and "results" in bucket:
                bucket["results"], rejected = split_items(bucket["results"], _RESULT_ADAPTER)
                invalid += rejected
        return invalid
