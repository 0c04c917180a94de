"""The destination contract, and the fan-out the pipeline calls between the sink and the cursor.

Elasticsearch (or the embedded store) stays the primary sink: it holds the documents and the
cursors. Destinations receive the same documents after the primary sink acknowledged them and
before the cursor moves, so nothing is fetched from OpenAI twice and a batch that any
destination did not acknowledge is fetched and delivered again by the next cycle. Destinations
therefore see repeats, and each one is idempotent in its own way (see docs/destinations.md).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from poller.errors import PollerError

if TYPE_CHECKING:  # the settings import this package: it must not load the mappers
    from poller.documents.model import Document

__all__ = ["Destination", "FanOut", "Route", "StateStore"]

log = logging.getLogger(__name__)


class Destination(Protocol):
    @property
    def name(self) -> str:
        """Unique among the org's destinations: the `destination` label of its metrics."""
        ...

    def deliver(self, documents: Sequence[Document]) -> None:
        """Take every document, or raise: `SinkUnavailableError` (retryable) when the receiver
        did not acknowledge them, `SinkRejectedError` when it refuses the request itself
        (credentials, a wrong URL) until the configuration changes. Data the receiver refuses
        for good (a sample too old for it) is counted and acknowledged, like a dead letter."""
        ...

    def probe(self) -> bool:
        """Whether the receiver answers now. Never raises."""
        ...

    def close(self) -> None: ...


class StateStore(Protocol):
    """Where a destination keeps what it must remember across restarts: the primary sink's
    state store (every `poller.sinks.Sink` is one)."""

    def load_state(self, key: str) -> Mapping[str, Any] | None: ...

    def save_state(self, key: str, state: Mapping[str, Any]) -> None: ...


@dataclass(frozen=True)
class Route:
    """A destination and the streams whose documents it takes."""

    destination: Destination
    streams: frozenset[str]


class FanOut:
    """Delivers a batch to every destination of one org.

    Every destination is tried even when an earlier one failed, so one receiver being down
    does not hold back the others (they take the repeat next cycle as a no-op); the first
    failure is then raised, and the caller keeps the cursor where it was.
    """

    def __init__(self, routes: Sequence[Route]) -> None:
        names = [route.destination.name for route in routes]
        if len(set(names)) != len(names):
            raise ValueError(f"destination names must be unique: {names}")
        self.routes = tuple(routes)
        # whose last delivery failed; the streams deliver from several threads
        self._failing: set[str] = set()
        self._lock = threading.Lock()

    def deliver(self, documents: Sequence[Document]) -> None:
        failures: list[PollerError] = []
        for route in self.routes:
            taken = [doc for doc in documents if doc.stream in route.streams]
            if not taken:
                continue
            name = route.destination.name
            try:
                route.destination.deliver(taken)
            except PollerError as exc:
                log.warning("destination %s did not take %d documents: %s", name, len(taken), exc)
                failures.append(exc)
                with self._lock:
                    self._failing.add(name)
            else:
                with self._lock:
                    self._failing.discard(name)
        if failures:
            raise failures[0]

    def unready(self) -> str | None:
        """Why the org is not ready for its destinations: the first one (by name) whose last
        delivery failed, which holds the cursors of the streams it takes until it acknowledges
        again; None while every one acknowledged its last delivery (or none was tried yet)."""
        with self._lock:
            failing = min(self._failing, default=None)
        if failing is None:
            return None
        return f"destination {failing} did not acknowledge its last delivery"

    def probe(self) -> dict[str, bool]:
        """Each destination's `probe()`, by name."""
        return {route.destination.name: route.destination.probe() for route in self.routes}

    def close(self) -> None:
        for route in self.routes:
            route.destination.close()
