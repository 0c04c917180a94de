"""The fan-out: each destination takes its streams; one failing holds the cursor but not the
others."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
from destination_support import golden

from poller.destinations import FanOut, Route
from poller.documents.model import Document
from poller.errors import PollerError, SinkRejectedError, SinkUnavailableError


@dataclass
class Recording:
    name: str
    failure: PollerError | None = None
    batches: list[list[str]] = field(default_factory=list)
    closed: bool = False

    def deliver(self, documents: Sequence[Document]) -> None:
        self.batches.append([doc.doc_id for doc in documents])
        if self.failure is not None:
            raise self.failure

    def probe(self) -> bool:
        return self.failure is None

    def close(self) -> None:
        self.closed = True


DOCS = [golden("completions", 0), golden("audit", 0), golden("costs", 0)]


def test_each_destination_takes_its_streams_only() -> None:
    metrics, events = Recording("metrics"), Recording("events")
    fanout = FanOut([
        Route(metrics, frozenset({"completions", "costs"})),
        Route(events, frozenset({"audit"})),
    ])
    fanout.deliver(DOCS)
    fanout.deliver([golden("embeddings", 0)])  # neither takes embeddings: nobody is called
    assert metrics.batches == [[DOCS[0].doc_id, DOCS[2].doc_id]]
    assert events.batches == [[DOCS[1].doc_id]]


def test_a_failure_reaches_every_destination_first_then_raises_the_first() -> None:
    down = Recording("down", SinkUnavailableError("receiver down"))
    refusing = Recording("refusing", SinkRejectedError("bad token"))
    fine = Recording("fine")
    everything = frozenset({"completions", "audit", "costs"})
    fanout = FanOut([Route(d, everything) for d in (down, refusing, fine)])
    with pytest.raises(SinkUnavailableError, match="receiver down"):
        fanout.deliver(DOCS)
    assert [len(d.batches) for d in (down, refusing, fine)] == [1, 1, 1]
    assert fanout.probe() == {"down": False, "refusing": False, "fine": True}
    fanout.close()
    assert all(d.closed for d in (down, refusing, fine))


def test_destination_names_are_unique() -> None:
    with pytest.raises(ValueError, match="unique"):
        FanOut([Route(Recording("a"), frozenset()), Route(Recording("a"), frozenset())])
