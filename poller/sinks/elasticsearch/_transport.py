"""The transport under the Elasticsearch client: which REST compatibility it announces, the
shape of every answer checked before anything reads it (`_shapes`), and a node whose
`request_timeout` bounds a whole request.

urllib3's timeouts apply to each socket operation, so an answer trickling in (a few bytes every
second) would otherwise hold a write, and the daemon's job, for as long as the server likes.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
from collections.abc import Mapping
from contextlib import suppress
from typing import Any

from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import (
    ConnectionTimeout,
    HttpHeaders,
    NodeConfig,
    Transport,
    TransportApiResponse,
    Urllib3HttpNode,
)
from elastic_transport._node import NodeApiResponse
from elastic_transport.client_utils import DEFAULT, DefaultType

from poller.sinks.elasticsearch._shapes import check_answer

__all__ = ["CheckedTransport", "Compat8Transport", "DeadlineHttpNode"]

_COMPAT_RE = re.compile(r"compatible-with=\d+")


class Compat8Transport(Transport):
    """Sends REST API compatibility version 8 in Accept/Content-Type.

    The 9.x client announces `compatible-with=9`, which Elasticsearch 8.x refuses ("Accept
    version must be either version 8 or 7"); version 8 is what the 8.x client sends and what both
    8.x and 9.x servers accept, so with it one installed client serves either cluster.
    """

    def perform_request(self, method: str, target: str, **kwargs: Any) -> TransportApiResponse:
        headers = kwargs.get("headers")
        if isinstance(headers, Mapping):
            kwargs["headers"] = {
                name: _COMPAT_RE.sub("compatible-with=8", value)
                if name.lower() in ("accept", "content-type") and isinstance(value, str)
                else value
                for name, value in headers.items()
            }
        return super().perform_request(method, target, **kwargs)


class CheckedTransport(Compat8Transport):
    """The sink's transport: compatibility version 8, and a successful answer of the wrong
    shape raised as `WrongShapeError` here, where the request is known, instead of wherever
    its reader would trip over it."""

    def perform_request(self, method: str, target: str, **kwargs: Any) -> TransportApiResponse:
        response = super().perform_request(method, target, **kwargs)
        if 200 <= response.meta.status < 300:
            check_answer(method, target, response.body)
        return response


_deadline = threading.local()  # `expired`: the deadline event of this thread's request


class _CutOffNoise(logging.Filter):
    """Drops what urllib3 logs about an answer `DeadlineHttpNode` cut off itself (a warning
    with a traceback when the cut fell inside a header line): the request fails with a
    timeout, which the caller reports."""

    def filter(self, record: logging.LogRecord) -> bool:
        expired: threading.Event | None = getattr(_deadline, "expired", None)
        return expired is None or not expired.is_set()


_URLLIB3_CONNECTION_LOG = logging.getLogger("urllib3.connection")
_URLLIB3_CONNECTION_LOG.addFilter(_CutOffNoise())


class DeadlineHttpNode(Urllib3HttpNode):
    """A urllib3 node whose `request_timeout` bounds the whole request, not each socket read.

    When the timeout passes before the answer is complete, the connection the request uses
    is shut down and the request fails with `ConnectionTimeout`, as a silent server's would
    (and the transport retries it the same way).
    """

    def __init__(self, config: NodeConfig) -> None:
        super().__init__(config)
        self._in_use = threading.local()  # this thread's request: the connections it took
        take = self.pool._get_conn

        def take_and_note(timeout: float | None = None) -> Any:
            conn = take(timeout)
            taken: list[Any] | None = getattr(self._in_use, "conns", None)
            if taken is not None:
                taken.append(conn)
            return conn

        self.pool._get_conn = take_and_note  # type: ignore[method-assign]

    def perform_request(
        self,
        method: str,
        target: str,
        body: bytes | None = None,
        headers: HttpHeaders | None = None,
        request_timeout: DefaultType | float | None = DEFAULT,
    ) -> NodeApiResponse:
        timeout = self.config.request_timeout if request_timeout is DEFAULT else request_timeout
        if not isinstance(timeout, int | float) or timeout <= 0:
            return super().perform_request(method, target, body, headers, request_timeout)
        taken: list[Any] = []
        expired = threading.Event()

        def cut_off() -> None:
            expired.set()
            for conn in list(taken):
                sock = getattr(conn, "sock", None)
                if isinstance(sock, socket.socket):
                    with suppress(OSError):
                        # the plain socket's shutdown: an SSLSocket's own would drop its SSL
                        # state under the thread reading from it
                        socket.socket.shutdown(sock, socket.SHUT_RDWR)

        timer = threading.Timer(float(timeout), cut_off)
        timer.daemon = True
        self._in_use.conns = taken
        _deadline.expired = expired
        timer.start()
        try:
            response = super().perform_request(method, target, body, headers, request_timeout)
        except TransportConnectionError as exc:
            if expired.is_set():
                raise ConnectionTimeout(
                    f"no complete answer within {timeout:g}s", errors=(exc,)
                ) from exc
            raise
        finally:
            timer.cancel()
            self._in_use.conns = None
            _deadline.expired = None
        if expired.is_set():
            # Cut off while reading the headers, http.client takes the end of the stream for
            # their end: what it returns may be a truncated answer that looks complete.
            raise ConnectionTimeout(f"no complete answer within {timeout:g}s")
        return response
