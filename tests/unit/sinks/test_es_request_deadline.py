"""`request_timeout` bounds a whole Elasticsearch request, also when the answer trickles in.

urllib3's timeouts apply to each socket read, so before `DeadlineHttpNode` a server sending a
byte every 0.1 s held a request (and a daemon job) indefinitely; the outage drill's slow proxy
found it. A loopback server plays that cluster here.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from poller.errors import SinkUnavailableError
from poller.sinks.elasticsearch import Backoff, Cluster, ClusterDiagnostics, EsConnection, EsIndices

INFO = b'{"cluster_name":"c","version":{"number":"8.15.3","build_flavor":"default"}}'
HEAD = (
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    "X-Elastic-Product: Elasticsearch\r\nContent-Length: {length}\r\n\r\n"
)


class TricklingServer:
    """Answers each request with `INFO`: the first `head_start` bytes at once, then `piece`
    bytes every `pause` seconds."""

    def __init__(self, piece: int, pause: float, head_start: int = 0) -> None:
        self.piece, self.pause, self.head_start = piece, pause, head_start
        self.requests = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with conn, contextlib.suppress(OSError):
                while not self._stop.is_set() and self._answer(conn):
                    pass

    def _answer(self, conn: socket.socket) -> bool:
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = conn.recv(65536)
            if not chunk:
                return False
            request += chunk
        self.requests += 1
        data = HEAD.format(length=len(INFO)).encode() + INFO
        conn.sendall(data[: self.head_start])
        for i in range(self.head_start, len(data), self.piece):
            if self._stop.is_set():
                return False
            conn.sendall(data[i : i + self.piece])
            time.sleep(self.pause)
        return True

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        self._thread.join(timeout=5)


@contextlib.contextmanager
def diagnostics(url: str, timeout: float, *, retries: int = 0) -> Iterator[ClusterDiagnostics]:
    """Diagnostics on a fresh connection (the cluster info is the request these tests send)."""
    cluster = Cluster.connect(
        EsConnection(url, timeout=timeout, retry=Backoff(retries=retries, base=0.0, cap=0.0))
    )
    try:
        yield ClusterDiagnostics(cluster, EsIndices())
    finally:
        cluster.close()


@pytest.fixture
def trickling() -> Iterator[TricklingServer]:
    server = TricklingServer(piece=1, pause=0.05)  # ~9 s for the whole answer
    yield server
    server.close()


def test_an_answer_trickling_past_the_timeout_fails_like_a_timeout(
    trickling: TricklingServer,
) -> None:
    with diagnostics(trickling.url, 0.5, retries=1) as cluster:
        started = time.monotonic()
        with pytest.raises(SinkUnavailableError, match=r"did not answer reading cluster info "
                                                        r"within 0\.5s"):
            cluster.info()
        took = time.monotonic() - started
    assert trickling.requests == 2  # the transport retried it once, as any timeout
    assert took < 3.0  # two bounded attempts, not the ~18 s the answers would take


def test_an_answer_cut_off_inside_its_headers_is_not_taken_for_a_whole_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Cut off after its first header, http.client would read an answer with no body and
    no error (the end of the stream ends the headers): it must still count as a timeout, and
    urllib3's complaint about the half header line (with a traceback) is not logged."""
    first_header = len("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
    server = TricklingServer(piece=1, pause=0.05, head_start=first_header)
    try:
        with (
            diagnostics(server.url, 0.5) as cluster,
            pytest.raises(SinkUnavailableError, match=r"did not answer reading cluster info "
                                                      r"within 0\.5s"),
        ):
            cluster.info()
        assert server.requests == 1
        assert [r.getMessage() for r in caplog.records if r.name.startswith("urllib3")] == []
    finally:
        server.close()


def test_an_answer_complete_within_the_timeout_is_read() -> None:
    server = TricklingServer(piece=64, pause=0.05)  # ~0.2 s for the whole answer
    try:
        with diagnostics(server.url, 5.0) as cluster:
            assert cluster.info().version == "8.15.3"
            assert cluster.info().name == "c"  # a second request on the same node
        assert server.requests == 2
    finally:
        server.close()
