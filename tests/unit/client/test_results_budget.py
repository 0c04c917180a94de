"""`ResultsBudget`: its accounting, and that no reservation can wait for good (an oversized one
proceeds alone, a holder never waits for itself, a stop ends a wait). Threads are ordered by the
budget's own state (`waiting`), never by sleeping."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from poller.client import BudgetStopped, Hold, ResultsBudget, stop_waits


def _in_thread(work: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    """Runs `work` in a thread; its result, or what it raised, lands in the list."""
    out: list[object] = []

    def run() -> None:
        try:
            out.append(work())
        except BaseException as exc:  # noqa: BLE001 - the test reads it
            out.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def _until_waiting(budget: ResultsBudget, count: int = 1) -> None:
    while budget.waiting < count:
        threading.Event().wait(0.001)  # a yield to the waiter, not a timing assumption


def test_reservations_add_up_resize_and_release_once() -> None:
    budget = ResultsBudget(100)
    first, second = budget.reserve(30), budget.reserve(50)
    assert budget.in_flight == 80
    first.resize(45)  # the page held more than expected: counted, without waiting
    assert (first.results, budget.in_flight) == (45, 95)
    first.release()
    first.release()
    first.resize(10)  # a released hold changes nothing any more
    assert budget.in_flight == 50
    with second:
        pass
    assert budget.in_flight == 0


def test_a_reservation_larger_than_the_budget_proceeds_alone() -> None:
    budget = ResultsBudget(10)
    with budget.reserve(500) as hold:
        assert (hold.results, budget.in_flight) == (500, 500)
    assert budget.in_flight == 0


def test_a_reservation_that_does_not_fit_waits_for_a_release_then_proceeds() -> None:
    budget = ResultsBudget(10)
    held = budget.reserve(8)
    order: list[str] = []

    def reserve() -> Hold:
        hold = budget.reserve(500)  # oversized: it needs the budget to itself
        order.append("reserved")
        return hold

    thread, out = _in_thread(reserve)
    _until_waiting(budget)
    order.append("released")
    held.release()
    thread.join()
    assert order == ["released", "reserved"]
    (hold,) = out
    assert isinstance(hold, Hold)
    assert budget.in_flight == 500
    hold.release()
    assert (budget.in_flight, budget.waiting) == (0, 0)


def test_a_thread_holding_a_reservation_never_waits_for_itself() -> None:
    """Two page generators read by one thread: the second must not wait for the first."""
    budget = ResultsBudget(10)
    with budget.reserve(8), budget.reserve(8):
        assert budget.in_flight == 16
    assert budget.in_flight == 0


def test_a_charge_counts_without_waiting_and_does_not_make_a_holder() -> None:
    """What read-ahead charges for the batch being written makes the next fetch wait: the
    charging thread is not exempt."""
    budget = ResultsBudget(10)
    stop = threading.Event()
    stop.set()

    def charge_then_reserve() -> object:
        charged = budget.charge(8)
        try:
            with stop_waits(stop):
                return budget.reserve(5)
        finally:
            charged.release()

    thread, out = _in_thread(charge_then_reserve)
    thread.join()
    assert isinstance(out[0], BudgetStopped)
    assert budget.in_flight == 0


def test_a_stop_set_before_a_wait_ends_it_at_once() -> None:
    budget = ResultsBudget(10)
    stop = threading.Event()
    stop.set()
    with budget.charge(10), stop_waits(stop):
        with budget.reserve(0) as nothing:  # what fits is taken, stop or not
            assert nothing.results == 0
        with pytest.raises(BudgetStopped):
            budget.reserve(1)
    assert (budget.in_flight, budget.waiting) == (0, 0)


def test_a_stop_set_during_a_wait_ends_it() -> None:
    budget = ResultsBudget(10, poll=0.01)
    stop = threading.Event()
    charged = budget.charge(10)

    def reserve() -> Hold:
        with stop_waits(stop):
            return budget.reserve(1)

    thread, out = _in_thread(reserve)
    _until_waiting(budget)
    stop.set()
    thread.join()
    assert isinstance(out[0], BudgetStopped)
    charged.release()
    assert (budget.in_flight, budget.waiting) == (0, 0)


def test_a_wait_outside_a_stoppable_run_is_ended_by_a_release() -> None:
    budget = ResultsBudget(10)
    charged = budget.charge(10)
    thread, out = _in_thread(lambda: budget.reserve(4))
    _until_waiting(budget)
    charged.release()
    thread.join()
    (hold,) = out
    assert isinstance(hold, Hold)
    assert budget.in_flight == 4
    hold.release()


@pytest.mark.parametrize("capacity", [0, -1, True, 2.5])
def test_a_budget_is_a_positive_integer(capacity: object) -> None:
    with pytest.raises(ValueError, match="positive integer"):
        ResultsBudget(capacity)  # type: ignore[arg-type]


def test_waiting_reservations_are_served_in_the_order_they_came() -> None:
    """A large reservation waiting for the budget to empty is not starved by small ones asked
    for after it, though each of them would fit: they queue behind it."""
    budget = ResultsBudget(100)
    held = budget.reserve(60)
    order: list[str] = []

    def reserve(name: str, results: int) -> Callable[[], Hold]:
        def work() -> Hold:
            hold = budget.reserve(results)
            order.append(name)
            return hold

        return work

    large, large_out = _in_thread(reserve("large", 500))
    _until_waiting(budget, 1)
    small, small_out = _in_thread(reserve("small", 10))  # fits beside `held`, yet waits its turn
    _until_waiting(budget, 2)
    assert order == []
    held.release()
    large.join()
    assert order == ["large"]
    assert budget.waiting == 1  # the small one waits for the large one to be released
    (large_hold,) = large_out
    assert isinstance(large_hold, Hold)
    large_hold.release()
    small.join()
    assert order == ["large", "small"]
    (small_hold,) = small_out
    assert isinstance(small_hold, Hold)
    small_hold.release()
    assert (budget.in_flight, budget.waiting) == (0, 0)
