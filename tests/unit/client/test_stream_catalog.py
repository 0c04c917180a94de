"""The catalog owns each stream's special cases: its name, widths and page limits."""

from __future__ import annotations

import pytest

from poller.streams import (
    STREAM_NAMES,
    BucketWidth,
    StreamKind,
    StreamName,
    get_stream,
    streams_of_kind,
)

DAY, HOUR, MINUTE = BucketWidth.DAY, BucketWidth.HOUR, BucketWidth.MINUTE


def test_a_stream_name_is_its_string() -> None:
    costs: str = StreamName.COSTS
    assert costs == "costs"
    assert f"logs-openai.{StreamName.AUDIT}-x" == "logs-openai.audit-x"
    by_name: dict[str, int] = {StreamName.RATE_LIMITS: 1}
    assert by_name["rate_limits"] == 1
    assert tuple(StreamName) == STREAM_NAMES
    assert all(get_stream(str(name)).name is name for name in StreamName)


def test_an_unknown_stream_names_the_choices() -> None:
    with pytest.raises(KeyError, match="unknown stream 'cost'; choose from: completions, "):
        get_stream("cost")


def test_costs_are_daily_with_their_own_page_limits() -> None:
    costs = get_stream("costs")
    assert (costs.kind, costs.widths, costs.fixed_width) == (StreamKind.COSTS, (DAY,), DAY)
    assert costs.page_limit(DAY) == 180
    assert costs.usage is not None and costs.usage.default_limits == {DAY: 7}
    with pytest.raises(ValueError, match=r"^costs has no 1h buckets \(widths: 1d\)$"):
        costs.page_limit(HOUR)


def test_usage_streams_take_every_width() -> None:
    completions = get_stream("completions")
    assert (completions.widths, completions.fixed_width) == ((MINUTE, HOUR, DAY), None)
    assert [completions.page_limit(w) for w in (MINUTE, HOUR, DAY)] == [1440, 168, 31]
    assert completions.usage is not None
    assert completions.usage.default_limits == {MINUTE: 60, HOUR: 24, DAY: 7}


@pytest.mark.parametrize("name", ["audit", "rate_limits"])
def test_unbucketed_streams_have_no_widths(name: str) -> None:
    spec = get_stream(name)
    assert (spec.widths, spec.fixed_width) == ((), None)
    with pytest.raises(ValueError, match=f"^{name} has no 1d buckets \\(widths: none\\)$"):
        spec.page_limit(DAY)


def test_streams_of_a_kind_keep_catalog_order() -> None:
    usage = [spec.name for spec in streams_of_kind(StreamKind.USAGE)]
    assert usage == list(STREAM_NAMES[:10])
    assert "costs" not in usage
    assert [spec.name for spec in streams_of_kind(StreamKind.COSTS)] == ["costs"]
