"""What a price table is made of: priced line items, and the dated rates of a model and of the
tools. A version applies from its `effective_from` (Unix seconds) until the next one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from typing import Final

__all__ = [
    "MILLION",
    "TOKEN_PARTS",
    "TOKEN_RATE_KINDS",
    "LineItem",
    "ModelRates",
    "ToolRates",
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
TOKEN_PARTS: Final = (
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

MILLION: Final = Decimal(1_000_000)  # token and character rates are per million


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
            label: next((self.tokens[k] / MILLION for k in chain if k in self.tokens), None)
            for label, chain in TOKEN_PARTS
        }


@dataclass(frozen=True)
class ToolRates:
    """One dated version of the tool prices, complete in itself."""

    effective_from: int
    web_search_per_1k_calls: Mapping[str, Decimal]  # by context level
    file_search_per_1k_calls: Decimal
    code_interpreter_per_session: Decimal
    vector_store_per_gb_day: Decimal

