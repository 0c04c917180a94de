"""Leaf counters per usage stream, and how they become the API's metric fields.

Rows are stored and split as *leaves*: counters no other counter includes, driver first.
Every total the API reports (`input_tokens`, `input_cached_tokens`, `output_tokens`, …) is a
sum of leaves computed on the way out, so the identities between completions counters hold in
every bucket, partial ones included, and every metric stays additive.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from poller.simulator.org_split import Row

__all__ = ["LEAVES", "Expand", "expander"]

Expand = Callable[[Row], dict[str, int]]

COMPLETIONS_LEAVES: Final = (
    "num_model_requests",
    "input_text_tokens",
    "input_audio_tokens",
    "input_image_tokens",
    "input_cached_text_tokens",
    "input_cached_audio_tokens",
    "input_cached_image_tokens",
    "input_cache_write_tokens",
    "output_text_tokens",
    "output_audio_tokens",
    "output_image_tokens",
)

LEAVES: Final[dict[str, tuple[str, ...]]] = {
    "completions": COMPLETIONS_LEAVES,
    "embeddings": ("num_model_requests", "input_tokens"),
    "moderations": ("num_model_requests", "input_tokens"),
    "images": ("num_model_requests", "images"),
    "audio_speeches": ("num_model_requests", "characters"),
    "audio_transcriptions": ("num_model_requests", "seconds"),
    "vector_stores": ("usage_bytes",),
    "code_interpreter_sessions": ("num_sessions",),
    "file_search_calls": ("num_requests",),
    "web_search_calls": ("num_model_requests", "num_requests"),
}


def _completions(row: Row) -> dict[str, int]:
    (
        requests,
        text,
        audio,
        image,
        c_text,
        c_audio,
        c_image,
        cache_write,
        o_text,
        o_audio,
        o_image,
    ) = row
    uncached = text + audio + image
    cached = c_text + c_audio + c_image
    return {
        "input_tokens": uncached + cached + cache_write,
        "output_tokens": o_text + o_audio + o_image,
        "num_model_requests": requests,
        "input_cached_tokens": cached,
        "input_cache_write_tokens": cache_write,
        "input_uncached_tokens": uncached,
        "input_text_tokens": text,
        "output_text_tokens": o_text,
        "input_cached_text_tokens": c_text,
        "input_audio_tokens": audio,
        "input_cached_audio_tokens": c_audio,
        "output_audio_tokens": o_audio,
        "input_image_tokens": image,
        "input_cached_image_tokens": c_image,
        "output_image_tokens": o_image,
    }


def expander(stream: str) -> Expand:
    """The function turning a stream's leaf row into its full metric dict."""
    if stream == "completions":
        return _completions
    names = LEAVES[stream]
    return lambda row: dict(zip(names, row, strict=True))
