"""Chargeback: one project's billed cost of one UTC day, split over who used it. Pure.

The Costs API bills per project and line item; it never says which user, key or model ran up
the bill. The usage endpoints say that, priced at list prices (`cost_estimate_usd`), which is
an estimate and never equals the bill. So the bill is split in proportion to the estimate:

- the day's billed amount of a project is rounded to whole cents once (half away from zero),
  and the split hands out exactly those cents, so the parts sum to the billed cents for every
  project and day, whatever the weights;
- each part is the floor of its exact share (rational arithmetic, no float), and the cents the
  floors leave over go one each to the largest remainders, ties broken by the row's key in
  sorted order: the same inputs always give the same split;
- a user in several groups (teams) weighs on each of them by an equal part of its estimate, so
  every row has one team and team totals sum to the bill too; a user in none has no team;
- when nothing of the day can be priced (no usage, or only models the price table lacks), the
  whole amount goes to one unattributed row, so the bill is never lost from the sums.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from math import floor
from typing import Final

from poller.documents.model import GroupRef

__all__ = ["UNATTRIBUTED", "Share", "ShareKey", "largest_remainder", "split_by_group",
           "split_day", "to_cents"]

_CENT: Final = Decimal("0.01")


@dataclass(frozen=True, order=True)
class ShareKey:
    """Who a part of the bill is charged to; "" where usage names no one (an ungrouped or
    unattributed dimension), so keys sort and hash without None."""

    user_id: str = ""
    api_key_id: str = ""
    model: str = ""
    group_id: str = ""


UNATTRIBUTED: Final = ShareKey()


@dataclass(frozen=True)
class Share:
    """One row of a day's split: its key, the estimate it weighed with, its cents."""

    key: ShareKey
    weight_usd: Decimal
    cents: int


def to_cents(usd: Decimal) -> int:
    """Dollars as whole cents, half away from zero (a bill of $0.125 is 13 cents)."""
    return int(usd.quantize(_CENT, rounding=ROUND_HALF_UP) * 100)


def largest_remainder(total: int, weights: Mapping[ShareKey, Fraction]) -> dict[ShareKey, int]:
    """`total` (cents, any sign) split over `weights` (non-negative, summing above 0) so that
    the parts sum to `total` exactly: floors of the exact shares, then one more cent to each of
    the largest remainders, ties to the smaller key."""
    if any(w < 0 for w in weights.values()):
        raise ValueError("weights must not be negative")
    whole = sum(weights.values(), Fraction(0))
    if whole <= 0:
        raise ValueError("weights must sum above 0")
    sign, magnitude = (-1 if total < 0 else 1), abs(total)
    exact = {key: magnitude * w / whole for key, w in weights.items()}
    parts = {key: floor(share) for key, share in exact.items()}
    left = magnitude - sum(parts.values())
    ranked = sorted(exact, key=lambda key: (parts[key] - exact[key], key))
    for key in ranked[:left]:
        parts[key] += 1
    return {key: sign * cents for key, cents in parts.items()}


def split_by_group(
    estimates: Mapping[ShareKey, Decimal], groups_of: Callable[[str], Sequence[GroupRef]]
) -> dict[ShareKey, Fraction]:
    """Each (user, key, model) estimate as weights per team: an equal part on each group of
    its user (exact fractions), or the whole on no team."""
    weights: dict[ShareKey, Fraction] = {}
    for key, usd in estimates.items():
        groups = groups_of(key.user_id) if key.user_id else ()
        targets = [ShareKey(key.user_id, key.api_key_id, key.model, g.id) for g in groups]
        part = Fraction(usd) / len(targets) if targets else Fraction(usd)
        for target in targets or [key]:
            weights[target] = weights.get(target, Fraction(0)) + part
    return weights


def split_day(billed_usd: Decimal, weights: Mapping[ShareKey, Fraction]) -> list[Share]:
    """The billed amount of one project and day, split over `weights`; in key order. A row
    that weighs nothing gets nothing (and is kept: its usage was there)."""
    cents = to_cents(billed_usd)
    if sum(weights.values(), Fraction(0)) <= 0:
        return [Share(UNATTRIBUTED, Decimal(0), cents)]
    parts = largest_remainder(cents, weights)
    return [Share(key, _decimal(weights[key]), parts[key]) for key in sorted(weights)]


def _decimal(value: Fraction) -> Decimal:
    return Decimal(value.numerator) / Decimal(value.denominator)
