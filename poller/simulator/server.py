"""Puts the simulator's WSGI app on a socket: `openai-poller simulate`, and a server for tests.

The stdlib's WSGI server handles one request at a time; a stalled `timeout` fault would freeze
every other client, so requests run in daemon threads. Request lines are not logged: the
simulator's record is `/_sim/stats`, and a line per request would drown a drill's output.
"""

from __future__ import annotations

import math
import signal
import socketserver
import threading
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.types import WSGIApplication

from poller.simulator.app import SimulatorApp
from poller.simulator.faults import FaultPlan
from poller.simulator.organization import build_organization

__all__ = [
    "SimulatorOptions",
    "SimulatorServer",
    "ThreadingWSGIServer",
    "serve",
    "simulator_app",
]

_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    """A thread per request; daemon threads, so a stalled request never blocks shutdown."""

    daemon_threads = True
    block_on_close = False


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Requests are counted in /_sim/stats instead."""


class SimulatorServer:
    """Serves a WSGI app from a background thread; a context manager for tests.

    ```python
    with SimulatorServer(SimulatorApp(org, admin_key="sk-admin-test")) as server:
        httpx.get(f"{server.base_url}/organization/projects", headers=...)
    ```
    Port 0 (the default) binds a free port; `base_url` ends in `/v1`, `url` is the root.
    """

    def __init__(self, app: WSGIApplication, host: str = "127.0.0.1", port: int = 0) -> None:
        self._app = app
        self._host = host
        self._port = port
        self._httpd: ThreadingWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the simulator server is not running")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def start(self) -> None:
        """Bind and serve; an OSError (port taken, bad host) propagates from here."""
        self._httpd = make_server(
            self._host,
            self._port,
            self._app,
            server_class=ThreadingWSGIServer,
            handler_class=_QuietHandler,
        )
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"simulator:{self.port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting and close the socket; requests still stalled are abandoned."""
        if self._httpd is None or self._thread is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()
        self._httpd = self._thread = None

    def __enter__(self) -> SimulatorServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


@dataclass(frozen=True)
class SimulatorOptions:
    """What `openai-poller simulate` serves. Its fields are the command's flags, and the
    ValueErrors of `serve` name them as the flags, since that command is their one front."""

    port: int
    host: str = "127.0.0.1"
    seed: int = 1
    size: str = "medium"  # small, medium or large
    admin_key: str = "sk-admin-demo"
    settle_seconds: float = 600.0
    faults: str = ""
    rate_limit: float = 0.0


def serve(options: SimulatorOptions) -> int:
    """Serve until SIGTERM or SIGINT, then return 0. Bad options, or an address it cannot
    listen on, raise ValueError before anything is served.

    The stop signals are blocked (in every thread) and taken with `sigwait`, so no handler runs
    mid-request and a second Ctrl-C during shutdown is swallowed instead of turning a clean
    stop into an error.
    """
    app = simulator_app(options)
    previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)  # inherited by threads
    try:
        server = SimulatorServer(app, host=options.host, port=options.port)
        try:
            server.start()
        except OSError as error:
            raise ValueError(
                f"cannot listen on {options.host}:{options.port}: {error.strerror or error}"
            ) from None
        line = (f"simulator listening on {server.base_url} "
                f"(seed {options.seed}, size {options.size})")
        print(line, flush=True)  # noqa: T201 - the command's one line of output
        signal.sigwait(_STOP_SIGNALS)
        server.stop()
        while signal.sigpending() & _STOP_SIGNALS:
            signal.sigwait(_STOP_SIGNALS)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)
    return 0


def simulator_app(options: SimulatorOptions) -> SimulatorApp:
    """The app `options` describe; ValueError for a bad one."""
    try:
        faults = FaultPlan.parse(options.faults)
    except ValueError as error:
        raise ValueError(f"--faults: {error}") from None
    if not 0 <= options.port <= 65535:
        raise ValueError(f"--port must be between 0 and 65535, got {options.port}")
    if not (math.isfinite(options.rate_limit) and options.rate_limit >= 0):
        raise ValueError(
            f"--rate-limit must be 0 (off) or a positive RPM, got {options.rate_limit}"
        )
    if not (math.isfinite(options.settle_seconds) and options.settle_seconds >= 0):
        raise ValueError(f"--settle-seconds must be >= 0, got {options.settle_seconds}")
    if not options.admin_key:
        raise ValueError("--admin-key must not be empty")
    org = build_organization(options.seed, options.size, options.settle_seconds)
    return SimulatorApp(
        org,
        admin_key=options.admin_key,
        faults=faults,
        seed=options.seed,
        rate_limit_rpm=options.rate_limit,
    )
