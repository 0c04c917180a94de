"""The governance source: a snapshot of the organization's and every active project's data
retention, model and hosted-tool permissions and certificates per collection slot, and a
document per setting that changed since the previous snapshot (`poller.documents.governance`).

Snapshot and changes are one batch, written whole or not at all; the state then keeps this
snapshot for the next comparison. A failure part way writes nothing and keeps the previous
snapshot, so the changes are found again on the next attempt, under the same ids.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

from poller.client.governance import (
    certificate_pages,
    data_retention,
    hosted_tool_permissions,
    model_permissions,
)
from poller.coverage import align_down
from poller.documents.governance import (
    GovernanceItem,
    GovernanceSnapshot,
    Setting,
    certificate_item,
    changes,
    data_retention_item,
    hosted_tools_item,
    map_snapshot,
    model_permissions_item,
)
from poller.documents.model import Document, Rejected
from poller.documents.rejected import rejected as rejected_item
from poller.documents.spend import SpendOwner
from poller.errors import StateError
from poller.pipeline import Batch
from poller.settings import StreamConfig
from poller.sources._base import BackfillWindow, OrgAccess, OrgSource, seconds
from poller.sources.rate_limits import slot_start
from poller.state import StreamState, rebuild_hint
from poller.streams import BucketWidth, StreamName

__all__ = ["GovernanceSource", "backfill_source", "cycle_source", "previous_snapshot"]


@dataclass(frozen=True)
class GovernanceSource(OrgSource):
    """`slot_start` names the snapshot; `collected_at` (the minute it is taken) stamps the
    changes, the moment by which they had happened."""

    slot_start: int
    collected_at: int
    stream: str = StreamName.GOVERNANCE

    def _items(self, unread: _Unread) -> Iterator[GovernanceItem]:
        client = self.access.client
        organization = SpendOwner()
        yield data_retention_item(organization, data_retention(client))
        yield from self._certificates(organization, unread)
        for project in client.list_projects(include_archived=False):
            owner = SpendOwner(project)
            yield data_retention_item(owner, data_retention(client, project.id))
            yield model_permissions_item(owner, model_permissions(client, project.id))
            yield hosted_tools_item(owner, hosted_tool_permissions(client, project.id))
            yield from self._certificates(owner, unread)

    def _certificates(self, owner: SpendOwner, unread: _Unread) -> Iterator[GovernanceItem]:
        for page in certificate_pages(self.access.client, owner.project_id):
            for item in page.invalid:
                unread.owners.add(owner.project_id)
                unread.rejected.append(
                    rejected_item(self.stream, self.access.context, item.raw, item.reason)
                )
            yield from (certificate_item(owner, certificate) for certificate in page.data)

    def batches(self, state: StreamState) -> Iterator[Batch]:
        previous = previous_snapshot(self.org, state)
        context = self.access.context
        unread = _Unread()
        items = list(self._items(unread))
        documents: list[Document] = [map_snapshot(context, item, self.slot_start) for item in items]
        # A certificate the schema rejected is dead-lettered; until it reads again, the
        # previous snapshot's certificates of its owner stand, none taken for deleted.
        seen = {item.key for item in items}
        kept = {
            key: record
            for key, record in (previous.records.items() if previous is not None else ())
            if key not in seen
            and record["setting"] == Setting.CERTIFICATE
            and record.get("project_id") in unread.owners
        }
        documents += changes(context, previous, items, self.collected_at, frozenset(kept))
        snapshot = GovernanceSnapshot.of(items, self.collected_at)
        snapshot = replace(snapshot, records={**snapshot.records, **kept})
        # One batch for the whole snapshot, written only once every setting was read.
        yield Batch(documents, advance=_keep(self.slot_start, snapshot), rejected=unread.rejected)


@dataclass
class _Unread:
    """What a snapshot could not read: the rejected items, and the owners (None: the
    organization) whose certificate lists held one."""

    rejected: list[Rejected] = field(default_factory=list)
    owners: set[str | None] = field(default_factory=set)


def previous_snapshot(org: str, state: StreamState) -> GovernanceSnapshot | None:
    """The snapshot the state keeps; StateError, naming the fix, when it is unreadable."""
    if state.snapshot is None:
        return None
    try:
        return GovernanceSnapshot.from_json(state.snapshot)
    except (KeyError, TypeError, ValueError):
        raise StateError(
            f"{org}/{StreamName.GOVERNANCE}: the saved governance snapshot is unreadable; "
            f"{rebuild_hint(org, StreamName.GOVERNANCE)}"
        ) from None


def _keep(slot: int, snapshot: GovernanceSnapshot) -> Callable[[StreamState], StreamState]:
    def advance(state: StreamState) -> StreamState:
        return replace(state, last_slot=slot, snapshot=snapshot.to_json())

    return advance


def cycle_source(access: OrgAccess, stream: StreamConfig, now: int) -> GovernanceSource:
    start = slot_start(now, seconds(stream.interval))
    return GovernanceSource(access, start, align_down(now, BucketWidth.MINUTE))


def backfill_source(
    access: OrgAccess, stream: StreamConfig, window: BackfillWindow
) -> GovernanceSource:
    """A snapshot stream has no past to collect: one snapshot, now."""
    return cycle_source(access, stream, window.now)
