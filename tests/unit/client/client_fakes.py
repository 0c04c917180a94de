"""Fakes for the client tests: scripted replies for `httpx.MockTransport`, a clock that sleeps in
zero time, an observer that records, and the recorded-response fixtures."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from poller.client import AdminClient

ADMIN_KEY = "sk-admin-Zq8kTf3mW1xYp0rL7vN2bC9dE4gH6jK5"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "openai"
BASE = "https://api.test/v1"

Reply = httpx.Response | Exception
Handler = Callable[[httpx.Request], httpx.Response]
MakeClient = Callable[..., AdminClient]


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def ok(body: Any, headers: Mapping[str, str] | None = None) -> httpx.Response:
    return httpx.Response(200, json=body, headers=headers)


def fail(
    status: int,
    message: str = "boom",
    *,
    param: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """An `ErrorResponse` as OpenAI sends it."""
    error = {"message": message, "type": "invalid_request_error", "param": param, "code": None}
    return httpx.Response(status, json={"error": error}, headers=headers)


def usage_page(next_page: str | None, *, start: int = 0) -> dict[str, Any]:
    bucket = {"object": "bucket", "start_time": start, "end_time": start + 86400, "results": []}
    return {
        "object": "page",
        "data": [bucket],
        "has_more": next_page is not None,
        "next_page": next_page,
    }


def list_page(ids: list[str], *, has_more: bool, last_id: str | None = "") -> dict[str, Any]:
    """A list page of projects; `last_id` defaults to the last id."""
    data = [{"id": i, "object": "organization.project", "name": i.upper()} for i in ids]
    return {
        "object": "list",
        "data": data,
        "first_id": ids[0] if ids else None,
        "last_id": (ids[-1] if ids else None) if last_id == "" else last_id,
        "has_more": has_more,
    }


@dataclass
class FakeTime:
    """`sleep` records the wait and moves `clock` on by it; nothing really sleeps."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


@dataclass
class Script:
    """Answers requests in order from `replies`, repeating the last one; an exception is raised
    as a transport would raise it. Records every request."""

    replies: list[Reply]
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        reply = self.replies[min(len(self.requests), len(self.replies)) - 1]
        if isinstance(reply, Exception):
            raise reply
        return reply

    @property
    def queries(self) -> list[str]:
        """Each request's raw query string, exactly as it went on the wire."""
        return [request.url.query.decode("ascii") for request in self.requests]

    @property
    def paths(self) -> list[str]:
        return [request.url.path for request in self.requests]


@dataclass
class RecordingObserver:
    responses: list[tuple[str, int]] = field(default_factory=list)
    retries: list[tuple[str, str, float]] = field(default_factory=list)

    def on_response(self, endpoint: str, status: int) -> None:
        self.responses.append((endpoint, status))

    def on_retry(self, endpoint: str, reason: str, wait: float) -> None:
        self.retries.append((endpoint, reason, wait))
