"""The spend-control sources: a snapshot of the hard spend limits (`spend_limits`) or the spend
alerts (`spend_alerts`) of the organization and of every active project, per collection slot,
written whole or not at all (as rate limits are, see `rate_limits`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from poller.client.spend import spend_alert_pages, spend_limit
from poller.documents.model import Document, Rejected
from poller.documents.spend import SpendOwner, map_spend_alert_page, map_spend_limit
from poller.pipeline import Batch
from poller.settings import StreamConfig
from poller.sources._base import BackfillWindow, OrgAccess, OrgSource, seconds
from poller.sources.rate_limits import _slot, slot_start
from poller.state import StreamState
from poller.streams import StreamName

__all__ = ["SpendSource", "backfill_source", "cycle_source"]


@dataclass(frozen=True)
class SpendSource(OrgSource):
    """`stream` is `spend_limits` or `spend_alerts`."""

    stream: StreamName
    slot_start: int

    def __post_init__(self) -> None:
        if self.stream not in (StreamName.SPEND_LIMITS, StreamName.SPEND_ALERTS):
            raise ValueError(f"{self.stream} is not a spend-control stream")

    def _owners(self) -> Iterator[SpendOwner]:
        yield SpendOwner()
        for project in self.access.client.list_projects(include_archived=False):
            yield SpendOwner(project)

    def batches(self, state: StreamState) -> Iterator[Batch]:
        documents: list[Document] = []
        rejected: list[Rejected] = []
        client, context = self.access.client, self.access.context
        for owner in self._owners():
            if self.stream is StreamName.SPEND_LIMITS:
                limit = spend_limit(client, owner.project_id)
                if limit is not None:
                    documents.append(map_spend_limit(context, limit, owner, self.slot_start))
                continue
            for page in spend_alert_pages(client, owner.project_id):
                mapped = map_spend_alert_page(context, page, owner, self.slot_start)
                documents += mapped.documents
                rejected += mapped.rejected
        # One batch for the whole slot, written only once every owner was read: a failure
        # part way leaves no slot half-filled.
        yield Batch(documents, advance=_slot(self.slot_start), rejected=rejected)


def cycle_source(access: OrgAccess, stream: StreamConfig, now: int) -> SpendSource:
    start = slot_start(now, seconds(stream.interval))
    return SpendSource(access, StreamName(stream.name), start)


def backfill_source(access: OrgAccess, stream: StreamConfig, window: BackfillWindow) -> SpendSource:
    """A snapshot stream has no past to collect: one snapshot, now."""
    return cycle_source(access, stream, window.now)
