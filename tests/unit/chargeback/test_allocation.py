"""The split of a day's bill: exact to the cent, proportional, deterministic."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from poller.documents.allocation import (
    UNATTRIBUTED,
    ShareKey,
    largest_remainder,
    split_by_group,
    split_day,
    to_cents,
)
from poller.documents.model import GroupRef

KEYS = st.builds(ShareKey, st.sampled_from(["", "user_a", "user_b", "user_c"]),
                 st.sampled_from(["", "key_1", "key_2"]), st.sampled_from(["", "gpt-4o", "o3"]),
                 st.sampled_from(["", "group_x", "group_y"]))
WEIGHTS = st.dictionaries(KEYS, st.fractions(min_value=0, max_value=10_000, max_denominator=10**6),
                          min_size=1, max_size=40)
BILLS = st.decimals(min_value=Decimal("-500"), max_value=Decimal("100000"), places=6)


@settings(max_examples=300, deadline=None)
@given(bill=BILLS, weights=WEIGHTS)
def test_the_parts_sum_to_the_billed_cents_exactly(
    bill: Decimal, weights: dict[ShareKey, Fraction]
) -> None:
    shares = split_day(bill, weights)
    assert sum(s.cents for s in shares) == to_cents(bill)
    if sum(weights.values()) > 0:
        assert [s.key for s in shares] == sorted(weights)
        cents = abs(to_cents(bill))
        whole = sum(weights.values())
        for share in shares:  # each part is the floor of its exact share, or one cent more
            exact = cents * weights[share.key] / whole
            assert exact - 1 < abs(share.cents) < exact + 1
            assert share.cents * to_cents(bill) >= 0  # never a part of the other sign
    else:
        assert [(s.key, s.cents) for s in shares] == [(UNATTRIBUTED, to_cents(bill))]


@settings(max_examples=200, deadline=None)
@given(bill=BILLS, weights=WEIGHTS)
def test_the_split_does_not_depend_on_the_order_rows_come_in(
    bill: Decimal, weights: dict[ShareKey, Fraction]
) -> None:
    backwards = dict(reversed(list(weights.items())))
    assert split_day(bill, weights) == split_day(bill, backwards)


def test_remainder_cents_go_to_the_largest_remainders_then_to_the_smaller_key() -> None:
    a, b, c = ShareKey("a"), ShareKey("b"), ShareKey("c")
    # 100 cents over 1:1:1 is 33.33 each: one cent left, all remainders equal, so "a" gets it
    assert largest_remainder(100, {c: Fraction(1), b: Fraction(1), a: Fraction(1)}) == {
        a: 34, b: 33, c: 33,
    }
    # 10 cents over 0.15 : 0.25 : 0.6 is 1.5, 2.5, 6: two floors leave 1 cent; the tie between
    # 0.5 and 0.5 goes to the smaller key ("a")
    weights = {a: Fraction(15, 100), b: Fraction(25, 100), c: Fraction(60, 100)}
    assert largest_remainder(10, weights) == {a: 2, b: 2, c: 6}
    # 7 cents over 1:2:4 is 1, 2, 4 exactly: nothing left over
    assert largest_remainder(7, {a: Fraction(1), b: Fraction(2), c: Fraction(4)}) == {
        a: 1, b: 2, c: 4,
    }
    # 5 cents over 0.1 : 0.7 : 0.2 is 0.5, 3.5, 1: 1 cent left, tie 0.5/0.5, "a" first
    assert largest_remainder(5, {a: Fraction(1, 10), b: Fraction(7, 10), c: Fraction(2, 10)}) == {
        a: 1, b: 3, c: 1,
    }
    # a larger remainder wins over a smaller key: 10 over 2:9 is 1.82, 8.18; the cent goes to
    # the .82, whichever key holds it
    assert largest_remainder(10, {a: Fraction(2), b: Fraction(9)}) == {a: 2, b: 8}
    assert largest_remainder(10, {b: Fraction(2), a: Fraction(9)}) == {b: 2, a: 8}


def test_a_credit_is_split_like_a_charge_with_its_sign() -> None:
    a, b = ShareKey("a"), ShareKey("b")
    assert largest_remainder(-101, {a: Fraction(1), b: Fraction(1)}) == {a: -51, b: -50}


def test_billed_dollars_round_to_cents_half_away_from_zero() -> None:
    assert [to_cents(Decimal(v)) for v in ("0.125", "0.124999", "-0.125", "12.5", "0")] == [
        13, 12, -13, 1250, 0,
    ]


def test_unpriced_or_no_usage_leaves_the_bill_to_one_unattributed_row() -> None:
    assert [(s.key, s.cents) for s in split_day(Decimal("3.456"), {})] == [(UNATTRIBUTED, 346)]
    zero = {ShareKey("a"): Fraction(0)}
    assert [(s.key, s.cents) for s in split_day(Decimal("1"), zero)] == [(UNATTRIBUTED, 100)]
    mixed = split_day(Decimal("1"), {ShareKey("a"): Fraction(0), ShareKey("b"): Fraction(3)})
    assert [(s.key.user_id, s.cents) for s in mixed] == [("a", 0), ("b", 100)]


def test_a_user_in_two_groups_weighs_half_on_each() -> None:
    groups = {"ann": (GroupRef("g1", "One"), GroupRef("g2", "Two"))}
    weights = split_by_group(
        {ShareKey("ann", "k", "m"): Decimal("0.3"), ShareKey("bob", "k", "m"): Decimal("0.1"),
         ShareKey("", "", "m"): Decimal("0.2")},
        lambda user: groups.get(user, ()),
    )
    assert weights == {
        ShareKey("ann", "k", "m", "g1"): Fraction(3, 20),
        ShareKey("ann", "k", "m", "g2"): Fraction(3, 20),
        ShareKey("bob", "k", "m"): Fraction(1, 10),
        ShareKey("", "", "m"): Fraction(1, 5),
    }
    shares = split_day(Decimal("1.01"), weights)
    # 101 cents over 0.2 : 0.15 : 0.15 : 0.1 is 33.67, 25.25, 25.25, 16.83: the two cents
    # the floors leave go to bob (.83) and the unnamed user (.67)
    assert {s.key: s.cents for s in shares} == {
        ShareKey("", "", "m"): 34,
        ShareKey("ann", "k", "m", "g1"): 25,
        ShareKey("ann", "k", "m", "g2"): 25,
        ShareKey("bob", "k", "m"): 17,
    }
