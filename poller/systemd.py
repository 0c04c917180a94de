"""systemd's notification protocol (sd_notify), in the standard library.

With `Type=notify` systemd waits for READY=1 before it calls the service started, shows our
STATUS= line in `systemctl status`, restarts us when WATCHDOG=1 pings stop arriving within
`WatchdogSec=`, and knows a stop is under way from STOPPING=1.

The protocol is one datagram of newline-separated assignments sent to the Unix socket named by
$NOTIFY_SOCKET ("@" starts an abstract socket name). The PyPI packages for it are
unmaintained (sdnotify, last release 2017) or need libsystemd (systemd-python, cysystemd), and
the protocol is a dozen lines, so it lives here. Every call is a no-op outside systemd, and a
failure to notify is logged, never raised: notification must not take the daemon down.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable

__all__ = ["Watchdog", "notify", "ready", "status", "stopping", "watchdog_interval"]

log = logging.getLogger(__name__)


def notify(*assignments: str) -> bool:
    """Send `assignments` (e.g. "READY=1") to systemd; False when not under systemd or on error."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address.startswith(("/", "@")):
        return False  # unset, or a transport we do not speak (vsock:)
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall("\n".join(assignments).encode())
    except OSError as exc:
        log.warning("could not notify systemd: %s", exc)
        return False
    return True


def _one_line(text: str) -> str:
    return " ".join(text.split())


def ready(status_text: str | None = None) -> bool:
    """Start-up is complete: systemd may consider the unit active."""
    extra = () if status_text is None else (f"STATUS={_one_line(status_text)}",)
    return notify("READY=1", *extra)


def status(text: str) -> bool:
    """One line for `systemctl status`."""
    return notify(f"STATUS={_one_line(text)}")


def stopping(status_text: str | None = None) -> bool:
    """A graceful stop has begun."""
    extra = () if status_text is None else (f"STATUS={_one_line(status_text)}",)
    return notify("STOPPING=1", *extra)


def watchdog_interval() -> float | None:
    """Seconds between watchdog pings (half of $WATCHDOG_USEC), or None when none is wanted."""
    pid = os.environ.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return None  # the watchdog is meant for another process
    try:
        usec = int(os.environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec / 2_000_000 if usec > 0 else None


class Watchdog:
    """Pings WATCHDOG=1 from a daemon thread, but only while `healthy()` says so.

    A ping proves more than that the process exists: when the scheduler wedges, `healthy`
    turns false, the pings stop, and systemd restarts the service.
    """

    def __init__(
        self, healthy: Callable[[], bool] = lambda: True, interval: float | None = None
    ) -> None:
        self._healthy = healthy
        self._interval = interval if interval is not None else watchdog_interval()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> bool:
        """Start pinging; False (and nothing started) when systemd asked for no watchdog."""
        if self._interval is None or self._thread is not None:
            return False
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, args=(self._interval,), name="systemd-watchdog", daemon=True
        )
        self._thread.start()
        return True

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self, interval: float) -> None:
        was_healthy = True
        while True:
            healthy = self._healthy()
            if healthy:
                notify("WATCHDOG=1")
            elif was_healthy:
                log.warning("not pinging the systemd watchdog: the daemon is unhealthy")
            was_healthy = healthy
            if self._stop.wait(interval):
                return
