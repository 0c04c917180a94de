"""The socket side, on loopback: SimulatorServer, stalls vs. other requests, logs, CLI flags."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fake_org import ADMIN_KEY, FakeOrganization

from poller.cli import main
from poller.simulator.app import SimulatorApp
from poller.simulator.faults import FaultPlan
from poller.simulator.server import SimulatorServer

AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}


def stall_on(event: threading.Event) -> Callable[[float], None]:
    """An injected sleep for the `timeout` fault that ends as soon as `event` is set."""

    def sleep(seconds: float) -> None:
        event.wait(seconds)

    return sleep


def test_server_serves_on_a_free_loopback_port_and_stops(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with SimulatorServer(SimulatorApp(FakeOrganization(), admin_key=ADMIN_KEY)) as server:
        assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
        response = httpx.get(f"{server.base_url}/organization/projects", headers=AUTH)
        assert response.status_code == 200
        assert [p["id"] for p in response.json()["data"]] == ["proj_a", "proj_b"]
        assert httpx.get(f"{server.url}/_sim/stats").json()["requests"] == {
            "/v1/organization/projects": {"200": 1}
        }
        base_url = server.base_url
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base_url}/organization/projects", headers=AUTH)
    assert capsys.readouterr() == ("", "")  # no request log lines


def test_a_stalled_request_does_not_block_others() -> None:
    release = threading.Event()
    app = SimulatorApp(
        FakeOrganization(),
        admin_key=ADMIN_KEY,
        faults=FaultPlan.parse("timeout=1"),
        sleep=stall_on(release),
        stall_seconds=20,
    )
    with SimulatorServer(app) as server:
        stalled: list[int] = []
        worker = threading.Thread(
            target=lambda: stalled.append(
                httpx.get(
                    f"{server.base_url}/organization/users", headers=AUTH, timeout=10
                ).status_code
            )
        )
        worker.start()
        for _ in range(100):  # wait until the stalled request has been counted as a fault
            if httpx.get(f"{server.url}/_sim/stats", timeout=2).json()["faults"]["timeout"]:
                break
            release.wait(0.01)
        assert httpx.get(f"{server.url}/_sim/stats", timeout=2).json()["faults"]["timeout"] == 1
        assert not stalled
        release.set()
        worker.join(timeout=5)
        assert stalled == [200]


def test_a_client_giving_up_on_a_stall_leaves_the_server_quiet(
    capsys: pytest.CaptureFixture[str],
) -> None:
    release, answered = threading.Event(), threading.Event()
    app = SimulatorApp(
        FakeOrganization(),
        admin_key=ADMIN_KEY,
        faults=FaultPlan.parse("timeout=1"),
        sleep=stall_on(release),
    )

    def app_then_signal(environ: Any, start_response: Any) -> Any:
        try:
            return app(environ, start_response)
        finally:
            answered.set()

    with SimulatorServer(app_then_signal) as server:
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(f"{server.base_url}/organization/users", headers=AUTH, timeout=0.2)
        release.set()
        assert answered.wait(5)
        stats = httpx.get(f"{server.url}/_sim/stats").json()
    assert stats["requests"] == {"/v1/organization/users": {"200": 1}}
    assert capsys.readouterr() == ("", "")  # the write to the closed socket is not an error


def test_stopping_twice_is_harmless() -> None:
    server = SimulatorServer(SimulatorApp(FakeOrganization(), admin_key=ADMIN_KEY))
    server.start()
    server.stop()
    server.stop()
    with pytest.raises(RuntimeError):
        _ = server.port


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--faults", "418=0.5"], "error: --faults: unknown fault kind '418'"),
        (["--faults", "429=2"], "error: --faults: probability of '429' must be between 0 and 1"),
        (["--rate-limit", "-1"], "error: --rate-limit must be 0 (off) or a positive RPM"),
        (["--port", "70000"], "error: --port must be between 0 and 65535"),
    ],
)
def test_bad_simulate_flags_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(["simulate", "--port", "0", *argv]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(message)
    assert err.count("\n") == 1
