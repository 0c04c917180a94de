"""sd_notify over a real Unix datagram socket standing in for systemd."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from poller import systemd


@pytest.fixture
def notify_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A bound datagram socket at $NOTIFY_SOCKET, as systemd provides for Type=notify."""
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(5)
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        yield sock


def _received(sock: socket.socket) -> str:
    return sock.recv(4096).decode()


def test_ready_status_and_stopping(notify_socket: socket.socket) -> None:
    assert systemd.ready("polling 2 orgs")
    assert _received(notify_socket) == "READY=1\nSTATUS=polling 2 orgs"
    assert systemd.status("acme/costs:\nbehind")
    assert _received(notify_socket) == "STATUS=acme/costs: behind"
    assert systemd.stopping()
    assert _received(notify_socket) == "STOPPING=1"


def test_abstract_socket_names(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"openai-poller-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert systemd.notify("READY=1")
        assert _received(sock) == "READY=1"


def test_no_notify_socket_is_a_quiet_no_op() -> None:
    assert not systemd.ready()
    assert not systemd.notify("WATCHDOG=1")
    assert systemd.watchdog_interval() is None
    assert not systemd.Watchdog().start()


def test_unreachable_socket_is_logged_not_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone"))
    assert not systemd.ready()
    assert "could not notify systemd" in caplog.text


def test_watchdog_interval_is_half_of_watchdog_usec(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "60000000")
    assert systemd.watchdog_interval() == 30.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert systemd.watchdog_interval() == 30.0
    monkeypatch.setenv("WATCHDOG_PID", "1")
    assert systemd.watchdog_interval() is None  # meant for another process
    monkeypatch.delenv("WATCHDOG_PID")
    monkeypatch.setenv("WATCHDOG_USEC", "garbage")
    assert systemd.watchdog_interval() is None


def test_watchdog_pings_while_healthy(
    notify_socket: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "40000")  # a ping every 20 ms
    watchdog = systemd.Watchdog()
    assert watchdog.start()
    try:
        assert [_received(notify_socket) for _ in range(3)] == ["WATCHDOG=1"] * 3
    finally:
        watchdog.stop()
    notify_socket.settimeout(0.1)
    while True:  # drain a ping sent just before the stop
        try:
            notify_socket.recv(4096)
        except TimeoutError:
            break


def test_watchdog_stays_silent_while_unhealthy(
    notify_socket: socket.socket, caplog: pytest.LogCaptureFixture
) -> None:
    watchdog = systemd.Watchdog(healthy=lambda: False, interval=0.01)
    assert watchdog.start()
    try:
        notify_socket.settimeout(0.1)
        with pytest.raises(TimeoutError):
            notify_socket.recv(4096)
    finally:
        watchdog.stop()
    assert "not pinging the systemd watchdog" in caplog.text
