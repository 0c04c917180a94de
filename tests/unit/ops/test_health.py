"""The operations server over loopback: /healthz, /readyz and /metrics."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator

import pytest

from poller.health import HealthServer, ReadinessGate
from poller.metrics import Metrics


def _get(port: int, path: str) -> tuple[int, str, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read().decode()
    finally:
        connection.close()


class _Flags:
    def __init__(self) -> None:
        self.alive = True
        self.sink = True
        self.sink_error: Exception | None = None

    def sink_ok(self) -> bool:
        if self.sink_error is not None:
            raise self.sink_error
        return self.sink


@pytest.fixture
def flags() -> _Flags:
    return _Flags()


@pytest.fixture
def gate(flags: _Flags) -> ReadinessGate:
    return ReadinessGate(flags.sink_ok, ttl=0)


@pytest.fixture
def server(flags: _Flags, gate: ReadinessGate) -> Iterator[HealthServer]:
    metrics = Metrics()
    metrics.declare("acme", "costs", 3600)
    with HealthServer(metrics.registry, port=0, live=lambda: flags.alive, ready=gate) as running:
        yield running


def test_healthz_follows_liveness(server: HealthServer, flags: _Flags) -> None:
    status, content_type, body = _get(server.port, "/healthz")
    assert (status, content_type, json.loads(body)) == (200, "application/json", {"status": "ok"})
    flags.alive = False
    status, _, body = _get(server.port, "/healthz")
    assert status == 503
    assert json.loads(body) == {
        "status": "unavailable",
        "reason": "the scheduler is not running",
    }


def test_readyz_waits_for_the_first_cycle_and_the_sink(
    server: HealthServer, flags: _Flags, gate: ReadinessGate
) -> None:
    status, _, body = _get(server.port, "/readyz")
    assert status == 503
    assert json.loads(body)["reason"] == "the first collection cycle has not finished"

    gate.first_cycle_done()
    assert _get(server.port, "/readyz")[0] == 200

    flags.sink = False
    status, _, body = _get(server.port, "/readyz")
    assert (status, json.loads(body)["reason"]) == (503, "the sink is unreachable")

    flags.sink_error = ConnectionError("refused by sk-admin-secret-in-error")
    status, _, body = _get(server.port, "/readyz")
    assert status == 503
    assert json.loads(body)["reason"] == "the sink check failed: ConnectionError"
    assert "sk-admin" not in body

    flags.sink, flags.sink_error = True, None
    assert _get(server.port, "/readyz")[0] == 200


def test_metrics_endpoint_serves_the_registry(server: HealthServer) -> None:
    status, content_type, body = _get(server.port, "/metrics")
    assert status == 200
    assert content_type.startswith("text/plain")
    assert 'openai_poller_interval_seconds{org="acme",stream="costs"} 3600.0' in body


def test_unknown_paths_are_404(server: HealthServer) -> None:
    status, _, body = _get(server.port, "/admin")
    assert status == 404
    assert "/readyz" in json.loads(body)["paths"]


def test_a_failing_liveness_check_is_an_answer_not_a_crash() -> None:
    def broken() -> bool:
        raise RuntimeError("boom")

    broken_server = HealthServer(Metrics().registry, port=0, live=broken)
    with broken_server:
        status, _, body = _get(broken_server.port, "/healthz")
    assert status == 503
    assert json.loads(body)["reason"] == "the check failed: RuntimeError"


def test_stop_closes_the_port() -> None:
    server = HealthServer(Metrics().registry, port=0)
    server.start()
    port = server.port
    assert _get(port, "/healthz")[0] == 200
    server.stop()
    server.stop()  # idempotent
    with pytest.raises(ConnectionRefusedError):
        _get(port, "/healthz")


def test_sink_check_is_cached_for_its_ttl() -> None:
    calls: list[float] = []
    now = [100.0]

    def sink_ok() -> bool:
        calls.append(now[0])
        return True

    gate = ReadinessGate(sink_ok, ttl=10, clock=lambda: now[0])
    gate.first_cycle_done()
    assert gate() is None
    now[0] += 5
    assert gate() is None
    now[0] += 6
    assert gate() is None
    assert calls == [100.0, 111.0]
