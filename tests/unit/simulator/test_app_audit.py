"""Audit logs: filters, newest-first order, `after`/`before` paging, tenant scoping, limits."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fake_org import T0, FakeClock, FakeOrganization, error_of

PATH = "/organization/audit_logs"


def audit(sim_client: httpx.Client, params: Any = None) -> dict[str, Any]:
    response = sim_client.get(PATH, params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def ids(body: dict[str, Any]) -> list[str]:
    return [event["id"] for event in body["data"]]


def expected(sim_org: FakeOrganization, keep: Any = lambda e: True) -> list[str]:
    """Ids of the non-tenant events `keep` accepts, newest first."""
    return [e["id"] for e in sim_org.events if not e["type"].startswith("tenant.") and keep(e)]


def test_default_page_is_twenty_newest_first_without_tenant_events(
    sim_client: httpx.Client, sim_org: FakeOrganization
) -> None:
    body = audit(sim_client)
    assert ids(body) == expected(sim_org)[:20]
    assert body["object"] == "list"
    assert (body["first_id"], body["last_id"]) == (ids(body)[0], ids(body)[-1])
    assert body["has_more"] is True
    stamps = [(e["effective_at"], e["id"]) for e in body["data"]]
    assert stamps == sorted(stamps, reverse=True)


@pytest.mark.parametrize("limit", [1, 2, 7, 100])
def test_after_walks_to_older_events_without_losses_or_repeats(
    sim_client: httpx.Client, sim_org: FakeOrganization, limit: int
) -> None:
    seen: list[str] = []
    body = audit(sim_client, {"limit": limit})
    while True:
        seen.extend(ids(body))
        if not body["has_more"]:
            break
        body = audit(sim_client, {"limit": limit, "after": body["last_id"]})
    assert seen == expected(sim_org)


def test_before_returns_the_newer_page(sim_client: httpx.Client, sim_org: FakeOrganization) -> None:
    first = audit(sim_client, {"limit": 5})
    second = audit(sim_client, {"limit": 5, "after": first["last_id"]})
    back = audit(sim_client, {"limit": 5, "before": second["first_id"]})
    assert ids(back) == ids(first)
    assert back["has_more"] is False
    partial = audit(sim_client, {"limit": 5, "before": ids(second)[2]})
    assert ids(partial) == (ids(first) + ids(second))[2:7]
    assert partial["has_more"] is True


def test_effective_at_bounds(sim_client: httpx.Client, sim_org: FakeOrganization) -> None:
    lo, hi = T0 + 3 * 600, T0 + 6 * 600
    cases = {
        "gte": lambda e: e["effective_at"] >= lo,
        "gt": lambda e: e["effective_at"] > lo,
    }
    for bound, keep in cases.items():
        body = audit(sim_client, {f"effective_at[{bound}]": lo, "limit": 100})
        assert ids(body) == expected(sim_org, keep)
    body = audit(sim_client, {"effective_at[gt]": lo, "effective_at[lte]": hi, "limit": 100})
    assert ids(body) == expected(sim_org, lambda e: lo < e["effective_at"] <= hi)
    body = audit(sim_client, {"effective_at[gte]": lo, "effective_at[lt]": hi, "limit": 100})
    assert ids(body) == expected(sim_org, lambda e: lo <= e["effective_at"] < hi)
    body = audit(sim_client, {"effective_at[gte]": hi, "effective_at[lt]": lo})
    assert body == {
        "object": "list",
        "data": [],
        "first_id": None,
        "last_id": None,
        "has_more": False,
    }


def test_no_event_after_now(
    sim_client: httpx.Client, sim_clock: FakeClock, sim_org: FakeOrganization
) -> None:
    sim_clock.now = T0 + 4 * 600
    assert ids(audit(sim_client, {"limit": 100})) == expected(
        sim_org, lambda e: e["effective_at"] <= sim_clock.now
    )


@pytest.mark.parametrize(
    ("params", "keep"),
    [
        (
            {"event_types[]": ["project.created", "user.added"]},
            lambda e: e["type"] in ("project.created", "user.added"),
        ),
        ({"event_types": "api_key.created"}, lambda e: e["type"] == "api_key.created"),
        ({"project_ids[]": "proj_b"}, lambda e: e["project"]["id"] == "proj_b"),
        (
            {"resource_ids[]": ["res_1", "res_2"]},
            lambda e: e[e["type"]]["id"] in ("res_1", "res_2"),
        ),
        ({"actor_ids[]": "svc_a"}, lambda e: e["actor"]["type"] == "api_key"),
        ({"actor_ids[]": "key_a"}, lambda e: e["actor"]["type"] == "api_key"),
        (
            {"actor_ids[]": "user_b"},
            lambda e: (
                e["actor"]["type"] == "session" and e["actor"]["session"]["user"]["id"] == "user_b"
            ),
        ),
        (
            {"actor_emails[]": "B@example.com"},
            lambda e: (
                e["actor"]["type"] == "session" and e["actor"]["session"]["user"]["id"] == "user_b"
            ),
        ),
        (
            {"actor_ids[]": "user_a", "project_ids[]": "proj_a"},
            lambda e: (
                e["project"]["id"] == "proj_a"
                and e["actor"].get("session", {}).get("user", {}).get("id") == "user_a"
            ),
        ),
    ],
)
def test_filters(
    sim_client: httpx.Client, sim_org: FakeOrganization, params: dict[str, Any], keep: Any
) -> None:
    wanted = expected(sim_org, keep)
    assert wanted, "the case must select something"
    assert ids(audit(sim_client, {**params, "limit": 100})) == wanted


def test_tenant_only_lists_only_tenant_scoped_events(
    sim_client: httpx.Client, sim_org: FakeOrganization
) -> None:
    tenant = [e["id"] for e in sim_org.events if e["type"].startswith("tenant.")]
    assert ids(audit(sim_client, {"tenant_only": "true", "limit": 100})) == tenant
    assert (
        ids(audit(sim_client, {"tenant_only": "true", "event_types[]": "tenant.user.added"}))
        == tenant
    )
    assert ids(audit(sim_client, {"tenant_only": "false", "limit": 100})) == expected(sim_org)


def test_tenant_only_rejects_other_event_types(sim_client: httpx.Client) -> None:
    response = sim_client.get(
        PATH, params={"tenant_only": "true", "event_types[]": "project.created"}
    )
    assert response.status_code == 400
    assert error_of(response)["param"] == "event_types[]"


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"after": "audit_log-nope"}, "after"),
        ({"before": "audit_log-nope"}, "before"),
        ({"after": "audit_log-0001", "before": "audit_log-0002"}, "before"),
        ({"effective_at[gte]": "yesterday"}, "effective_at[gte]"),
        ({"tenant_only": "maybe"}, "tenant_only"),
    ],
)
def test_invalid_parameters_are_400(
    sim_client: httpx.Client, params: dict[str, Any], param: str
) -> None:
    response = sim_client.get(PATH, params=params)
    assert response.status_code == 400
    error = error_of(response)
    assert (error["param"], error["type"]) == (param, "invalid_request_error")


def test_an_after_cursor_filtered_out_still_places_the_page(
    sim_client: httpx.Client, sim_org: FakeOrganization
) -> None:
    cursor = next(e for e in sim_org.events if e["type"] == "user.added")
    body = audit(
        sim_client, {"event_types[]": "project.created", "after": cursor["id"], "limit": 100}
    )
    key = (cursor["effective_at"], cursor["id"])
    assert ids(body) == expected(
        sim_org, lambda e: e["type"] == "project.created" and (e["effective_at"], e["id"]) < key
    )
