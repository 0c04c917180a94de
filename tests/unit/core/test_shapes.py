"""A change of what shapes document ids (group_by, org id, width) between runs: re-reads keep
the stored shape, only what was never collected takes the new one, legacy state reads as
configured."""

from __future__ import annotations

from dataclasses import replace

from fake_api import FakeClient, access, usage_page
from fakes import FakeClock, RecordingSink
from streams_config import T0, H, config

from poller.coverage import Coverage, Segment
from poller.documents.ids import BucketIds
from poller.pipeline import run_source
from poller.sources import cycle_source
from poller.state import StreamState
from poller.streams import BucketWidth

HOUR = BucketWidth.HOUR
ALL = ("project_id", "user_id", "api_key_id", "model", "batch", "service_tier")
KEY = "acme/completions"


def _cycle(client: FakeClient, sink: RecordingSink, group_by: tuple[str, ...]) -> None:
    stream = replace(config("completions"), group_by=group_by)
    source = cycle_source(access(client), stream, T0 + 5 * H + 1800)
    run_source(source, sink, clock=FakeClock())


def _calls(client: FakeClient) -> list[tuple[int, int, object]]:
    return [(p["start_time"], p["end_time"], p["group_by"]) for _, p in client.calls]


def test_a_group_by_change_rereads_in_the_stored_grouping_and_goes_on_in_the_new() -> None:
    stored = Coverage((Segment(T0, T0 + 3 * H, HOUR, ALL, "org-1"),))
    sink = RecordingSink(states={KEY: StreamState(coverage=stored).to_json()})
    client = FakeClient(usage=[[usage_page((T0 + 2 * H, T0 + 3 * H, 1))],
                               [usage_page((T0 + 3 * H, T0 + 5 * H, 1))]])
    # Configured in another order than the stream's: the same grouping.
    _cycle(client, sink, ("model", "project_id"))
    assert _calls(client) == [
        (T0 + 2 * H, T0 + 3 * H, ALL),
        (T0 + 3 * H, T0 + 5 * H, ("project_id", "model")),
    ]
    reread, new = sink.documents
    assert reread.doc_id == BucketIds.of(
        organization_id="org-1", stream="completions", start_time=T0 + 2 * H,
        bucket_width=HOUR, group_by=ALL,
    ).doc_id([(d, "p1" if d == "project_id" else None) for d in ALL])
    assert new.doc_id == BucketIds.of(
        organization_id="org-1", stream="completions", start_time=T0 + 3 * H,
        bucket_width=HOUR, group_by=("project_id", "model"),
    ).doc_id([("project_id", "p1"), ("model", None)])
    assert StreamState.from_json(sink.states[KEY]).coverage.segments == (
        Segment(T0, T0 + 3 * H, HOUR, ALL, "org-1"),
        Segment(T0 + 3 * H, T0 + 5 * H, HOUR, ("project_id", "model"), "org-1"),
    )


def test_a_reread_keeps_the_org_id_it_was_stored_with() -> None:
    stored = Coverage((Segment(T0, T0 + 3 * H, HOUR, (), "org-old"),))
    sink = RecordingSink(states={KEY: StreamState(coverage=stored).to_json()})
    client = FakeClient(usage=[[usage_page((T0 + 2 * H, T0 + 3 * H, 1), project=None)],
                               [usage_page((T0 + 3 * H, T0 + 4 * H, 1), project=None)]])
    _cycle(client, sink, ())
    assert [d.source["organization"]["id"] for d in sink.documents] == ["org-old", "org-1"]
    assert [s.organization_id for s in
            StreamState.from_json(sink.states[KEY]).coverage.segments] == ["org-old", "org-1"]


def test_legacy_state_is_read_as_the_configured_grouping_and_saved_with_it() -> None:
    legacy = {"coverage": [[T0, T0 + 3 * H, "1h"]], "high_water": None}
    sink = RecordingSink(states={KEY: legacy})
    client = FakeClient(usage=[[usage_page((T0 + 2 * H, T0 + 3 * H, 1))]])
    _cycle(client, sink, ("project_id",))
    assert _calls(client)[0] == (T0 + 2 * H, T0 + 3 * H, ("project_id",))
    saved = sink.states[KEY]
    assert saved["version"] == 2
    assert saved["coverage"][0] == [T0, T0 + 3 * H, "1h", ["project_id"], "org-1"]
