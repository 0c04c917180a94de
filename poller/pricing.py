"""Turns usage results into priced line items with a versioned price table.

The poller uses it to estimate what each usage bucket cost and to flag models it cannot price;
the simulator's Costs API bills its own usage with the very same code, so an estimate and the
simulated invoice can only disagree where a price is genuinely missing.

Prices live in `poller/data/prices.json`: per model a list of dated versions (token rates per 1M
tokens, per-image prices by size, per-1M-character and per-minute audio rates), global batch and
service-tier multipliers, and dated tool prices. The version in force at a bucket's start prices
that bucket.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any, Final, TypeVar

__all__ = [
    "TOKEN_RATE_KINDS",
    "LineItem",
    "ModelRates",
    "PriceTable",
    "ToolRates",
    "load_price_table",
]

TOKEN_RATE_KINDS: Final = frozenset(
    {
        "input",
        "cached_input",
        "cache_write_input",
        "output",
        "audio_input",
        "cached_audio_input",
        "audio_output",
        "image_input",
        "cached_image_input",
        "image_output",
    }
)

# Completions line items: label and the token rates to try in order. A modality without a rate
# of its own is billed at the text rate, the way OpenAI bills image inputs on vision models.
_TOKEN_PARTS: Final = (
    ("input", ("input",)),
    ("cached input", ("cached_input", "input")),
    ("cache write", ("cache_write_input", "input")),
    ("audio input", ("audio_input", "input")),
    ("cached audio input", ("cached_audio_input", "audio_input", "input")),
    ("image input", ("image_input", "input")),
    ("cached image input", ("cached_image_input", "cached_input", "input")),
    ("output", ("output",)),
    ("audio output", ("audio_output", "output")),
    ("image output", ("image_output", "output")),
)

_MILLION: Final = Decimal(1_000_000)
_THOUSAND: Final = Decimal(1000)
_SIXTY: Final = Decimal(60)
_GIB: Final = Decimal(2**30)
_HOURS_PER_DAY: Final = Decimal(24)
_ONE: Final = Decimal(1)
_Dated = TypeVar("_Dated", "ModelRates", "ToolRates")
# "gpt-4o-2024-08-06" and "gpt-3.5-turbo-0125" are snapshots of "gpt-4o" and "gpt-3.5-turbo".
_SNAPSHOT_SUFFIX: Final = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{4})$")


@dataclass(frozen=True)
class LineItem:
    """One priced component of a usage result, named like a Costs API line item.

    `unit` is one of the Costs API's `quantity_unit` values, or None where the spec has no unit
    for the quantity (tool calls, sessions), as the spec prescribes.
    """

    name: str
    quantity: Decimal
    unit: str | None
    amount_usd: Decimal


@dataclass(frozen=True)
class ModelRates:
    """One dated price version of a model; rates absent here do not apply to the model."""

    effective_from: int
    tokens: Mapping[str, Decimal] = field(default_factory=dict)  # USD per 1M tokens by kind
    per_image: Mapping[str, Decimal] = field(default_factory=dict)  # USD by image size
    per_1m_characters: Decimal | None = None
    per_minute: Decimal | None = None
    service_tiers: Mapping[str, Decimal] = field(default_factory=dict)  # overrides the table's

    @cached_property
    def per_token(self) -> dict[str, Decimal | None]:
        """USD per token for each completions part, after the fallbacks; None: no rate."""
        return {
            label: next((self.tokens[k] / _MILLION for k in chain if k in self.tokens), None)
            for label, chain in _TOKEN_PARTS
        }


@dataclass(frozen=True)
class ToolRates:
    """One dated version of the tool prices, complete in itself."""

    effective_from: int
    web_search_per_1k_calls: Mapping[str, Decimal]  # by context level
    file_search_per_1k_calls: Decimal
    code_interpreter_per_session: Decimal
    vector_store_per_gb_day: Decimal


@dataclass(frozen=True)
class PriceTable:
    """A versioned price table; every lookup takes the bucket start `at` (Unix seconds)."""

    version: str
    batch_discount: Decimal
    service_tiers: Mapping[str, Decimal]
    models: Mapping[str, tuple[ModelRates, ...]]  # each oldest first
    tools: tuple[ToolRates, ...]  # oldest first

    def with_models(self, extra: Mapping[str, Sequence[ModelRates]]) -> PriceTable:
        """This table plus (or with replaced) `extra` models: the simulator bills models the
        published table leaves out on purpose, such as fine-tuned ones."""
        ordered = {name: _by_date(versions) for name, versions in extra.items()}
        return replace(self, models={**self.models, **ordered})

    def rates(self, model: str, at: int) -> ModelRates | None:
        """The version pricing `model` at `at`; snapshots fall back to their family."""
        versions = self.models.get(model)
        if versions is None:
            family = _SNAPSHOT_SUFFIX.sub("", model)
            versions = self.models.get(family) if not model.startswith("ft:") else None
        return _in_force(versions or (), at)

    def is_priced(self, model: str, at: int) -> bool:
        return self.rates(model, at) is not None

    def line_items(self, stream: str, result: Mapping[str, Any], at: int) -> list[LineItem] | None:
        """The priced parts of one usage result as the API spells it, or None when unpriced.

        None means a model the table does not know at `at`, or a result whose pricing
        dimension (model, image size, search context level) was not grouped. Missing optional
        counters count as 0; numbers may arrive as strings.
        """
        try:
            pricer = _PRICERS[stream]
        except KeyError:
            raise KeyError(f"no prices for stream {stream!r}") from None
        return pricer(self, result, at)

    def estimate_usd(self, stream: str, result: Mapping[str, Any], at: int) -> Decimal | None:
        items = self.line_items(stream, result, at)
        if items is None:
            return None
        return sum((item.amount_usd for item in items), Decimal(0))

    def tool_rates(self, at: int) -> ToolRates | None:
        return _in_force(self.tools, at)

    def tier_multiplier(self, rates: ModelRates, tier: object) -> Decimal:
        """A service tier's price multiplier: the model's own, else the table's; unknown or
        missing tiers bill as `default`."""
        key = tier if isinstance(tier, str) and tier else "default"
        multiplier = rates.service_tiers.get(key)
        if multiplier is None:
            multiplier = self.service_tiers.get(key, _ONE)
        return multiplier


def load_price_table(path: Path | None = None) -> PriceTable:
    """Reads a price table; by default the one packaged with the poller."""
    if path is None:
        text = resources.files("poller").joinpath("data/prices.json").read_text("utf-8")
    else:
        text = path.read_text("utf-8")
    try:
        return _parse_table(json.loads(text))
    except (KeyError, TypeError, ValueError, InvalidOperation) as error:
        where = path or "packaged prices.json"
        raise ValueError(f"invalid price table {where}: {error!r}") from error


# --- pricing per stream -------------------------------------------------------------------------

Pricer = Callable[[PriceTable, Mapping[str, Any], int], "list[LineItem] | None"]


def _price_completions(
    table: PriceTable, result: Mapping[str, Any], at: int
) -> list[LineItem] | None:
    model, rates = _model_rates(table, result, at)
    if rates is None:
        return None
    multiplier = table.tier_multiplier(rates, result.get("service_tier"))
    if _truthy(result.get("batch")):
        multiplier *= table.batch_discount
    items = []
    per_token = rates.per_token
    for label, quantity in _token_quantities(result):
        rate = per_token[label]
        if rate is None:
            return None
        items.append(_item(f"{model}, {label}", quantity, "tokens", quantity * rate * multiplier))
    return items


def _price_input_tokens(
    table: PriceTable, result: Mapping[str, Any], at: int
) -> list[LineItem] | None:
    model, rates = _model_rates(table, result, at)
    if rates is None or "input" not in rates.tokens:
        return None
    quantity = _number(result.get("input_tokens"))
    amount = quantity * rates.tokens["input"] / _MILLION
    return _nonzero(_item(f"{model}, input", quantity, "tokens", amount))


def _price_images(table: PriceTable, result: Mapping[str, Any], at: int) -> list[LineItem] | None:
    model, rates = _model_rates(table, result, at)
    price = None if rates is None else rates.per_image.get(str(result.get("size")))
    if price is None:
        return None
    quantity = _number(result.get("images"))
    return _nonzero(_item(f"{model}, images", quantity, "images", quantity * price))


def _price_speeches(table: PriceTable, result: Mapping[str, Any], at: int) -> list[LineItem] | None:
    model, rates = _model_rates(table, result, at)
    if rates is None or rates.per_1m_characters is None:
        return None
    quantity = _number(result.get("characters"))
    amount = quantity * rates.per_1m_characters / _MILLION
    return _nonzero(_item(f"{model}, characters", quantity, "characters", amount))


def _price_transcriptions(
    table: PriceTable, result: Mapping[str, Any], at: int
) -> list[LineItem] | None:
    model, rates = _model_rates(table, result, at)
    if rates is None or rates.per_minute is None:
        return None
    quantity = _number(result.get("seconds"))
    amount = quantity * rates.per_minute / _SIXTY
    return _nonzero(_item(f"{model}, seconds", quantity, "duration_seconds", amount))


def _price_web_search(
    table: PriceTable, result: Mapping[str, Any], at: int
) -> list[LineItem] | None:
    tools = table.tool_rates(at)
    rate = (
        None
        if tools is None
        else tools.web_search_per_1k_calls.get(str(result.get("context_level")))
    )
    if rate is None:
        return None
    quantity = _number(result.get("num_requests"))
    return _nonzero(_item("web search tool calls", quantity, None, quantity * rate / _THOUSAND))


def _price_file_search(
    table: PriceTable, result: Mapping[str, Any], at: int
) -> list[LineItem] | None:
    tools = table.tool_rates(at)
    if tools is None:
        return None
    quantity = _number(result.get("num_requests"))
    amount = quantity * tools.file_search_per_1k_calls / _THOUSAND
    return _nonzero(_item("file search tool calls", quantity, None, amount))


def _price_code_interpreter(
    table: PriceTable, result: Mapping[str, Any], at: int
) -> list[LineItem] | None:
    tools = table.tool_rates(at)
    if tools is None:
        return None
    quantity = _number(result.get("num_sessions"))
    amount = quantity * tools.code_interpreter_per_session
    return _nonzero(_item("code interpreter sessions", quantity, None, amount))


def _price_vector_stores(
    table: PriceTable, result: Mapping[str, Any], at: int
) -> list[LineItem] | None:
    """`usage_bytes` summed over a bucket counts byte-days (exact for 1d buckets, which is what
    storage is billed by), so a GiB-day price applies directly."""
    tools = table.tool_rates(at)
    if tools is None:
        return None
    gib_days = _number(result.get("usage_bytes")) / _GIB
    amount = gib_days * tools.vector_store_per_gb_day
    return _nonzero(
        _item("vector store storage", gib_days * _HOURS_PER_DAY, "gibibyte_hours", amount)
    )


_PRICERS: Final[dict[str, Pricer]] = {
    "completions": _price_completions,
    "embeddings": _price_input_tokens,
    "moderations": _price_input_tokens,
    "images": _price_images,
    "audio_speeches": _price_speeches,
    "audio_transcriptions": _price_transcriptions,
    "web_search_calls": _price_web_search,
    "file_search_calls": _price_file_search,
    "code_interpreter_sessions": _price_code_interpreter,
    "vector_stores": _price_vector_stores,
}


def _token_quantities(result: Mapping[str, Any]) -> list[tuple[str, Decimal]]:
    """The billed parts with a positive count. Text counts are what remains of each total, so
    results carrying only the required counters still bill in full."""
    get = result.get
    cached = _count(get("input_cached_tokens"))
    cache_write = _count(get("input_cache_write_tokens"))
    audio_in, image_in = _count(get("input_audio_tokens")), _count(get("input_image_tokens"))
    cached_audio = _count(get("input_cached_audio_tokens"))
    cached_image = _count(get("input_cached_image_tokens"))
    audio_out, image_out = _count(get("output_audio_tokens")), _count(get("output_image_tokens"))
    text_in = _count(get("input_tokens")) - cached - cache_write - audio_in - image_in
    cached_text = cached - cached_audio - cached_image
    text_out = _count(get("output_tokens")) - audio_out - image_out
    quantities = (
        text_in, cached_text, cache_write, audio_in, cached_audio,
        image_in, cached_image, text_out, audio_out, image_out,
    )  # fmt: skip
    return [
        (label, Decimal(q)) for (label, _), q in zip(_TOKEN_PARTS, quantities, strict=True) if q > 0
    ]


def _model_rates(
    table: PriceTable, result: Mapping[str, Any], at: int
) -> tuple[str, ModelRates | None]:
    model = result.get("model")
    if not isinstance(model, str) or not model:
        return "", None
    return model, table.rates(model, at)


def _item(name: str, quantity: Decimal, unit: str | None, amount: Decimal) -> LineItem:
    return LineItem(name=name, quantity=quantity, unit=unit, amount_usd=amount)


def _nonzero(item: LineItem) -> list[LineItem]:
    return [item] if item.quantity else []


def _number(value: Any) -> Decimal:
    """A counter as the API may send it: int, float, numeric string, or missing/null (0)."""
    if value is None or isinstance(value, bool):
        return Decimal(0)
    if isinstance(value, int):
        return Decimal(value)
    return Decimal(str(value))


def _count(value: Any) -> int | Decimal:
    """Like `_number`, but ints stay ints: token arithmetic is the hot path of costing."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return _number(value)


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return value is True


# --- loading ------------------------------------------------------------------------------------


def _parse_table(data: Mapping[str, Any]) -> PriceTable:
    models = {
        name: _by_date([_parse_model(version) for version in versions])
        for name, versions in data["models"].items()
    }
    return PriceTable(
        version=str(data["version"]),
        batch_discount=_decimal(data["batch_discount"]),
        service_tiers=_decimals(data["service_tiers"]),
        models=models,
        tools=_by_date([_parse_tools(version) for version in data["tools"]]),
    )


def _parse_model(data: Mapping[str, Any]) -> ModelRates:
    tokens = _decimals(data.get("tokens", {}))
    unknown = set(tokens) - TOKEN_RATE_KINDS
    if unknown:
        raise ValueError(f"unknown token rate kinds {sorted(unknown)}")
    return ModelRates(
        effective_from=_day_start(data["effective_from"]),
        tokens=tokens,
        per_image=_decimals(data.get("per_image", {})),
        per_1m_characters=_optional_decimal(data.get("per_1m_characters")),
        per_minute=_optional_decimal(data.get("per_minute")),
        service_tiers=_decimals(data.get("service_tiers", {})),
    )


def _parse_tools(data: Mapping[str, Any]) -> ToolRates:
    return ToolRates(
        effective_from=_day_start(data["effective_from"]),
        web_search_per_1k_calls=_decimals(data["web_search_per_1k_calls"]),
        file_search_per_1k_calls=_decimal(data["file_search_per_1k_calls"]),
        code_interpreter_per_session=_decimal(data["code_interpreter_per_session"]),
        vector_store_per_gb_day=_decimal(data["vector_store_per_gb_day"]),
    )


def _day_start(value: str) -> int:
    """Unix seconds of a `YYYY-MM-DD` date's UTC midnight."""
    return int(datetime.combine(date.fromisoformat(value), time(), tzinfo=UTC).timestamp())


def _decimal(value: Any) -> Decimal:
    """A price given as a JSON number or a string; str() keeps 0.275 exactly 0.275."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"not a price: {value!r}")
    return Decimal(str(value))


def _optional_decimal(value: Any) -> Decimal | None:
    return None if value is None else _decimal(value)


def _decimals(data: Mapping[str, Any]) -> dict[str, Decimal]:
    return {str(key): _decimal(value) for key, value in data.items()}


def _by_date(versions: Sequence[_Dated]) -> tuple[_Dated, ...]:
    return tuple(sorted(versions, key=lambda version: version.effective_from))


def _in_force(versions: Sequence[_Dated], at: int) -> _Dated | None:
    """The newest version in force at `at`; lists hold a handful, so a scan beats bisect."""
    for version in reversed(versions):
        if version.effective_from <= at:
            return version
    return None
