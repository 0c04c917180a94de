"""An admin client's collection calls, answered from scripted pages and recorded; and names."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from poller.client import RawUsagePage
from poller.client.api import AdminClient
from poller.client.audit import AuditLogPage
from poller.client.directory import Project, ProjectRateLimit, ProjectRateLimitPage
from poller.directory import DirectorySnapshot
from poller.documents import MappingContext
from poller.sources import OrgAccess
from poller.streams import BucketWidth


def usage_page(*buckets: tuple[int, int, int], project: str | None = "p1") -> RawUsagePage:
    """A completions page of `(start, end, results)` buckets; each result is one request of
    `project` (None: ungrouped)."""
    result = {"object": "organization.usage.completions.result", "input_tokens": 2,
              "output_tokens": 1, "num_model_requests": 1, "project_id": project}
    data = [
        {"object": "bucket", "start_time": start, "end_time": end, "results": [result] * results}
        for start, end, results in buckets
    ]
    return RawUsagePage.from_data({"object": "page", "data": data, "has_more": False})


def audit_page(*events: tuple[str, int]) -> AuditLogPage:
    """A page of `(id, effective_at)` events."""
    data = [{"id": i, "type": "project.created", "effective_at": t} for i, t in events]
    return AuditLogPage.model_validate({"object": "list", "data": data, "has_more": False})


@dataclass
class FakeClient:
    """Each usage or audit call takes the next list of pages of `usage`/`audit`, and records
    its arguments in `calls`."""

    usage: list[list[RawUsagePage]] = field(default_factory=list)
    audit: list[list[AuditLogPage]] = field(default_factory=list)
    projects: list[Project] = field(default_factory=list)
    rate_limits: dict[str, list[ProjectRateLimit]] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def usage_pages(self, stream: str, **params: Any) -> Iterator[RawUsagePage]:
        self.calls.append((stream, params))
        return iter(self.usage.pop(0) if self.usage else [])

    def audit_log_pages(self, **params: Any) -> Iterator[AuditLogPage]:
        self.calls.append(("audit", params))
        return iter(self.audit.pop(0) if self.audit else [])

    def list_projects(self, *, include_archived: bool) -> Iterator[Project]:
        self.calls.append(("projects", {"include_archived": include_archived}))
        return iter(self.projects)

    def project_rate_limit_pages(self, project_id: str) -> Iterator[ProjectRateLimitPage]:
        self.calls.append(("rate_limits", {"project_id": project_id}))
        limits = self.rate_limits.get(project_id, [])
        return iter([ProjectRateLimitPage(data=limits, has_more=False)] if limits else [])

    def segments(self) -> list[tuple[int, int, BucketWidth]]:
        """The `(start_time, end_time, bucket_width)` of each usage call."""
        return [(p["start_time"], p["end_time"], p["bucket_width"])
                for s, p in self.calls if s not in ("audit", "projects", "rate_limits")]


@dataclass
class FakeNames:
    """The names cache: counts its snapshots; project p1 is "Alpha"."""

    snapshots: int = 0
    names: Sequence[tuple[str, str]] = (("p1", "Alpha"),)

    def snapshot(self) -> DirectorySnapshot:
        self.snapshots += 1
        return DirectorySnapshot(project_names=dict(self.names), taken_at=0.0)


def access(client: FakeClient, names: FakeNames | None = None) -> OrgAccess:
    context = MappingContext(organization_id="org-1", organization_name="acme")
    return OrgAccess("acme", cast(AdminClient, client), context, names or FakeNames())
