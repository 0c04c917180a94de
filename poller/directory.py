"""Names next to ids: a per-org cache of projects, users, API keys and service accounts.

Usage and cost results carry only ids. The cache lists the directory through the admin API and
refreshes it after `ttl` seconds, so renamed projects and new keys show up. Names are a courtesy:
when a refresh fails the cache keeps the names it had (or none) and collection goes on.

The first load is waited for: the daemon's jobs of an org start together, and any of them that
went on without names would write a day of documents lacking `project_name`, `user_email` and
`api_key_name` (only the settlement window is ever read again). Later refreshes are not: one
thread refreshes while the others keep using the names they had.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from poller.client.api import AdminClient
from poller.client.directory import Project
from poller.errors import PollerError

__all__ = ["DirectoryCache"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Snapshot:
    projects: tuple[Project, ...] = ()
    project_names: dict[str, str] = field(default_factory=dict)
    user_emails: dict[str, str] = field(default_factory=dict)
    key_names: dict[str, str] = field(default_factory=dict)
    taken_at: float | None = None


class DirectoryCache:
    """Implements `poller.documents.model.Names` for one org. Thread-safe: jobs share it."""

    def __init__(
        self, client: AdminClient, *, ttl: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._client = client
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._first_load = threading.Lock()
        self._snapshot = _Snapshot()

    def project_name(self, project_id: str) -> str | None:
        return self._current().project_names.get(project_id)

    def user_email(self, user_id: str) -> str | None:
        return self._current().user_emails.get(user_id)

    def api_key_name(self, api_key_id: str) -> str | None:
        return self._current().key_names.get(api_key_id)

    def projects(self) -> tuple[Project, ...]:
        """Every project, archived ones included, as of the last refresh."""
        return self._current().projects

    def refresh(self) -> None:
        """List the directory now. Raises when the API fails, so a caller that needs it knows."""
        projects = tuple(self._client.list_projects(include_archived=True))
        users = {u.id: u.email for u in self._client.list_users() if u.email}
        keys: dict[str, str] = {}
        for project in projects:
            for key in self._client.list_project_api_keys(project.id):
                if key.name:
                    keys[key.id] = key.name
        snapshot = _Snapshot(
            projects=projects,
            project_names={p.id: p.name for p in projects if p.name},
            user_emails=users,
            key_names=keys,
            taken_at=self._clock(),
        )
        with self._lock:
            self._snapshot = snapshot
        log.info("directory refreshed: %d projects, %d users, %d api keys",
                 len(projects), len(users), len(keys))

    def _current(self) -> _Snapshot:
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
