"""The models the synthetic organization uses, and when each became available.

Usage moves along *ladders*: a line of traffic starts on the model current at the time and
migrates to each successor some days after its release (gpt-3.5-turbo → gpt-4o-mini →
gpt-4.1-mini → gpt-5-mini), so history looks like a real organization's. Names follow what the
Usage API reports: some lines call aliases ("gpt-4o"), others dated snapshots.

The fine-tuned model is deliberately absent from the published price table (the poller must
flag it unpriced); the simulator bills it at OpenAI's fine-tuned gpt-4o-mini inference rates.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from poller.pricing import ModelRates
from poller.simulator.org_time import day_index, day_start

__all__ = [
    "FINE_TUNED_MODEL",
    "FINE_TUNED_RATES",
    "LADDERS",
    "PROMPT_CACHING_DAY",
    "TIER_LAUNCH_DAY",
    "Ladder",
    "Step",
]

FINE_TUNED_MODEL: Final = "ft:gpt-4o-mini-2024-07-18:acme::AbC123"
FINE_TUNED_RATES: Final = (
    ModelRates(
        effective_from=day_start(day_index("2024-08-20")),
        tokens={
            "input": Decimal("0.30"),
            "cached_input": Decimal("0.15"),
            "output": Decimal("1.20"),
        },
    ),
)

PROMPT_CACHING_DAY: Final = day_index("2024-10-01")
_ALWAYS: Final = day_index("2023-01-01")  # before the epoch: available from the first day
TIER_LAUNCH_DAY: Final = {
    "default": _ALWAYS,
    "scale": day_index("2024-08-15"),
    "flex": day_index("2025-04-16"),
    "priority": day_index("2025-05-01"),
}

Extras = tuple[tuple[str, str | bool], ...]


@dataclass(frozen=True)
class Step:
    """One rung: a model (None where the stream has no model) and the dimensions it implies."""

    model: str | None
    from_day: int
    extras: Extras = ()
    legacy: bool = False  # lines do not settle on it: they all move on eventually


@dataclass(frozen=True)
class Ladder:
    stream: str
    steps: tuple[Step, ...]


def _ladder(stream: str, *steps: Step) -> Ladder:
    return Ladder(stream, steps)


def _step(
    model: str | None, date: str | None = None, *, legacy: bool = False, **extras: str
) -> Step:
    """A rung available from `date` (None: from before the epoch)."""
    return Step(model, _ALWAYS if date is None else day_index(date), tuple(extras.items()), legacy)


_WEB_SEARCH_DAY: Final = "2025-03-11"  # the Responses API's web search tool
_VECTOR_STORE_DAY: Final = "2024-04-17"  # Assistants v2: vector stores and file search

LADDERS: Final[dict[str, Ladder]] = {
    "flagship": _ladder(
        "completions",
        _step("gpt-4-turbo", legacy=True),
        _step("gpt-4o-2024-05-13", "2024-05-13", legacy=True),
        _step("gpt-4o-2024-08-06", "2024-08-06"),
        _step("gpt-4.1-2025-04-14", "2025-04-14"),
        _step("gpt-5-2025-08-07", "2025-08-07"),
    ),
    "flagship-alias": _ladder(
        "completions",
        _step("gpt-4-turbo", legacy=True),
        _step("gpt-4o", "2024-05-13"),
        _step("gpt-4.1", "2025-04-14"),
        _step("gpt-5", "2025-08-07"),
    ),
    "mini": _ladder(
        "completions",
        _step("gpt-3.5-turbo-0125", legacy=True),
        _step("gpt-4o-mini-2024-07-18", "2024-07-18"),
        _step("gpt-4.1-mini-2025-04-14", "2025-04-14"),
        _step("gpt-5-mini-2025-08-07", "2025-08-07"),
    ),
    "mini-alias": _ladder(
        "completions",
        _step("gpt-3.5-turbo", legacy=True),
        _step("gpt-4o-mini", "2024-07-18"),
        _step("gpt-4.1-mini", "2025-04-14"),
        _step("gpt-5-mini", "2025-08-07"),
    ),
    "reasoning": _ladder(
        "completions", _step("o1", "2024-12-17", legacy=True), _step("o3", "2025-04-16")
    ),
    "reasoning-mini": _ladder(
        "completions", _step("o3-mini", "2025-01-31", legacy=True), _step("o4-mini", "2025-04-16")
    ),
    "realtime": _ladder(
        "completions",
        _step("gpt-4o-realtime-preview", "2024-10-01", legacy=True),
        _step("gpt-realtime", "2025-08-28"),
    ),
    "image-tokens": _ladder("completions", _step("gpt-image-1", "2025-04-23")),
    "fine-tuned": _ladder("completions", _step(FINE_TUNED_MODEL, "2024-09-01")),
    "embed-small": _ladder(
        "embeddings",
        _step("text-embedding-ada-002", legacy=True),
        _step("text-embedding-3-small", "2024-01-25"),
    ),
    "embed-large": _ladder("embeddings", _step("text-embedding-3-large", "2024-01-25")),
    "moderation": _ladder(
        "moderations",
        _step("text-moderation-latest", legacy=True),
        _step("omni-moderation-latest", "2024-09-26"),
    ),
    "image-square": _ladder(
        "images",
        _step("dall-e-3", legacy=True, size="1024x1024", source="image.generation"),
        _step("gpt-image-1", "2025-04-23", size="1024x1024", source="image.generation"),
    ),
    "image-landscape": _ladder(
        "images",
        _step("dall-e-3", legacy=True, size="1792x1024", source="image.generation"),
        _step("gpt-image-1", "2025-04-23", size="1536x1024", source="image.generation"),
    ),
    "image-portrait": _ladder(
        "images",
        _step("dall-e-3", legacy=True, size="1024x1792", source="image.generation"),
        _step("gpt-image-1", "2025-04-23", size="1024x1536", source="image.generation"),
    ),
    "image-edit": _ladder(
        "images",
        _step("dall-e-2", size="1024x1024", source="image.edit"),
        _step("gpt-image-1", "2025-04-23", size="1024x1024", source="image.edit"),
    ),
    "image-variation": _ladder(
        "images", _step("dall-e-2", size="512x512", source="image.variation")
    ),
    "tts": _ladder("audio_speeches", _step("tts-1"), _step("gpt-4o-mini-tts", "2025-03-20")),
    "tts-hd": _ladder("audio_speeches", _step("tts-1-hd")),
    "stt": _ladder(
        "audio_transcriptions", _step("whisper-1"), _step("gpt-4o-transcribe", "2025-03-20")
    ),
    "stt-mini": _ladder("audio_transcriptions", _step("gpt-4o-mini-transcribe", "2025-03-20")),
    "web-search": _ladder(
        "web_search_calls",
        _step("gpt-4o", _WEB_SEARCH_DAY),
        _step("gpt-4.1", "2025-04-14"),
        _step("gpt-5", "2025-08-07"),
    ),
    "web-search-mini": _ladder(
        "web_search_calls",
        _step("gpt-4o-mini", _WEB_SEARCH_DAY),
        _step("gpt-4.1-mini", "2025-04-14"),
        _step("gpt-5-mini", "2025-08-07"),
    ),
    "file-search": _ladder("file_search_calls", _step(None, _VECTOR_STORE_DAY)),
    "code-interpreter": _ladder("code_interpreter_sessions", _step(None)),
    "vector-store": _ladder("vector_stores", _step(None, _VECTOR_STORE_DAY)),
}
