"""A big usage page is written in batches of whole buckets of at most `CHUNK_RESULTS` results,
and the page's buckets are covered only when its last batch is acknowledged."""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence

import pytest
from fake_api import FakeClient, access, usage_page
from fakes import FakeClock, RecordingSink
from streams_config import T0, H

from poller.client import RawUsagePage, UsageResult
from poller.coverage import Coverage, Segment
from poller.documents import Document
from poller.errors import SinkUnavailableError
from poller.pipeline import run_source
from poller.sinks import WriteReport
from poller.sources import BucketSource
from poller.sources import buckets as buckets_module
from poller.state import StreamState
from poller.streams import BucketWidth

HOUR = BucketWidth.HOUR
KEY = "acme/completions"


def _source(client: FakeClient) -> BucketSource:
    segment = Segment(T0, T0 + 4 * H, HOUR)
    return BucketSource(access(client), "completions", lambda _: [segment], ())


def _covered(sink: RecordingSink) -> list[Coverage]:
    return [StreamState.from_json(state).coverage for _, state in sink.saved]


def _hours(end: int) -> Coverage:
    return Coverage((Segment(T0, T0 + end * H, HOUR, (), "org-1"),))


@pytest.fixture(autouse=True)
def _chunk_of_five(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(buckets_module, "CHUNK_RESULTS", 5)


def test_a_page_is_written_in_chunks_of_whole_buckets_and_covered_by_its_last() -> None:
    """Buckets of 3, 2, 4 and 6 results: [3+2], [4], [6] (a bucket bigger than a chunk is one
    batch of its own); only the third batch moves the coverage, to the page's end."""
    client = FakeClient(usage=[[usage_page((T0, T0 + H, 3), (T0 + H, T0 + 2 * H, 2),
                                           (T0 + 2 * H, T0 + 3 * H, 4),
                                           (T0 + 3 * H, T0 + 4 * H, 6))]])
    sink = RecordingSink()
    report = run_source(_source(client), sink, clock=FakeClock())
    assert [c for c in sink.calls if c.startswith("write")] == ["write 5", "write 4", "write 6"]
    assert _covered(sink) == [Coverage(()), Coverage(()), _hours(4), _hours(4)]
    assert (report.batches, report.written.created) == (3, 15)


def test_a_page_cut_short_by_a_failed_write_covers_none_of_it() -> None:
    client = FakeClient(usage=[[usage_page((T0, T0 + H, 3), (T0 + H, T0 + 2 * H, 4))]])
    sink = RecordingSink(write_errors=[None, SinkUnavailableError("down")])
    with pytest.raises(SinkUnavailableError):
        run_source(_source(client), sink, clock=FakeClock())
    assert [c for c in sink.calls if c.startswith("write")] == ["write 3", "write 4"]
    assert StreamState.from_json(sink.states[KEY]).coverage == Coverage(())


def test_a_failed_write_closes_the_client_pages_at_once() -> None:
    """The client's page generator holds its page's reservation in the process's results
    budget: it is closed when the write fails, even while the error, whose traceback keeps the
    source's frames alive, is still held."""
    closed: list[bool] = []

    class Closing(FakeClient):
        def usage_pages(self, stream: str, **params: object) -> Iterator[RawUsagePage]:
            try:
                yield usage_page((T0, T0 + H, 3), (T0 + H, T0 + 2 * H, 4))
            finally:
                closed.append(True)

    sink = RecordingSink(write_errors=[SinkUnavailableError("down")])
    with pytest.raises(SinkUnavailableError) as caught:
        run_source(_source(Closing()), sink, clock=FakeClock())
    assert caught.value.__traceback__ is not None
    assert closed == [True]


def _results(*sizes: int, poison: set[tuple[int, int]], model: str = "m") -> RawUsagePage:
    """An hourly page of buckets of `sizes` results of `model`; result j of bucket i is a
    poison one (no `num_model_requests`) when (i, j) is in `poison`."""
    good = {"object": "organization.usage.completions.result", "input_tokens": 2,
            "output_tokens": 1, "num_model_requests": 1, "project_id": None, "model": model}
    bad = {key: value for key, value in good.items() if key != "num_model_requests"}
    data = [
        {"object": "bucket", "start_time": T0 + i * H, "end_time": T0 + (i + 1) * H,
         "results": [{**(bad if (i, j) in poison else good), "input_tokens": j}
                     for j in range(size)]}
        for i, size in enumerate(sizes)
    ]
    return RawUsagePage.from_data({"object": "page", "data": data, "has_more": False})


def test_a_result_failing_its_schema_is_dead_lettered_with_its_batch_before_the_cover() -> None:
    """Buckets of 3, 2, 4 and 2 results, poison ones in the second and the fourth: each is
    dead-lettered with the batch of its bucket, the last with the batch that covers the page."""
    client = FakeClient(usage=[[_results(3, 2, 4, 2, poison={(1, 0), (3, 1)})]])
    sink = RecordingSink()
    report = run_source(_source(client), sink, clock=FakeClock())
    assert [c for c in sink.calls if c.startswith(("write", "reject", "save"))] == [
        "write 4", "reject 1", f"save_state {KEY}",
        "write 4", f"save_state {KEY}",
        "write 1", "reject 1", f"save_state {KEY}",
        f"save_state {KEY}",  # the run's success
    ]
    assert _covered(sink) == [Coverage(()), Coverage(()), _hours(4), _hours(4)]
    assert (report.written.created, len(report.written.dead_lettered)) == (9, 2)


def test_a_page_is_models_one_batch_at_a_time() -> None:
    """While a batch is written, none of the page's results exist as models: the batch's own
    were mapped and dropped, the page's other buckets are still decoded JSON. (Its results are
    told from any other test's left alive by their model.)"""
    live: list[int] = []
    model = "counted-while-written"

    class Counting(RecordingSink):
        def write(self, documents: Sequence[Document]) -> WriteReport:
            gc.collect()
            live.append(sum(isinstance(o, UsageResult) and getattr(o, "model", None) == model
                            for o in gc.get_objects()))
            return super().write(documents)

    client = FakeClient(usage=[[_results(3, 2, 4, 6, poison=set(), model=model)]])
    sink = Counting()
    run_source(_source(client), sink, clock=FakeClock())
    assert [c for c in sink.calls if c.startswith("write")] == ["write 5", "write 4", "write 6"]
    assert live == [0, 0, 0]
