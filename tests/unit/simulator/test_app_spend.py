"""Hard spend limits and spend alerts: exact objects, alert paging both ways, 404s."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fake_org import error_of

ORG_ALERTS = ["alert_o1", "alert_o2", "alert_o3"]


def alerts(sim_client: httpx.Client, path: str, params: Any = None) -> dict[str, Any]:
    response = sim_client.get(path, params=params)
    assert response.status_code == 200, response.text
    body = dict(response.json())
    ids = [alert["id"] for alert in body["data"]]
    assert (body["first_id"], body["last_id"]) == ((ids[0], ids[-1]) if ids else (None, None))
    body["ids"] = ids
    return body


def test_the_organization_limit(sim_client: httpx.Client) -> None:
    assert sim_client.get("/organization/spend_limit").json() == {
        "object": "organization.spend_limit",
        "threshold_amount": 100_000,
        "currency": "USD",
        "interval": "month",
        "enforcement": {"status": "inactive"},
    }


def test_a_project_limit_and_projects_without_one(sim_client: httpx.Client) -> None:
    limit = sim_client.get("/organization/projects/proj_a/spend_limit").json()
    assert (limit["object"], limit["threshold_amount"], limit["enforcement"]) == (
        "project.spend_limit",
        20_000,
        {"status": "enforcing"},
    )
    missing = sim_client.get("/organization/projects/proj_b/spend_limit")
    assert missing.status_code == 404
    assert error_of(missing)["message"] == "No spend limit is set for project 'proj_b'."
    unknown = sim_client.get("/organization/projects/proj_x/spend_limit")
    assert error_of(unknown)["message"] == "No project found with id 'proj_x'."


def test_alerts_page_both_ways_in_either_order(sim_client: httpx.Client) -> None:
    path = "/organization/spend_alerts"
    everything = alerts(sim_client, path)
    assert (everything["ids"], everything["has_more"]) == (ORG_ALERTS, False)
    assert everything["data"][0]["threshold_amount"] == 50_000
    first = alerts(sim_client, path, {"limit": 2})
    assert (first["ids"], first["has_more"]) == (ORG_ALERTS[:2], True)
    rest = alerts(sim_client, path, {"limit": 2, "after": first["last_id"]})
    assert (rest["ids"], rest["has_more"]) == (ORG_ALERTS[2:], False)
    before = alerts(sim_client, path, {"limit": 1, "before": "alert_o3"})
    assert (before["ids"], before["has_more"]) == (["alert_o2"], True)
    newest = alerts(sim_client, path, {"order": "desc", "limit": 2})
    assert newest["ids"] == ["alert_o3", "alert_o2"]


def test_a_zero_limit_says_whether_alerts_remain(sim_client: httpx.Client) -> None:
    path = "/organization/spend_alerts"
    for params, more in (({"limit": 0}, True), ({"limit": 0, "before": "alert_o1"}, False)):
        body = alerts(sim_client, path, params)
        assert (body["data"], body["has_more"]) == ([], more)


def test_alert_limit_is_at_most_a_hundred(sim_client: httpx.Client) -> None:
    response = sim_client.get("/organization/spend_alerts", params={"limit": 101})
    assert (response.status_code, error_of(response)["param"]) == (400, "limit")


def test_project_alerts(sim_client: httpx.Client) -> None:
    body = alerts(sim_client, "/organization/projects/proj_a/spend_alerts")
    assert body["ids"] == ["alert_a1", "alert_a2"]
    assert {alert["object"] for alert in body["data"]} == {"project.spend_alert"}
    assert alerts(sim_client, "/organization/projects/proj_b/spend_alerts")["ids"] == []
    alert = sim_client.get("/organization/projects/proj_a/spend_alerts/alert_a2").json()
    assert alert == body["data"][1]
    assert sim_client.get("/organization/spend_alerts/alert_o2").json()["threshold_amount"] == (
        75_000
    )


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/organization/spend_alerts/alert_a1", "No spend alert found with id 'alert_a1'."),
        (
            "/organization/projects/proj_a/spend_alerts/alert_o1",
            "No spend alert in this project found with id 'alert_o1'.",
        ),
        ("/organization/projects/proj_x/spend_alerts", "No project found with id 'proj_x'."),
    ],
)
def test_unknown_alerts_are_a_404(sim_client: httpx.Client, path: str, message: str) -> None:
    response = sim_client.get(path)
    assert (response.status_code, error_of(response)["message"]) == (404, message)
