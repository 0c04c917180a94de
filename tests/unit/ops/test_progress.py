"""What a backfill shows: the figures of each stream's progress, as plain lines on a fake clock
and as bars on a fixed-width console."""

from __future__ import annotations

import io

from rich.console import Console

from poller.cli._progress import LineProgress, LiveProgress, live_display
from poller.collect import StreamProgress, StreamResult
from poller.coverage import Coverage, Segment
from poller.pipeline import RunReport
from poller.sinks import WriteReport
from poller.state import StreamState
from poller.streams import BucketWidth

DAY = 86400
SINCE = 1_790_000_000 // DAY * DAY  # 2026-09-21T00:00Z
UNTIL = SINCE + 4 * DAY


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _at(done: int, documents: int) -> StreamProgress:
    return StreamProgress("acme", "completions", SINCE, UNTIL, done, SINCE + done, documents)


def test_progress_counts_the_window_less_its_gaps() -> None:
    start = StreamProgress("acme", "audit", SINCE, UNTIL)
    assert start.after(StreamState(high_water=SINCE + DAY), 7) == StreamProgress(
        "acme", "audit", SINCE, UNTIL, DAY, SINCE + DAY, 7)
    assert start.after(StreamState(), 0).fraction == 0.0
    # Collected: the day before the window, its first day and its last: half of it is left.
    coverage = Coverage().add(Segment(SINCE - DAY, SINCE + DAY, BucketWidth("1h")))
    coverage = coverage.add(Segment(UNTIL - DAY, UNTIL, BucketWidth("1d")))
    progress = start.after(StreamState(coverage=coverage), 9)
    assert (progress.done, progress.fraction, progress.position) == (2 * DAY, 0.5, UNTIL)


def test_lines_come_every_period_with_rate_position_and_time_left() -> None:
    out, clock = io.StringIO(), Clock()
    lines = LineProgress(out, clock, every=10.0)
    lines.org_started("acme", 2)
    lines.stream_started(_at(0, 0))
    clock.now += 4
    lines.advanced(_at(DAY, 400))  # within the period: nothing printed
    clock.now += 6
    lines.advanced(_at(DAY, 500))
    clock.now += 10
    lines.advanced(_at(2 * DAY, 1000))
    clock.now += 5
    report = RunReport("acme", "completions", StreamState(), WriteReport(created=1500))
    lines.stream_done(StreamResult("acme", "completions", report=report))
    assert out.getvalue().splitlines() == [
        "backfill: acme/completions 25%, at 2026-09-22T00:00Z of 2026-09-21T00:00Z.."
        "2026-09-25T00:00Z; 500 documents, 50/s, 30s left",
        "backfill: acme/completions 50%, at 2026-09-23T00:00Z of 2026-09-21T00:00Z.."
        "2026-09-25T00:00Z; 1,000 documents, 50/s, 20s left",
        "backfill: acme/completions 1500 documents, 60/s; 1/2 streams of acme in 25s",
    ]


def test_bars_show_each_stream_at_80_columns() -> None:
    out, clock = io.StringIO(), Clock()
    console = Console(file=out, width=80, force_terminal=False, color_system=None)
    display = live_display(console)
    bars = LiveProgress(display, clock)
    bars.org_started("acme", 2)
    bars.stream_started(_at(0, 0))
    bars.stream_started(StreamProgress("acme", "costs", SINCE, UNTIL))
    clock.now += 20
    bars.advanced(_at(DAY, 1000))
    console.print(display.get_renderable())
    assert [line.rstrip() for line in out.getvalue().splitlines()] == [
        "acme/completions ━━━            25% at 2026-09-22T00:00Z 1,000 docs 50/s 1m left",
        "acme/costs                       0% at start             0 docs -/s      ? left",
    ]
