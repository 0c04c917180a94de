"""Drills: each pushing destination's receiver goes down under `python -m poller run`, first
refusing connections, then hanging (connections accepted, never answered), and comes back.

Remote write goes to a real Prometheus (Debian's `prometheus`); OTLP, Loki and Splunk HEC go
to the loopback receivers of tests/integration/destinations/receivers.py, which implement each
protocol as documented. Each receiver sits behind the drills' fault proxy, which makes the
outage. While it lasts, the drill checks what an operator sees: the streams the destination
takes hold their cursors, `status` shows them failing with the destination named, `/readyz`
answers 503 naming it, `/metrics` shows `openai_poller_destination_up` 0 and failed
deliveries. After it, the receiver holds exactly what the primary sink holds.

The outage lasts OUTAGE_SECONDS (refused, then hanging), not 60 s: what it must show is
several whole failed cycles in each mode, each spending every delivery attempt (2 s cycles,
two attempts, a 2 s request timeout), and that takes seconds; a longer outage repeats the same
failed cycle more times and only makes the drill slower. The simulator's usage settles over a
minute (`settle_seconds`), so every cycle re-reads revised buckets and has something new to
deliver: the outage is never hidden behind cycles that only repeat what was taken. Audit
events are rare (a few a day), so the event destinations take completions as well.

Each destination promises (docs/destinations.md) exactly once in effect for what a receiver
never took, which is all an outage of refused or unanswered connections produces: so the
totals must be equal, not merely at least the primary's. The outage starts between two
requests; a request the receiver took whose answer was lost (where OTLP and HEC are at least
once) is its own case, in tests/integration/destinations/test_remote_write_lost_answer.py and
the destinations' unit tests.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from drill_support import (
    KEY,
    RUN_CMD,
    Check,
    daemon_env,
    http_get,
    merge_checks,
    metric_total,
    read_states,
    record,
    scan_for_secrets,
    simulator_with,
    start,
    wait_until,
)
from fault_proxy import FaultProxy, Mode
from integration.destinations.prometheus_server import Prometheus, prometheus
from integration.destinations.receivers import HecReceiver, LokiReceiver, OtlpReceiver, serving
from loopback import free_port
from needs import tool

from poller.destinations import USAGE_METRICS
from poller.sinks import SqliteSink
from poller.state import StreamState

pytestmark = pytest.mark.drill

OUTAGE_SECONDS = 24.0  # half refused, half hanging
SETTLE = 60
# Buckets are first read GRACE s after they end, a quarter settled: never all zero (which a
# metric destination has nothing to send for), and revised by every cycle for 90 s more.
GRACE = 30
HEC_TOKEN = "drill-hec-token-7c2e"
# What each metric destination counts, and the document fields whose sums it must equal.
USAGE = ("completions", "embeddings")
METRIC_FIELDS = {  # by remote-write series name (scraped: plus `_total`)
    "openai_usage_input_tokens": {s: f"openai.{s}.input_tokens" for s in USAGE},
    "openai_usage_output_tokens": {"completions": "openai.completions.output_tokens"},
    "openai_usage_requests": dict.fromkeys(USAGE, "openai.base.num_model_requests"),
    "openai_cost_estimate_usd": dict.fromkeys(USAGE, "openai.base.cost_estimate_usd"),
}
# The same metrics' OTLP names (tests/integration/destinations spells them out).
OTLP_NAMES = {m.name: m.otlp_name for m in USAGE_METRICS}
# A failed delivery: two tries, a quarter second apart, each of at most 2 s.
DELIVERY = {"timeout": 2, "retry": {"attempts": 2, "backoff": 0.25, "max_backoff": 1}}


class Primary:
    """The daemon's embedded store, read back through its own reader."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def sum(self, fields: dict[str, str]) -> float:
        with SqliteSink(str(self.path), read_only=True) as sink:
            reader = sink.reader()
            return sum(
                reader.sums(f"logs-openai.{stream}-default", [path]).values.get(path, 0.0)
                for stream, path in fields.items()
            )

    def documents(self, stream: str) -> dict[str, dict[str, Any]]:
        with SqliteSink(str(self.path), read_only=True) as sink:
            found = sink.reader().all_documents(f"logs-openai.{stream}-default")
        return {doc_id: json.loads(json.dumps(doc)) for doc_id, doc in found.items()}


@dataclass
class Kind:
    """One destination under drill: its settings (the URL is the fault proxy's), the streams
    the daemon collects (all of them delivered to it), and how its receiver is reconciled
    with the primary sink."""

    name: str  # the destination's name, as the poller's metrics and messages say it
    what: str  # how the poller's errors name it
    streams: list[str]
    settings: Callable[[str], dict[str, Any]]
    reconcile: Callable[[Primary], Check]


def _metric_check(found: Callable[[str], float], primary: Primary) -> Check:
    """Per metric, the receiver's total against the primary's; expected and found count
    tokens, requests and (rounded) cents, so `lost` reads in those units."""
    check = Check()
    for metric, fields in METRIC_FIELDS.items():
        truth, got = primary.sum(fields), found(metric)
        scale = 100 if metric == "openai_cost_estimate_usd" else 1
        check.expected += round(truth * scale)
        check.found += round(got * scale)
        if not math.isclose(got, truth, rel_tol=1e-9, abs_tol=1e-9):
            check.mismatches.append(f"{metric}: receiver {got!r} != primary {truth!r}")
        if truth <= 0:
            check.mismatches.append(f"{metric}: nothing collected")
    return check


def _identity(doc: dict[str, Any]) -> str:
    """What stays the same across a document's versions: an audit event's id, a bucket's
    time and dimensions (everything but its numbers and when it was read)."""
    event = doc.get("event", {})
    if "id" in event:
        return str(event["id"])

    def shape(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: shape(v) for k, v in value.items() if k != "created"}
        if isinstance(value, int | float) and not isinstance(value, bool):
            return None
        return value

    return json.dumps(shape(doc), sort_keys=True)


def _event_check(
    primary: Primary, streams: Sequence[str], versions: dict[str, list[dict[str, Any]]],
    *, ordered: bool,
) -> Check:
    """Every stored document's stored version is among what the receiver took for it
    (`versions` by `_identity`), and, when the receiver keeps an order (`ordered`), the
    newest of them; documents the primary does not hold are extra. Duplicates: a version
    taken twice."""
    check = Check()
    stored = {_identity(doc): doc for stream in streams
              for doc in primary.documents(stream).values()}
    check.expected = len(stored)
    for key, doc in stored.items():
        taken = versions.get(key, [])
        if (taken[-1:] if ordered else taken).count(doc):
            check.found += 1
        check.duplicates += len(taken) - len({json.dumps(v, sort_keys=True) for v in taken})
    extra = versions.keys() - stored.keys()
    if extra:
        check.mismatches.append(f"{len(extra)} documents the primary does not hold")
    if check.found != check.expected:
        check.mismatches.append(f"{check.expected - check.found} stored versions not delivered")
    return check


@dataclass
class Daemon:
    store: Path
    log: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    texts: list[str] = field(default_factory=list)

    def start(self) -> None:
        self.proc = start(RUN_CMD, {**self.env, "POLLER_METRICS__PORT": str(self.port)}, self.log)

    def running(self) -> bool:
        assert self.proc is not None and self.proc.poll() is None, f"exited:\n{self.tail()}"
        return True

    def get(self, path: str) -> tuple[int, str]:
        self.running()
        answer = http_get(f"http://127.0.0.1:{self.port}{path}")
        self.texts.append(answer[1])
        return answer

    def metric(self, name: str, **labels: str) -> float:
        return metric_total(self.get("/metrics")[1], name, **labels)

    def status(self) -> list[dict[str, Any]]:
        done = subprocess.run(
            [sys.executable, "-m", "poller", "status", "--json"], env=self.env,
            capture_output=True, timeout=30, check=False,
        )
        self.texts += [done.stdout.decode(), done.stderr.decode()]
        assert done.returncode in (0, 1), done.stderr.decode()
        rows: list[dict[str, Any]] = json.loads(done.stdout)
        return rows

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.terminate()
        return self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def _positions(store: Path, streams: list[str]) -> dict[str, tuple[Any, ...]]:
    states = read_states(store, streams)
    assert states is not None

    def position(state: StreamState) -> tuple[Any, ...]:
        return (state.coverage.to_json(), state.high_water)

    return {stream: position(state) for stream, state in states.items()}


def _succeeded_after(store: Path, streams: list[str], moment: float) -> bool:
    states = read_states(store, streams)
    return states is not None and all((s.last_success or 0) > moment for s in states.values())


@dataclass
class Outage:
    """What the drill saw while the receiver was down."""

    failed_refused: float = 0.0
    failed_hanging: float = 0.0
    held: bool = False
    readyz: tuple[int, str] = (0, "")
    status: list[dict[str, Any]] = field(default_factory=list)


def _drill(kind: Kind, upstream: str, tmp_path: Path, sim_base: str) -> tuple[Daemon, Outage]:
    """Run the daemon with the destination behind a fault proxy in front of `upstream`; take
    the receiver down (refused, then hanging) and back; stop the daemon after a whole cycle of
    every stream succeeded after the recovery."""
    work = tmp_path / "run"  # the daemon's files: scanned for secrets after
    work.mkdir()
    store, log = work / "store.sqlite3", work / "daemon.log"
    labels = {"org": "default", "destination": kind.name}
    outage = Outage()
    with FaultProxy(upstream) as proxy:
        org = {"name": "default", "admin_key": KEY, "base_url": sim_base,
               "destinations": [{"name": kind.name, **kind.settings(proxy.url), **DELIVERY}]}
        env = daemon_env(
            sim_base, store, kind.streams, 0,
            ORGS=json.dumps([org]),
            ORG_DEFAULTS__DEFAULTS__INTERVAL="2s",
            ORG_DEFAULTS__DEFAULTS__INITIAL_INTERVAL="20m",
            ORG_DEFAULTS__DEFAULTS__SETTLEMENT_GRACE=f"{GRACE}s",
            ORG_DEFAULTS__DEFAULTS__SETTLEMENT_WINDOW="15m",
            ORG_DEFAULTS__OVERRIDES__AUDIT__INITIAL_INTERVAL="3d",
            SHUTDOWN_TIMEOUT="10s",
        )
        daemon = Daemon(store, log, env)
        daemon.start()
        try:
            wait_until("/readyz", lambda: daemon.get("/readyz")[0] == 200, 90, 0.3)
            assert daemon.metric("openai_poller_destination_up", **labels) == 1.0

            def down(mode: Mode) -> float:
                """Failed deliveries counted while the proxy was in `mode`."""
                before = daemon.metric("openai_poller_destination_deliveries_total",
                                       result="failed", **labels)
                # Between requests: an answer lost in flight is the lost-answer case, which
                # the destinations' unit and integration tests cover on its own.
                proxy.wait_idle()
                proxy.set_mode(mode)
                if mode == "refuse":
                    wait_until("a failed delivery", lambda: daemon.metric(
                        "openai_poller_destination_up", **labels) == 0.0, 30, 0.2)
                    # From here on every stream's cursor must stay where it is.
                    held = _positions(store, kind.streams)
                    outage.readyz = daemon.get("/readyz")
                    outage.status = daemon.status()
                    time.sleep(OUTAGE_SECONDS / 2)
                    outage.held = _positions(store, kind.streams) == held
                else:
                    held = _positions(store, kind.streams)
                    time.sleep(OUTAGE_SECONDS / 2)
                    outage.held &= _positions(store, kind.streams) == held
                    assert daemon.metric("openai_poller_destination_up", **labels) == 0.0
                return daemon.metric("openai_poller_destination_deliveries_total",
                                     result="failed", **labels) - before

            outage.failed_refused = down("refuse")
            outage.failed_hanging = down("hang")
            proxy.set_mode("pass")
            recovered = time.time()
            wait_until("the catch-up", lambda: daemon.running() and _succeeded_after(
                store, kind.streams, recovered), 60, 0.3)
            wait_until("/readyz after the outage",
                       lambda: daemon.get("/readyz")[0] == 200, 30, 0.3)
            assert daemon.metric("openai_poller_destination_up", **labels) == 1.0
            code = daemon.terminate()
        finally:
            daemon.stop()
        assert proxy.errors == []
        assert proxy.counts["requests hung"] > 0
    assert code == 0, daemon.tail()
    return daemon, outage


def _assert_outage_seen(kind: Kind, outage: Outage) -> None:
    assert outage.held, "a cursor moved while the destination was down"
    assert outage.failed_refused >= 2 and outage.failed_hanging >= 1
    code, body = outage.readyz
    assert code == 503 and f"destination {kind.name} did not acknowledge" in body
    failing = [row for row in outage.status if row["stream"] in kind.streams
               and row["verdict"] == "failing"]
    assert failing, outage.status
    assert all(kind.what in (row["last_error"] or "") for row in failing), failing


def _finish(kind: Kind, daemon: Daemon, outage: Outage, check: Check) -> None:
    record(f"run: {kind.name} down {OUTAGE_SECONDS:g}s", int(outage.failed_refused
                                                              + outage.failed_hanging), check,
           f"failed deliveries: {outage.failed_refused:g} refused, "
           f"{outage.failed_hanging:g} hanging", f"cursors held={outage.held}")
    _assert_outage_seen(kind, outage)
    assert check.mismatches == []
    assert check.lost == 0 and check.duplicates == 0
    assert check.found == check.expected > 0
    assert "Traceback" not in daemon.log.read_text(errors="replace")
    assert scan_for_secrets(paths=(daemon.store.parent,), texts=tuple(daemon.texts),
                            secrets=(HEC_TOKEN,)) == []


@contextmanager
def _simulated() -> Iterator[str]:
    with simulator_with(seed=51, settle_seconds=SETTLE, size="medium") as sim:
        yield sim.base_url


@tool("prometheus")
def test_remote_write_to_prometheus_down_then_back(tmp_path: Path) -> None:
    with ExitStack() as stack:
        base = stack.enter_context(_simulated())
        # Prometheus scrapes nothing here: it is the remote-write receiver only.
        prom: Prometheus = stack.enter_context(
            prometheus(tmp_path / "prometheus", f"127.0.0.1:{free_port()}")
        )
        kind = Kind(
            "remote_write", "remote write remote_write", list(USAGE),
            lambda url: {"type": "remote_write", "url": f"{url}/api/v1/write"},
            lambda primary: _metric_check(lambda m: prom.scalar(
                f"sum(sum_over_time({m}[1d]))") or 0.0, primary),
        )
        daemon, outage = _drill(kind, prom.url, tmp_path, base)
        check = kind.reconcile(Primary(daemon.store))
    _finish(kind, daemon, outage, check)


def test_otlp_down_then_back(tmp_path: Path) -> None:
    receiver = OtlpReceiver()
    with _simulated() as base, serving(receiver) as url:
        kind = Kind(
            "otlp", "OTLP otlp", list(USAGE),
            lambda proxied: {"type": "otlp", "url": f"{proxied}/v1/metrics"},
            lambda primary: _metric_check(lambda m: receiver.total(OTLP_NAMES[m]), primary),
        )
        daemon, outage = _drill(kind, url, tmp_path, base)
    _finish(kind, daemon, outage, kind.reconcile(Primary(daemon.store)))


def test_loki_down_then_back(tmp_path: Path) -> None:
    receiver = LokiReceiver()
    streams = ["audit", "completions"]

    def reconcile(primary: Primary) -> Check:
        versions: dict[str, list[dict[str, Any]]] = {}
        for _, _, line in receiver.entries:  # a set, as Loki keeps equal entries once
            doc = json.loads(line)
            versions.setdefault(_identity(doc), []).append(doc)
        return _event_check(primary, streams, versions, ordered=False)

    with _simulated() as base, serving(receiver) as url:
        kind = Kind("loki", "Loki loki", streams,
                    lambda proxied: {"type": "loki", "url": proxied, "streams": streams},
                    reconcile)
        daemon, outage = _drill(kind, url, tmp_path, base)
    _finish(kind, daemon, outage, kind.reconcile(Primary(daemon.store)))


def test_splunk_hec_down_then_back(tmp_path: Path) -> None:
    receiver = HecReceiver(HEC_TOKEN)
    streams = ["audit", "completions"]
    token_file = tmp_path / "hec-token"  # outside the scanned run directory
    token_file.write_text(HEC_TOKEN + "\n", encoding="utf-8")

    def reconcile(primary: Primary) -> Check:
        versions: dict[str, list[dict[str, Any]]] = {}
        for event in receiver.events:  # in the order Splunk indexed them
            versions.setdefault(_identity(event["event"]), []).append(event["event"])
        return _event_check(primary, streams, versions, ordered=True)

    with _simulated() as base, serving(receiver) as url:
        kind = Kind(
            "splunk_hec", "Splunk HEC splunk_hec", streams,
            lambda proxied: {"type": "splunk_hec", "url": proxied, "token_file": str(token_file),
                             "ack": True, "ack_poll_interval": 0.05, "streams": streams},
            reconcile,
        )
        daemon, outage = _drill(kind, url, tmp_path, base)
    _finish(kind, daemon, outage, kind.reconcile(Primary(daemon.store)))


@tool("prometheus")
def test_run_with_every_destination_then_a_restart_adds_nothing(tmp_path: Path) -> None:
    """Every destination at once under `run`, on settled usage (no revisions): after a first
    run each receiver holds exactly the primary sink's totals; a restarted run re-reads the
    same window (its settlement re-reads) and sends none of it again: the totals still equal
    the primary's, which has grown only by new buckets, and no event or line is there twice."""
    otlp, loki, hec = OtlpReceiver(), LokiReceiver(), HecReceiver(HEC_TOKEN)
    streams = ["completions", "embeddings", "audit"]
    work = tmp_path / "run"
    work.mkdir()
    with ExitStack() as stack:
        sim = stack.enter_context(simulator_with(seed=52, size="medium"))
        prom: Prometheus = stack.enter_context(
            prometheus(tmp_path / "prometheus", f"127.0.0.1:{free_port()}")
        )
        urls = [stack.enter_context(serving(r)) for r in (otlp, loki, hec)]
        destinations = [
            {"type": "prometheus", "new_series_hold": 0, "streams": list(USAGE)},
            {"type": "remote_write", "url": prom.write_url, "streams": list(USAGE)},
            {"type": "otlp", "url": f"{urls[0]}/v1/metrics", "streams": list(USAGE)},
            {"type": "loki", "url": urls[1], "streams": streams},
            {"type": "splunk_hec", "url": urls[2], "token": HEC_TOKEN, "ack": True,
             "ack_poll_interval": 0.05, "streams": streams},
        ]
        org = {"name": "default", "admin_key": KEY, "base_url": sim.base_url,
               "destinations": destinations}
        store = work / "store.sqlite3"
        daemon = Daemon(store, work / "daemon.log", daemon_env(
            sim.base_url, store, streams, 0, ORGS=json.dumps([org]),
            ORG_DEFAULTS__DEFAULTS__INTERVAL="2s",
            ORG_DEFAULTS__DEFAULTS__INITIAL_INTERVAL="20m",
            ORG_DEFAULTS__OVERRIDES__AUDIT__INITIAL_INTERVAL="3d",
        ))
        primary = Primary(store)
        checks: list[Check] = []

        def scraped_equal_primary() -> bool:
            """The scraped counters equal the primary's sums (between two deliveries)."""
            text = daemon.get("/metrics")[1]
            return all(math.isclose(metric_total(text, f"{m}_total"),
                                    primary.sum(fields), rel_tol=1e-9)
                       for m, fields in METRIC_FIELDS.items())

        try:
            for _ in range(2):  # the first run, then the restart
                daemon.start()
                began = time.time()
                wait_until("/readyz", lambda: daemon.get("/readyz")[0] == 200, 90, 0.3)
                wait_until("a cycle of every stream", lambda: daemon.running() and
                           _succeeded_after(store, streams, began), 60, 0.3)  # noqa: B023
                wait_until("the scraped counters to equal the primary sink",
                           scraped_equal_primary, 30, 0.5)
                assert daemon.terminate() == 0, daemon.tail()
                checks.append(_every_destination(primary, prom, otlp, loki, hec, streams))
        finally:
            daemon.stop()
    first, second = checks
    record("run: every destination, restart", 0, second,
           f"first run {first.found}/{first.expected}", "restart re-sent nothing")
    for check in checks:
        assert check.mismatches == []
        assert check.lost == 0 and check.duplicates == 0
        assert check.found == check.expected > 0
    assert "Traceback" not in daemon.log.read_text(errors="replace")
    assert scan_for_secrets(paths=(work,), texts=tuple(daemon.texts), secrets=(HEC_TOKEN,)) == []


def _every_destination(
    primary: Primary, prom: Prometheus, otlp: OtlpReceiver, loki: LokiReceiver,
    hec: HecReceiver, streams: Sequence[str],
) -> Check:
    """Each receiver against the primary sink; one Check over all of them."""
    remote = _metric_check(lambda m: prom.scalar(
        f"sum(sum_over_time({m}[1d]))") or 0.0, primary)
    deltas = _metric_check(lambda m: otlp.total(OTLP_NAMES[m]), primary)
    lines: dict[str, list[dict[str, Any]]] = {}
    for _, _, line in loki.entries:
        doc = json.loads(line)
        lines.setdefault(_identity(doc), []).append(doc)
    events: dict[str, list[dict[str, Any]]] = {}
    for event in hec.events:
        events.setdefault(_identity(event["event"]), []).append(event["event"])
    merged = merge_checks(remote, deltas, _event_check(primary, streams, lines, ordered=False),
                          _event_check(primary, streams, events, ordered=True))
    # settled usage has no revisions: one event per document, as many lines as documents
    if len(hec.events) != sum(len(v) for v in events.values()) or any(
        len(v) != 1 for v in events.values()
    ):
        merged.mismatches.append("a document was sent to Splunk more than once")
    return merged
