"""Splunk's HTTP Event Collector: documents as events to `/services/collector/event`.

Each event's `time` is the document's `@timestamp` (a bucket's start, an audit event's time),
`event` the full ECS document, and the indexed `fields` carry `doc_id`, `org` and `stream`, so a
search keeps the newest event of each `doc_id` after a revision (`dedup doc_id sortby
-_indextime`). Requests are batched and gzip-compressed; a busy Splunk (503, 429, 5xx) is
retried with backoff. With indexer acknowledgment the request carries a channel, and the batch
counts as delivered only once `/services/collector/ack` says it is indexed.

HEC answers a bad event with the index of the first one it could not read
(`invalid-event-number`): the events before it were taken, that one is refused for good and
the rest are sent again (with acknowledgment on, the ones before it too, since no `ackId`
vouches for them).
"""

from __future__ import annotations

import gzip
import json
import math
import uuid
from collections.abc import Sequence
from typing import Any, Final

import httpx

from poller.destinations._settings import SplunkHecSettings, name_of
from poller.destinations.backends._context import DestinationContext
from poller.destinations.backends._events import EventLoop, epoch_nanos
from poller.destinations.backends._http import courier, read_secret
from poller.documents.model import Document
from poller.errors import SinkRejectedError, SinkUnavailableError
from poller.streams import get_stream

__all__ = ["SplunkHecDestination", "hec_event"]

EVENT_PATH = "/services/collector/event"
ACK_PATH = "/services/collector/ack"
HEALTH_PATH = "/services/collector/health"
# HEC status codes that refuse the data, not the request: 6 invalid data format, 12 event
# field is required, 13 event field cannot be blank, 15 error in handling indexed fields.
_DATA_REFUSED: Final = frozenset({6, 12, 13, 15})


def hec_event(settings: SplunkHecSettings, org: str, doc: Document) -> dict[str, Any]:
    event: dict[str, Any] = {
        "time": epoch_nanos(doc) // 1_000_000 / 1000,  # seconds, to the millisecond
        "source": settings.source,
        "sourcetype": settings.sourcetype(get_stream(doc.stream).kind),
        "event": doc.source,
        "fields": {"doc_id": doc.doc_id, "org": org, "stream": doc.stream},
    }
    if settings.index:
        event["index"] = settings.index
    if settings.host:
        event["host"] = settings.host
    return event


def _answer(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


class SplunkHecDestination:
    def __init__(self, settings: SplunkHecSettings, context: DestinationContext) -> None:
        self.name = name_of(settings)
        self._settings = settings
        self._context = context
        self._channel = str(settings.channel or uuid.uuid4())
        headers = {
            "Authorization": f"Splunk {read_secret(settings.token, settings.token_file)}",
            "Content-Type": "application/json",
            "X-Splunk-Request-Channel": self._channel,
        }
        if settings.gzip:
            headers["Content-Encoding"] = "gzip"
        self._courier = courier(settings, f"Splunk HEC {self.name}", context, headers)
        self._loop = EventLoop(context, self.name, settings.batch_size)

    def deliver(self, documents: Sequence[Document]) -> None:
        self._loop.deliver(documents, self._send)

    def _body(self, documents: Sequence[Document]) -> bytes:
        lines = "\n".join(
            json.dumps(hec_event(self._settings, self._context.org, doc), separators=(",", ":"),
                       ensure_ascii=False)
            for doc in documents
        ).encode()
        return gzip.compress(lines, mtime=0) if self._settings.gzip else lines

    def _send(self, documents: Sequence[Document]) -> tuple[int, str]:
        refused, why = 0, ""
        pending = list(documents)
        while pending:
            response = self._courier.post(self._settings.url + EVENT_PATH, self._body(pending), {})
            answer = _answer(response)
            if response.is_success:
                if self._settings.ack:
                    self._wait_for_ack(answer.get("ackId"))
                return refused, why
            code = answer.get("code")
            bad = answer.get("invalid-event-number")
            if response.status_code != 400 or code not in _DATA_REFUSED:
                raise SinkRejectedError(
                    f"Splunk HEC {self.name} refused the request (HTTP {response.status_code}, "
                    f"code {code}: {answer.get('text', response.text[:200])})"
                )
            why = f"code {code}: {answer.get('text', '')}"
            if not isinstance(bad, int) or not 0 <= bad < len(pending):
                return refused + len(pending), why
            refused += 1
            # Without acknowledgment the events before the bad one were taken; with it, no
            # ackId vouches for them, so they go again.
            before = pending[:bad] if self._settings.ack else []
            pending = before + pending[bad + 1 :]
        return refused, why

    def _wait_for_ack(self, ack_id: Any) -> None:
        if not isinstance(ack_id, int):
            raise SinkRejectedError(
                f"Splunk HEC {self.name} gave no ackId: turn on indexer acknowledgment for "
                "the token, or set ack: false"
            )
        interval = self._settings.ack_poll_interval.total_seconds()
        polls = max(1, math.ceil(self._settings.ack_timeout.total_seconds() / interval))
        body = json.dumps({"acks": [ack_id]}).encode()
        url = f"{self._settings.url}{ACK_PATH}?channel={self._channel}"
        for _ in range(polls):
            self._context.sleep(interval)
            response = self._courier.post(url, body, {"Content-Encoding": "identity"})
            if _answer(response).get("acks", {}).get(str(ack_id)) is True:
                return
        raise SinkUnavailableError(
            f"Splunk HEC {self.name} did not confirm indexing within "
            f"{self._settings.ack_timeout.total_seconds():g}s"
        )

    def probe(self) -> bool:
        return self._courier.answers(self._settings.url + HEALTH_PATH)

    def close(self) -> None:
        self._courier.close()
