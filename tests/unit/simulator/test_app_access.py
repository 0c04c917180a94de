"""Roles, groups, role assignments, project groups and invites: `next` paging, lookups, 404s."""

from __future__ import annotations

import math
from typing import Any

import httpx
import pytest
from fake_controls import GROUP_IDS
from fake_org import error_of

USER_A = {"id": "user_a", "name": "User A", "email": "a@example.com"}
ROLE_IDS = ["role_owner", "role_reader", "role_c1", "role_c2", "role_c3"]


def page(sim_client: httpx.Client, path: str, params: Any = None) -> dict[str, Any]:
    response = sim_client.get(path, params=params)
    assert response.status_code == 200, response.text
    body = dict(response.json())
    assert set(body) == {"object", "data", "has_more", "next"}
    assert body["object"] == "list"
    return body


def walk(sim_client: httpx.Client, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every page, following `next` until it is null."""
    pages = [page(sim_client, path, params)]
    while pages[-1]["next"] is not None:
        pages.append(page(sim_client, path, {**params, "after": pages[-1]["next"]}))
    return pages


@pytest.mark.parametrize("limit", range(1, 7))
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_a_next_walk_returns_every_group_exactly_once(
    sim_client: httpx.Client, limit: int, order: str
) -> None:
    pages = walk(sim_client, "/organization/groups", {"limit": limit, "order": order})
    seen = [group["id"] for body in pages for group in body["data"]]
    assert seen == (GROUP_IDS if order == "asc" else GROUP_IDS[::-1])
    assert len(pages) == math.ceil(len(GROUP_IDS) / limit)
    assert [body["has_more"] for body in pages] == [True] * (len(pages) - 1) + [False]
    for body in pages[:-1]:
        assert body["next"] == body["data"][-1]["id"]


def test_groups_default_to_a_hundred_ascending(sim_client: httpx.Client) -> None:
    body = page(sim_client, "/organization/groups")
    assert ([g["id"] for g in body["data"]], body["has_more"], body["next"]) == (
        GROUP_IDS,
        False,
        None,
    )
    assert body["data"][0] == {
        "id": "group_1",
        "name": "Group 1",
        "created_at": 1_704_153_600,
        "is_scim_managed": False,
        "group_type": "group",
    }


def test_a_zero_limit_answers_what_remains_without_moving(sim_client: httpx.Client) -> None:
    body = page(sim_client, "/organization/groups", {"limit": 0})
    assert (body["data"], body["has_more"], body["next"]) == ([], True, None)
    body = page(sim_client, "/organization/groups", {"limit": 0, "after": "group_2"})
    assert (body["data"], body["has_more"], body["next"]) == ([], True, "group_2")
    body = page(sim_client, "/organization/groups", {"limit": 0, "after": "group_5"})
    assert (body["data"], body["has_more"], body["next"]) == ([], False, None)


@pytest.mark.parametrize(
    ("path", "limit", "code"),
    [
        ("/organization/groups", 1001, "integer_above_max_value"),
        ("/organization/groups", -1, "integer_below_min_value"),
        ("/organization/roles", 1001, "integer_above_max_value"),
        ("/organization/groups/group_1/users", 1001, "integer_above_max_value"),
        ("/organization/users/user_b/roles", 1001, "integer_above_max_value"),
        ("/organization/projects/proj_a/groups", 101, "integer_above_max_value"),
        ("/organization/invites", 0, "integer_below_min_value"),
        ("/organization/invites", 101, "integer_above_max_value"),
    ],
)
def test_limits_outside_the_spec_s_range_are_a_400(
    sim_client: httpx.Client, path: str, limit: int, code: str
) -> None:
    response = sim_client.get(path, params={"limit": limit})
    assert response.status_code == 400
    assert (error_of(response)["param"], error_of(response)["code"]) == ("limit", code)


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/organization/groups", {"after": "group_9"}),
        ("/organization/roles", {"after": "role_x"}),
        ("/organization/projects/proj_a/groups", {"after": "group_3"}),
        ("/organization/groups", {"order": "newest"}),
    ],
)
def test_unknown_cursors_and_orders_are_a_400(
    sim_client: httpx.Client, path: str, params: dict[str, str]
) -> None:
    response = sim_client.get(path, params=params)
    assert response.status_code == 400
    assert error_of(response)["param"] == next(iter(params))


def test_roles_list_all_thousand_by_default_and_page_by_next(sim_client: httpx.Client) -> None:
    body = page(sim_client, "/organization/roles")
    assert [role["id"] for role in body["data"]] == ROLE_IDS
    assert [role["predefined_role"] for role in body["data"]] == [True, True, False, False, False]
    pages = walk(sim_client, "/organization/roles", {"limit": 2})
    assert [[role["id"] for role in p["data"]] for p in pages] == [
        ROLE_IDS[:2],
        ROLE_IDS[2:4],
        ROLE_IDS[4:],
    ]
    role = sim_client.get("/organization/roles/role_c2").json()
    assert (role["object"], role["name"]) == ("role", "Custom 2")


def test_group_users_list_short_and_newest_first(sim_client: httpx.Client) -> None:
    body = page(sim_client, "/organization/groups/group_1/users")
    assert [user["id"] for user in body["data"]] == ["user_c", "user_b", "user_a"]
    assert body["data"][-1] == USER_A
    body = page(sim_client, "/organization/groups/group_1/users", {"order": "asc", "limit": 2})
    assert ([u["id"] for u in body["data"]], body["next"]) == (["user_a", "user_b"], "user_b")
    assert page(sim_client, "/organization/groups/group_2/users")["data"] == []
    member = sim_client.get("/organization/groups/group_1/users/user_a").json()
    assert member == {
        **USER_A,
        "picture": None,
        "is_service_account": False,
        "user_type": "user",
    }


def test_role_assignments_of_groups_and_users(sim_client: httpx.Client) -> None:
    group_roles = page(sim_client, "/organization/groups/group_1/roles")["data"]
    assert [(r["id"], r["assignment_sources"]) for r in group_roles] == [("role_c1", None)]
    user_roles = page(sim_client, "/organization/users/user_b/roles")["data"]
    assert [(r["id"], r["assignment_sources"]) for r in user_roles] == [
        ("role_reader", None),
        ("role_c1", [{"principal_id": "group_1", "principal_type": "group"}]),
    ]
    assert page(sim_client, "/organization/users/user_c/roles")["data"] == []
    assigned = sim_client.get("/organization/users/user_b/roles/role_c1").json()
    assert assigned == user_roles[1]
    assert sim_client.get("/organization/groups/group_1/roles/role_c1").json() == group_roles[0]


def test_project_groups_page_by_group_id(sim_client: httpx.Client) -> None:
    path = "/organization/projects/proj_a/groups"
    first = page(sim_client, path, {"limit": 1})
    assert ([g["group_id"] for g in first["data"]], first["next"]) == (["group_1"], "group_1")
    second = page(sim_client, path, {"limit": 1, "after": first["next"]})
    assert ([g["group_id"] for g in second["data"]], second["next"]) == (["group_2"], None)
    assert page(sim_client, "/organization/projects/proj_b/groups")["data"] == []
    group = sim_client.get(f"{path}/group_2").json()
    assert group == {
        "object": "project.group",
        "project_id": "proj_a",
        "group_id": "group_2",
        "group_name": "Group 2",
        "group_type": "group",
        "created_at": 1_704_240_000,
    }
    tenant = sim_client.get(f"{path}/group_2", params={"group_type": "tenant_group"})
    assert tenant.status_code == 404
    wrong = sim_client.get(f"{path}/group_2", params={"group_type": "team"})
    assert (wrong.status_code, error_of(wrong)["param"]) == (400, "group_type")


def test_invites_page_by_after_oldest_first(sim_client: httpx.Client) -> None:
    body = sim_client.get("/organization/invites", params={"limit": 2}).json()
    assert ([i["id"] for i in body["data"]], body["has_more"]) == (["invite-1", "invite-2"], True)
    assert (body["first_id"], body["last_id"]) == ("invite-1", "invite-2")
    rest = sim_client.get("/organization/invites", params={"after": "invite-2"}).json()
    assert ([i["id"] for i in rest["data"]], rest["has_more"]) == (["invite-3"], False)
    invite = sim_client.get("/organization/invites/invite-3").json()
    assert (invite["status"], invite["accepted_at"]) == ("pending", None)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/organization/roles/role_x", "No role found with id 'role_x'."),
        ("/organization/groups/group_9", "No group found with id 'group_9'."),
        ("/organization/groups/group_9/users", "No group found with id 'group_9'."),
        ("/organization/groups/group_9/roles", "No group found with id 'group_9'."),
        ("/organization/groups/group_1/users/user_x", "No user in this group found with id"),
        ("/organization/groups/group_2/users/user_a", "No user in this group found with id"),
        ("/organization/groups/group_1/roles/role_c2", "No role assigned to this group found"),
        ("/organization/users/user_x/roles", "No user found with id 'user_x'."),
        ("/organization/users/user_a/roles/role_c1", "No role assigned to this user found"),
        ("/organization/projects/proj_x/groups", "No project found with id 'proj_x'."),
        ("/organization/projects/proj_a/groups/group_3", "No group found with id 'group_3' in"),
        ("/organization/invites/invite-9", "No invite found with id 'invite-9'."),
    ],
)
def test_unknown_ids_are_a_404(sim_client: httpx.Client, path: str, message: str) -> None:
    response = sim_client.get(path)
    assert response.status_code == 404
    assert error_of(response)["message"].startswith(message)
