"""Grafana Loki: documents as log lines through the push API (`/loki/api/v1/push`, JSON).

Each line is the full ECS document; the labels are few and bounded, as Loki wants them: `org`
(the org's name), `event_type` (an audit event's family, the part of its type before the first
dot: `login`, `api_key`, `project`, ...; for other documents the stream) and `outcome`
(`success`, `failure`, when the document says). The entry's time is the document's
`@timestamp`. Loki refuses entries older than its `reject_old_samples_max_age` (a week by
default) or too far behind a stream's newest entry; those are counted as refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Final

from poller.destinations._dimensions import field_value
from poller.destinations._settings import LokiSettings, name_of
from poller.destinations.backends._context import DestinationContext
from poller.destinations.backends._events import EventLoop, epoch_nanos, event_line
from poller.destinations.backends._http import authorization, courier, read_secret
from poller.documents.model import Document

__all__ = ["LokiDestination", "loki_labels", "push_body"]

PUSH_PATH = "/loki/api/v1/push"
# Loki's 400 names what it ignored per stream and keeps the rest.
_IGNORED: Final = re.compile(r"total ignored: (\d+) out of \d+")


def loki_labels(org: str, doc: Document) -> dict[str, str]:
    # The dotted audit type (`api_key.created`): `event.action` is Elastic's dashed form.
    action = field_value(doc.source, "openai.audit.type")
    family = str(action).split(".", 1)[0] if action else doc.stream
    labels = {"org": org, "event_type": family}
    outcome = field_value(doc.source, "event.outcome")
    if outcome:
        labels["outcome"] = str(outcome)
    return labels


def push_body(org: str, documents: Sequence[Document]) -> bytes:
    """The push request: one stream per label set, its entries in time order."""
    streams: dict[tuple[tuple[str, str], ...], list[tuple[int, str]]] = {}
    for doc in documents:
        key = tuple(sorted(loki_labels(org, doc).items()))
        streams.setdefault(key, []).append((epoch_nanos(doc), event_line(doc)))
    body = {
        "streams": [
            {"stream": dict(key), "values": [[str(ts), line] for ts, line in sorted(entries)]}
            for key, entries in streams.items()
        ]
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


class LokiDestination:
    def __init__(self, settings: LokiSettings, context: DestinationContext) -> None:
        self.name = name_of(settings)
        self._org = context.org
        self._base = settings.url
        headers = {
            "Content-Type": "application/json",
            **authorization(
                read_secret(settings.token, settings.token_file),
                settings.username,
                settings.password,
            ),
        }
        if settings.tenant:
            headers["X-Scope-OrgID"] = settings.tenant
        self._courier = courier(settings, f"Loki {self.name}", context, headers)
        self._loop = EventLoop(context, self.name, settings.batch_size)

    def deliver(self, documents: Sequence[Document]) -> None:
        self._loop.deliver(documents, self._send)

    def _send(self, documents: Sequence[Document]) -> tuple[int, str]:
        response = self._courier.post(
            self._base + PUSH_PATH, push_body(self._org, documents), {}
        )
        if response.is_success:
            return 0, ""
        ignored = [int(n) for n in _IGNORED.findall(response.text)]
        refused = sum(ignored) if ignored else len(documents)
        return refused, f"HTTP {response.status_code}: {response.text[:200]}"

    def probe(self) -> bool:
        return self._courier.answers(self._base + "/ready")

    def close(self) -> None:
        self._courier.close()
