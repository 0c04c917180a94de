"""The price table: which dated rates are in force when, and pricing a result with them."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Final, TypeVar

from poller.pricing._pricers import PRICERS
from poller.pricing._rates import LineItem, ModelRates, ToolRates

__all__ = ["PriceTable", "by_date"]

_ONE: Final = Decimal(1)
_Dated = TypeVar("_Dated", ModelRates, ToolRates)
# "gpt-4o-2024-08-06" and "gpt-3.5-turbo-0125" are snapshots of "gpt-4o" and "gpt-3.5-turbo".
_SNAPSHOT_SUFFIX: Final = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{4})$")


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
        ordered = {name: by_date(versions) for name, versions in extra.items()}
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
            pricer = PRICERS[stream]
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


def by_date(versions: Sequence[_Dated]) -> tuple[_Dated, ...]:
    return tuple(sorted(versions, key=lambda version: version.effective_from))


def _in_force(versions: Sequence[_Dated], at: int) -> _Dated | None:
    """The newest version in force at `at`; lists hold a handful, so a scan beats bisect."""
    for version in reversed(versions):
        if version.effective_from <= at:
            return version
    return None
