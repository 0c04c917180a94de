"""The Costs API's numbers: the organization's own usage priced by poller.pricing.

Costs are computed per UTC day from that day's usage (clipped to the window) with the prices
in force at the day's start, and rounded to 6 decimal places per (project_id, line_item,
api_key_id) and day. A window's cost is the sum of its days, so day-aligned windows add up
exactly, and the poller's own estimates can only differ where a price is missing from its table.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Final

from poller.pricing import PriceTable
from poller.simulator.model import CostRecord, Dims
from poller.simulator.org_time import DAY, EPOCH, day_of, day_start
from poller.simulator.org_usage import UsageLedger
from poller.streams import USAGE_ENDPOINTS

__all__ = ["CostLedger"]

_MICRO: Final = Decimal("0.000001")
_CURRENCY: Final = "usd"

_DayCosts = dict[Dims, CostRecord]


class CostLedger:
    def __init__(self, usage: UsageLedger, prices: PriceTable, settle_seconds: float) -> None:
        self._usage = usage
        self._prices = prices
        self._settle = settle_seconds
        self._settled_day = lru_cache(maxsize=32)(self._whole_day)

    def costs(self, start: int, end: int, now: float) -> _DayCosts:
        days = []
        for day in range(day_of(max(start, EPOCH)), day_of(end - 1) + 1):
            first, stop = day_start(day), day_start(day) + DAY
            low, high = max(start, first), min(end, stop)
            whole = low == first and high == stop and stop + self._settle <= now
            days.append(self._settled_day(day) if whole else self._day_costs(low, high, now, first))
        return days[0] if len(days) == 1 else _merge(days)

    def _whole_day(self, day: int) -> _DayCosts:
        first = day_start(day)
        return self._day_costs(first, first + DAY, math.inf, first)

    def _day_costs(self, start: int, end: int, now: float, day_first: int) -> _DayCosts:
        """Usage of `[start, end)` (inside one day) priced at the day's prices, rounded."""
        sums: dict[Dims, list[Decimal]] = {}
        units: dict[Dims, str | None] = {}
        for stream in self._usage.streams:
            names = USAGE_ENDPOINTS[stream].dimensions
            key_at = names.index("api_key_id") if "api_key_id" in names else None
            for dims, metrics in self._usage.usage(stream, start, end, now).items():
                result: dict[str, object] = dict(zip(names, dims, strict=True))
                result.update(metrics)
                items = self._prices.line_items(stream, result, day_first)
                if items is None:
                    raise ValueError(f"the simulator has no price for {stream} usage {result}")
                project_id = dims[0]
                api_key_id = None if key_at is None else dims[key_at]
                for item in items:
                    key = (project_id, item.name, api_key_id)
                    amount_quantity = sums.setdefault(key, [Decimal(0), Decimal(0)])
                    amount_quantity[0] += item.amount_usd
                    amount_quantity[1] += item.quantity
                    units[key] = item.unit
        return {
            key: _record(amount.quantize(_MICRO, ROUND_HALF_UP), _tidy(quantity), units[key])
            for key, (amount, quantity) in sums.items()
        }


def _record(amount: Decimal, quantity: Decimal, unit: str | None) -> CostRecord:
    return CostRecord(amount=amount, currency=_CURRENCY, quantity=quantity, quantity_unit=unit)


def _merge(days: list[_DayCosts]) -> _DayCosts:
    totals: _DayCosts = {}
    for day in days:
        for key, record in day.items():
            seen = totals.get(key)
            if seen is None:
                totals[key] = record
            else:
                quantity = (seen.quantity or Decimal(0)) + (record.quantity or Decimal(0))
                totals[key] = _record(seen.amount + record.amount, quantity, record.quantity_unit)
    return totals


def _tidy(quantity: Decimal) -> Decimal:
    """Whole quantities stay whole; fractional ones (GiB-hours) keep 6 decimal places."""
    return quantity if quantity == quantity.to_integral_value() else quantity.quantize(_MICRO)
