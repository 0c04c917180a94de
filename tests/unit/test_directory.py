"""The names cache: the first load is waited for, later refreshes are not, failures keep names."""

from __future__ import annotations

import threading
from typing import Any, cast

import pytest

from poller.client.api import AdminClient
from poller.client.directory import Project, ProjectApiKey, User
from poller.directory import DirectoryCache
from poller.errors import ServerError


class FakeDirectory:
    """An admin client's directory calls; `gate` holds `list_projects` until it is set."""

    def __init__(self) -> None:
        self.project_name = "Alpha"
        self.calls = 0
        self.fail = False
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()

    def list_projects(self, include_archived: bool = False) -> list[Project]:
        self.calls += 1
        self.entered.set()
        assert self.gate.wait(10)
        if self.fail:
            raise ServerError(
                "server error (HTTP 500)", method="GET", url="/organization/projects", status=500,
                retry_after=None,
            )
        return [Project(id="proj_1", name=self.project_name)]

    def list_users(self) -> list[User]:
        return [User(id="user_1", email="ada@example.com")]

    def list_project_api_keys(self, project_id: str) -> list[ProjectApiKey]:
        return [ProjectApiKey(id="key_1", name="ci")]

    def _list_pages(self, endpoint: str, model: Any, **_: Any) -> Any:
        """The groups lists (`poller.client.groups`): this org has no groups."""
        return iter([model(data=[], has_more=False, next=None)])


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _cache(fake: FakeDirectory, clock: Clock, ttl: float = 60) -> DirectoryCache:
    return DirectoryCache(cast(AdminClient, fake), ttl=ttl, clock=clock)


def test_names_of_projects_users_and_keys() -> None:
    names = _cache(FakeDirectory(), Clock()).snapshot()
    assert names.project_name("proj_1") == "Alpha"
    assert names.user_email("user_1") == "ada@example.com"
    assert names.api_key_name("key_1") == "ci"
    assert names.project_name("proj_unknown") is None
    assert [p.id for p in names.projects] == ["proj_1"]
    assert names.taken_at == 1000.0


def test_a_snapshot_keeps_its_names_when_the_cache_refreshes() -> None:
    fake, clock = FakeDirectory(), Clock()
    cache = _cache(fake, clock, ttl=60)
    before = cache.snapshot()
    fake.project_name = "Alpha (renamed)"
    clock.now += 60
    after = cache.snapshot()
    assert (before.project_name("proj_1"), after.project_name("proj_1")) == (
        "Alpha", "Alpha (renamed)"
    )
    assert fake.calls == 2
    with pytest.raises(TypeError):
        before.project_names["proj_1"] = "changed"  # type: ignore[index]


def test_other_threads_wait_for_the_first_load_instead_of_going_on_without_names() -> None:
    fake, clock = FakeDirectory(), Clock()
    fake.gate.clear()
    cache = _cache(fake, clock)
    answers: dict[str, Any] = {}

    def lookup(who: str) -> None:
        answers[who] = cache.snapshot().project_name("proj_1")

    first = threading.Thread(target=lookup, args=("a",))
    first.start()
    assert fake.entered.wait(10)  # the first lookup is loading the directory
    second = threading.Thread(target=lookup, args=("b",))
    second.start()
    second.join(0.2)
    assert second.is_alive()  # waiting for the names, not answering None
    fake.gate.set()
    first.join(10)
    second.join(10)
    assert answers == {"a": "Alpha", "b": "Alpha"}
    assert fake.calls == 1


def test_a_stale_cache_is_refreshed_after_the_ttl() -> None:
    fake, clock = FakeDirectory(), Clock()
    cache = _cache(fake, clock, ttl=60)
    assert cache.snapshot().project_name("proj_1") == "Alpha"
    fake.project_name = "Alpha (renamed)"
    clock.now += 59
    assert cache.snapshot().project_name("proj_1") == "Alpha"
    clock.now += 1
    assert cache.snapshot().project_name("proj_1") == "Alpha (renamed)"
    assert fake.calls == 2


def test_a_failed_refresh_keeps_the_names_and_waits_a_ttl_before_trying_again() -> None:
    fake, clock = FakeDirectory(), Clock()
    cache = _cache(fake, clock, ttl=60)
    assert cache.snapshot().project_name("proj_1") == "Alpha"
    fake.fail = True
    clock.now += 60
    assert cache.snapshot().project_name("proj_1") == "Alpha"
    assert cache.snapshot().project_name("proj_1") == "Alpha"
    assert fake.calls == 2  # not once per lookup


def test_a_failed_first_load_answers_none_and_is_not_retried_at_every_lookup() -> None:
    fake, clock = FakeDirectory(), Clock()
    fake.fail = True
    cache = _cache(fake, clock, ttl=60)
    assert cache.snapshot().project_name("proj_1") is None
    assert cache.snapshot().user_email("user_1") is None
    assert fake.calls == 1
    fake.fail = False
    clock.now += 60
    assert cache.snapshot().project_name("proj_1") == "Alpha"
