"""The price table: effective dates, rate kinds, multipliers, and what counts as unpriced."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from poller.pricing import LineItem, ModelRates, PriceTable, load_price_table

D = Decimal
JAN_2025 = 1_735_689_600  # 2025-01-01T00:00:00Z
MAY_2025 = 1_746_057_600  # 2025-05-01
JUL_2025 = 1_751_328_000  # 2025-07-01
OCT_2025 = 1_759_276_800  # 2025-10-01
JUN_2024 = 1_717_200_000  # 2024-06-01
NOV_2024 = 1_730_419_200  # 2024-11-01


@pytest.fixture(scope="module")
def table() -> PriceTable:
    return load_price_table()


def items(
    table: PriceTable, stream: str, result: dict[str, object], at: int
) -> dict[str, LineItem]:
    priced = table.line_items(stream, result, at)
    assert priced is not None
    return {item.name: item for item in priced}


def test_the_packaged_table_has_a_version(table: PriceTable) -> None:
    assert table.version == "2026-11-01"


def test_a_new_price_applies_from_its_effective_date(table: PriceTable) -> None:
    result = {"model": "o3", "input_tokens": 1_000_000, "output_tokens": 1_000_000}
    assert table.estimate_usd("completions", result, MAY_2025) == D("50.00")  # 10 + 40
    assert table.estimate_usd("completions", result, JUL_2025) == D("10.00")  # 2 + 8


def test_the_new_price_starts_exactly_at_midnight_utc(table: PriceTable) -> None:
    cut = 1_749_513_600  # 2025-06-10T00:00:00Z
    result = {"model": "o3", "input_tokens": 1_000_000, "output_tokens": 0}
    assert table.estimate_usd("completions", result, cut - 1) == D("10.00")
    assert table.estimate_usd("completions", result, cut) == D("2.00")


def test_before_a_model_has_any_price_it_is_unpriced(table: PriceTable) -> None:
    result = {"model": "gpt-5", "input_tokens": 10, "output_tokens": 10}
    assert table.line_items("completions", result, JAN_2025) is None
    assert not table.is_priced("gpt-5", JAN_2025)
    assert table.is_priced("gpt-5", OCT_2025)


def test_cached_input_is_billed_at_the_cached_rate(table: PriceTable) -> None:
    result = {
        "model": "gpt-4o",
        "input_tokens": 1_000_000,
        "input_cached_tokens": 400_000,
        "output_tokens": 100_000,
    }
    parts = items(table, "completions", result, NOV_2024)
    assert parts["gpt-4o, input"].quantity == 600_000
    assert parts["gpt-4o, input"].amount_usd == D("1.5")  # 0.6M x 2.50
    assert parts["gpt-4o, cached input"].amount_usd == D("0.5")  # 0.4M x 1.25
    assert parts["gpt-4o, output"].amount_usd == D("1.0")  # 0.1M x 10
    assert {item.unit for item in parts.values()} == {"tokens"}


def test_cached_input_without_a_cached_rate_bills_at_the_input_rate(table: PriceTable) -> None:
    result = {"model": "gpt-4o", "input_tokens": 1_000_000, "input_cached_tokens": 1_000_000}
    assert table.estimate_usd("completions", result, JUN_2024) == D("5.00")


def test_batch_halves_the_price(table: PriceTable) -> None:
    result = {"model": "gpt-4.1", "input_tokens": 1_000_000, "output_tokens": 1_000_000}
    assert table.estimate_usd("completions", result, JUL_2025) == D("10.00")
    assert table.estimate_usd("completions", {**result, "batch": True}, JUL_2025) == D("5.000")
    assert table.estimate_usd("completions", {**result, "batch": "true"}, JUL_2025) == D("5.000")
    assert table.estimate_usd("completions", {**result, "batch": False}, JUL_2025) == D("10.00")


@pytest.mark.parametrize(
    ("model", "tier", "expected"),
    [
        ("o3", "default", D("10.00")),
        ("o3", None, D("10.00")),
        ("o3", "flex", D("5.000")),
        ("o3", "priority", D("17.5000")),  # the table's 1.75
        ("gpt-5", "priority", D("22.50")),  # (1.25 + 10) x gpt-5's own 2.0
        ("o3", "scale", D("10.00")),
        ("o3", "some-new-tier", D("10.00")),  # unknown tiers bill as default
    ],
)
def test_service_tiers_scale_the_price(
    table: PriceTable, model: str, tier: str | None, expected: Decimal
) -> None:
    result = {"model": model, "input_tokens": 1_000_000, "output_tokens": 1_000_000}
    assert table.estimate_usd("completions", {**result, "service_tier": tier}, OCT_2025) == expected


def test_audio_and_image_tokens_have_their_own_rates(table: PriceTable) -> None:
    result = {
        "model": "gpt-realtime",
        "input_tokens": 3_000_000,
        "input_audio_tokens": 1_000_000,
        "input_cached_tokens": 1_000_000,
        "input_cached_audio_tokens": 1_000_000,
        "output_tokens": 2_000_000,
        "output_audio_tokens": 1_000_000,
    }
    parts = items(table, "completions", result, OCT_2025)
    assert {name: item.amount_usd for name, item in parts.items()} == {
        "gpt-realtime, input": D("4.00"),
        "gpt-realtime, audio input": D("32.00"),
        "gpt-realtime, cached audio input": D("0.40"),
        "gpt-realtime, output": D("16.00"),
        "gpt-realtime, audio output": D("64.00"),
    }
    image = {
        "model": "gpt-image-1",
        "input_tokens": 1_000_000,
        "input_image_tokens": 1_000_000,
        "output_tokens": 1_000_000,
        "output_image_tokens": 1_000_000,
    }
    assert table.estimate_usd("completions", image, OCT_2025) == D("50.00")  # 10 + 40


def test_vision_input_without_an_image_rate_bills_as_text(table: PriceTable) -> None:
    result = {"model": "gpt-4.1", "input_tokens": 1_000_000, "input_image_tokens": 1_000_000}
    assert items(table, "completions", result, JUL_2025)["gpt-4.1, image input"].amount_usd == 2


def test_cache_writes_bill_at_the_input_rate(table: PriceTable) -> None:
    result = {"model": "gpt-5", "input_tokens": 1_000_000, "input_cache_write_tokens": 1_000_000}
    assert items(table, "completions", result, OCT_2025)["gpt-5, cache write"].amount_usd == D(
        "1.25"
    )


def test_a_result_with_only_the_required_counters_bills_in_full(table: PriceTable) -> None:
    result = {"model": "gpt-4.1", "input_tokens": 500_000, "output_tokens": 250_000}
    assert table.estimate_usd("completions", result, JUL_2025) == D("3.00")  # 1 + 2


def test_snapshots_resolve_to_their_family_unless_priced_themselves(table: PriceTable) -> None:
    family = {"model": "gpt-4o", "input_tokens": 1_000_000}
    snapshot = {"model": "gpt-4o-2024-08-06", "input_tokens": 1_000_000}
    pinned = {"model": "gpt-4o-2024-05-13", "input_tokens": 1_000_000}
    legacy = {"model": "gpt-3.5-turbo-0125", "input_tokens": 1_000_000}
    assert table.estimate_usd("completions", snapshot, NOV_2024) == D("2.50")
    assert table.estimate_usd("completions", family, NOV_2024) == D("2.50")
    assert table.estimate_usd("completions", pinned, NOV_2024) == D("5.00")
    assert table.estimate_usd("completions", legacy, NOV_2024) == D("0.50")


@pytest.mark.parametrize(
    "model",
    ["gpt-99", "ft:gpt-4o-mini-2024-07-18:acme::AbC123", "ft:gpt-4o-mini-2024-07-18", None, ""],
)
def test_unknown_fine_tuned_or_ungrouped_models_are_unpriced(
    table: PriceTable, model: str | None
) -> None:
    result = {"model": model, "input_tokens": 10, "output_tokens": 10}
    assert table.line_items("completions", result, OCT_2025) is None
    assert table.estimate_usd("completions", result, OCT_2025) is None


def test_with_models_prices_what_the_published_table_leaves_out(table: PriceTable) -> None:
    model = "ft:gpt-4o-mini-2024-07-18:acme::AbC123"
    rates = ModelRates(effective_from=0, tokens={"input": D("0.30"), "output": D("1.20")})
    extended = table.with_models({model: [rates]})
    result = {"model": model, "input_tokens": 1_000_000, "output_tokens": 1_000_000}
    assert extended.estimate_usd("completions", result, OCT_2025) == D("1.50")
    assert table.estimate_usd("completions", result, OCT_2025) is None


def test_numbers_may_arrive_as_strings_or_floats(table: PriceTable) -> None:
    as_ints = {"model": "gpt-4.1", "input_tokens": 1000, "output_tokens": 500}
    as_text = {"model": "gpt-4.1", "input_tokens": "1000", "output_tokens": "500"}
    as_floats = {"model": "gpt-4.1", "input_tokens": 1000.0, "output_tokens": 500.0}
    missing = {"model": "gpt-4.1", "input_tokens": 1000, "output_tokens": 500, "batch": None}
    expected = D("0.006")
    for result in (as_ints, as_text, as_floats, missing):
        assert table.estimate_usd("completions", result, JUL_2025) == expected


def test_prices_may_be_json_numbers_without_float_noise(table: PriceTable) -> None:
    rates = table.rates("o4-mini", JUL_2025)  # written as numbers in prices.json
    assert rates is not None
    assert rates.tokens["cached_input"] == D("0.275")
    assert rates.tokens["input"] == D("1.1")


def test_moderations_cost_zero_but_are_priced(table: PriceTable) -> None:
    result = {"model": "omni-moderation-latest", "input_tokens": 12_345, "num_model_requests": 3}
    assert table.line_items("moderations", result, OCT_2025) == [
        LineItem("omni-moderation-latest, input", D(12_345), "tokens", D(0))
    ]
    assert table.estimate_usd("moderations", result, OCT_2025) == 0


def test_embeddings_bill_input_tokens(table: PriceTable) -> None:
    result = {"model": "text-embedding-3-small", "input_tokens": 2_000_000}
    assert table.estimate_usd("embeddings", result, OCT_2025) == D("0.04")


def test_images_are_priced_per_image_and_size(table: PriceTable) -> None:
    result = {"model": "dall-e-3", "size": "1792x1024", "images": 10, "num_model_requests": 8}
    assert table.line_items("images", result, OCT_2025) == [
        LineItem("dall-e-3, images", D(10), "images", D("0.800"))
    ]
    assert table.line_items("images", {**result, "size": "4096x4096"}, OCT_2025) is None
    assert table.line_items("images", {**result, "size": None}, OCT_2025) is None


def test_audio_is_priced_by_characters_and_by_minute(table: PriceTable) -> None:
    speech = {"model": "tts-1", "characters": 2_000_000}
    transcription = {"model": "whisper-1", "seconds": 90}
    assert table.line_items("audio_speeches", speech, OCT_2025) == [
        LineItem("tts-1, characters", D(2_000_000), "characters", D("30.00"))
    ]
    assert table.line_items("audio_transcriptions", transcription, OCT_2025) == [
        LineItem("whisper-1, seconds", D(90), "duration_seconds", D("0.009"))
    ]


def test_tool_prices_follow_their_own_effective_dates(table: PriceTable) -> None:
    result = {"context_level": "high", "num_requests": 1000, "num_model_requests": 700}
    assert table.estimate_usd("web_search_calls", result, JUL_2025) == D("50.00")
    assert table.estimate_usd("web_search_calls", result, OCT_2025) == D("10.00")
    assert table.line_items("web_search_calls", {**result, "context_level": None}, OCT_2025) is None
    web = table.line_items("web_search_calls", result, OCT_2025)
    assert web == [LineItem("web search tool calls", D(1000), None, D("10.00"))]


def test_file_search_code_interpreter_and_storage(table: PriceTable) -> None:
    assert table.estimate_usd("file_search_calls", {"num_requests": 400}, OCT_2025) == 1
    assert table.estimate_usd("code_interpreter_sessions", {"num_sessions": 10}, OCT_2025) == D(
        "0.30"
    )
    storage = table.line_items("vector_stores", {"usage_bytes": 5 * 2**30}, OCT_2025)
    assert storage == [LineItem("vector store storage", D(120), "gibibyte_hours", D("0.50"))]


def test_empty_results_are_priced_at_nothing(table: PriceTable) -> None:
    assert table.line_items("file_search_calls", {"num_requests": 0}, OCT_2025) == []
    assert table.estimate_usd("completions", {"model": "o3"}, OCT_2025) == 0


def test_an_unknown_stream_is_an_error(table: PriceTable) -> None:
    with pytest.raises(KeyError, match="no prices for stream 'assistants'"):
        table.line_items("assistants", {}, OCT_2025)


def test_a_table_can_be_loaded_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(
        json.dumps(
            {
                "version": "test-1",
                "batch_discount": 0.5,
                "service_tiers": {"default": 1},
                "models": {"m": [{"effective_from": "2025-01-01", "tokens": {"input": 3}}]},
                "tools": [],
            }
        )
    )
    loaded = load_price_table(path)
    assert loaded.version == "test-1"
    assert loaded.estimate_usd("embeddings", {"model": "m", "input_tokens": 10**6}, JUL_2025) == 3
    assert loaded.line_items("file_search_calls", {"num_requests": 1}, JUL_2025) is None


@pytest.mark.parametrize(
    "broken",
    [
        {"version": "x"},
        {
            "version": "x",
            "batch_discount": "0.5",
            "service_tiers": {},
            "models": {"m": [{"effective_from": "2025-01-01", "tokens": {"inptu": "1"}}]},
            "tools": [],
        },
        {
            "version": "x",
            "batch_discount": "half",
            "service_tiers": {},
            "models": {},
            "tools": [],
        },
    ],
)
def test_a_broken_table_is_rejected_with_its_path(tmp_path: Path, broken: object) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(broken))
    with pytest.raises(ValueError, match="invalid price table"):
        load_price_table(path)
