"""Every destination, fed by a real collection from the simulator, equals the primary sink.

The poller backfills six hours of completions, embeddings, costs and audit from the simulator
into SQLite through the pipeline, with every destination wired as the pipeline wires them:
after the sink acknowledged a batch, before its cursor moves. An hour later (simulated) it
reads the same window again, so partial buckets come back revised. Then:

- a real Prometheus scrapes the counters from the daemon's own /metrics server:
  `increase()` over the whole run, and the counters' sums, equal the sink's settled totals;
- the samples it received by remote write, summed over time (per bucket too), equal them;
- a loopback OTLP receiver's delta sums (per bucket too), Splunk HEC's newest event per
  `doc_id` (with indexer acknowledgment) and Loki's lines equal them.

The documents' totals come from the SQLite reader, not from the destinations' code.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from needs import tool
from prometheus_client import CollectorRegistry
from prometheus_server import Prometheus, prometheus
from pydantic import TypeAdapter
from receivers import HecReceiver, LokiReceiver, OtlpReceiver, serving

from poller.destinations import Destinations, FanOut, Retention
from poller.destinations.backends import DestinationContext, DestinationMetrics, build_fanout
from poller.destinations.backends._prompb import Sample
from poller.destinations.backends._remote_write import HEADERS, encode_series
from poller.documents.model import Document, Rejected
from poller.health import HealthServer
from poller.pipeline import run_source
from poller.runtime import org_runtime
from poller.settings import load_settings
from poller.simulator.app import SimulatorApp
from poller.simulator.organization import build_organization
from poller.simulator.server import SimulatorServer
from poller.sinks import DeadLetter, SqliteSink, WriteReport
from poller.sources import BackfillWindow, backfill_source
from poller.streams import BucketWidth

pytestmark = tool("prometheus")

KEY = "sk-admin-destinations-test"
HEC_TOKEN = "hec-loopback-token"
GRACE = 120
WINDOW = 6 * 3600
COSTS_WINDOW = 2 * 86400  # costs come in whole days: yesterday's is the newest complete one
# Audit events follow office hours and weekdays, so six hours of a weekend night can hold none:
# audit reads the last four days (at least two working days, whenever the test runs), which only
# Loki and HEC receive.
AUDIT_WINDOW = 4 * 86400
HOLD = 60.0
STREAMS = ("completions", "embeddings", "costs", "audit")
USAGE_RULES = Path(__file__).resolve().parents[3] / "deploy/prometheus/openai-usage-rules.yaml"
# The Grafana mixin's alerts: their recorded series, the counter(s) it sums, and the threshold.
MIXIN_ALERTS = {
    "HighCompletionTokensUsage": (("openai_usage_output_tokens",), 10_000),
    "HighPromptTokensUsage": (("openai_usage_input_tokens",), 5_000),
    "HighTotalTokensUsage": (("openai_usage_input_tokens", "openai_usage_output_tokens"), 15_000),
    "HighUsageCost": (("openai_cost_estimate_usd",), 100),
}
USAGE = ("completions", "embeddings")
# counter name → the document fields (per usage stream, or costs) whose sum it must equal
TRUTH_FIELDS = {
    "openai_usage_input_tokens": {s: f"openai.{s}.input_tokens" for s in USAGE},
    "openai_usage_output_tokens": {"completions": "openai.completions.output_tokens"},
    "openai_usage_requests": dict.fromkeys(USAGE, "openai.base.num_model_requests"),
    "openai_cost_estimate_usd": dict.fromkeys(USAGE, "openai.base.cost_estimate_usd"),
    "openai_cost_usd": {"costs": "openai.costs.amount.value"},
}
OTLP_NAMES = {
    "openai_usage_input_tokens": "openai.usage.input_tokens",
    "openai_usage_output_tokens": "openai.usage.output_tokens",
    "openai_usage_requests": "openai.usage.requests",
    "openai_cost_estimate_usd": "openai.cost.estimate",
    "openai_cost_usd": "openai.cost",
}


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Delivering:
    """The primary sink with the org's destinations behind it, in the pipeline's order."""

    primary: SqliteSink
    fanout: FanOut

    def write(self, documents: Sequence[Document]) -> WriteReport:
        report = self.primary.write(documents)
        self.fanout.deliver(documents)
        return report

    def reject(self, items: Sequence[Rejected]) -> tuple[DeadLetter, ...]:
        return self.primary.reject(items)

    def load_state(self, key: str) -> Any:
        return self.primary.load_state(key)

    def save_state(self, key: str, state: Any) -> None:
        self.primary.save_state(key, state)

    def probe(self) -> bool:
        return self.primary.probe()

    def close(self) -> None:
        self.fanout.close()


@dataclass
class Run:
    prometheus: Prometheus
    sink: SqliteSink
    otlp: OtlpReceiver
    loki: LokiReceiver
    hec: HecReceiver
    fanout: FanOut
    organization_id: str
    last_scrape: float  # Unix seconds of the last scrape of the settled counters

    def truth(self, counter: str, start: int | None = None, end: int | None = None) -> float:
        reader = self.sink.reader()
        total = 0.0
        for stream, path in TRUTH_FIELDS[counter].items():
            found = reader.sums(f"logs-openai.{stream}-default", [path], start=_at(start),
                                end=_at(end))
            total += found.values.get(path, 0.0)
        return total


def _at(seconds: int | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


def _exposed(registry: CollectorRegistry) -> dict[str, tuple[int, float]]:
    """Per counter: how many series /metrics shows, and their sum."""
    out: dict[str, tuple[int, float]] = {}
    for family in registry.collect():
        for sample in family.samples:
            if sample.name in {f"{c}_total" for c in TRUTH_FIELDS}:
                count, total = out.get(sample.name, (0, 0.0))
                out[sample.name] = (count + 1, total + sample.value)
    return out


def _settle(prom: Prometheus, registry: CollectorRegistry, clock: Clock) -> None:
    """Let Prometheus see every series at its shown value, then past the hold, at its total."""
    def showing() -> bool:
        for name, (count, total) in _exposed(registry).items():
            series = prom.query(name)
            if len(series) != count or not math.isclose(
                sum(float(s["value"][1]) for s in series), total, rel_tol=1e-12, abs_tol=1e-9
            ):
                return False
        return True

    prom.wait_for("the new series at 0", showing)
    clock.now += HOLD
    prom.wait_for("the counters' totals", showing)


def _collect(rt: Any, sink: Delivering, since: int, now: int, until: int) -> None:
    for name in STREAMS:
        back = {"costs": COSTS_WINDOW, "audit": AUDIT_WINDOW}.get(name, WINDOW)
        window = BackfillWindow(
            since=since - back + WINDOW,
            until=until,
            now=now,
            width=BucketWidth.HOUR,
        )
        run_source(backfill_source(rt.access, rt.settings.stream(name), window), sink)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    # Five minutes into an hour: the hour before is still settling (the simulator settles
    # over ten minutes), so the second pass revises it.
    hour = int(time.time()) // 3600 * 3600
    now = hour + 337 if hour + 337 <= time.time() else hour - 3600 + 337
    wall = time.time()
    simulated = Clock(now)
    counters = Clock(wall)
    org = build_organization(seed=11, size="small", settle_seconds=600)
    otlp, loki, hec = OtlpReceiver(), LokiReceiver(), HecReceiver(HEC_TOKEN)
    registry = CollectorRegistry(auto_describe=True)
    workdir = tmp_path_factory.mktemp("destinations")
    with ExitStack() as stack:
        metrics_server = stack.enter_context(HealthServer(registry, port=0))
        prom = stack.enter_context(
            prometheus(workdir / "prometheus", f"127.0.0.1:{metrics_server.port}", [USAGE_RULES])
        )
        otlp_url = stack.enter_context(serving(otlp))
        loki_url = stack.enter_context(serving(loki))
        hec_url = stack.enter_context(serving(hec))
        api = stack.enter_context(SimulatorServer(SimulatorApp(org, admin_key=KEY,
                                                               clock=simulated)))
        settings = load_settings(orgs=[{"name": "e2e", "admin_key": KEY,
                                        "base_url": api.base_url,
                                        "organization_id": org.organization_id}])
        rt = stack.enter_context(org_runtime(settings.orgs[0]))
        sink = stack.enter_context(SqliteSink(str(workdir / "primary.sqlite3")))
        destinations = TypeAdapter(Destinations).validate_python([
            {"type": "prometheus", "new_series_hold": HOLD},
            {"type": "remote_write", "url": prom.write_url, "batch_size": 200},
            {"type": "otlp", "url": f"{otlp_url}/v1/metrics"},
            {"type": "loki", "url": loki_url},
            {"type": "splunk_hec", "url": hec_url, "token": HEC_TOKEN, "ack": True,
             "ack_poll_interval": 0.01, "streams": list(STREAMS)},
        ])
        context = DestinationContext(
            "e2e", sink, DestinationMetrics(registry),
            retention=Retention.for_streams(settings.orgs[0].stream_configs()), clock=counters,
        )
        delivering = Delivering(sink, build_fanout(destinations, context))
        stack.callback(delivering.close)

        since = now - WINDOW - now % 3600
        _collect(rt, delivering, since, now, now)
        _settle(prom, registry, counters)
        simulated.now = now + 3600  # everything in the window has settled; read it again
        _collect(rt, delivering, since, now + 3600, now - GRACE)
        _settle(prom, registry, counters)
        (series, *_) = prom.query("openai_usage_input_tokens_total[1m]")
        last = max(float(ts) for ts, _ in series["values"])
        yield Run(prom, sink, otlp, loki, hec, delivering.fanout, org.organization_id, last)


@pytest.mark.parametrize("counter", list(TRUTH_FIELDS))
def test_increase_over_the_run_equals_the_settled_totals(run: Run, counter: str) -> None:
    truth = run.truth(counter)
    assert truth > 0
    increase = run.prometheus.scalar(
        f"sum(increase({counter}_total[10m]))", at=run.last_scrape
    )
    total = run.prometheus.scalar(f"sum({counter}_total)", at=run.last_scrape)
    assert increase is not None and total is not None
    if counter.startswith("openai_usage"):
        assert (increase, total) == (truth, truth)  # whole numbers: exact
    else:
        assert math.isclose(increase, truth, rel_tol=1e-9)
        assert math.isclose(total, truth, rel_tol=1e-9)


def test_counters_by_model_equal_the_sink_by_model(run: Run) -> None:
    reader = run.sink.reader()
    truth: dict[str, float] = {}
    for stream in USAGE:
        groups = reader.sums_by(f"logs-openai.{stream}-default", [f"openai.{stream}.input_tokens"],
                                "openai.base.model")
        for model, sums in groups.items():
            truth[str(model)] = truth.get(str(model), 0.0) + sum(sums.values.values())
    found = {
        s["metric"]["model"]: float(s["value"][1])
        for s in run.prometheus.query(
            "sum by (model) (increase(openai_usage_input_tokens_total[10m]))", at=run.last_scrape
        )
    }
    assert found == truth


@pytest.mark.parametrize("counter", list(TRUTH_FIELDS))
def test_remote_written_increments_sum_to_the_settled_totals(run: Run, counter: str) -> None:
    found = run.prometheus.scalar(f"sum(sum_over_time({counter}[3d]))")
    assert found is not None
    assert math.isclose(found, run.truth(counter), rel_tol=1e-9)


def test_remote_written_samples_are_stamped_with_their_bucket(run: Run) -> None:
    stamps = [
        float(ts)
        for series in run.prometheus.query("openai_usage_input_tokens[3d]")
        for ts, _ in series["values"]
    ]
    # An hour bucket's start, plus a second per stream and a millisecond per revision.
    offsets = {round(ts * 1000) % 3_600_000 for ts in stamps}
    # completions at the bucket's start, embeddings a second in; revisions a millisecond later
    assert {0, 1000} <= offsets <= {0, 1, 1000, 1001}
    assert offsets & {1, 1001}
    hours = sorted({int(ts) // 3600 * 3600 for ts in stamps})
    assert len(hours) == 6
    for hour in hours:
        found = run.prometheus.scalar(
            "sum(sum_over_time(openai_usage_input_tokens[1h]))", at=hour + 3600 - 0.001
        )
        assert found == run.truth("openai_usage_input_tokens", hour, hour + 3600), hour


def test_otlp_delta_sums_equal_the_settled_totals_per_bucket(run: Run) -> None:
    for counter, name in OTLP_NAMES.items():
        assert math.isclose(run.otlp.total(name), run.truth(counter), rel_tol=1e-9), name
    per_hour: dict[int, float] = {}
    for (name, _, start, end), value in run.otlp.sums.items():
        if name == "openai.usage.input_tokens":
            assert end - start == 3600 * 10**9
            per_hour[start // 10**9] = per_hour.get(start // 10**9, 0.0) + value
    for hour, value in per_hour.items():
        assert value == run.truth("openai_usage_input_tokens", hour, hour + 3600)
    assert {r["openai.organization.id"] for r in run.otlp.resources} == {run.organization_id}
    assert {r["service.name"] for r in run.otlp.resources} == {"openai-poller"}


def test_splunk_holds_every_document_and_its_newest_version(run: Run) -> None:
    reader = run.sink.reader()
    newest: dict[str, dict[str, Any]] = {}
    for event in run.hec.events:  # in the order Splunk indexed them
        newest[event["fields"]["doc_id"]] = event
    for stream in STREAMS:
        ids = [i for i, e in newest.items() if e["fields"]["stream"] == stream]
        assert len(ids) == reader.count(f"logs-openai.{stream}-default"), stream
        stored = reader.documents(f"logs-openai.{stream}-default", ids)
        assert all(newest[i]["event"] == json.loads(json.dumps(stored[i])) for i in ids), stream
    assert {e["sourcetype"] for e in newest.values()} == {
        "openai:usage", "openai:costs", "openai:audit",
    }
    revised = len(run.hec.events) - len(newest)
    assert revised > 0  # the re-read sent revisions as new events, and nothing unchanged


def test_loki_holds_each_audit_event_once_under_bounded_labels(run: Run) -> None:
    audit = run.sink.reader().count("logs-openai.audit-default")
    assert len(run.loki.entries) == audit > 0
    lines = [json.loads(line) for _, _, line in run.loki.entries]
    assert len({doc["event"]["id"] for doc in lines}) == audit
    assert {tuple(k for k, _ in labels) for labels, _, _ in run.loki.entries} <= {
        ("event_type", "org", "outcome"), ("event_type", "org"),
    }


def test_a_repeated_remote_write_is_taken_as_the_same_samples(run: Run) -> None:
    """A request sent again after its answer was lost: Prometheus takes it, and counts once."""
    labels = (("__name__", "openai_usage_requests"), ("org", "repeat-check"))
    stamp = int(run.last_scrape) // 3600 * 3600 * 1000 - 3 * 3600 * 1000  # out of order
    body = encode_series({labels: [Sample(value=5.0, timestamp=stamp)]})
    for _ in range(2):
        assert httpx.post(run.prometheus.write_url, content=body, headers=HEADERS).is_success
    assert run.prometheus.scalar(
        'sum_over_time(openai_usage_requests{org="repeat-check"}[1d])'
    ) == 5.0


def test_every_destination_answers_its_probe(run: Run) -> None:
    assert run.fanout.probe() == dict.fromkeys(
        ("prometheus", "remote_write", "otlp", "loki", "splunk_hec"), True
    )


def _truth_by_model(run: Run, counters: Sequence[str]) -> dict[str, float]:
    reader = run.sink.reader()
    found: dict[str, float] = {}
    for counter in counters:
        for stream, path in TRUTH_FIELDS[counter].items():
            if stream not in USAGE:
                continue
            groups = reader.sums_by(f"logs-openai.{stream}-default", [path], "openai.base.model")
            for model, sums in groups.items():
                found[str(model)] = found.get(str(model), 0.0) + sums.values.get(path, 0.0)
    return found


def test_the_mixin_alerts_fire_in_prometheus_for_the_models_past_their_thresholds(
    run: Run,
) -> None:
    """Prometheus evaluates the shipped rules on the scraped counters: every mixin alert fires
    for each model whose collected usage (all of it came within the last five minutes) is
    well past the threshold, and for none well below it. `increase()` extrapolates by up to
    half a scrape interval, so models within a factor of two of a threshold are not judged."""

    def firing() -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for alert in run.prometheus.alerts():
            if alert["state"] == "firing":
                found.setdefault(alert["labels"]["alertname"], set()).add(alert["labels"]["model"])
        return found

    run.prometheus.wait_for("a firing mixin alert", lambda: bool(firing().keys() & MIXIN_ALERTS))
    alerts = firing()
    judged = 0
    for name, (counters, threshold) in MIXIN_ALERTS.items():
        truth = _truth_by_model(run, counters)
        above = {model for model, value in truth.items() if value > 2 * threshold}
        below = {model for model, value in truth.items() if value < threshold / 2}
        assert above <= alerts.get(name, set()), name
        assert not below & alerts.get(name, set()), name
        judged += len(above)
    assert judged > 0, alerts
