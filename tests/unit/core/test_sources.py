"""Sources plan from the saved state and say, batch by batch, how far a commit moves it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fake_api import FakeClient, FakeNames, access, audit_page, usage_page
from fakes import FakeClock, RecordingSink
from streams_config import T0, D, H, config

from poller.client.directory import Project, ProjectRateLimit, ProjectRateLimitPage
from poller.coverage import Coverage, Segment
from poller.errors import ServerError, SinkUnavailableError
from poller.pipeline import run_source
from poller.sources import (
    AuditSource,
    AuditWindow,
    BackfillWindow,
    BucketSource,
    backfill_source,
    cycle_source,
    slot_start,
)
from poller.state import StreamState
from poller.streams import COSTS_MAX_LIMIT, MAX_LIMIT, BucketWidth

HOUR, DAY = BucketWidth.HOUR, BucketWidth.DAY


def _states(sink: RecordingSink) -> list[StreamState]:
    return [StreamState.from_json(state) for _, state in sink.saved]


def _coverage(*spans: tuple[int, int]) -> Coverage:
    """Hourly coverage as the fake org's sources record it: ungrouped, org id `org-1`."""
    return Coverage(tuple(Segment(a, b, HOUR, (), "org-1") for a, b in spans))


def _run(source: object, sink: RecordingSink) -> None:
    run_source(source, sink, clock=FakeClock())  # type: ignore[arg-type]


def _bucket_source(
    client: FakeClient, *segments: Segment, names: FakeNames | None = None
) -> BucketSource:
    return BucketSource(access(client, names), "completions", lambda _: list(segments), ())


# --- usage and costs buckets --------------------------------------------------------------------


def test_each_page_commits_the_buckets_it_held() -> None:
    client = FakeClient(usage=[[
        usage_page((T0, T0 + H, 1), (T0 + H, T0 + 2 * H, 2)),
        usage_page((T0 + 2 * H, T0 + 3 * H, 0)),
    ]])
    sink = RecordingSink()
    _run(_bucket_source(client, Segment(T0, T0 + 3 * H, HOUR)), sink)
    assert sink.calls == ["load_state acme/completions", "write 3", "save_state acme/completions",
                          "save_state acme/completions", "save_state acme/completions"]
    assert [s.coverage for s in _states(sink)] == [
        _coverage((T0, T0 + 2 * H)), _coverage((T0, T0 + 3 * H)), _coverage((T0, T0 + 3 * H))
    ]
    assert client.calls == [("completions", {
        "start_time": T0, "end_time": T0 + 3 * H, "bucket_width": HOUR, "group_by": (),
        "limit": MAX_LIMIT[HOUR],
    })]


def test_a_page_reaching_past_its_segment_covers_only_the_segment() -> None:
    client = FakeClient(usage=[[usage_page(
        (T0, T0 + H, 1), (T0 + H, T0 + 2 * H, 1), (T0 + 2 * H, T0 + 3 * H, 1)
    )]])
    sink = RecordingSink()
    _run(_bucket_source(client, Segment(T0, T0 + 2 * H, HOUR)), sink)
    assert _states(sink)[0].coverage == _coverage((T0, T0 + 2 * H))


def test_empty_pages_and_pages_of_old_buckets_commit_without_moving_coverage() -> None:
    client = FakeClient(usage=[[
        usage_page(),
        usage_page((T0, T0 + H, 1)),
        usage_page((T0, T0 + H, 1)),  # the same bucket again
    ]])
    sink = RecordingSink()
    _run(_bucket_source(client, Segment(T0, T0 + 2 * H, HOUR)), sink)
    assert [s.coverage for s in _states(sink)] == [
        Coverage(), _coverage((T0, T0 + H)), _coverage((T0, T0 + H)), _coverage((T0, T0 + H))
    ]
    assert sink.calls.count("write 1") == 2


def test_one_names_snapshot_serves_every_page_of_a_run() -> None:
    names = FakeNames()
    client = FakeClient(usage=[
        [usage_page((T0, T0 + H, 1)), usage_page((T0 + H, T0 + 2 * H, 1))],
        [usage_page((T0 + 2 * H, T0 + 3 * H, 1))],
    ])
    sink = RecordingSink()
    source = _bucket_source(
        client, Segment(T0, T0 + 2 * H, HOUR), Segment(T0 + 2 * H, T0 + 3 * H, HOUR), names=names
    )
    _run(source, sink)
    assert names.snapshots == 1
    assert [d.source["openai"]["base"]["project_name"] for d in sink.documents] == ["Alpha"] * 3


def test_nothing_to_fetch_takes_no_names_snapshot() -> None:
    names = FakeNames()
    client = FakeClient()
    _run(_bucket_source(client, names=names), RecordingSink())
    assert (names.snapshots, client.calls) == (0, [])


def test_results_without_ids_to_name_take_no_names_snapshot() -> None:
    """Like a lookup before it: the directory is listed only for an id it would name."""
    names = FakeNames()
    client = FakeClient(usage=[[usage_page((T0, T0 + H, 2), project=None), usage_page()]])
    sink = RecordingSink()
    _run(_bucket_source(client, Segment(T0, T0 + H, HOUR), names=names), sink)
    assert names.snapshots == 0
    assert [d.source["openai"]["base"].get("project_name") for d in sink.documents] == [None] * 2


def test_a_cycle_rereads_the_settlement_window_then_goes_on_to_now_minus_grace() -> None:
    client = FakeClient()
    sink = RecordingSink(states={"acme/completions": StreamState(
        coverage=_coverage((T0, T0 + 3 * H))).to_json()})
    source = cycle_source(access(client), config("completions"), T0 + 5 * H + 1800)
    _run(source, sink)
    assert client.segments() == [(T0 + 2 * H, T0 + 3 * H, HOUR), (T0 + 3 * H, T0 + 5 * H, HOUR)]


def test_a_costs_backfill_always_asks_for_daily_buckets() -> None:
    client = FakeClient()
    window = BackfillWindow(since=T0 - 3 * D, until=T0, now=T0 + H, width=HOUR)
    _run(backfill_source(access(client), config("costs"), window), RecordingSink())
    assert client.calls == [("costs", {
        "start_time": T0 - 3 * D, "end_time": T0, "bucket_width": DAY, "group_by": (),
        "limit": COSTS_MAX_LIMIT,
    })]


# --- audit --------------------------------------------------------------------------------------


def test_the_audit_mark_moves_only_after_the_last_page() -> None:
    now = T0 + H
    client = FakeClient(audit=[[audit_page(("a", T0 + 10), ("b", T0 + 30)),
                                audit_page(("c", T0 + 20))]])
    sink = RecordingSink()
    _run(cycle_source(access(client), config("audit", overlap=300), now), sink)
    assert [s.high_water for s in _states(sink)] == [None, None, T0 + 30, T0 + 30]
    assert client.calls == [("audit", {"effective_at": {"gte": now - D, "lt": now},
                                       "limit": 100})]


def test_a_window_that_fails_midway_leaves_the_mark_where_it_was() -> None:
    client = FakeClient(audit=[[audit_page(("a", T0 + 10)), audit_page(("b", T0 + 30))]])
    sink = RecordingSink(write_errors=[None, SinkUnavailableError("down")],
                         states={"acme/audit": StreamState(high_water=T0).to_json()})
    with pytest.raises(SinkUnavailableError):
        _run(cycle_source(access(client), config("audit", overlap=300), T0 + H), sink)
    assert [s.high_water for s in _states(sink)] == [T0, T0]
    assert _states(sink)[-1].last_error == "down"


def test_a_later_cycle_overlaps_the_mark() -> None:
    client = FakeClient()
    sink = RecordingSink(states={"acme/audit": StreamState(high_water=T0).to_json()})
    _run(cycle_source(access(client), config("audit", overlap=300), T0 + H), sink)
    assert client.calls[0][1]["effective_at"] == {"gte": T0 - 300, "lt": T0 + H}
    assert _states(sink)[-1].high_water == T0  # an empty window: the mark stays


def test_a_backfill_sets_the_mark_only_when_there_is_none() -> None:
    def backfill(state: StreamState) -> list[int | None]:
        client = FakeClient(audit=[[audit_page(("a", T0 - D + 5))]])
        sink = RecordingSink(states={"acme/audit": state.to_json()})
        window = BackfillWindow(since=T0 - 2 * D, until=T0 + 2 * H, now=T0 + H)
        _run(backfill_source(access(client), config("audit"), window), sink)
        assert client.calls[0][1]["effective_at"] == {"gte": T0 - 2 * D, "lt": T0 + H}
        return [s.high_water for s in _states(sink)]

    assert backfill(StreamState()) == [None, T0 - D + 5, T0 - D + 5]
    assert backfill(StreamState(high_water=T0)) == [T0, T0]


def test_an_empty_window_marks_its_start() -> None:
    source = AuditSource(access(FakeClient()), AuditWindow(T0, T0 + H))
    sink = RecordingSink()
    _run(source, sink)
    assert _states(sink)[0].high_water == T0


# --- rate limits --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("interval", "slot"), [(3600, T0 + H), (300, T0 + H), (90, T0 + 3690), (60, T0 + 3720)]
)
def test_the_rate_limit_slot_is_a_whole_minute_on_a_multiple_of_the_interval(
    interval: int, slot: int
) -> None:
    assert slot_start(T0 + 3725, interval) == slot


def test_a_rate_limit_snapshot_is_one_batch_that_moves_the_slot() -> None:
    limit = ProjectRateLimit(id="rl-1", model="gpt-4o", max_requests_per_1_minute=10)
    other = limit.model_copy(update={"id": "rl-2", "model": "o1"})
    client = FakeClient(projects=[Project(id="p1", name="Alpha"), Project(id="p2")],
                        rate_limits={"p1": [limit, other]})
    sink = RecordingSink()
    _run(cycle_source(access(client), config("rate_limits", interval=3600), T0 + 3725), sink)
    assert sink.calls[1:4] == ["write 2", "save_state acme/rate_limits",
                               "save_state acme/rate_limits"]
    assert [s.last_slot for s in _states(sink)] == [T0 + H, T0 + H]
    assert {d.source["openai"]["rate_limits"]["model"] for d in sink.documents} == {"gpt-4o", "o1"}
    assert client.calls[0] == ("projects", {"include_archived": False})


def test_a_rate_limit_backfill_is_one_snapshot_now() -> None:
    client = FakeClient()
    window = BackfillWindow(since=T0 - 7 * D, until=T0, now=T0 + 3725)
    sink = RecordingSink()
    _run(backfill_source(access(client), config("rate_limits", interval=3600), window), sink)
    assert _states(sink)[0].last_slot == T0 + H


def test_a_rate_limit_snapshot_that_fails_part_way_writes_nothing() -> None:
    limit = ProjectRateLimit(id="rl-1", model="gpt-4o", max_requests_per_1_minute=10)
    client = FakeClient(projects=[Project(id="p1"), Project(id="p2")],
                        rate_limits={"p1": [limit], "p2": [limit]})
    failing = ServerError("503", method="GET", url="rate_limits", status=503)

    def pages(project_id: str) -> Iterator[ProjectRateLimitPage]:
        if project_id == "p2":
            raise failing
        return FakeClient.project_rate_limit_pages(client, project_id)

    client.project_rate_limit_pages = pages  # type: ignore[method-assign]
    sink = RecordingSink()
    with pytest.raises(ServerError):
        _run(cycle_source(access(client), config("rate_limits", interval=3600), T0 + 3725), sink)
    assert sink.documents == []
    assert [s.last_slot for s in _states(sink)] == [None]  # only the error, beside no slot
