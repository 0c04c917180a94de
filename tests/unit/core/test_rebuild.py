"""State rebuilt from the stored documents: widths, groupings (recovered by recomputing ids),
org ids and time ranges of usage and costs; the newest audit event and rate-limit slot."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from fake_api import FakeClient, access, audit_page, usage_page
from streams_config import T0, D, H, config

from poller.collect import cycle
from poller.coverage import Coverage, Segment
from poller.documents import MappingContext, map_audit_page, map_usage_page
from poller.errors import StateError
from poller.rebuild import (
    RebuildTarget,
    candidate_ids,
    check_backfill,
    rebuild_state,
    recover_group_by,
)
from poller.sinks import SqliteSink
from poller.state import StreamState, state_key
from poller.streams import BucketWidth

HOUR, MIN = BucketWidth.HOUR, BucketWidth.MINUTE
ALL = ("project_id", "user_id", "api_key_id", "model", "batch", "service_tier")
DS = "logs-openai.completions-default"
TARGET = RebuildTarget("acme", "completions", DS, "org-1")
M = 60


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[SqliteSink]:
    with SqliteSink(tmp_path / "store.sqlite3") as opened:
        yield opened


def _store(
    sink: SqliteSink,
    buckets: list[tuple[int, int, int]],
    width: BucketWidth,
    group_by: tuple[str, ...],
    *,
    org: str = "org-1",
    project: str | None = "p1",
) -> None:
    ctx = MappingContext(organization_id=org, bucket_width=width, group_by=group_by)
    page = usage_page(*buckets, project=project).take()
    sink.write(map_usage_page(ctx, "completions", page).documents)


def test_a_grouping_is_recovered_from_one_document_by_its_id() -> None:
    page = usage_page((T0, T0 + H, 1), project=None).take()
    for group_by in [(), ("project_id",), ("user_id", "model"), ALL]:
        ctx = MappingContext(organization_id="org-1", bucket_width=HOUR, group_by=group_by)
        doc = map_usage_page(ctx, "completions", page).documents[0]
        assert recover_group_by(doc.doc_id, doc.source, stream="completions") == group_by
    assert recover_group_by("0" * 32, doc.source, stream="completions") is None


def test_every_grouping_is_a_candidate_with_an_id_per_combination_of_values() -> None:
    candidates = candidate_ids("costs", "org-1", T0, BucketWidth.DAY,
                               {"project_id": ["p1", "p2"], "line_item": [None, "x"]})
    assert list(candidates) == [
        (), ("project_id",), ("line_item",), ("api_key_id",), ("project_id", "line_item"),
        ("project_id", "api_key_id"), ("line_item", "api_key_id"),
        ("project_id", "line_item", "api_key_id"),
    ]
    assert all(len(ids) == 4 for ids in candidates.values())
    assert len({i for ids in candidates.values() for i in ids}) == 32


def test_rebuild_finds_each_width_and_grouping_of_its_own_org_with_their_ranges(
    sink: SqliteSink,
) -> None:
    # org-0 is another configured org writing the same namespace: its buckets are its own.
    _store(sink, [(T0, T0 + H, 2), (T0 + 2 * H, T0 + 3 * H, 1)], HOUR, ALL, org="org-0")
    _store(sink, [(T0 + 5 * H, T0 + 6 * H, 1), (T0 + 8 * H, T0 + 9 * H, 3)], HOUR, ALL)
    _store(sink, [(T0 + 9 * H, T0 + 10 * H, 1)], HOUR, ("project_id",))
    _store(sink, [(T0 + 10 * H + 7 * M, T0 + 10 * H + 8 * M, 1)], MIN, ("project_id",))
    target = replace(TARGET, neighbours=frozenset({"org-0"}))
    state = rebuild_state(sink.reader(), target, now=T0 + D)
    assert state.coverage == Coverage((
        Segment(T0 + 5 * H, T0 + 9 * H, HOUR, ALL, "org-1"),
        Segment(T0 + 9 * H, T0 + 10 * H, HOUR, ("project_id",), "org-1"),
        Segment(T0 + 10 * H + 7 * M, T0 + 10 * H + 8 * M, MIN, ("project_id",), "org-1"),
    ))
    neighbour = replace(TARGET, organization_id="org-0", neighbours=frozenset({"org-1"}))
    assert rebuild_state(sink.reader(), neighbour, now=T0 + D).coverage == Coverage((
        Segment(T0, T0 + 3 * H, HOUR, ALL, "org-0"),
    ))


def test_documents_of_an_org_id_no_configured_org_has_are_refused(sink: SqliteSink) -> None:
    """Most likely the org's own, stored before its `organization_id` changed: collecting
    beside them would count those moments twice."""
    _store(sink, [(T0, T0 + H, 2)], HOUR, ALL, org="org-0")
    _store(sink, [(T0 + 5 * H, T0 + 6 * H, 1)], HOUR, ALL)
    with pytest.raises(StateError, match=r"^set organization_id to org-0 if that is acme's id, "
                       r"or give acme a namespace of its own -- "):
        rebuild_state(sink.reader(), TARGET, now=T0 + D)


def test_a_moment_stored_at_two_widths_cannot_be_rebuilt(sink: SqliteSink) -> None:
    _store(sink, [(T0, T0 + H, 1)], HOUR, ALL)
    _store(sink, [(T0, T0 + M, 1)], MIN, ALL)
    with pytest.raises(StateError, match=r"^acme/completions: 2026-09-21T00:00Z is stored at "
                       r"1h and 1m; every sum over it counts it twice"):
        rebuild_state(sink.reader(), TARGET, now=T0 + D)


def test_audit_and_rate_limits_rebuild_their_newest_stored_time(sink: SqliteSink) -> None:
    ctx = MappingContext(organization_id="org-1")
    page = audit_page(("a", T0 + 10), ("b", T0 + 7 * H + 13))
    sink.write(map_audit_page(ctx, page).documents)
    audit = RebuildTarget("acme", "audit", "logs-openai.audit-default", "org-1")
    newest = T0 + 7 * H + 13
    assert rebuild_state(sink.reader(), audit, now=T0 + D) == StreamState(high_water=newest)
    empty = RebuildTarget("acme", "rate_limits", "logs-openai.rate_limits-default", "org-1")
    assert rebuild_state(sink.reader(), empty, now=T0 + D) == StreamState()


def test_a_backfill_of_a_window_stored_in_another_shape_is_refused() -> None:
    stored = Coverage((Segment(T0, T0 + 5 * H, HOUR, ("project_id", "model"), "org-1"),))
    check_backfill(stored, TARGET, span=(T0, T0 + D), width=HOUR,
                   group_by=("project_id", "model"))  # the same shape: gaps only
    check_backfill(stored, TARGET, span=(T0 + 5 * H, T0 + D), width=MIN, group_by=ALL)
    with pytest.raises(StateError) as raised:
        check_backfill(stored, TARGET, span=(T0, T0 + D), width=MIN, group_by=ALL)
    assert str(raised.value) == (
        "backfill acme/completions: 2026-09-21T00:00Z..2026-09-21T05:00Z is stored at 1h "
        "grouped by project_id,model of org id org-1; use --bucket-width 1h, set completions's "
        "group_by to project_id,model, or run `openai-poller state rebuild --org acme "
        "--streams completions` to keep what is stored and fill only the gaps"
    )


def test_a_cycle_without_state_takes_the_stored_coverage_and_goes_on_from_there(
    sink: SqliteSink,
) -> None:
    _store(sink, [(T0 + 20 * H, T0 + 21 * H, 1)], HOUR, ())
    client = FakeClient()
    result = cycle(access(client), config("completions"), sink, now=T0 + 23 * H + 1800)
    assert result.error is None
    assert client.segments() == [(T0 + 20 * H, T0 + 21 * H, HOUR), (T0 + 21 * H, T0 + 23 * H, HOUR)]
    saved = StreamState.from_json(sink.load_state(state_key("acme", "completions")))
    assert saved.coverage.segments == (Segment(T0 + 20 * H, T0 + 21 * H, HOUR, (), "org-1"),)
