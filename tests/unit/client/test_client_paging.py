"""Paging: one page per step, usage by `next_page`, lists by `after`, retries per request."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from client_fakes import MakeClient, Script, fail, fixture, list_page, ok, usage_page

from poller.client import AdminApiKey, Project, ProjectApiKey, ProjectRateLimit


def test_usage_follows_next_page_one_page_at_a_time(make_client: MakeClient) -> None:
    script = Script(
        [
            ok(usage_page("c2", start=0)),
            ok(usage_page("c3", start=86400)),
            ok(usage_page(None, start=172800)),
        ]
    )
    pages = make_client(script).usage_pages("embeddings", start_time=0)
    assert script.requests == []  # nothing is fetched before the caller asks
    first = next(pages)
    assert (len(script.requests), first.next_page) == (1, "c2")
    rest = list(pages)
    assert [p.take().data[0].start_time for p in [first, *rest]] == [0, 86400, 172800]
    assert [q.rpartition("&")[2] for q in script.queries] == [
        "bucket_width=1d",
        "page=c2",
        "page=c3",
    ]


def test_usage_stops_when_has_more_comes_without_a_cursor(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    broken = {**usage_page(None), "has_more": True}
    script = Script([ok(broken), ok(usage_page(None))])
    assert len(list(make_client(script).usage_pages("images", start_time=0))) == 1
    assert len(script.requests) == 1
    assert "has_more without next_page" in caplog.text


def test_a_retry_refetches_only_the_failed_page(make_client: MakeClient) -> None:
    script = Script([ok(usage_page("c2")), fail(503), ok(usage_page(None))])
    pages = list(make_client(script).usage_pages("moderations", start_time=0))
    assert len(pages) == 2
    assert [q.endswith("page=c2") for q in script.queries] == [False, True, True]


def test_lists_follow_after_last_id(make_client: MakeClient) -> None:
    script = Script(
        [
            ok(list_page(["p1", "p2"], has_more=True)),
            ok(list_page(["p3"], has_more=True, last_id="p3")),
            ok(list_page(["p4"], has_more=False)),
        ]
    )
    projects = list(make_client(script).list_projects())
    assert [p.id for p in projects] == ["p1", "p2", "p3", "p4"]
    assert all(isinstance(p, Project) for p in projects)
    assert script.queries == [
        "include_archived=true&limit=100",
        "include_archived=true&limit=100&after=p2",
        "include_archived=true&limit=100&after=p3",
    ]


def test_lists_stop_when_last_id_is_empty(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    script = Script([ok(list_page(["p1"], has_more=True, last_id=None))])
    assert [p.id for p in make_client(script).list_projects()] == ["p1"]
    assert len(script.requests) == 1
    assert "has_more without a cursor" in caplog.text


def test_admin_keys_page_after_the_last_item_id(make_client: MakeClient) -> None:
    def keys(ids: list[str], has_more: bool) -> dict[str, Any]:
        data = [{"id": i, "object": "organization.admin_api_key"} for i in ids]
        return {
            "object": "list",
            "data": data,
            "first_id": "ignored",
            "last_id": "ignored",
            "has_more": has_more,
        }

    script = Script([ok(keys(["k1", "k2"], True)), ok(keys(["k3"], False))])
    found = list(make_client(script).list_admin_api_keys())
    assert [k.id for k in found] == ["k1", "k2", "k3"]
    assert all(isinstance(k, AdminApiKey) for k in found)
    assert script.queries == ["order=asc", "order=asc&after=k2"]


def test_audit_pages_follow_after_last_id(make_client: MakeClient) -> None:
    empty: dict[str, object] = {"object": "list", "data": [], "has_more": False}
    script = Script([ok(fixture("audit_logs")), ok(empty)])
    pages = make_client(script).audit_log_pages(effective_at={"gte": 1})
    first = next(pages)
    assert [e.type for e in first.data] == ["project.archived", "api_key.updated"]
    assert len(script.requests) == 1
    assert [p.data for p in pages] == [[]]
    assert script.queries[1].endswith("&limit=100&after=audit_log_yyy__20240101")


@pytest.mark.parametrize(
    ("call", "path", "recorded", "model_id"),
    [
        (
            lambda c: c.get_project("proj_abc"),
            "/organization/projects/proj_abc",
            "project",
            "proj_abc",
        ),
        (lambda c: c.get_user("user_abc"), "/organization/users/user_abc", "user", "user_abc"),
        (
            lambda c: c.get_project_user("proj_abc", "user_abc"),
            "/organization/projects/proj_abc/users/user_abc",
            "project_user",
            "user_abc",
        ),
        (
            lambda c: c.get_project_api_key("proj_abc", "key_abc"),
            "/organization/projects/proj_abc/api_keys/key_abc",
            "project_api_key",
            "key_abc",
        ),
        (
            lambda c: c.get_project_service_account("proj_abc", "svc_acct_abc"),
            "/organization/projects/proj_abc/service_accounts/svc_acct_abc",
            "project_service_account",
            "svc_acct_abc",
        ),
        (
            lambda c: c.get_admin_api_key("key_abc"),
            "/organization/admin_api_keys/key_abc",
            "admin_api_key",
            "key_abc",
        ),
    ],
)
def test_retrieve_endpoints(
    make_client: MakeClient, call: Any, path: str, recorded: str, model_id: str
) -> None:
    script = Script([ok(fixture(recorded))])
    assert call(make_client(script)).id == model_id
    assert script.paths == [f"/v1{path}"]


@pytest.mark.parametrize(
    ("call", "recorded", "model"),
    [
        (lambda c: c.list_users(), "users", None),
        (lambda c: c.list_project_users("proj_abc"), "project_users", None),
        (lambda c: c.list_project_api_keys("proj_abc"), "project_api_keys", ProjectApiKey),
        (lambda c: c.list_project_service_accounts("proj_abc"), "project_service_accounts", None),
        (lambda c: c.list_project_rate_limits("proj_abc"), "project_rate_limits", ProjectRateLimit),
        (lambda c: c.list_admin_api_keys(), "admin_api_keys", AdminApiKey),
    ],
)
def test_list_endpoints_parse_their_recorded_pages(
    make_client: MakeClient, call: Any, recorded: str, model: type | None
) -> None:
    body = fixture(recorded)
    items = list(call(make_client(Script([ok(body)]))))
    assert [item.api_dict() for item in items] == body["data"]
    if model is not None:
        assert all(isinstance(item, model) for item in items)


def test_rate_limit_snapshot_fields(make_client: MakeClient) -> None:
    (limit,) = make_client(Script([ok(fixture("project_rate_limits"))])).list_project_rate_limits(
        "proj_abc"
    )
    assert (
        limit.model,
        limit.max_requests_per_1_minute,
        limit.max_images_per_1_minute,
        limit.max_requests_per_1_day,
    ) == ("ada", 600, 10, None)


def test_no_warning_for_a_normal_walk(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="poller")
    list(make_client(Script([ok(fixture("projects"))])).list_projects())
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
