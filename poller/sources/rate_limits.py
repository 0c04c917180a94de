"""The rate-limits source: a snapshot of every active project's limits per collection slot.

The slot (the interval the snapshot belongs to) is part of each document's id, so collecting
twice within one slot rewrites the same documents instead of adding a second snapshot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from poller.client.api import AdminClient
from poller.documents import MappingContext, map_rate_limit
from poller.pipeline import Batch
from poller.state import StreamState

__all__ = ["RateLimitSource"]


@dataclass(frozen=True)
class RateLimitSource:
    org: str
    client: AdminClient
    context: MappingContext
    slot_start: int
    stream: str = "rate_limits"

    def batches(self, state: StreamState) -> Iterator[Batch]:
        for project in self.client.list_projects(include_archived=False):
            project_data = project.api_dict()
            documents = [
                map_rate_limit(self.context, limit.api_dict(), project_data, self.slot_start)
                for limit in self.client.list_project_rate_limits(project.id)
            ]
            yield Batch(documents)
        yield Batch((), advance=_slot(self.slot_start))


def _slot(slot_start: int) -> Callable[[StreamState], StreamState]:
    def advance(state: StreamState) -> StreamState:
        return replace(state, last_slot=slot_start)

    return advance
