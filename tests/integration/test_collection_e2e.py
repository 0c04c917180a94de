"""End to end, on both sinks: a 7-day backfill of all 13 streams equals the simulator's truth.

The simulator and the poller share one fixed clock, so "now" is exact. The checks:
- per usage stream and metric, the sink's sum equals the simulator's, and documents equal the
  number of result rows the API returned;
- costs: the billed total equals the simulator's; audit: one document per event; rate limits:
  one document per (project, model);
- a second backfill changes nothing;
- after the clock moves past settlement, a third backfill revises the partial buckets in place:
  sums equal the settled truth and document counts do not grow.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from poller.collect import backfill_org, cycle
from poller.coverage import Coverage
from poller.runtime import OrgRuntime, org_runtime
from poller.settings import load_settings
from poller.simulator.app import SimulatorApp
from poller.simulator.organization import Organization, build_organization
from poller.simulator.server import SimulatorServer
from poller.sinks import SqliteSink
from poller.sinks.elasticsearch import ElasticsearchSink
from poller.sources import BackfillWindow
from poller.sources.plans import backfill_segments
from poller.streams import BUCKET_SECONDS, STREAM_NAMES, USAGE_ENDPOINTS

pytestmark = pytest.mark.integration

KEY = "sk-admin-e2e-test-key"
NOW = 1_795_000_000 - 1_795_000_000 % 60 + 37  # mid-minute, like a real clock
DAYS = 7
GRACE = 120
USAGE = [name for name in USAGE_ENDPOINTS if name != "costs"]


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@contextmanager
def simulated(clock: Clock) -> Iterator[tuple[Organization, str]]:
    org = build_organization(seed=7, size="small", settle_seconds=600)
    app = SimulatorApp(org, admin_key=KEY, clock=clock)
    with SimulatorServer(app) as server:
        yield org, server.base_url


@contextmanager
def poller_org(base_url: str, namespace: str) -> Iterator[OrgRuntime]:
    settings = load_settings(
        orgs=[{"name": "e2e", "admin_key": KEY, "base_url": base_url, "namespace": namespace}]
    )
    with org_runtime(settings.orgs[0]) as rt:
        yield rt


def backfill_all(rt: OrgRuntime, sink: Any, window: BackfillWindow) -> dict[str, int]:
    """Backfill every stream, as `openai-poller backfill` does; return documents created per
    stream."""
    result = backfill_org(rt, sink, STREAM_NAMES, window)
    assert (result.failures, result.interrupted) == (0, False)
    assert [r.stream for r in result.streams] == list(STREAM_NAMES)
    return {r.stream: r.written.created for r in result.streams}


def truth(org: Organization, now: int, at: float) -> dict[str, Any]:
    """The simulator's own numbers for the backfilled window, as reported at time `at`."""
    out: dict[str, Any] = {}
    for name in USAGE:
        rows = 0
        sums: dict[str, int] = {}
        for seg in backfill_segments(Coverage(), since=now - DAYS * 86400, until=now, now=now,
                                     grace=GRACE, width=None, reread_from=now):
            step = BUCKET_SECONDS[seg.width]
            for start in range(seg.start, seg.end, step):
                usage = org.usage(name, start, start + step, at)
                rows += len(usage)
                for metrics in usage.values():
                    for metric, value in metrics.items():
                        sums[metric] = sums.get(metric, 0) + value
        out[name] = (rows, sums)
    day = 86400
    first_day = (now - DAYS * day) - (now - DAYS * day) % day
    last_day = (now - GRACE) - (now - GRACE) % day
    costs = org.costs(first_day, last_day, at)
    out["costs"] = sum(r.amount for r in costs.values())
    out["audit"] = len(org.audit_events(now - DAYS * day, now, at))
    active = [p for p in org.directory.projects if p.get("status") != "archived"]
    out["rate_limits"] = sum(len(org.directory.project_rate_limits[p["id"]]) for p in active)
    return out


def field(stream: str, metric: str) -> str:
    base = metric == "num_model_requests"
    return f"openai.base.{metric}" if base else f"openai.{stream}.{metric}"


def assert_sink_equals(reader: Any, namespace: str, expected: dict[str, Any]) -> None:
    for name in USAGE:
        rows, sums = expected[name]
        data_stream = f"logs-openai.{name}-{namespace}"
        assert reader.count(data_stream) == rows, name
        metrics = list(USAGE_ENDPOINTS[name].metrics)
        got = reader.sums(data_stream, [field(name, m) for m in metrics]).values
        for metric in metrics:
            assert got.get(field(name, metric), 0) == sums.get(metric, 0), (name, metric)
    billed = reader.sums(f"logs-openai.costs-{namespace}", ["openai.costs.amount.value"])
    assert math.isclose(
        billed.values["openai.costs.amount.value"], float(expected["costs"]), abs_tol=1e-6
    )
    assert reader.count(f"logs-openai.audit-{namespace}") == expected["audit"]
    assert reader.count(f"logs-openai.rate_limits-{namespace}") == expected["rate_limits"]


def scenario(sink: Any, reader: Any, namespace: str, refresh: Any) -> None:
    clock = Clock(NOW)
    window = BackfillWindow(since=NOW - DAYS * 86400, until=NOW, now=NOW)
    with simulated(clock) as (org, base_url), poller_org(base_url, namespace) as rt:
        backfill_all(rt, sink, window)
        refresh()
        partial = truth(org, NOW, NOW)
        assert_sink_equals(reader, namespace, partial)
        assert sum(partial["completions"][1].values()) > 0

        again = backfill_all(rt, sink, window)
        refresh()
        assert again == dict.fromkeys(STREAM_NAMES, 0)
        assert_sink_equals(reader, namespace, partial)

        # One hour later everything in the window has settled; the window ends where it did.
        clock.now = NOW + 3600
        backfill_all(rt, sink, BackfillWindow(window.since, until=NOW - GRACE, now=NOW + 3600))
        refresh()
        settled = truth(org, NOW, math.inf)
        settled["rate_limits"] *= 2  # a snapshot stream: the new hour is a second snapshot
        assert settled["completions"] != partial["completions"]  # something was revised
        assert_sink_equals(reader, namespace, settled)


def test_sqlite_sink_equals_simulator_truth(tmp_path: Any) -> None:
    with SqliteSink(str(tmp_path / "e2e.sqlite3")) as sink:
        scenario(sink, sink.reader(), "default", lambda: None)


def test_elasticsearch_sink_equals_simulator_truth(
    es_sink: ElasticsearchSink, es_refresh: Callable[[], None], es_namespace: Any
) -> None:
    scenario(es_sink, es_sink.reader(), es_namespace.name, es_refresh)


def test_daemon_cycles_apply_late_revisions_in_place(tmp_path: Any) -> None:
    """Daemon cycles at now, +10 min and +1 h: each re-reads the settlement window, so the
    sink ends equal to the simulator's values as of the last cycle (buckets revised since are
    updated in place), with one document per row."""
    from poller.state import StreamState, state_key

    clock = Clock(NOW)
    with SqliteSink(str(tmp_path / "daemon.sqlite3")) as sink, simulated(clock) as (org, url):
        reader = sink.reader()
        updated = 0
        with poller_org(url, "default") as rt:
            for at in (NOW, NOW + 600, NOW + 3600):
                clock.now = at
                for name in ("completions", "web_search_calls"):
                    result = cycle(rt.access, rt.settings.stream(name), sink, now=at)
                    assert result.report is not None, result.error
                    assert (result.error, result.report.stopped) == (None, False)
                    updated += result.written.updated
        assert updated > 0  # late data really was revised
        for name in ("completions", "web_search_calls"):
            state = StreamState.from_json(sink.load_state(state_key("e2e", name)))
            rows, sums = 0, dict.fromkeys(USAGE_ENDPOINTS[name].metrics, 0)
            for seg in state.coverage.segments:
                step = BUCKET_SECONDS[seg.width]
                for start in range(seg.start, seg.end, step):
                    usage = org.usage(name, start, start + step, NOW + 3600)
                    rows += len(usage)
                    for metrics in usage.values():
                        for metric, value in metrics.items():
                            sums[metric] += value
            data_stream = f"logs-openai.{name}-default"
            assert state.coverage.end == NOW + 3600 - 37 - GRACE  # whole minutes up to grace
            assert reader.count(data_stream) == rows
            got = reader.sums(data_stream, [field(name, m) for m in sums]).values
            assert {m: got.get(field(name, m), 0) for m in sums} == sums
