"""Loopback receivers that speak each protocol as documented, and keep what they were sent.

- OTLP/HTTP (`POST /v1/metrics`): protobuf `ExportMetricsServiceRequest`, gzip allowed; delta
  sums are added up per metric, attributes and interval, as a delta-aware backend does.
- Loki (`POST /loki/api/v1/push`, `GET /ready`): JSON streams; an entry equal to one already
  stored (labels, time, line) is dropped, as Loki drops it.
- Splunk HEC (`POST /services/collector/event`, `/services/collector/ack`,
  `GET /services/collector/health`): `Authorization: Splunk <token>`, gzip allowed, events
  concatenated; with a channel, each request gets an `ackId`, confirmed from the second poll.
"""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.metrics.v1.metrics_pb2 import AGGREGATION_TEMPORALITY_DELTA

# (status, content type, body) for a request (method, path, query, headers, body).
Reply = tuple[int, str, bytes]


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def content(self) -> bytes:
        if self.headers.get("content-encoding") == "gzip":
            return gzip.decompress(self.body)
        return self.body


class _Handler(BaseHTTPRequestHandler):
    def _serve(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        request = Request(
            self.command,
            parts.path,
            parse_qs(parts.query),
            {k.lower(): v for k, v in self.headers.items()},
            self.rfile.read(length),
        )
        status, content_type, body = self.server.answer(request)  # type: ignore[attr-defined]
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@contextmanager
def serving(answer: Callable[[Request], Reply]) -> Iterator[str]:
    """`answer` served on a free loopback port; the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.answer = answer  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _json(status: int, body: Any) -> Reply:
    return status, "application/json", json.dumps(body).encode()


@dataclass
class OtlpReceiver:
    sums: dict[tuple[str, tuple[tuple[str, str], ...], int, int], float] = field(
        default_factory=dict
    )
    resources: list[dict[str, str]] = field(default_factory=list)

    def __call__(self, request: Request) -> Reply:
        if (request.method, request.path) != ("POST", "/v1/metrics"):
            return 404, "text/plain", b"not found"
        if request.headers.get("content-type") != "application/x-protobuf":
            return 415, "text/plain", b"protobuf only"
        export = ExportMetricsServiceRequest.FromString(request.content())
        for rm in export.resource_metrics:
            self.resources.append(
                {a.key: a.value.string_value for a in rm.resource.attributes}
            )
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    assert metric.sum.aggregation_temporality == AGGREGATION_TEMPORALITY_DELTA
                    for p in metric.sum.data_points:
                        key = (
                            metric.name,
                            tuple((a.key, a.value.string_value) for a in p.attributes),
                            p.start_time_unix_nano,
                            p.time_unix_nano,
                        )
                        value = p.as_int if p.WhichOneof("value") == "as_int" else p.as_double
                        self.sums[key] = self.sums.get(key, 0.0) + value
        return 200, "application/x-protobuf", ExportMetricsServiceResponse().SerializeToString()

    def total(self, metric: str) -> float:
        return sum(v for (name, *_), v in self.sums.items() if name == metric)


@dataclass
class LokiReceiver:
    entries: set[tuple[tuple[tuple[str, str], ...], int, str]] = field(default_factory=set)
    pushes: int = 0

    def __call__(self, request: Request) -> Reply:
        if (request.method, request.path) == ("GET", "/ready"):
            return 200, "text/plain", b"ready"
        if (request.method, request.path) != ("POST", "/loki/api/v1/push"):
            return 404, "text/plain", b"not found"
        self.pushes += 1
        for stream in json.loads(request.content())["streams"]:
            labels = tuple(sorted(stream["stream"].items()))
            for ts, line in stream["values"]:
                self.entries.add((labels, int(ts), line))
        return 204, "text/plain", b""


@dataclass
class HecReceiver:
    token: str
    events: list[dict[str, Any]] = field(default_factory=list)
    # channel → ackId → polls answered so far
    pending: dict[str, dict[int, int]] = field(default_factory=dict)
    next_ack: int = 0

    def __call__(self, request: Request) -> Reply:
        if (request.method, request.path) == ("GET", "/services/collector/health"):
            return _json(200, {"text": "HEC is healthy", "code": 17})
        if request.headers.get("authorization") != f"Splunk {self.token}":
            return _json(403, {"text": "Invalid token", "code": 4})
        channel = request.headers.get("x-splunk-request-channel") or next(
            iter(request.query.get("channel", [])), None
        )
        if request.path == "/services/collector/ack":
            return self._ack(channel, json.loads(request.content())["acks"])
        if request.path != "/services/collector/event":
            return 404, "text/plain", b"not found"
        text = request.content().decode()
        decoder, at = json.JSONDecoder(), 0
        events: list[dict[str, Any]] = []
        while at < len(text.strip()):
            event, end = decoder.raw_decode(text, at)
            if "event" not in event:
                return _json(400, {"text": "Event field is required", "code": 12,
                                   "invalid-event-number": len(events)})
            events.append(event)
            at = end
            while at < len(text) and text[at].isspace():
                at += 1
        self.events.extend(events)
        if channel is None:
            return _json(200, {"text": "Success", "code": 0})
        ack_id, self.next_ack = self.next_ack, self.next_ack + 1
        self.pending.setdefault(channel, {})[ack_id] = 0
        return _json(200, {"text": "Success", "code": 0, "ackId": ack_id})

    def _ack(self, channel: str | None, ids: list[int]) -> Reply:
        if channel is None:
            return _json(400, {"text": "Data channel is missing", "code": 10})
        known = self.pending.get(channel, {})
        answer = {}
        for ack_id in ids:
            polls = known.get(ack_id)
            answer[str(ack_id)] = polls is not None and polls >= 1  # indexed on the 2nd poll
            if polls is not None:
                known[ack_id] = polls + 1
        return _json(200, {"acks": answer})
