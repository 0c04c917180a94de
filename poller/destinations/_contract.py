"""The destination contract, and the fan-out the pipeline calls between the sink and the cursor.

Elasticsearch (or the embedded store) stays the primary sink: it holds the documents and the
cursors. Destinations receive the same documents after the primary sink acknowledged them and
before the cursor moves, so nothing is fetched from OpenAI twice and a batch that any
destination did not acknowledge is fetched and delivered again by the next cycle. Destinations
therefore see repeats, and each one is idempotent in its own way (see docs/destinations.md).
"""

from __future__ import annotations

import logging
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

    def deliver(self, documents: Sequence[Document]) -> None:
        failures: list[PollerError] = []
        for route in self.routes:
            taken = [doc for doc in documents if doc.stream in route.streams]
            if not taken:
                continue
            try:
                route.destination.deliver(taken)
            except PollerError as exc:
                log.warning("destination %s did not take %d documents: %s",
                            route.destination.name, len(taken), exc)
                failures.append(exc)
        if failures:
            raise failures[0]

    def probe(self) -> dict[str, bool]:
        """Each destination's `probe()`, by name."""
        return {route.destination.name: route.destination.probe() for route in self.routes}

    def close(self) -> None:
        for route in self.routes:
            route.destination.close()
