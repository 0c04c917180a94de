"""Costs are the organization's own usage priced by poller.pricing, rounded per row and day."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

import pytest

from poller.pricing import load_price_table
from poller.simulator.model import CostRecord, Dims
from poller.simulator.organization import Organization, build_organization
from poller.streams import USAGE_ENDPOINTS

HOUR, DAY = 3600, 86_400
EPOCH = 1_704_067_200
D = EPOCH + 623 * DAY  # 2025-09-15
STREAMS = [name for name in USAGE_ENDPOINTS if name != "costs"]
FINE_TUNED = "ft:gpt-4o-mini-2024-07-18:acme::AbC123"
MICRO = Decimal("0.000001")
UNITS = {None, "tokens", "images", "characters", "duration_seconds", "gibibyte_hours"}
INF = math.inf


@pytest.fixture(scope="module")
def org() -> Organization:
    return build_organization(11, "medium")


def priced_usage(
    org: Organization, start: int, end: int, now: float, day: int
) -> dict[Dims, list[Decimal]]:
    """What the costs of `[start, end)` must be: usage x prices, summed per cost row."""
    sums: dict[Dims, list[Decimal]] = {}
    for stream in STREAMS:
        names = USAGE_ENDPOINTS[stream].dimensions
        for dims, metrics in org.usage(stream, start, end, now).items():
            row = dict(zip(names, dims, strict=True))
            items = org.prices.line_items(stream, {**row, **metrics}, day)
            assert items is not None, row
            for item in items:
                key = (row["project_id"], item.name, row.get("api_key_id"))
                total = sums.setdefault(key, [Decimal(0), Decimal(0)])
                total[0] += item.amount_usd
                total[1] += item.quantity
    return sums


@pytest.mark.parametrize(
    ("start", "end", "now"),
    [
        (D, D + DAY, INF),
        (EPOCH + 3 * DAY, EPOCH + 4 * DAY, INF),
        (D + 5 * HOUR, D + 17 * HOUR, INF),  # a clipped bucket
        (D, D + DAY, D + 13 * HOUR + 123),  # today, partly late
    ],
)
def test_costs_are_usage_times_prices(org: Organization, start: int, end: int, now: float) -> None:
    expected = priced_usage(org, start, end, now, start - start % DAY)  # one day: its prices
    costs = org.costs(start, end, now)
    assert set(costs) == set(expected)
    for key, (amount, quantity) in expected.items():
        record = costs[key]
        assert record.amount == amount.quantize(MICRO, ROUND_HALF_UP), key
        assert record.quantity == quantity.quantize(MICRO), key


def test_cost_records_are_well_formed(org: Organization) -> None:
    costs = org.costs(D, D + DAY, INF)
    assert costs
    for (project_id, line_item, api_key_id), record in costs.items():
        assert isinstance(record, CostRecord)
        assert str(project_id).startswith("proj_")
        assert isinstance(line_item, str) and line_item
        assert api_key_id is None or str(api_key_id).startswith("key_")
        assert record.currency == "usd"
        assert record.quantity_unit in UNITS
        assert record.amount == record.amount.quantize(MICRO)
        assert record.amount >= 0 and record.quantity is not None and record.quantity > 0
    line_items = {line_item for _, line_item, _ in costs}
    for expected in ("web search tool calls", "file search tool calls", "code interpreter sessions",
                     "vector store storage"):  # fmt: skip
        assert expected in line_items
    assert any(str(item).endswith(", cached input") for item in line_items)


def test_days_add_up(org: Organization) -> None:
    week = org.costs(D, D + 7 * DAY, INF)
    days = [org.costs(D + n * DAY, D + (n + 1) * DAY, INF) for n in range(7)]
    for key, record in week.items():
        assert record.amount == sum((day[key].amount for day in days if key in day), Decimal(0))
        assert record.quantity == sum(
            (day[key].quantity or 0 for day in days if key in day), Decimal(0)
        )
    assert set(week) == {key for day in days for key in day}


def test_costs_grow_until_the_day_settles(org: Organization) -> None:
    settled = sum(r.amount for r in org.costs(D, D + DAY, INF).values())
    totals = [
        sum(r.amount for r in org.costs(D, D + DAY, D + hours * HOUR).values())
        for hours in (1, 6, 12, 24)
    ]
    assert totals == sorted(totals)
    assert totals[-1] < settled
    assert sum(r.amount for r in org.costs(D, D + DAY, D + DAY + 600).values()) == settled


def test_the_fine_tuned_model_is_billed_but_unknown_to_the_poller(org: Organization) -> None:
    published = load_price_table()
    rows = {
        dims: metrics
        for dims, metrics in org.usage("completions", D, D + DAY, INF).items()
        if dims[3] == FINE_TUNED
    }
    assert rows
    names = USAGE_ENDPOINTS["completions"].dimensions
    for dims, metrics in rows.items():
        result = {**dict(zip(names, dims, strict=True)), **metrics}
        assert published.line_items("completions", result, D) is None
        assert org.prices.line_items("completions", result, D)
    assert any(
        str(line_item).startswith(FINE_TUNED) for _, line_item, _ in org.costs(D, D + DAY, INF)
    )


def test_every_model_in_use_is_priced_by_the_published_table_except_the_fine_tuned_one(
    org: Organization,
) -> None:
    published = load_price_table()
    for day in (EPOCH, EPOCH + 200 * DAY, D, D + 400 * DAY):
        for stream in ("completions", "embeddings", "moderations", "images", "audio_speeches",
                       "audio_transcriptions", "web_search_calls"):  # fmt: skip
            for dims in org.usage(stream, day, day + DAY, INF):
                model = str(dims[3])
                assert published.is_priced(model, day) == (model != FINE_TUNED), model


def test_no_costs_outside_history(org: Organization) -> None:
    assert org.costs(EPOCH - 7 * DAY, EPOCH, INF) == {}
    assert org.costs(D, D, INF) == {}
    assert org.costs(D, D + DAY, D) == {}
