"""Names next to ids: a per-org cache of projects, users, API keys and service accounts.

Usage and cost results carry only ids. The cache lists the directory through the admin API and
refreshes it after `ttl` seconds, so renamed projects and new keys show up. Names are a courtesy:
when a refresh fails the cache keeps the names it had (or none) and collection goes on.

The first load is waited for: the daemon's jobs of an org start together, and any of them that
went on without names would write a day of documents lacking `project_name`, `user_email` and
`api_key_name` (only the settlement window is ever read again). Later refreshes are not: one
thread refreshes while the others keep using the names they had.

Groups (teams) come with every refresh too, read once per refresh (1 + one call per group),
never per page: a user's groups go on usage documents as ECS `user.group.*` and weigh the
allocated cost by team. Groups are a courtesy inside the courtesy: when they cannot be listed
(an older key without the groups permission) the refresh keeps the groups it had and still
takes the new names.

Mapping reads names from a `DirectorySnapshot`, taken once when a source starts: a lookup is a
dict read, never a reload of the directory (81 calls for a large org) in the middle of a page.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from poller.client.api import AdminClient
from poller.client.directory import Project
from poller.client.groups import list_group_users, list_groups
from poller.documents.model import GroupRef
from poller.errors import PollerError

__all__ = ["DirectoryCache", "DirectorySnapshot"]

log = logging.getLogger(__name__)


def _frozen(names: dict[str, str]) -> Mapping[str, str]:
    return MappingProxyType(names)


@dataclass(frozen=True)
class DirectorySnapshot:
    """The directory as one listing saw it; implements `poller.documents.model.Names`.

    `projects` includes archived ones. `taken_at` is the cache's clock at the listing (None
    before the first).
    """

    projects: tuple[Project, ...] = ()
    project_names: Mapping[str, str] = field(default_factory=lambda: _frozen({}))
    user_emails: Mapping[str, str] = field(default_factory=lambda: _frozen({}))
    key_names: Mapping[str, str] = field(default_factory=lambda: _frozen({}))
    taken_at: float | None = None
    groups_of_users: Mapping[str, tuple[GroupRef, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )

    def project_name(self, project_id: str) -> str | None:
        return self.project_names.get(project_id)

    def user_email(self, user_id: str) -> str | None:
        return self.user_emails.get(user_id)

    def api_key_name(self, api_key_id: str) -> str | None:
        return self.key_names.get(api_key_id)

    def user_groups(self, user_id: str) -> tuple[GroupRef, ...]:
        return self.groups_of_users.get(user_id, ())


class DirectoryCache:
    """The names of one org, listed again after `ttl`. Thread-safe: the org's jobs share it."""

    def __init__(
        self, client: AdminClient, *, ttl: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._client = client
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._first_load = threading.Lock()
        self._snapshot = DirectorySnapshot()

    def refresh(self) -> None:
        """List the directory now. Raises when the API fails, so a caller that needs it knows."""
        projects = tuple(self._client.list_projects(include_archived=True))
        users = {u.id: u.email for u in self._client.list_users() if u.email}
        keys: dict[str, str] = {}
        for project in projects:
            for key in self._client.list_project_api_keys(project.id):
                if key.name:
                    keys[key.id] = key.name
        groups = self._groups_of_users()
        snapshot = DirectorySnapshot(
            projects=projects,
            project_names=_frozen({p.id: p.name for p in projects if p.name}),
            user_emails=_frozen(users),
            key_names=_frozen(keys),
            taken_at=self._clock(),
            groups_of_users=groups,
        )
        with self._lock:
            self._snapshot = snapshot
        log.info("directory refreshed: %d projects, %d users, %d api keys, %d users in groups",
                 len(projects), len(users), len(keys), len(groups))

    def _groups_of_users(self) -> Mapping[str, tuple[GroupRef, ...]]:
        """Each user's groups, sorted by group id; the groups known so far when the groups
        cannot be listed."""
        try:
            members: dict[str, set[GroupRef]] = {}
            for group in list_groups(self._client):
                ref = GroupRef(group.id, group.name)
                for user in list_group_users(self._client, group.id):
                    members.setdefault(user.id, set()).add(ref)
        except PollerError as exc:
            log.warning("listing groups failed, keeping the groups known so far: %s", exc)
            with self._lock:
                return self._snapshot.groups_of_users
        return MappingProxyType({user: tuple(sorted(refs)) for user, refs in members.items()})

    def snapshot(self) -> DirectorySnapshot:
        """The names to map with: waits for the first load, refreshes when stale, and keeps
        the names it had when a refresh fails."""
        if self._snapshot.taken_at is None:
            with self._first_load:  # the first caller loads, the others wait for its names
                if self._snapshot.taken_at is None:
                    self._refresh_or_keep()
        with self._lock:
            snapshot = self._snapshot
            stale = snapshot.taken_at is None or self._clock() - snapshot.taken_at >= self._ttl
            if stale:
                # Claim the refresh so other threads keep using the old names meanwhile.
                self._snapshot = replace(snapshot, taken_at=self._clock())
        if stale:
            self._refresh_or_keep()
            with self._lock:
                snapshot = self._snapshot
        return snapshot

    def _refresh_or_keep(self) -> None:
        try:
            self.refresh()
        except PollerError as exc:
            log.warning("directory refresh failed, keeping the names known so far: %s", exc)
            with self._lock:  # try again after the ttl, not at every lookup
                self._snapshot = replace(self._snapshot, taken_at=self._clock())
