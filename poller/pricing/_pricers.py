"""How each usage stream is priced: its result's counters times the rates in force.

A pricer returns the result's line items, or None when the table cannot price it (an unknown
model, or a pricing dimension such as the model or image size that was not grouped): an unpriced
result must never pass for a free one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from poller.pricing._rates import MILLION, TOKEN_PARTS, LineItem, ModelRates
from poller.streams import StreamName

if TYPE_CHECKING:
    from poller.pricing._table import PriceTable

__all__ = ["PRICERS", "Pricer"]

_THOUSAND: Final = Decimal(1000)
_SIXTY: Final = Decimal(60)
_GIB: Final = Decimal(2**30)
_HOURS_PER_DAY: Final = Decimal(24)

Pricer = Callable[["PriceTable", Mapping[str, Any], int], "list[LineItem] | None"]


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
    amount = quantity * rates.tokens["input"] / MILLION
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
    amount = quantity * rates.per_1m_characters / MILLION
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


PRICERS: Final[dict[str, Pricer]] = {
    StreamName.COMPLETIONS: _price_completions,
    StreamName.EMBEDDINGS: _price_input_tokens,
    StreamName.MODERATIONS: _price_input_tokens,
    StreamName.IMAGES: _price_images,
    StreamName.AUDIO_SPEECHES: _price_speeches,
    StreamName.AUDIO_TRANSCRIPTIONS: _price_transcriptions,
    StreamName.WEB_SEARCH_CALLS: _price_web_search,
    StreamName.FILE_SEARCH_CALLS: _price_file_search,
    StreamName.CODE_INTERPRETER_SESSIONS: _price_code_interpreter,
    StreamName.VECTOR_STORES: _price_vector_stores,
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
        (label, Decimal(q)) for (label, _), q in zip(TOKEN_PARTS, quantities, strict=True) if q > 0
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
