"""`backfill` delivers to the org's destinations with the daemon's rule: a window's cursor moves
only after every destination acknowledged it.

The command runs in-process (`poller.cli.main`) against the simulator, into the embedded store,
with a loopback Splunk HEC (indexer acknowledgment on) and OTLP receiver. What they received is
compared with what the primary sink holds, read back through its own reader.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from loopback import free_port
from own_env import clear_own
from receivers import HecReceiver, OtlpReceiver, Reply, Request, serving

from poller import cli
from poller.collect import BackfillRequest, backfill
from poller.settings import load_settings
from poller.simulator.app import SimulatorApp
from poller.simulator.organization import build_organization
from poller.simulator.server import SimulatorServer
from poller.sinks import SqliteSink
from poller.sources import BackfillWindow
from poller.state import StreamState, state_key

KEY = "sk-admin-backfill-destinations"
HEC_TOKEN = "hec-backfill-token"
STREAMS = ("completions", "costs", "audit")
DAY = 86400
# OTLP sum → the document field whose sum it must equal, per stream
OTLP_TRUTH = {
    "openai.usage.input_tokens": ("completions", "openai.completions.input_tokens"),
    "openai.usage.output_tokens": ("completions", "openai.completions.output_tokens"),
    "openai.usage.requests": ("completions", "openai.base.num_model_requests"),
    "openai.cost.estimate": ("completions", "openai.base.cost_estimate_usd"),
    "openai.cost": ("costs", "openai.costs.amount.value"),
}


@dataclass
class World:
    api: str
    store: Path
    hec: HecReceiver
    hec_url: str
    otlp: OtlpReceiver
    otlp_url: str
    since: str
    until: str


def _iso(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _epoch(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    clear_own(monkeypatch)
    org = build_organization(seed=5, size="small", settle_seconds=0)
    until = int(time.time()) - 3600
    until -= until % DAY  # whole days, so costs cover the window exactly
    hec, otlp = HecReceiver(HEC_TOKEN), OtlpReceiver()
    with ExitStack() as stack:
        api = stack.enter_context(SimulatorServer(SimulatorApp(org, admin_key=KEY)))
        hec_url = stack.enter_context(serving(hec))
        otlp_url = stack.enter_context(serving(otlp))
        yield World(api.base_url, tmp_path / "store.sqlite3", hec, hec_url, otlp,
                    f"{otlp_url}/v1/metrics", _iso(until - 2 * DAY), _iso(until))


def _configure(monkeypatch: pytest.MonkeyPatch, world: World, hec_url: str) -> None:
    destinations = [
        {"type": "splunk_hec", "url": hec_url, "token": HEC_TOKEN, "ack": True,
         "ack_poll_interval": 0.01, "streams": list(STREAMS), "retry": {"attempts": 1}},
        {"type": "otlp", "url": world.otlp_url},
    ]
    monkeypatch.setenv("POLLER_ORGS", json.dumps([{
        "name": "default", "admin_key": KEY, "base_url": world.api, "destinations": destinations,
    }]))
    monkeypatch.setenv("POLLER_STORE_PATH", str(world.store))


def _backfill(world: World) -> int:
    return cli.main(["backfill", "--since", world.since, "--until", world.until,
                     "--streams", ",".join(STREAMS), "--bucket-width", "1h"])


def _states(store: Path) -> dict[str, StreamState]:
    with SqliteSink(str(store), read_only=True) as sink:
        return {s: StreamState.from_json(sink.load_state(state_key("default", s)))
                for s in STREAMS}


def _assert_delivered_exactly(world: World) -> None:
    """HEC holds each stored document once, as stored; OTLP's sums are the store's."""
    with SqliteSink(str(world.store), read_only=True) as sink:
        reader = sink.reader()
        by_id: dict[str, dict[str, Any]] = {}
        for event in world.hec.events:
            assert event["fields"]["doc_id"] not in by_id  # no document sent twice
            by_id[event["fields"]["doc_id"]] = event
        for stream in STREAMS:
            index = f"logs-openai.{stream}-default"
            ids = [i for i, e in by_id.items() if e["fields"]["stream"] == stream]
            assert len(ids) == reader.count(index) > 0, stream
            stored = reader.documents(index, ids)
            assert all(by_id[i]["event"] == json.loads(json.dumps(stored[i])) for i in ids)
        for name, (stream, path) in OTLP_TRUTH.items():
            truth = reader.sums(f"logs-openai.{stream}-default", [path]).values[path]
            assert truth > 0
            assert math.isclose(world.otlp.total(name), truth, rel_tol=1e-12), name


def test_a_backfill_delivers_the_primary_sinks_totals_to_every_destination(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    _configure(monkeypatch, world, world.hec_url)
    assert _backfill(world) == 0
    _assert_delivered_exactly(world)
    sent = (len(world.hec.events), dict(world.otlp.sums))
    assert _backfill(world) == 0  # the same window again: every destination takes a repeat
    assert (len(world.hec.events), world.otlp.sums) == sent


def test_a_destination_that_is_down_holds_the_cursor_and_fails_the_backfill(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _configure(monkeypatch, world, f"http://127.0.0.1:{free_port()}")  # nothing listens
    assert _backfill(world) == 1
    err = capsys.readouterr().err
    assert "Splunk HEC splunk_hec did not acknowledge after 1 tries" in err
    assert "Traceback" not in err
    first = _states(world.store)["completions"]
    assert first.coverage.segments == () and first.last_error is not None
    assert "Splunk HEC splunk_hec" in first.last_error
    assert world.hec.events == []

    _configure(monkeypatch, world, world.hec_url)  # the receiver is back: run it again
    assert _backfill(world) == 0
    _assert_delivered_exactly(world)
    states = _states(world.store)
    assert all(state.last_error is None for state in states.values())
    assert states["completions"].coverage.segments


def test_a_stop_ends_a_destinations_retry_wait_at_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM (the stop event) while a busy receiver's retry waits an hour: the backfill ends
    at once, interrupted, the cursor where it was (an uninterruptible wait would run into the
    test's timeout)."""
    stop = threading.Event()

    def busy(request: Request) -> Reply:
        stop.set()  # the stop comes while the destination is being delivered to
        return 503, "application/json", b'{"text": "Server is busy", "code": 9}'

    with serving(busy) as url:
        monkeypatch.setenv("POLLER_ORGS", json.dumps([{
            "name": "default", "admin_key": KEY, "base_url": world.api,
            "destinations": [{"type": "splunk_hec", "url": url, "token": HEC_TOKEN,
                              "streams": ["completions"],
                              "retry": {"attempts": 3, "backoff": "1h", "max_backoff": "1h"}}],
        }]))
        monkeypatch.setenv("POLLER_STORE_PATH", str(world.store))
        settings = load_settings()
        request = BackfillRequest(
            BackfillWindow(_epoch(world.since), _epoch(world.until), int(time.time()), None),
            ((settings.orgs[0], ("completions",)),),
        )
        with SqliteSink(str(world.store)) as sink:
            result = backfill(request, sink, stop=stop)
    assert result.interrupted and result.failures == 0
    assert _states(world.store)["completions"].coverage.segments == ()
