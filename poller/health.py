"""The operations HTTP server: /metrics for Prometheus, /healthz and /readyz for probes.

- /healthz answers 200 while the process and its scheduler are alive and cycles keep running
  (Kubernetes liveness; the systemd watchdog asks the same question).
- /readyz answers 200 once every stream finished its first cycle, no cycle outcome says the
  poller cannot do its job (`CycleHealth`), and the sink answers; else 503 with a short, fixed
  JSON reason that names an org or a stream, never a URL or a secret.

The server faces whatever can reach its port, so it is bounded: a connection waits in a
selector, not a thread, until it has sent something; a fixed pool of worker threads serves
requests with a per-connection socket timeout; the oldest waiting connections are dropped past
a cap. Four hundred idle connections cost file descriptors, not threads, and a probe still gets
its answer. Errors are one log line each, and the `Server:` header names no Python version.
"""

from __future__ import annotations

import json
import logging
import queue
import selectors
import socket
import sys
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, cast
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from poller.errors import AuthenticationError, SinkRejectedError, StateError

__all__ = [
    "CycleHealth",
    "HealthServer",
    "MetricsPortError",
    "Readiness",
    "ReadinessGate",
    "ServerLimits",
]

log = logging.getLogger(__name__)

# None when ready (or alive), else why not.
Readiness = Callable[[], str | None]
Clock = Callable[[], float]


class CycleHealth:
    """What the daemon's cycles say about its health, per (org, stream).

    Not ready while a stream has not finished its first cycle, an org's key was refused and
    none of its streams succeeded since, every stream of an org is failing, or a stream's last
    cycle failed on its saved state or on a sink refusal (no later cycle can do better until
    someone acts). Not alive once no cycle started or finished for `stale_after` seconds of
    `clock` (monotonic, so a wall-clock step cannot fake or hide it): a stalled scheduler.
    """

    def __init__(
        self,
        streams: Collection[tuple[str, str]],
        *,
        stale_after: float,
        clock: Clock = time.monotonic,
    ) -> None:
        if stale_after <= 0:
            raise ValueError("stale_after must be positive")
        self._streams = tuple(sorted(set(streams)))
        self._stale_after = stale_after
        self._clock = clock
        self._lock = threading.Lock()
        self._last: dict[tuple[str, str], BaseException | None] = {}
        self._refused: set[str] = set()
        self._progress = clock()

    def started(self) -> None:
        with self._lock:
            self._progress = self._clock()

    def finished(self, org: str, stream: str, error: BaseException | None) -> None:
        with self._lock:
            self._progress = self._clock()
            self._last[org, stream] = error
            if isinstance(error, AuthenticationError):
                self._refused.add(org)
            elif error is None:
                self._refused.discard(org)

    def readiness(self) -> str | None:
        with self._lock:
            if any(key not in self._last for key in self._streams):
                return "the first collection cycle has not finished"
            if self._refused:
                return f"org {min(self._refused)}: OpenAI refused the admin key"
            for (org, stream), error in self._last.items():
                if isinstance(error, StateError):
                    return f"stream {org}/{stream}: its saved state is unreadable"
                if isinstance(error, SinkRejectedError):
                    return f"stream {org}/{stream}: the sink refuses its writes"
            for org in sorted({org for org, _ in self._streams}):
                if all(self._last[key] is not None for key in self._streams if key[0] == org):
                    return f"org {org}: every stream is failing"
        return None

    def liveness(self) -> str | None:
        with self._lock:
            idle = self._clock() - self._progress
        if idle > self._stale_after:
            return f"no collection cycle has run for {int(idle)} s"
        return None


class ReadinessGate:
    """Ready once `cycles()` has no reason against it and `sink_ok()` says the sink answers.

    The sink check is cached for `ttl` seconds so frequent probes do not hammer Elasticsearch.
    """

    def __init__(
        self,
        sink_ok: Callable[[], bool],
        *,
        cycles: Readiness,
        ttl: float = 10.0,
        clock: Clock = time.monotonic,
    ) -> None:
        self._sink_ok = sink_ok
        self._cycles = cycles
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._checked: tuple[float, str | None] | None = None

    def __call__(self) -> str | None:
        reason = self._cycles()
        if reason is not None:
            return reason
        with self._lock:
            now = self._clock()
            if self._checked is None or now - self._checked[0] >= self._ttl:
                self._checked = (now, self._check_sink())
            return self._checked[1]

    def _check_sink(self) -> str | None:
        try:
            reachable = self._sink_ok()
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready", reported below
            return f"the sink check failed: {type(exc).__name__}"
        return None if reachable else "the sink is unreachable"


@dataclass(frozen=True)
class ServerLimits:
    """How much of the process the server may hold: `workers` threads serving requests, each
    connection's socket timeout, and how many connections may wait before sending anything."""

    workers: int = 4
    timeout: float = 5.0
    waiting: int = 256

    def __post_init__(self) -> None:
        if self.workers < 1 or self.waiting < 1 or self.timeout <= 0:
            raise ValueError("workers and waiting must be at least 1, timeout positive")


class MetricsPortError(OSError):
    """The metrics address cannot be bound (the port is taken, or the host is not ours)."""


_PATHS = ["/metrics", "/healthz", "/readyz"]
_STOP: Any = object()


class _Server(HTTPServer):
    """Accepts on the serve thread, parks connections until readable, serves from a pool."""

    request_queue_size = 128  # the listen backlog: 5 would stall connects while a flood drains

    def __init__(self, address: tuple[str, int], routes: _Routes, limits: ServerLimits) -> None:
        self.routes = routes
        self.limits = limits
        self._waiting = selectors.DefaultSelector()
        self._since: dict[socket.socket, float] = {}
        self._wait_lock = threading.Lock()
        self._work: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._closing = threading.Event()
        self._threads: list[threading.Thread] = []  # server_close runs if binding fails
        super().__init__(address, _Handler)
        self._threads = [
            threading.Thread(target=self._watch, name="health-waiting", daemon=True),
            *(
                threading.Thread(target=self._serve_one, name=f"health-worker-{n}", daemon=True)
                for n in range(limits.workers)
            ),
        ]
        for thread in self._threads:
            thread.start()

    def process_request(self, request: Any, client_address: Any) -> None:
        conn = cast(socket.socket, request)
        with self._wait_lock:
            if len(self._since) >= self.limits.waiting:
                oldest = min(self._since, key=self._since.__getitem__)
                self._forget(oldest)
                self.shutdown_request(oldest)
            self._since[conn] = time.monotonic()
            self._waiting.register(conn, selectors.EVENT_READ, client_address)

    def _forget(self, conn: socket.socket) -> None:
        del self._since[conn]
        self._waiting.unregister(conn)

    def _watch(self) -> None:
        """Hands readable connections to the workers; closes those idle past the timeout."""
        while not self._closing.is_set():
            ready = self._waiting.select(timeout=0.1)
            with self._wait_lock:
                for key, _ in ready:
                    conn = cast(socket.socket, key.fileobj)
                    if conn in self._since:
                        self._forget(conn)
                        self._work.put((conn, key.data))
                expired = time.monotonic() - self.limits.timeout
                for conn in [c for c, since in self._since.items() if since < expired]:
                    self._forget(conn)
                    self.shutdown_request(conn)

    def _serve_one(self) -> None:
        while (item := self._work.get()) is not _STOP:
            conn, address = item
            try:
                conn.settimeout(self.limits.timeout)  # each read or write, not the whole request
                self.finish_request(conn, address)
            except Exception:  # noqa: BLE001 - one line per failed request, the server goes on
                self.handle_error(conn, address)
            finally:
                self.shutdown_request(conn)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """One line per error instead of socketserver's traceback on stderr."""
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):  # a client that reset, timed out or went away
            log.debug("health server: %s from %s", type(exc).__name__, client_address[0])
        else:
            log.error("health server: %s while serving %s: %s",
                      type(exc).__name__, client_address[0], exc)

    def server_close(self) -> None:
        self._closing.set()
        for _ in self._threads[1:]:
            self._work.put(_STOP)
        # Idle workers take their stop at once; one still writing to a slow client ends by its
        # socket timeout on its own (daemon threads), without holding up the process's exit.
        deadline = time.monotonic() + 1.0
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._wait_lock:
            for conn in list(self._since):
                self._forget(conn)
                self.shutdown_request(conn)
        self._waiting.close()
        super().server_close()


@dataclass(frozen=True)
class _Routes:
    registry: CollectorRegistry
    live: Readiness
    ready: Readiness


class _Handler(BaseHTTPRequestHandler):
    server_version = "openai-poller"

    def version_string(self) -> str:
        return self.server_version  # not "BaseHTTP/0.6 Python/3.x": no version to aim at

    def do_GET(self) -> None:
        routes = cast(_Server, self.server).routes
        path = urlsplit(self.path).path
        if path == "/metrics":
            encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
            self._send(200, encoder(routes.registry), content_type)
        elif path == "/healthz":
            self._send_status(_guard(routes.live))
        elif path == "/readyz":
            self._send_status(_guard(routes.ready))
        else:
            self._send_json(404, {"status": "not found", "paths": _PATHS})

    def _send_status(self, reason: str | None) -> None:
        if reason is None:
            self._send_json(200, {"status": "ok"})
        else:
            self._send_json(503, {"status": "unavailable", "reason": reason})

    def _send_json(self, status: int, body: dict[str, Any]) -> None:
        self._send(status, json.dumps(body).encode(), "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)  # probes every few seconds would flood the log at INFO


def _guard(check: Readiness) -> str | None:
    try:
        return check()
    except Exception as exc:  # noqa: BLE001 - a failing check is an unhealthy answer, not a crash
        return f"the check failed: {type(exc).__name__}"


class HealthServer:
    """Serves /metrics, /healthz and /readyz on `host:port` (port 0 picks a free one).

    `live` and `ready` return None when all is well, else a short reason for the 503.
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        host: str = "127.0.0.1",
        port: int = 9464,
        live: Readiness = lambda: None,
        ready: Readiness = lambda: None,
        limits: ServerLimits = ServerLimits(),
    ) -> None:
        self._address = (host, port)
        self._routes = _Routes(registry, live, ready)
        self._limits = limits
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (useful with port 0); the configured one before `start`."""
        return self._server.server_address[1] if self._server else self._address[1]

    def start(self) -> None:
        """Bind and serve on daemon threads. Raises `MetricsPortError` (one line, naming the
        setting to change) when the address cannot be bound."""
        if self._server is not None:
            return
        host, port = self._address
        try:
            self._server = _Server(self._address, self._routes, self._limits)
        except OSError as exc:
            raise MetricsPortError(
                f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}; set "
                "POLLER_METRICS__PORT (or POLLER_METRICS__HOST) or stop the other process",
            ) from None
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="health-server",
            daemon=True,
        )
        self._thread.start()
        log.info("serving /metrics, /healthz and /readyz on %s:%d", host, self.port)

    def stop(self) -> None:
        """Stop serving and close the socket; safe to call twice."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        if thread is not None:
            thread.join()
        server.server_close()

    def __enter__(self) -> HealthServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
