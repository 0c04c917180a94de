"""`run_source` and the results budget: a batch's results stay counted until it is committed
(read-ahead included), every count is given back on success, failure and stop, and a stop ends
a wait for the budget without committing anything."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace

import pytest
from fakes import FakeClock, RecordingSink

from poller.client import ResultsBudget
from poller.documents.model import Document
from poller.errors import SinkUnavailableError
from poller.pipeline import Batch, run_source
from poller.sinks import WriteReport
from poller.state import StreamState

KEY = "acme/audit"
WAIT = 30.0  # a bound on joining the helper thread, never reached when the code is right


def _batch(value: int, size: int) -> Batch:
    documents = [Document("audit", "logs-openai.audit-default", f"d{value}-{i}", {"i": i})
                 for i in range(size)]

    def advance(state: StreamState) -> StreamState:
        return replace(state, high_water=value)

    return Batch(documents, advance=advance)


@dataclass
class ReservingSource:
    """Reserves each batch's documents in `budget` before producing it and releases them when
    asked for the next, as the client does with its pages; notes how many batches the sink had
    committed when each reservation was granted."""

    sizes: list[int]
    budget: ResultsBudget
    sink: RecordingSink
    granted_after: list[int] = field(default_factory=list)
    org: str = "acme"
    stream: str = "audit"

    def batches(self, state: StreamState) -> Iterator[Batch]:
        for value, size in enumerate(self.sizes, start=1):
            with self.budget.reserve(size):
                self.granted_after.append(len(self.sink.saved))
                yield _batch(value, size)


@dataclass
class CountingSink(RecordingSink):
    """Notes the budget's count as each write starts; `then` runs after the first write."""

    budget: ResultsBudget = field(default_factory=lambda: ResultsBudget(1))
    seen: list[int] = field(default_factory=list)
    stop: threading.Event | None = None

    def write(self, documents: Sequence[Document]) -> WriteReport:
        self.seen.append(self.budget.in_flight)
        if self.stop is not None:
            self.stop.set()
        return super().write(documents)


def _helper() -> None:
    for thread in threading.enumerate():
        if thread.name == f"read-ahead {KEY}":
            thread.join(WAIT)


@pytest.mark.parametrize("read_ahead", [False, True])
def test_a_batch_is_counted_until_committed_and_the_next_waits_for_room(
    read_ahead: bool,
) -> None:
    """Two batches of 3 never fit a budget of 5 together: batch k+1 is granted only once batch
    k is committed, read ahead or not; the oversized batch of 9 proceeds alone."""
    budget = ResultsBudget(5)
    sink = CountingSink(budget=budget)
    source = ReservingSource([3, 3, 9, 3], budget, sink)
    report = run_source(source, sink, clock=FakeClock(5.0), read_ahead=read_ahead,
                        budget=budget)
    assert (report.batches, report.state.high_water) == (4, 4)
    assert all(done >= k for k, done in enumerate(source.granted_after)), source.granted_after
    # The batch being written is counted once (its reservation) or twice (its read-ahead
    # charge before the helper let the reservation go), never with the next batch's.
    assert [count in ((size,) if not read_ahead else (size, 2 * size))
            for count, size in zip(sink.seen, [3, 3, 9, 3], strict=True)] == [True] * 4
    _helper()
    assert (budget.in_flight, budget.waiting) == (0, 0)


def test_a_failed_write_gives_back_every_count() -> None:
    budget = ResultsBudget(5)
    sink = CountingSink(budget=budget, write_errors=[SinkUnavailableError("down")])
    source = ReservingSource([3, 3, 3], budget, sink)
    with pytest.raises(SinkUnavailableError):
        run_source(source, sink, clock=FakeClock(5.0), read_ahead=True, budget=budget)
    _helper()
    assert (budget.in_flight, budget.waiting) == (0, 0)
    assert StreamState.from_json(sink.states[KEY]).high_water is None  # no cursor moved


@pytest.mark.parametrize("read_ahead", [False, True])
def test_a_stop_while_batches_wait_for_the_budget_stops_after_the_committed_batch(
    read_ahead: bool,
) -> None:
    """Another job holds the whole budget: once the first batch is written, a stop request
    ends the run there, whether the next fetch was waiting for the budget or not."""
    budget = ResultsBudget(5, poll=0.01)
    stop = threading.Event()
    sink = CountingSink(budget=budget, stop=stop)
    source = ReservingSource([3, 3, 3], budget, sink)
    report = run_source(source, sink, stop=stop, clock=FakeClock(5.0), read_ahead=read_ahead,
                        budget=budget)
    _helper()
    assert (report.stopped, report.batches, report.state) == (True, 1, StreamState(high_water=1))
    assert (budget.in_flight, budget.waiting) == (0, 0)


def test_a_budget_wait_ended_by_a_stop_is_a_stopped_run_not_an_error() -> None:
    budget = ResultsBudget(5)
    stop = threading.Event()
    other_job = budget.charge(5)

    @dataclass
    class Waits(ReservingSource):
        def batches(self, state: StreamState) -> Iterator[Batch]:
            yield _batch(1, 1)
            stop.set()  # SIGTERM after the commit's stop check, as the fetch starts
            with self.budget.reserve(3):  # raises: the budget is full and stop is set
                yield _batch(2, 3)

    sink = RecordingSink()
    report = run_source(Waits([], budget, sink), sink, stop=stop, clock=FakeClock(5.0),
                        budget=budget)
    assert (report.stopped, report.batches) == (True, 1)
    assert StreamState.from_json(sink.states[KEY]) == StreamState(high_water=1)
    assert not sink.states[KEY].get("last_error")
    other_job.release()
    assert (budget.in_flight, budget.waiting) == (0, 0)
