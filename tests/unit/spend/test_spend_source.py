"""The spend sources: one batch per slot holding the organization's and every active project's
limits or alerts, or no batch at all when a read fails part way."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from poller.client import AdminClient
from poller.client.retry import RetryPolicy
from poller.directory import DirectorySnapshot
from poller.documents import MappingContext
from poller.documents.spend import spend_doc_id
from poller.errors import ServerError
from poller.sources import OrgAccess, SpendSource
from poller.state import StreamState
from poller.streams import StreamName

SLOT = 1_767_254_400
PROJECTS = [
    {"id": "proj_a", "name": "Alpha", "status": "active"},
    {"id": "proj_b", "name": "Beta", "status": "active"},
]


def limit(cents: int) -> dict[str, object]:
    return {"threshold_amount": cents, "enforcement": {"status": "inactive"}}


class NoNames:
    def snapshot(self) -> DirectorySnapshot:
        raise AssertionError("spend documents carry no directory names")


@pytest.fixture
def broken() -> set[str]:
    return set()


@pytest.fixture
def access(broken: set[str]) -> Iterator[OrgAccess]:
    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/v1/organization")
        assert request.url.params.get("include_archived") in (None, "false")
        if path in broken:
            return httpx.Response(503, json={"error": {"message": "down"}})
        if path == "/projects":
            return httpx.Response(200, json={"data": PROJECTS, "has_more": False})
        limits = {"/spend_limit": 90_000, "/projects/proj_b/spend_limit": 12_345}
        if path in limits:
            return httpx.Response(200, json=limit(limits[path]))
        if path.endswith("/spend_alerts"):
            alerts = (
                [] if "proj_a" in path else [{"id": f"alert{len(path)}", "threshold_amount": 7}]
            )
            return httpx.Response(200, json={"data": alerts, "has_more": False})
        return httpx.Response(404, json={"error": {"message": "no limit"}})

    transport = httpx.MockTransport(answer)
    once = RetryPolicy(max_attempts=1)
    with AdminClient(admin_key="sk-admin-t", retry=once, transport=transport) as client:
        yield OrgAccess("acme", client, MappingContext("org-1"), NoNames())


def source(access: OrgAccess, stream: StreamName) -> SpendSource:
    return SpendSource(access, stream, SLOT)


def test_limits_of_the_organization_and_of_projects_that_have_one(access: OrgAccess) -> None:
    (batch,) = source(access, StreamName.SPEND_LIMITS).batches(StreamState())
    ids = [doc.doc_id for doc in batch.documents]
    assert ids == [
        spend_doc_id("org-1", "spend_limits", None, None, SLOT),
        spend_doc_id("org-1", "spend_limits", "proj_b", None, SLOT),  # proj_a: 404, no limit
    ]
    cents = [doc.source["openai"]["spend_limits"]["threshold"] for doc in batch.documents]
    assert cents == [{"cents": 90_000, "usd": 900.0}, {"cents": 12_345, "usd": 123.45}]
    assert batch.advance(StreamState()) == StreamState(last_slot=SLOT)
    assert batch.rejected == []


def test_alerts_of_every_owner(access: OrgAccess) -> None:
    (batch,) = source(access, StreamName.SPEND_ALERTS).batches(StreamState())
    owners = [doc.source["openai"]["spend_alerts"].get("project_id") for doc in batch.documents]
    assert owners == [None, "proj_b"]


@pytest.mark.parametrize("path", ["/projects/proj_b/spend_limit", "/projects"])
def test_a_failure_part_way_writes_nothing(access: OrgAccess, broken: set[str], path: str) -> None:
    broken.add(path)
    batches = source(access, StreamName.SPEND_LIMITS).batches(StreamState())
    with pytest.raises(ServerError):
        next(batches)


def test_only_spend_streams() -> None:
    with pytest.raises(ValueError, match="rate_limits is not a spend-control stream"):
        SpendSource(None, StreamName.RATE_LIMITS, SLOT)  # type: ignore[arg-type]
