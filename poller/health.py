"""The operations HTTP server: /metrics for Prometheus, /healthz and /readyz for probes.

- /healthz answers 200 while the process and its scheduler are alive (Kubernetes liveness).
- /readyz answers 200 only once the first collection cycle finished and the sink is reachable,
  else 503 with a JSON reason (Kubernetes readiness; a deploy waits for it).

A stdlib `ThreadingHTTPServer` on a daemon thread: a slow scrape never blocks a probe, and the
server never holds the process open.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

__all__ = ["HealthServer", "Readiness", "ReadinessGate"]

log = logging.getLogger(__name__)

# None when ready, else why not.
Readiness = Callable[[], str | None]


class ReadinessGate:
    """Ready once the first cycle has finished and `sink_ok()` says the sink answers.

    The sink check is cached for `ttl` seconds so frequent probes do not hammer Elasticsearch.
    """

    def __init__(
        self,
        sink_ok: Callable[[], bool],
        *,
        ttl: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sink_ok = sink_ok
        self._ttl = ttl
        self._clock = clock
        self._cycle_done = threading.Event()
        self._lock = threading.Lock()
        self._checked: tuple[float, str | None] | None = None

    def first_cycle_done(self) -> None:
        self._cycle_done.set()

    def __call__(self) -> str | None:
        if not self._cycle_done.is_set():
            return "the first collection cycle has not finished"
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


_PATHS = ["/metrics", "/healthz", "/readyz"]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        registry: CollectorRegistry,
        live: Callable[[], bool],
        ready: Readiness,
    ) -> None:
        self.registry = registry
        self.live = live
        self.ready = ready
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server_version = "openai-poller"

    def do_GET(self) -> None:
        server = cast(_Server, self.server)
        path = urlsplit(self.path).path
        if path == "/metrics":
            encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
            self._send(200, encoder(server.registry), content_type)
        elif path == "/healthz":
            reason = _guard(lambda: None if server.live() else "the scheduler is not running")
            self._send_status(reason)
        elif path == "/readyz":
            self._send_status(_guard(server.ready))
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
    """Serves /metrics, /healthz and /readyz on `host:port` (port 0 picks a free one)."""

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        host: str = "127.0.0.1",
        port: int = 9464,
        live: Callable[[], bool] = lambda: True,
        ready: Readiness = lambda: None,
    ) -> None:
        self._address = (host, port)
        self._registry = registry
        self._live = live
        self._ready = ready
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (useful with port 0); the configured one before `start`."""
        return self._server.server_address[1] if self._server else self._address[1]

    def start(self) -> None:
        """Bind and serve on a daemon thread. Raises OSError when the address is taken."""
        if self._server is not None:
            return
        self._server = _Server(self._address, self._registry, self._live, self._ready)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="health-server",
            daemon=True,
        )
        self._thread.start()
        log.info("serving /metrics, /healthz and /readyz on %s:%d", self._address[0], self.port)

    def stop(self) -> None:
        """Stop serving and close the socket; safe to call twice."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join()

    def __enter__(self) -> HealthServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
