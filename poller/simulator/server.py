"""Puts the simulator's WSGI app on a socket: `openai-poller simulate`, and a server for tests.

The stdlib's WSGI server handles one request at a time; a stalled `timeout` fault would freeze
every other client, so requests run in daemon threads. Request lines are not logged: the
simulator's record is `/_sim/stats`, and a line per request would drown a drill's output.
"""

from __future__ import annotations

import argparse
import math
import signal
import socketserver
import threading
from types import TracebackType
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.types import WSGIApplication

from poller.errors import ConfigError
from poller.simulator.app import SimulatorApp
from poller.simulator.faults import FaultPlan
from poller.simulator.organization import build_organization

__all__ = ["SimulatorServer", "ThreadingWSGIServer", "run_from_args"]

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


def run_from_args(args: argparse.Namespace) -> int:
    """`openai-poller simulate`: serve until SIGTERM or SIGINT, then exit 0.

    Bad flags raise ConfigError, which the CLI prints as one line and exits 2. The stop signals
    are blocked (in every thread) and taken with `sigwait`, so no handler runs mid-request and a
    second Ctrl-C during shutdown is swallowed instead of turning a clean stop into an error.
    """
    app = _app_from_args(args)
    previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)  # inherited by threads
    try:
        server = SimulatorServer(app, host=args.host, port=args.port)
        try:
            server.start()
        except OSError as error:
            raise ConfigError(
                f"cannot listen on {args.host}:{args.port}: {error.strerror or error}"
            ) from None
        line = f"simulator listening on {server.base_url} (seed {args.seed}, size {args.size})"
        print(line, flush=True)  # noqa: T201 - the command's one line of output
        signal.sigwait(_STOP_SIGNALS)
        server.stop()
        while signal.sigpending() & _STOP_SIGNALS:
            signal.sigwait(_STOP_SIGNALS)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)
    return 0


def _app_from_args(args: argparse.Namespace) -> SimulatorApp:
    try:
        faults = FaultPlan.parse(args.faults)
    except ValueError as error:
        raise ConfigError(f"--faults: {error}") from None
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port must be between 0 and 65535, got {args.port}")
    if not (math.isfinite(args.rate_limit) and args.rate_limit >= 0):
        raise ConfigError(f"--rate-limit must be 0 (off) or a positive RPM, got {args.rate_limit}")
    if not (math.isfinite(args.settle_seconds) and args.settle_seconds >= 0):
        raise ConfigError(f"--settle-seconds must be >= 0, got {args.settle_seconds}")
    if not args.admin_key:
        raise ConfigError("--admin-key must not be empty")
    org = build_organization(args.seed, args.size, args.settle_seconds)
    return SimulatorApp(
        org, admin_key=args.admin_key, faults=faults, seed=args.seed, rate_limit_rpm=args.rate_limit
    )
