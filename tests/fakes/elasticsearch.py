"""One fake Elasticsearch for every test: a node below the real client and transport.

`FakeNode` stands where the client's HTTP node would (the seam `ElasticsearchSink(node_class=)`
and `Elasticsearch(node_class=)` offer, as httpx's `MockTransport` does for httpx), so every
request goes through the real client and transport (headers, `filter_path`, status → exception
mapping) and only the wire is fake. A handler answers each `Request` with a `Reply`, or raises
a transport error (a refused connection, a timeout).

`RecordedElasticsearch` is the handler the sink tests use: replies queued per route, bodies from
`tests/fixtures/elasticsearch/*.json`, shaped like Elasticsearch 8.15 answers with the data
stream `logs-openai.completions-default` rolled over once: `.ds-…-2026.11.01-000001` holds older
documents, `.ds-…-2026.11.15-000002` is the write index. Other fakes (an in-memory cluster for
`setup`) pass their own handler to `fake_client`.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

from elastic_transport import ApiResponseMeta, BaseNode, HttpHeaders
from elastic_transport._node import NodeApiResponse
from elasticsearch import Elasticsearch

from poller.documents.model import Document

__all__ = [
    "DS",
    "ES_URL",
    "OLD_INDEX",
    "WRITE_INDEX",
    "FakeNode",
    "Handler",
    "RecordedElasticsearch",
    "Reply",
    "Request",
    "bulk_created",
    "completions_source",
    "doc",
    "fake_client",
    "node_class",
    "recorded",
]

ES_URL = "http://es.example.internal:9200"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "elasticsearch"
DS = "logs-openai.completions-default"
OLD_INDEX = f".ds-{DS}-2026.11.01-000001"
WRITE_INDEX = f".ds-{DS}-2026.11.15-000002"


def recorded(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def completions_source(
    tokens: int, *, ts: str = "2026-11-15T10:00:00.000Z", model: str = "gpt-4o-mini"
) -> dict[str, Any]:
    """The source the recorded responses hold, with `input_tokens` = `tokens`."""
    return {
        "@timestamp": ts,
        "data_stream": {"type": "logs", "dataset": "openai.completions", "namespace": "default"},
        "event": {"dataset": "openai.completions", "module": "openai", "kind": "metric"},
        "openai": {
            "base": {"model": model, "project_id": "proj_abc", "num_model_requests": 3},
            "completions": {"input_tokens": tokens, "output_tokens": 40},
        },
    }


def doc(doc_id: str, tokens: int, **kwargs: Any) -> Document:
    return Document("completions", DS, doc_id, completions_source(tokens, **kwargs))


def bulk_created(request: Request) -> Reply:
    """Elasticsearch's answer to a bulk request whose every operation succeeded."""
    items = [
        {op: {"_index": meta["_index"], "_id": meta["_id"], "status": 201}}
        for op, meta, _ in request.bulk_pairs
    ]
    return Reply(200, {"errors": False, "items": items})


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: Any = None  # JSON; None sends an empty body

    @classmethod
    def of(cls, name: str, status: int = 200) -> Reply:
        """The recorded body `tests/fixtures/elasticsearch/<name>.json`."""
        return cls(status, recorded(name))


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # as sent: percent-encoded
    params: dict[str, str]
    headers: dict[str, str]
    body: Any  # parsed JSON, a list of NDJSON lines, or None
    size: int = 0  # bytes of the body as sent

    @classmethod
    def parse(
        cls, method: str, target: str, body: bytes | None, headers: HttpHeaders | None
    ) -> Request:
        parts = urlsplit(target)
        parsed: Any = None
        if body:
            text = body.decode()
            content_type = str(headers.get("content-type", "")) if headers else ""
            if "ndjson" in content_type:
                parsed = [json.loads(line) for line in text.splitlines() if line]
            else:
                parsed = json.loads(text)
        return cls(
            method, parts.path, dict(parse_qsl(parts.query)), dict(headers or {}), parsed,
            len(body or b""),
        )

    @property
    def bulk_pairs(self) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
        """(op type, action metadata, source) of each operation in a bulk body."""
        lines = self.body
        return [
            (next(iter(lines[i])), next(iter(lines[i].values())), lines[i + 1])
            for i in range(0, len(lines), 2)
        ]


Handler = Callable[[Request], Reply]


class FakeNode(BaseNode):
    """A node that hands each request to `handler` instead of the network."""

    handler: ClassVar[Handler]

    def perform_request(
        self,
        method: str,
        target: str,
        body: bytes | None = None,
        headers: HttpHeaders | None = None,
        request_timeout: Any = None,
    ) -> NodeApiResponse:
        reply = type(self).handler(Request.parse(method, target, body, headers))
        meta = ApiResponseMeta(
            status=reply.status,
            http_version="1.1",
            headers=HttpHeaders(
                {"content-type": "application/json", "x-elastic-product": "Elasticsearch"}
            ),
            duration=0.0,
            node=self.config,
        )
        payload = b"" if reply.body is None else json.dumps(reply.body).encode()
        return NodeApiResponse(meta, payload)

    def close(self) -> None:
        """Nothing to release."""


def node_class(handler: Handler) -> type[BaseNode]:
    """A `FakeNode` class answering with `handler`: the transport makes its nodes itself, from
    the class."""
    return type("BoundFakeNode", (FakeNode,), {"handler": staticmethod(handler)})


def fake_client(handler: Handler, **kwargs: Any) -> Elasticsearch:
    """A real client on `handler`; the transport does not retry unless `max_retries` says so."""
    kwargs.setdefault("max_retries", 0)
    return Elasticsearch(ES_URL, node_class=node_class(handler), **kwargs)


@dataclass
class RecordedElasticsearch:
    """Answers from replies queued per route, and records every request."""

    routes: list[tuple[str, re.Pattern[str], deque[Reply | Exception | Handler]]] = field(
        default_factory=list
    )
    requests: list[Request] = field(default_factory=list)
    clients: list[Elasticsearch] = field(default_factory=list)

    def on(self, method: str, path: str, *replies: Reply | Exception | str | Handler) -> None:
        """Queue replies for `method` (or "*") on paths fully matching the regex `path`; a
        string names a recorded body, an exception is raised by the node (a transport
        error), a handler answers from the request."""
        queue: deque[Reply | Exception | Handler] = deque(
            Reply.of(r) if isinstance(r, str) else r for r in replies
        )
        self.routes.append((method, re.compile(path), queue))

    def to(self, path: str) -> list[Request]:
        return [r for r in self.requests if re.fullmatch(path, r.path)]

    def __call__(self, request: Request) -> Reply:
        self.requests.append(request)
        for route_method, pattern, queue in self.routes:
            if route_method in ("*", request.method) and pattern.fullmatch(request.path) and queue:
                reply = queue.popleft()
                if isinstance(reply, Exception):
                    raise reply
                return reply if isinstance(reply, Reply) else reply(request)
        raise AssertionError(f"unexpected request: {request.method} {request.path}")

    @property
    def node_class(self) -> type[BaseNode]:
        return node_class(self)

    def client(self, **kwargs: Any) -> Elasticsearch:
        """A client on this fake, closed by `close()`."""
        client = fake_client(self, **kwargs)
        self.clients.append(client)
        return client

    def close(self) -> None:
        for client in self.clients:
            client.close()
