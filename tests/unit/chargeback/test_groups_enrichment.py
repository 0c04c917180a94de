"""Groups for chargeback: the client follows `next`, the cache reads groups once per refresh,
and usage documents with a user carry ECS `user.group.*`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import httpx
import pytest

from poller.client import AdminClient, UsageBucket
from poller.client.directory import Project, User
from poller.client.groups import list_group_users, list_groups
from poller.directory import DirectoryCache, DirectorySnapshot
from poller.documents import MappingContext, map_usage_result
from poller.documents.fields import stream_fields
from poller.documents.model import GroupRef
from poller.errors import ServerError
from poller.streams import BucketWidth

GROUPS = [{"id": f"group_{i}", "name": f"Team {i}", "created_at": i, "is_scim_managed": False,
           "group_type": "group"} for i in range(3)]
MEMBERS = {"group_0": ["user_a", "user_b"], "group_1": ["user_b"], "group_2": []}


def _page(items: list[dict[str, Any]], after: str | None, size: int) -> dict[str, Any]:
    start = 0 if after is None else [i["id"] for i in items].index(after) + 1
    chunk = items[start : start + size]
    more = start + size < len(items)
    return {"object": "list", "data": chunk, "has_more": more,
            "next": chunk[-1]["id"] if more else None}


@pytest.fixture
def requests() -> list[httpx.Request]:
    return []


@pytest.fixture
def client(requests: list[httpx.Request]) -> Iterator[AdminClient]:
    """Serves two items a page, whatever `limit` asks, so every list pages by `next`."""

    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        path, after = request.url.path, request.url.params.get("after")
        if path == "/v1/organization/groups":
            return httpx.Response(200, json=_page(GROUPS, after, 2))
        group = path.removeprefix("/v1/organization/groups/").removesuffix("/users")
        users = [{"id": u, "name": u, "email": f"{u}@x.example"} for u in MEMBERS[group]]
        return httpx.Response(200, json=_page(users, after, 1))

    with AdminClient(admin_key="sk-admin-test", base_url="https://api.test/v1",
                     transport=httpx.MockTransport(answer)) as admin:
        yield admin


def test_groups_and_members_follow_the_next_cursor(
    client: AdminClient, requests: list[httpx.Request]
) -> None:
    assert [g.id for g in list_groups(client)] == ["group_0", "group_1", "group_2"]
    assert [str(r.url.params.get("after")) for r in requests] == ["None", "group_1"]
    assert {r.url.params["limit"] for r in requests} == {"1000"}
    assert [u.id for u in list_group_users(client, "group_0")] == ["user_a", "user_b"]
    assert [u.id for u in list_group_users(client, "group_2")] == []


class _Directory:
    """The directory calls of an admin client, groups through the real `_list_pages`."""

    def __init__(self, client: AdminClient) -> None:
        self.real = client
        self.fail_groups = False

    def list_projects(self, include_archived: bool = True) -> list[Project]:
        return [Project(id="proj_1", name="Alpha")]

    def list_users(self) -> list[User]:
        return [User(id="user_a", email="a@x.example"), User(id="user_b", email="b@x.example")]

    def list_project_api_keys(self, project_id: str) -> list[Any]:
        return []

    def _list_pages(self, *args: Any, **kwargs: Any) -> Any:
        if self.fail_groups:
            raise ServerError("server error (HTTP 500)", method="GET", url="/organization/groups",
                              status=500, retry_after=None)
        return self.real._list_pages(*args, **kwargs)


class _Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_cache_reads_groups_once_per_refresh_and_keeps_them_when_listing_fails(
    client: AdminClient, requests: list[httpx.Request]
) -> None:
    fake, clock = _Directory(client), _Clock()
    cache = DirectoryCache(cast(AdminClient, fake), ttl=60, clock=clock)
    first = cache.snapshot()
    assert first.user_groups("user_b") == (GroupRef("group_0", "Team 0"),
                                           GroupRef("group_1", "Team 1"))
    assert first.user_groups("user_a") == (GroupRef("group_0", "Team 0"),)
    assert first.user_groups("user_nobody") == ()
    # 2 pages of groups, then each group's members one per page: 2 + 1 + 1 (empty group)
    assert len(requests) == 2 + 2 + 1 + 1
    cache.snapshot()
    cache.snapshot()
    assert len(requests) == 6  # no new listing within the ttl
    fake.fail_groups = True
    clock.now = 60
    later = cache.snapshot()
    assert later.taken_at == 60 and later.user_groups("user_b") == first.user_groups("user_b")
    assert later.user_email("user_a") == "a@x.example"


def _document(names: DirectorySnapshot, user_id: str | None) -> dict[str, Any]:
    bucket = UsageBucket.model_validate({
        "object": "bucket", "start_time": 86400, "end_time": 172800,
        "results": [{"object": "organization.usage.embeddings.result", "input_tokens": 5,
                     "num_model_requests": 1, "project_id": "proj_1", "user_id": user_id,
                     "api_key_id": None, "model": "text-embedding-3-small"}],
    })
    context = MappingContext("org-1", bucket_width=BucketWidth.DAY,
                             group_by=("project_id", "user_id"), names=names)
    doc = map_usage_result(context, "embeddings", 86400, 172800, bucket.results[0])
    return dict(doc.source)


def test_usage_documents_carry_every_group_of_their_user() -> None:
    groups = {"user_b": (GroupRef("group_0", "Team 0"), GroupRef("group_1", None))}
    names = DirectorySnapshot(groups_of_users=groups, taken_at=0.0)
    assert _document(names, "user_b")["user"] == {
        "group": {"id": ["group_0", "group_1"], "name": ["Team 0"]}
    }
    assert "user" not in _document(names, "user_a")  # in no group
    assert "user" not in _document(names, None)  # no user


def test_the_group_fields_are_mapped_where_a_stream_has_users() -> None:
    paths = {spec.path: spec.type for spec in stream_fields("completions")}
    assert paths["user.group.id"] == paths["user.group.name"] == "keyword"
    assert "user.group.id" not in {spec.path for spec in stream_fields("vector_stores")}
    assert "user.group.id" not in {spec.path for spec in stream_fields("costs")}
