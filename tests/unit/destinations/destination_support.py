"""What the destination unit tests share: golden documents, a state store in memory, a clock,
and a recording HTTP transport whose answers each test queues."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import CollectorRegistry

from poller.destinations import Retention
from poller.destinations.backends import DestinationContext, DestinationMetrics
from poller.documents.model import Document
from poller.errors import SinkUnavailableError

GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "golden"
# 2026-01-01T10:00:00Z: the golden buckets (2026-01-01) are recent, nothing is pruned yet.
NOW = 1_767_261_600.0


def golden(stream: str, case: int = 0) -> Document:
    """The expected document of a golden case, as the mapper makes it."""
    cases = json.loads((GOLDEN / f"{stream}.json").read_text(encoding="utf-8"))["cases"]
    expected = cases[case]["expected"]
    return Document(stream, expected["data_stream"], expected["doc_id"], expected["source"])


def revised(doc: Document, path: str, value: Any) -> Document:
    """`doc` with the dotted field `path` set to `value`: a re-read bucket."""
    source = json.loads(json.dumps(doc.source))
    node = source
    *parents, leaf = path.split(".")
    for key in parents:
        node = node[key]
    node[leaf] = value
    return replace(doc, source=source)


class MemoryStore:
    """The primary sink's state store, as JSON round trips it; `down` makes saves fail."""

    def __init__(self) -> None:
        self.states: dict[str, Any] = {}
        self.saves = 0
        self.down = False

    def load_state(self, key: str) -> Mapping[str, Any] | None:
        found = self.states.get(key)
        return None if found is None else json.loads(found)

    def save_state(self, key: str, state: Mapping[str, Any]) -> None:
        if self.down:
            raise SinkUnavailableError("the state store is down")
        self.states[key] = json.dumps(state)
        self.saves += 1


@dataclass
class Clock:
    now: float = NOW

    def __call__(self) -> float:
        return self.now


Answer = httpx.Response | Callable[[httpx.Request], httpx.Response]


@dataclass
class Receiver:
    """A MockTransport handler: answers the queued responses in order (then `default`), and
    keeps every request."""

    answers: list[Answer] = field(default_factory=list)
    default: httpx.Response = field(default_factory=lambda: httpx.Response(204))
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        answer = self.answers.pop(0) if self.answers else self.default
        return answer(request) if callable(answer) else answer

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


@dataclass
class Harness:
    """A destination context whose every outside effect is recorded."""

    store: MemoryStore = field(default_factory=MemoryStore)
    clock: Clock = field(default_factory=Clock)
    receiver: Receiver = field(default_factory=Receiver)
    sleeps: list[float] = field(default_factory=list)
    registry: CollectorRegistry = field(
        default_factory=lambda: CollectorRegistry(auto_describe=True)
    )
    retention: Retention = field(default_factory=Retention)

    def __post_init__(self) -> None:
        self.metrics = DestinationMetrics(self.registry)

    def context(self, org: str = "acme") -> DestinationContext:
        return DestinationContext(
            org,
            self.store,
            self.metrics,
            retention=self.retention,
            clock=self.clock,
            sleep=self.sleeps.append,
            transport=self.receiver.transport(),
        )

    def sample(self, name: str, **labels: str) -> float | None:
        return self.registry.get_sample_value(name, labels)
