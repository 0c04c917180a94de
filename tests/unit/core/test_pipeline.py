"""`run_source`: documents first, then the cursor, and a failure never moves it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace

import pytest
from fakes import FakeClock, RecordingSink

from poller.destinations import FanOut, Route
from poller.documents.model import Document, Rejected
from poller.errors import ServerError, SinkUnavailableError, StopRequested
from poller.pipeline import Batch, run_source
from poller.sinks import REJECTED_STATUS, DeadLetter, WriteReport
from poller.state import StreamState

KEY = "acme/audit"


def _docs(*ids: str) -> list[Document]:
    return [Document("audit", "logs-openai.audit-default", i, {"id": i}) for i in ids]


def _mark(value: int) -> Batch:
    """A batch that moves the audit mark to `value` when committed."""

    def advance(state: StreamState) -> StreamState:
        return replace(state, high_water=value)

    return Batch(_docs(f"d{value}"), advance=advance)


@dataclass
class ListSource:
    """Yields `batches`, then raises `error` (when set) instead of the next batch."""

    batches_: Sequence[Batch]
    error: BaseException | None = None
    org: str = "acme"
    stream: str = "audit"
    fetched: int = 0

    def batches(self, state: StreamState) -> Iterator[Batch]:
        for batch in self.batches_:
            self.fetched += 1
            yield batch
        if self.error is not None:
            raise self.error


def _saved_marks(sink: RecordingSink) -> list[int | None]:
    return [StreamState.from_json(state).high_water for _, state in sink.saved]


def test_each_batch_is_written_then_advanced_then_saved() -> None:
    sink, clock = RecordingSink(), FakeClock(1000.0)
    report = run_source(ListSource([_mark(10), _mark(20)]), sink, clock=clock)
    assert sink.calls == [
        f"load_state {KEY}",
        "write 1", f"save_state {KEY}",
        "write 1", f"save_state {KEY}",
        f"save_state {KEY}",  # success, with the same cursor
    ]
    assert _saved_marks(sink) == [10, 20, 20]
    assert report.state == StreamState(high_water=20, last_success=1000.0)
    assert StreamState.from_json(sink.states[KEY]) == report.state
    assert (report.written, report.batches, report.stopped) == (WriteReport(created=2), 2, False)


def test_a_run_starts_from_the_saved_state() -> None:
    seen: list[StreamState] = []

    @dataclass
    class Recording(ListSource):
        def batches(self, state: StreamState) -> Iterator[Batch]:
            seen.append(state)
            return super().batches(state)

    sink = RecordingSink(states={KEY: StreamState(high_water=5, last_slot=7).to_json()})
    run_source(Recording([]), sink, clock=FakeClock(1.0))
    assert seen == [StreamState(high_water=5, last_slot=7)]


def test_a_batch_without_documents_commits_without_a_write() -> None:
    sink = RecordingSink()
    run_source(ListSource([Batch((), advance=_mark(30).advance)]), sink, clock=FakeClock())
    assert sink.calls == [f"load_state {KEY}", f"save_state {KEY}", f"save_state {KEY}"]
    assert _saved_marks(sink) == [30, 30]


def test_rejected_items_are_dead_lettered_after_the_write_and_before_the_commit() -> None:
    (poison,) = _docs("poison")
    batch = Batch(_docs("a", "b"), advance=_mark(40).advance, rejected=[Rejected(poison, "no id")])
    sink = RecordingSink()
    report = run_source(ListSource([batch]), sink, clock=FakeClock())
    assert sink.calls[:4] == [f"load_state {KEY}", "write 2", "reject 1", f"save_state {KEY}"]
    assert report.written == WriteReport(
        created=2,
        dead_lettered=(DeadLetter("poison", "logs-openai.audit-default", REJECTED_STATUS,
                                  "no id"),),
    )


def test_a_failed_write_leaves_the_cursor_and_records_the_error() -> None:
    down = SinkUnavailableError("Elasticsearch at http://es:9200 is unreachable")
    sink = RecordingSink(write_errors=[None, down])
    with pytest.raises(SinkUnavailableError) as caught:
        run_source(ListSource([_mark(10), _mark(20)]), sink, clock=FakeClock(2000.0))
    assert caught.value is down
    assert sink.calls == [
        f"load_state {KEY}", "write 1", f"save_state {KEY}", "write 1", f"save_state {KEY}",
    ]
    assert StreamState.from_json(sink.states[KEY]) == StreamState(
        high_water=10,
        last_error="Elasticsearch at http://es:9200 is unreachable",
        last_error_at=2000.0,
    )
    assert [d.doc_id for d in sink.documents] == ["d10"]


def test_a_source_error_is_recorded_beside_the_last_committed_cursor() -> None:
    error = ServerError("HTTP 500", method="GET", url="u", status=500)
    sink = RecordingSink()
    with pytest.raises(ServerError):
        run_source(ListSource([_mark(10)], error=error), sink, clock=FakeClock(3000.0))
    assert StreamState.from_json(sink.states[KEY]) == StreamState(
        high_water=10, last_error="HTTP 500", last_error_at=3000.0
    )


def test_an_error_the_sink_cannot_record_still_raises_the_first_error() -> None:
    error = ServerError("HTTP 500", method="GET", url="u", status=500)

    class Broken(RecordingSink):
        def save_state(self, key: str, state: object) -> None:
            raise SinkUnavailableError("down too")

    with pytest.raises(ServerError) as caught:
        run_source(ListSource([], error=error), Broken(), clock=FakeClock())
    assert caught.value is error


def test_a_stop_request_is_not_recorded_as_an_error() -> None:
    sink = RecordingSink()
    with pytest.raises(StopRequested):
        run_source(ListSource([_mark(10)], error=StopRequested("stopped while waiting")), sink,
                   clock=FakeClock())
    assert sink.calls == [f"load_state {KEY}", "write 1", f"save_state {KEY}"]
    assert StreamState.from_json(sink.states[KEY]) == StreamState(high_water=10)


def test_a_stop_ends_the_run_after_the_committed_batch() -> None:
    stop = threading.Event()

    @dataclass
    class StopMidBatch(ListSource):
        def batches(self, state: StreamState) -> Iterator[Batch]:
            for batch in super().batches(state):
                stop.set()  # SIGTERM while the batch is on its way to the sink
                yield batch

    sink = RecordingSink()
    source = StopMidBatch([_mark(10), _mark(20)])
    report = run_source(source, sink, stop=stop, clock=FakeClock())
    assert sink.calls == [f"load_state {KEY}", "write 1", f"save_state {KEY}"]
    assert source.fetched == 1
    assert (report.stopped, report.batches) == (True, 1)
    assert report.state == StreamState(high_water=10)  # no last_success: it did not finish
    assert StreamState.from_json(sink.states[KEY]) == report.state


@dataclass
class DownDestination:
    """A destination whose receiver is down: every delivery fails, nothing is taken."""

    name: str = "prom"
    tried: int = 0

    def deliver(self, documents: Sequence[Document]) -> None:
        self.tried += len(documents)
        raise SinkUnavailableError("receiver down")

    def probe(self) -> bool:
        return False

    def close(self) -> None:
        pass


def test_a_destination_that_does_not_acknowledge_holds_the_cursor() -> None:
    sink, down = RecordingSink(), DownDestination()
    fanout = FanOut([Route(down, frozenset({"audit"}))])
    with pytest.raises(SinkUnavailableError):
        run_source(ListSource([_mark(10)]), sink, clock=FakeClock(1000.0), destinations=fanout)
    assert down.tried == 1
    assert sink.documents == _docs("d10")  # the primary sink took it, the cursor did not move
    assert _saved_marks(sink) == [None]  # only the error, beside no mark
    assert StreamState.from_json(sink.states[KEY]).last_error == "receiver down"


# --- read-ahead: the source runs one batch ahead of the sink, in a helper thread ----------------


def test_without_read_ahead_nothing_is_fetched_before_the_previous_batch_is_committed() -> None:
    sink = RecordingSink()
    source = Watched([_mark(n) for n in range(1, 4)], commits=[], sink=sink)
    run_source(source, sink, clock=FakeClock(5.0))
    assert source.commits == [0, 1, 2]

WAIT = 30.0  # a bound on waiting for the other thread, never reached when the code is right


def _helper(key: str = KEY) -> threading.Thread:
    """The run's read-ahead thread, if it is still alive."""
    found = [t for t in threading.enumerate() if t.name == f"read-ahead {key}"]
    if found:
        return found[0]
    ended = threading.Thread()  # it already ended: a thread that has ended too, to join
    ended.start()
    return ended


@dataclass
class Watched(ListSource):
    """Notes, as each batch is asked for, how many batches the sink had committed."""

    commits: list[int] | None = None
    sink: RecordingSink | None = None
    asked: threading.Event | None = None
    closed: bool = False

    def batches(self, state: StreamState) -> Iterator[Batch]:
        assert self.commits is not None and self.sink is not None
        try:
            for n, batch in enumerate(self.batches_):
                self.commits.append(len(self.sink.saved))
                if n == 1 and self.asked is not None:
                    self.asked.set()
                self.fetched += 1
                yield batch
        finally:
            self.closed = True


@dataclass
class WaitingSink(RecordingSink):
    """Its first write waits until the source was asked for the second batch, then calls
    `then` (e.g. sets the stop event)."""

    asked: threading.Event = field(default_factory=threading.Event)
    then: Callable[[], None] = lambda: None
    overlapped: bool | None = None

    def write(self, documents: Sequence[Document]) -> WriteReport:
        if self.overlapped is None:
            self.overlapped = self.asked.wait(WAIT)
            self.then()
        return super().write(documents)


def test_the_next_batch_is_fetched_while_the_sink_writes_and_never_two_ahead() -> None:
    sink = WaitingSink()
    source = Watched([_mark(n) for n in range(1, 7)], commits=[], sink=sink, asked=sink.asked)
    report = run_source(source, sink, clock=FakeClock(5.0), read_ahead=True)
    assert sink.overlapped is True  # batch 2 was asked for before batch 1 was written
    assert source.commits is not None
    # Batch k (from 0) is asked for only once batch k-2 is committed: one batch ahead at most.
    assert all(done >= k - 1 for k, done in enumerate(source.commits)), source.commits
    assert _saved_marks(sink) == [1, 2, 3, 4, 5, 6, 6]
    assert (report.batches, report.stopped, report.state.last_success) == (6, False, 5.0)
    assert source.closed


def test_a_stop_seen_first_by_the_helper_still_reports_a_stopped_run() -> None:
    stop = threading.Event()
    sink = WaitingSink(then=stop.set)
    source = Watched([_mark(n) for n in range(1, 5)], commits=[], sink=sink, asked=sink.asked)
    report = run_source(source, sink, stop=stop, clock=FakeClock(5.0), read_ahead=True)
    _helper().join(WAIT)
    assert (report.stopped, report.batches) == (True, 1)
    assert report.state == StreamState(high_water=1)  # no last_success: it did not finish
    assert source.fetched == 2  # the batch read ahead is dropped, nothing after it is asked for
    assert source.closed


def test_a_failed_write_drops_the_batch_read_ahead_and_closes_the_source() -> None:
    down = SinkUnavailableError("down")
    sink = WaitingSink(write_errors=[down])
    source = Watched([_mark(n) for n in range(1, 5)], commits=[], sink=sink, asked=sink.asked)
    with pytest.raises(SinkUnavailableError):
        run_source(source, sink, clock=FakeClock(5.0), read_ahead=True)
    _helper().join(WAIT)
    assert source.fetched == 2 and source.closed
    assert _saved_marks(sink) == [None]  # only the error: no cursor moved
