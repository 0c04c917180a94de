"""Golden cases: fixture inputs and the documents they must become, one file per stream.

Each `tests/fixtures/golden/<stream>.json` holds `cases`, each with a `context` (described, not
constructed: `names` and `prices` say whether the fakes below are given), the API input and the
`expected` document.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from poller.documents import (
    Document,
    MappingContext,
    map_audit_log,
    map_costs_result,
    map_rate_limit,
    map_usage_result,
)
from poller.streams import STREAM_NAMES, BucketWidth, StreamKind, get_stream

GOLDEN_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "golden"


@dataclass(frozen=True)
class FakeNames:
    projects: Mapping[str, str] = field(default_factory=lambda: {"proj_alpha": "Alpha"})
    users: Mapping[str, str] = field(default_factory=lambda: {"user_ann": "ann@acme.example"})
    api_keys: Mapping[str, str] = field(default_factory=lambda: {"key_ci": "CI deploy key"})

    def project_name(self, project_id: str) -> str | None:
        return self.projects.get(project_id)

    def user_email(self, user_id: str) -> str | None:
        return self.users.get(user_id)

    def api_key_name(self, api_key_id: str) -> str | None:
        return self.api_keys.get(api_key_id)


# stream → model ("*": a stream without a model dimension) → result field → USD per unit
_RATES: Mapping[str, Mapping[str, Mapping[str, str]]] = {
    "completions": {"gpt-4o": {"input_tokens": "0.0000025", "output_tokens": "0.00001"}},
    "embeddings": {"text-embedding-3-small": {"input_tokens": "0.00000002"}},
    "images": {"dall-e-3": {"images": "0.04"}},
    "audio_speeches": {"tts-1": {"characters": "0.000015"}},
    "audio_transcriptions": {"whisper-1": {"seconds": "0.0001"}},
    "file_search_calls": {"*": {"num_requests": "0.0025"}},
    "web_search_calls": {"gpt-4o": {"num_requests": "0.01"}},
}


@dataclass(frozen=True)
class FakePriceTable:
    """The `poller.pricing.PriceTable` interface: None when the model is unknown or not grouped."""

    version: str = "test-2026.1"
    rates: Mapping[str, Mapping[str, Mapping[str, str]]] = field(default_factory=lambda: _RATES)
    calls: list[tuple[str, int]] = field(default_factory=list, compare=False)

    def estimate_usd(self, stream: str, result: Mapping[str, Any], at: int) -> Decimal | None:
        self.calls.append((stream, at))
        by_model = self.rates.get(stream, {})
        rates = by_model.get(result.get("model") or "*")
        if rates is None:
            return None
        return sum(
            (Decimal(rate) * (result.get(name) or 0) for name, rate in rates.items()), Decimal(0)
        )


def context(description: Mapping[str, Any]) -> MappingContext:
    return MappingContext(
        organization_id=description["organization_id"],
        organization_name=description.get("organization_name"),
        namespace=description.get("namespace", "default"),
        bucket_width=BucketWidth(description.get("bucket_width", "1d")),
        group_by=tuple(description.get("group_by", ())),
        names=FakeNames() if description.get("names") else None,
        price_table=FakePriceTable() if description.get("prices") else None,
    )


def map_case(stream: str, case: Mapping[str, Any]) -> Document:
    """Run the mapper of `stream` on a case's input."""
    ctx = context(case["context"])
    kind = get_stream(stream).kind
    if kind is StreamKind.USAGE:
        start, end = case["bucket"]["start_time"], case["bucket"]["end_time"]
        return map_usage_result(ctx, stream, start, end, case["result"])
    if kind is StreamKind.COSTS:
        start, end = case["bucket"]["start_time"], case["bucket"]["end_time"]
        return map_costs_result(ctx, start, end, case["result"])
    if kind is StreamKind.AUDIT:
        return map_audit_log(ctx, case["log"])
    return map_rate_limit(ctx, case["rate_limit"], case["project"], case["slot_start"])


def load_cases(stream: str) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads(
        (GOLDEN_DIR / f"{stream}.json").read_text(encoding="utf-8")
    )["cases"]
    return cases


def all_cases() -> list[tuple[str, dict[str, Any]]]:
    return [(stream, case) for stream in STREAM_NAMES for case in load_cases(stream)]
