"""What every source of one org shares, and the window a backfill asks for."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Protocol

from poller.client.api import AdminClient
from poller.destinations import FanOut
from poller.documents import MappingContext, Names
from poller.streams import BucketWidth

__all__ = ["BackfillWindow", "NamesSource", "OrgAccess", "OrgSource", "seconds"]


class NamesSource(Protocol):
    """Gives the org's names as they stand now (`poller.directory.DirectoryCache`)."""

    def snapshot(self) -> Names: ...


@dataclass(frozen=True)
class OrgAccess:
    """The client one org's sources fetch with, and what they map with.

    `context` holds no names: a source whose documents carry names takes one snapshot of
    `names` when it starts (`mapping()`), so no lookup while mapping a page can list the
    directory again.
    """

    org: str
    client: AdminClient
    context: MappingContext
    names: NamesSource
    # Further destinations beside the primary sink (docs/destinations.md): the daemon's runs
    # deliver to them before a cursor moves; None when the org has none.
    destinations: FanOut | None = None
    # The organization ids of the other configured orgs writing the same namespace
    # (`Settings.neighbours`): a stream rebuilt from stored documents reads only its own.
    neighbours: frozenset[str] = frozenset()

    def mapping(self) -> MappingContext:
        return replace(self.context, names=self.names.snapshot())


@dataclass(frozen=True)
class OrgSource:
    """The part every source shares: the org it fetches from (`pipeline.Source.org`)."""

    access: OrgAccess

    @property
    def org(self) -> str:
        return self.access.org


@dataclass(frozen=True)
class BackfillWindow:
    """`[since, until)` in Unix seconds, collected at `width` (None: by age) as of `now`."""

    since: int
    until: int
    now: int
    width: BucketWidth | None = None


def seconds(value: timedelta) -> int:
    return int(value.total_seconds())
