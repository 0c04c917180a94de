"""The operations server over loopback: /healthz, /readyz and /metrics, and what it costs when
clients misbehave."""

from __future__ import annotations

import http.client
import json
import logging
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from loopback import free_port

from poller.health import HealthServer, MetricsPortError, ReadinessGate, ServerLimits
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
        self.cycles: str | None = "the first collection cycle has not finished"
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
    return ReadinessGate(flags.sink_ok, cycles=lambda: flags.cycles, ttl=0)


@pytest.fixture
def server(flags: _Flags, gate: ReadinessGate) -> Iterator[HealthServer]:
    metrics = Metrics()
    metrics.declare("acme", "costs", 3600)
    def live() -> str | None:
        return None if flags.alive else "no collection cycle has run for 901 s"

    with HealthServer(metrics.registry, port=0, live=live, ready=gate) as running:
        yield running


def test_healthz_follows_liveness(server: HealthServer, flags: _Flags) -> None:
    status, content_type, body = _get(server.port, "/healthz")
    assert (status, content_type, json.loads(body)) == (200, "application/json", {"status": "ok"})
    flags.alive = False
    status, _, body = _get(server.port, "/healthz")
    assert status == 503
    assert json.loads(body) == {
        "status": "unavailable",
        "reason": "no collection cycle has run for 901 s",
    }


def test_readyz_follows_the_cycles_then_the_sink(server: HealthServer, flags: _Flags) -> None:
    status, _, body = _get(server.port, "/readyz")
    assert status == 503
    assert json.loads(body)["reason"] == "the first collection cycle has not finished"

    flags.cycles = None
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
    def broken() -> str | None:
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

    gate = ReadinessGate(sink_ok, cycles=lambda: None, ttl=10, clock=lambda: now[0])
    assert gate() is None
    now[0] += 5
    assert gate() is None
    now[0] += 6
    assert gate() is None
    assert calls == [100.0, 111.0]


RESET_ON_CLOSE = b"\x01\x00\x00\x00\x00\x00\x00\x00"  # SO_LINGER on, 0 s: close sends RST


def _threads() -> int:
    return threading.active_count()


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc/self/status")


def test_idle_connections_cost_no_threads_and_probes_still_answer() -> None:
    """Slowloris: 400 connections that never send a byte. They wait in a selector, so the
    thread count is the server's fixed set (serve loop, waiting room, workers), and /healthz
    answers between them."""
    limits = ServerLimits(workers=3, timeout=5.0, waiting=256)
    before = _threads()
    with HealthServer(Metrics().registry, port=0, limits=limits) as server:
        assert _threads() == before + 2 + limits.workers
        assert _get(server.port, "/healthz")[0] == 200  # everything warmed up
        rss = _rss_kib()
        idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(400)]
        try:
            assert _get(server.port, "/healthz")[:2] == (200, "application/json")
            assert _threads() == before + 2 + limits.workers
            assert _rss_kib() - rss < 16 * 1024  # 400 threads with their stacks were gigabytes
        finally:
            for conn in idle:
                conn.close()
    assert _threads() == before


def test_past_the_cap_the_oldest_waiting_connection_is_closed() -> None:
    with HealthServer(Metrics().registry, port=0, limits=ServerLimits(waiting=2)) as server:
        oldest = socket.create_connection(("127.0.0.1", server.port))
        oldest.settimeout(5)
        assert _get(server.port, "/healthz")[0] == 200
        others = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(2)]
        try:
            assert oldest.recv(1) == b""  # closed by the server, not by a timeout here
        finally:
            for conn in (oldest, *others):
                conn.close()


def test_a_connection_idle_past_the_timeout_is_closed() -> None:
    limits = ServerLimits(timeout=0.2)
    with HealthServer(Metrics().registry, port=0, limits=limits) as server, \
            socket.create_connection(("127.0.0.1", server.port)) as conn:
        conn.settimeout(5)
        assert conn.recv(1) == b""


def test_errors_are_one_log_line_and_the_server_names_no_python(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    with HealthServer(Metrics().registry, port=0) as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        connection.request("GET", "/healthz")
        response = connection.getresponse()
        assert response.getheader("Server") == "openai-poller"
        response.read()
        connection.close()
        with caplog.at_level(logging.DEBUG, logger="poller.health"):
            for _ in range(20):  # a request cut off by a reset mid-way
                conn = socket.create_connection(("127.0.0.1", server.port))
                conn.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET_ON_CLOSE)
                conn.close()
            assert _get(server.port, "/healthz")[0] == 200
    assert capsys.readouterr().err == ""  # no traceback from socketserver's handler
    assert all("\n" not in r.getMessage() and r.exc_info is None for r in caplog.records)


def test_a_taken_port_is_one_clear_error() -> None:
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        with pytest.raises(MetricsPortError) as raised:
            HealthServer(Metrics().registry, port=port).start()
    message = str(raised.value)
    assert message == (
        f"cannot serve metrics on 127.0.0.1:{port}: Address already in use; set "
        "POLLER_METRICS__PORT (or POLLER_METRICS__HOST) or stop the other process"
    )
    assert isinstance(raised.value, OSError)


def test_server_limits_are_validated() -> None:
    with pytest.raises(ValueError, match="workers and waiting must be at least 1"):
        ServerLimits(workers=0)
