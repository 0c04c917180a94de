"""A loopback proxy in front of the test Elasticsearch that a drill switches between faults.

Modes, switched at any time with `set_mode` (counted in `counts`):

- `pass`: every request is forwarded and answered;
- `refuse`: the listening socket is closed, so connections are refused, and open connections
  are reset, like a stopped server; leaving the mode listens again on the same port;
- `hang`: connections are accepted and requests read, but never answered;
- `reset`: every request is answered with a TCP RST;
- `slow`: requests are forwarded; an answer starts after `slow_delay` seconds, then trickles
  back `slow_bytes` every `slow_step` seconds (only answers `slow_when(method, path)` picks,
  when it is set).

The proxy speaks HTTP/1.1 on both sides (what the Elasticsearch client sends: requests with a
`Content-Length`), one upstream connection per client connection, so it can also rewrite
answers: `bulk_faults` answers chosen `_bulk` items with synthetic item failures (the items are
left out of the forwarded body and their results spliced into the real answer), and
`observer` sees every exchange before the client does, in order.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import random
import socket
import ssl
import struct
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

Mode = Literal["pass", "refuse", "hang", "reset", "slow"]

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host",
               "accept-encoding", "te", "upgrade", "proxy-connection"}
_ITEM_ERRORS = {
    429: ("es_rejected_execution_exception",
          "rejected execution of coordinating operation [drill: fault proxy]"),
    400: ("mapper_parsing_exception",
          "failed to parse field [openai.base.model] of type [long] [drill: fault proxy]"),
}


@dataclass
class Exchange:
    """One request and the answer the client got (after any splicing)."""

    method: str
    path: str  # with the query string
    body: bytes
    status: int
    answer: bytes


@dataclass
class BulkFaults:
    """Which `_bulk` items to fail, and how many were. Only `create` items of data streams
    (`logs-*`) are touched; revisions and dead letters pass.

    `permanent` names (data stream, n) pairs: the n-th distinct document of that data stream
    the proxy sees (from 1) gets a 400 mapping error, and so does that document whenever it is
    sent again. Counting documents, not items, keeps the pick independent of how retries
    happen to batch: a resent item never shifts the count onto a document already refused.
    Any other item gets a 429 with probability `rate_429`, at most `max_429`
    times per document, so the sink's bounded retries always get it through.
    """

    rate_429: float = 0.0
    permanent: frozenset[tuple[str, int]] = frozenset()
    max_429: int = 2
    seed: int = 0
    injected: Counter[int] = field(default_factory=Counter)
    refused_ids: set[tuple[str, str]] = field(default_factory=set)  # (data stream, _id)
    _seen: Counter[str] = field(default_factory=Counter)
    _known: set[tuple[str, str]] = field(default_factory=set)
    _rejected: Counter[tuple[str, str]] = field(default_factory=Counter)
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def decide(self, op: str, meta: dict[str, Any]) -> int | None:
        """The status to answer this item with, or None to forward it."""
        key = (str(meta.get("_index", "")), str(meta.get("_id", "")))
        if op != "create" or not key[0].startswith("logs-"):
            return None
        first = key not in self._known
        if first:
            self._known.add(key)
            self._seen[key[0]] += 1
        status: int | None = None
        if key in self.refused_ids or (first and (key[0], self._seen[key[0]]) in self.permanent):
            self.refused_ids.add(key)
            status = 400
        elif self._rejected[key] < self.max_429 and self._rng.random() < self.rate_429:
            self._rejected[key] += 1
            status = 429
        if status is not None:
            self.injected[status] += 1
        return status


class FaultProxy:
    """`with FaultProxy(upstream) as proxy:` listens on 127.0.0.1 (`proxy.url`) in `pass` mode."""

    def __init__(self, upstream: str, *, ca_certs: str | None = None) -> None:
        parts = urllib.parse.urlsplit(upstream)
        self._upstream = (parts.scheme, parts.hostname or "127.0.0.1",
                          parts.port or (443 if parts.scheme == "https" else 80))
        self._ssl = ssl.create_default_context(cafile=ca_certs) if parts.scheme == "https" \
            else None
        self.mode: Mode = "pass"
        self.slow_delay, self.slow_bytes, self.slow_step = 1.0, 512, 0.0
        self.slow_when: Callable[[str, str], bool] | None = None
        self.bulk_faults: BulkFaults | None = None
        self.observer: Callable[[Exchange], None] | None = None
        self.counts: Counter[str] = Counter()
        self.errors: list[str] = []  # the proxy's own failures; a drill asserts there are none
        self._lock = threading.Lock()
        self._observer_lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._clients: set[socket.socket] = set()
        self._in_flight = 0
        self._closed = False
        self._listener: socket.socket | None = None
        self.port = 0
        self._listen()

    def _count(self, what: str) -> None:
        with self._lock:
            self.counts[what] += 1

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- switching -------------------------------------------------------------------------

    def set_mode(self, mode: Mode) -> None:
        self._count(f"mode {mode}")
        with self._lock:
            previous, self.mode = self.mode, mode
            self._changed.notify_all()
            clients = list(self._clients) if mode in ("refuse", "reset") else []
        if mode == "refuse" and previous != "refuse":
            self._stop_listening()
        for conn in clients:  # a stopped server's connections die with it
            self._reset(conn)
            self._count("connections reset")
        if previous == "refuse" and mode != "refuse":
            self._listen()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until no request is being forwarded upstream (answers already on their way)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
        return True

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._changed.notify_all()
            clients = list(self._clients)
        self._stop_listening()
        for conn in clients:
            self._reset(conn)

    # --- sockets ---------------------------------------------------------------------------

    def _listen(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(64)
        self.port = sock.getsockname()[1]
        self._listener = sock
        threading.Thread(target=self._accept, args=(sock,), daemon=True,
                         name="fault-proxy-accept").start()

    def _stop_listening(self) -> None:
        sock, self._listener = self._listener, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() blocked on it
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return  # closed: refuse mode, or the end
            with self._lock:
                self._clients.add(conn)
            self._count("connections")
            threading.Thread(target=self._serve, args=(conn,), daemon=True,
                             name="fault-proxy-conn").start()

    @staticmethod
    def _reset(conn: socket.socket) -> None:
        """Make the connection end in an RST: no linger on close; wake its reader."""
        with contextlib.suppress(OSError):
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.shutdown(socket.SHUT_RD)

    # --- one client connection --------------------------------------------------------------

    def _serve(self, conn: socket.socket) -> None:
        upstream: http.client.HTTPConnection | None = None
        reader = conn.makefile("rb")
        try:
            while True:
                request = _read_request(reader)
                if request is None:
                    return
                mode = self.mode
                if mode in ("refuse", "reset"):
                    self._count("requests reset")
                    self._reset(conn)
                    return
                if mode == "hang":
                    self._count("requests hung")
                    self._hang(conn)
                    return
                if upstream is None:
                    upstream = self._connect()
                with self._lock:
                    self._in_flight += 1
                try:
                    status, headers, answer = self._exchange(upstream, *request)
                finally:
                    with self._lock:
                        self._in_flight -= 1
                        self._changed.notify_all()
                if self.mode in ("refuse", "reset"):
                    return  # the connection was reset meanwhile
                self._respond(conn, request[0], request[1], status, headers, answer)
        except (OSError, http.client.HTTPException):
            self._count("connection errors")
            self._reset(conn)
        except Exception as exc:  # noqa: BLE001 - a proxy bug: kept for the drill to assert on
            self.errors.append(f"{type(exc).__name__}: {exc}")
            self._reset(conn)
        finally:
            with self._lock:
                self._clients.discard(conn)
            reader.close()
            conn.close()
            if upstream is not None:
                upstream.close()

    def _hang(self, conn: socket.socket) -> None:
        """Never answer: hold the connection until the client gives up or the mode changes."""
        conn.settimeout(0.2)
        while True:
            with self._lock:
                if self.mode != "hang" or self._closed:
                    return
            try:
                if not conn.recv(65536):
                    return  # the client timed out and closed
            except TimeoutError:
                continue

    def _connect(self) -> http.client.HTTPConnection:
        scheme, host, port = self._upstream
        if scheme == "https":
            return http.client.HTTPSConnection(host, port, timeout=120, context=self._ssl)
        return http.client.HTTPConnection(host, port, timeout=120)

    def _exchange(
        self, upstream: http.client.HTTPConnection, method: str, path: str,
        headers: list[tuple[str, str]], body: bytes,
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        forward = {k: v for k, v in headers if k.lower() not in _HOP_BY_HOP}
        forward["Host"] = f"{self._upstream[1]}:{self._upstream[2]}"
        faults = self.bulk_faults
        is_bulk = urllib.parse.urlsplit(path).path.endswith("/_bulk")
        items: list[tuple[str, dict[str, Any], bytes | None]] = []
        verdicts: list[int | None] = []
        if faults is not None and is_bulk and method in ("POST", "PUT"):
            items = bulk_items(body)
            with self._observer_lock:
                verdicts = [faults.decide(op, meta) for op, meta, _ in items]
        if any(v is not None for v in verdicts):
            kept = [item for item, v in zip(items, verdicts, strict=True) if v is None]
            real: list[Any] = []
            status, answer_headers = 200, [
                ("Content-Type", "application/vnd.elasticsearch+json;compatible-with=8"),
                ("X-Elastic-Product", "Elasticsearch"),
            ]
            if kept:
                status, answer_headers, raw = _request(
                    upstream, method, path, _bulk_body(kept), forward)
                if status != 200:
                    return status, answer_headers, raw
                answer_json = json.loads(raw)
                real = list(answer_json.get("items", []))
            spliced: list[Any] = []
            for (op, meta, _), verdict in zip(items, verdicts, strict=True):
                if verdict is None:
                    spliced.append(real.pop(0))
                else:
                    kind, reason = _ITEM_ERRORS[verdict]
                    spliced.append({op: {"_index": meta.get("_index"), "_id": meta.get("_id"),
                                         "status": verdict,
                                         "error": {"type": kind, "reason": reason}}})
            answer = json.dumps({"took": 1, "errors": True, "items": spliced}).encode()
        else:
            status, answer_headers, answer = _request(upstream, method, path, body, forward)
        self._count("requests forwarded")
        if self.observer is not None:
            with self._observer_lock:
                self.observer(Exchange(method, path, body, status, answer))
        return status, answer_headers, answer

    def _respond(
        self, conn: socket.socket, method: str, path: str, status: int,
        headers: list[tuple[str, str]], answer: bytes,
    ) -> None:
        head = [f"HTTP/1.1 {status} {http.client.responses.get(status, 'Status')}"]
        head += [f"{k}: {v}" for k, v in headers
                 if k.lower() not in _HOP_BY_HOP or (method == "HEAD" and
                                                     k.lower() == "content-length")]
        if method != "HEAD":
            head.append(f"Content-Length: {len(answer)}")
        data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + answer
        if self.mode != "slow" or (self.slow_when is not None
                                   and not self.slow_when(method, path)):
            conn.sendall(data)
            return
        self._count("answers slowed")
        time.sleep(self.slow_delay)
        for i in range(0, len(data), self.slow_bytes):
            conn.sendall(data[i : i + self.slow_bytes])
            time.sleep(self.slow_step)


def _read_request(reader: Any) -> tuple[str, str, list[tuple[str, str]], bytes] | None:
    line = reader.readline(65537)
    if not line:
        return None
    method, path, _ = line.decode("latin-1").split(" ", 2)
    headers: list[tuple[str, str]] = []
    while (line := reader.readline(65537)) not in (b"\r\n", b"\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers.append((name.strip(), value.strip()))
    lengths = [int(v) for k, v in headers if k.lower() == "content-length"]
    if any(k.lower() == "transfer-encoding" for k, _ in headers):
        raise ValueError("chunked request bodies are not supported by the fault proxy")
    body = reader.read(lengths[0]) if lengths else b""
    return method, path, headers, body


def _request(upstream: http.client.HTTPConnection, method: str, path: str, body: bytes,
             headers: dict[str, str]) -> tuple[int, list[tuple[str, str]], bytes]:
    for attempt in (1, 2):
        try:
            upstream.request(method, path, body=body or None, headers=headers)
            response = upstream.getresponse()
            return response.status, response.getheaders(), response.read()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            # The upstream closed an idle keep-alive connection: once more on a fresh one.
            upstream.close()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def bulk_items(body: bytes) -> list[tuple[str, dict[str, Any], bytes | None]]:
    """(op, metadata, source line) of every item of an NDJSON `_bulk` body."""
    lines = [line for line in body.split(b"\n") if line.strip()]
    items: list[tuple[str, dict[str, Any], bytes | None]] = []
    i = 0
    while i < len(lines):
        ((op, meta),) = json.loads(lines[i]).items()
        source = None if op == "delete" else lines[i + 1]
        items.append((op, meta, source))
        i += 1 if source is None else 2
    return items


def _bulk_body(items: list[tuple[str, dict[str, Any], bytes | None]]) -> bytes:
    out = bytearray()
    for op, meta, source in items:
        out += json.dumps({op: meta}).encode() + b"\n"
        if source is not None:
            out += source + b"\n"
    return bytes(out)
