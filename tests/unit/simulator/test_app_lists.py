"""Directory lists and retrieves: cursor paging, filters, archived projects, 404s."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fake_org import FakeOrganization, error_of

PROJECT_LISTS = ["users", "api_keys", "service_accounts", "rate_limits"]


def listing(sim_client: httpx.Client, path: str, params: Any = None) -> dict[str, Any]:
    response = sim_client.get(path, params=params)
    assert response.status_code == 200, response.text
    body = dict(response.json())
    assert body["object"] == "list"
    assert body["first_id"] == (body["data"][0]["id"] if body["data"] else None)
    assert body["last_id"] == (body["data"][-1]["id"] if body["data"] else None)
    return body


def ids(body: dict[str, Any]) -> list[str]:
    return [item["id"] for item in body["data"]]


def test_projects_hide_archived_ones_unless_asked(sim_client: httpx.Client) -> None:
    assert ids(listing(sim_client, "/organization/projects")) == ["proj_a", "proj_b"]
    for flag in ("true", "True"):
        everything = listing(sim_client, "/organization/projects", {"include_archived": flag})
        assert ids(everything) == ["proj_a", "proj_b", "proj_c"]
    assert ids(listing(sim_client, "/organization/projects", {"include_archived": "false"})) == [
        "proj_a",
        "proj_b",
    ]


def test_after_cursor_paging(sim_client: httpx.Client) -> None:
    params = {"include_archived": "true", "limit": 2}
    first = listing(sim_client, "/organization/projects", params)
    assert (ids(first), first["has_more"]) == (["proj_a", "proj_b"], True)
    second = listing(sim_client, "/organization/projects", {**params, "after": first["last_id"]})
    assert (ids(second), second["has_more"]) == (["proj_c"], False)


def test_users_filter_by_email_in_any_encoding(sim_client: httpx.Client) -> None:
    assert ids(listing(sim_client, "/organization/users")) == ["user_a", "user_b", "user_c"]
    for params in (
        {"emails[]": ["a@example.com", "C@example.com"]},
        {"emails": "a@example.com,c@example.com"},
        {"emails": ["a@example.com", "c@example.com"]},
    ):
        assert ids(listing(sim_client, "/organization/users", params)) == ["user_a", "user_c"]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/organization/projects/proj_a/users", ["user_a", "user_b"]),
        ("/organization/projects/proj_a/api_keys", ["key_a"]),
        ("/organization/projects/proj_a/service_accounts", ["svc_a"]),
        ("/organization/projects/proj_a/rate_limits", ["rl-gpt-4o", "rl-gpt-4o-mini"]),
        ("/organization/projects/proj_b/service_accounts", []),
        ("/organization/admin_api_keys", ["key_admin0", "key_admin1", "key_admin2"]),
    ],
)
def test_lists(sim_client: httpx.Client, path: str, expected: list[str]) -> None:
    body = listing(sim_client, path)
    assert (ids(body), body["has_more"]) == (expected, False)


def test_project_api_keys_by_owner_access(sim_client: httpx.Client) -> None:
    path = "/organization/projects/proj_a/api_keys"
    assert ids(listing(sim_client, path, {"owner_project_access": "any"})) == ["key_a", "key_b"]
    assert ids(listing(sim_client, path, {"owner_project_access": "inactive"})) == ["key_b"]
    assert ids(listing(sim_client, path, {"owner_project_access": "active"})) == ["key_a"]
    response = sim_client.get(path, params={"owner_project_access": "all"})
    assert (response.status_code, error_of(response)["param"]) == (400, "owner_project_access")


@pytest.mark.parametrize("kind", ["users", "service_accounts"])
def test_an_archived_projects_members_are_a_400(sim_client: httpx.Client, kind: str) -> None:
    response = sim_client.get(f"/organization/projects/proj_c/{kind}")
    assert response.status_code == 400
    error = error_of(response)
    assert (error["type"], error["param"]) == ("invalid_request_error", "project_id")
    assert "archived" in error["message"]


def test_an_archived_projects_keys_and_limits_still_list(sim_client: httpx.Client) -> None:
    assert listing(sim_client, "/organization/projects/proj_c/api_keys")["data"] == []
    assert listing(sim_client, "/organization/projects/proj_c/rate_limits")["data"] == []


@pytest.mark.parametrize("kind", PROJECT_LISTS)
def test_an_unknown_projects_lists_are_a_404(sim_client: httpx.Client, kind: str) -> None:
    response = sim_client.get(f"/organization/projects/proj_zzz/{kind}")
    assert response.status_code == 404
    assert "proj_zzz" in error_of(response)["message"]


def test_rate_limits_default_to_a_hundred_and_page_both_ways(sim_client: httpx.Client) -> None:
    path = "/organization/projects/proj_a/rate_limits"
    first = listing(sim_client, path, {"limit": 1})
    assert (ids(first), first["has_more"]) == (["rl-gpt-4o"], True)
    second = listing(sim_client, path, {"limit": 1, "after": "rl-gpt-4o"})
    assert (ids(second), second["has_more"]) == (["rl-gpt-4o-mini"], False)
    back = listing(sim_client, path, {"limit": 1, "before": "rl-gpt-4o-mini"})
    assert (ids(back), back["has_more"]) == (["rl-gpt-4o"], False)
    assert len(listing(sim_client, path, {"limit": 100})["data"]) == 2


def test_admin_keys_in_either_order(sim_client: httpx.Client) -> None:
    path = "/organization/admin_api_keys"
    desc = listing(sim_client, path, {"order": "desc", "limit": 2})
    assert (ids(desc), desc["has_more"]) == (["key_admin2", "key_admin1"], True)
    rest = listing(sim_client, path, {"order": "desc", "limit": 2, "after": "key_admin1"})
    assert (ids(rest), rest["has_more"]) == (["key_admin0"], False)
    asc = listing(sim_client, path, {"order": "asc", "after": "key_admin0"})
    assert ids(asc) == ["key_admin1", "key_admin2"]
    response = sim_client.get(path, params={"order": "newest"})
    assert (response.status_code, error_of(response)["param"]) == (400, "order")


@pytest.mark.parametrize(
    "path",
    [
        "/organization/projects",
        "/organization/users",
        "/organization/projects/proj_a/users",
        "/organization/projects/proj_a/api_keys",
        "/organization/projects/proj_a/service_accounts",
        "/organization/projects/proj_a/rate_limits",
        "/organization/admin_api_keys",
    ],
)
@pytest.mark.parametrize(
    ("params", "param"),
    [({"limit": 0}, "limit"), ({"limit": 101}, "limit"), ({"after": "nope"}, "after")],
)
def test_list_parameter_rules(
    sim_client: httpx.Client, path: str, params: dict[str, Any], param: str
) -> None:
    response = sim_client.get(path, params=params)
    assert response.status_code == 400
    assert error_of(response)["param"] == param


@pytest.mark.parametrize(
    ("path", "expected_object"),
    [
        ("/organization/projects/proj_c", "organization.project"),
        ("/organization/users/user_b", "organization.user"),
        ("/organization/projects/proj_a/users/user_b", "organization.project.user"),
        ("/organization/projects/proj_a/api_keys/key_b", "organization.project.api_key"),
        (
            "/organization/projects/proj_a/service_accounts/svc_a",
            "organization.project.service_account",
        ),
        ("/organization/admin_api_keys/key_admin1", "organization.admin_api_key"),
    ],
)
def test_retrieve(
    sim_client: httpx.Client, sim_org: FakeOrganization, path: str, expected_object: str
) -> None:
    response = sim_client.get(path)
    assert response.status_code == 200
    body = response.json()
    assert (body["object"], body["id"]) == (expected_object, path.rsplit("/", 1)[1])


@pytest.mark.parametrize(
    "path",
    [
        "/organization/projects/proj_zzz",
        "/organization/users/user_zzz",
        "/organization/projects/proj_b/users/user_b",
        "/organization/projects/proj_zzz/users/user_a",
        "/organization/projects/proj_b/api_keys/key_a",
        "/organization/projects/proj_b/service_accounts/svc_a",
        "/organization/admin_api_keys/key_zzz",
    ],
)
def test_retrieving_an_unknown_id_is_a_404(sim_client: httpx.Client, path: str) -> None:
    response = sim_client.get(path)
    assert response.status_code == 404
    error = error_of(response)
    assert error["type"] == "invalid_request_error"
    assert path.rsplit("/", 1)[1] in error["message"] or "proj_zzz" in error["message"]
