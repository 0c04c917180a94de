"""A fake Elasticsearch behind the real client: recorded response bodies, routed by request.

`FakeElasticsearch` plugs into `elasticsearch.Elasticsearch` as its node class, so every request
goes through the real client and transport (headers, `filter_path`, status → exception mapping)
and only the wire is fake. Replies are queued per route and come from
`tests/fixtures/elasticsearch/*.json`, bodies shaped like Elasticsearch 8.15 answers with the
data stream `logs-openai.completions-default` rolled over once: `.ds-…-2026.11.01-000001` holds
older documents, `.ds-…-2026.11.15-000002` is the write index.
"""

from __future__ import annotations

import json
import re
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from elastic_transport import ApiResponseMeta, BaseNode, HttpHeaders
from elastic_transport._node import NodeApiResponse
from elasticsearch import Elasticsearch

from poller.documents.model import Document

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "elasticsearch"
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


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: Any = None

    @classmethod
    def of(cls, name: str, status: int = 200) -> Reply:
        return cls(status, recorded(name))


@dataclass
class Request:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    body: Any  # parsed JSON, a list of NDJSON lines, or None

    @property
    def bulk_pairs(self) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
        """(op type, action metadata, source) of each operation in a bulk body."""
        lines = self.body
        return [
            (next(iter(lines[i])), next(iter(lines[i].values())), lines[i + 1])
            for i in range(0, len(lines), 2)
        ]


@dataclass
class FakeElasticsearch:
    routes: list[tuple[str, re.Pattern[str], deque[Reply | Exception]]] = field(
        default_factory=list
    )
    requests: list[Request] = field(default_factory=list)
    clients: list[Elasticsearch] = field(default_factory=list)

    def on(self, method: str, path: str, *replies: Reply | Exception | str) -> None:
        """Queue replies for `method` (or "*") on paths fully matching the regex `path`."""
        queue: deque[Reply | Exception] = deque(
            Reply.of(r) if isinstance(r, str) else r for r in replies
        )
        self.routes.append((method, re.compile(path), queue))

    def to(self, path: str) -> list[Request]:
        return [r for r in self.requests if re.fullmatch(path, r.path)]

    def handle(
        self, method: str, target: str, body: bytes | None, headers: HttpHeaders | None
    ) -> tuple[int, bytes]:
        parts = urlsplit(target)
        parsed: Any = None
        if body:
            text = body.decode()
            content_type = str(headers.get("content-type", "")) if headers else ""
            if "ndjson" in content_type:
                parsed = [json.loads(line) for line in text.splitlines() if line]
            else:
                parsed = json.loads(text)
        self.requests.append(
            Request(method, parts.path, dict(parse_qsl(parts.query)), dict(headers or {}), parsed)
        )
        for route_method, pattern, queue in self.routes:
            if route_method in ("*", method) and pattern.fullmatch(parts.path) and queue:
                reply = queue.popleft()
                if isinstance(reply, Exception):
                    raise reply
                return reply.status, b"" if reply.body is None else json.dumps(reply.body).encode()
        raise AssertionError(f"unexpected request: {method} {target}")

    def client(self, **kwargs: Any) -> Elasticsearch:
        server = self

        class _Node(BaseNode):
            def perform_request(
                self,
                method: str,
                target: str,
                body: bytes | None = None,
                headers: HttpHeaders | None = None,
                request_timeout: Any = None,
            ) -> NodeApiResponse:
                status, payload = server.handle(method, target, body, headers)
                meta = ApiResponseMeta(
                    status=status,
                    http_version="1.1",
                    headers=HttpHeaders(
                        {"content-type": "application/json", "x-elastic-product": "Elasticsearch"}
                    ),
                    duration=0.0,
                    node=self.config,
                )
                return NodeApiResponse(meta, payload)

            def close(self) -> None:
                pass

        kwargs.setdefault("max_retries", 0)
        client = Elasticsearch("http://es.example.internal:9200", node_class=_Node, **kwargs)
        self.clients.append(client)
        return client
