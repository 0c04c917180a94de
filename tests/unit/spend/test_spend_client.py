"""The spend-control client functions: paths, paging, and a project without a limit."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from poller.client import AdminClient
from poller.client.spend import spend_alert_pages, spend_limit
from poller.errors import RequestRejectedError

LIMIT = {
    "object": "organization.spend_limit",
    "threshold_amount": 71000,
    "currency": "USD",
    "interval": "month",
    "enforcement": {"status": "enforcing"},
}


def alert(alert_id: str, cents: int | None) -> dict[str, object]:
    body: dict[str, object] = {"id": alert_id, "object": "project.spend_alert"}
    if cents is not None:
        body["threshold_amount"] = cents
    return body


@pytest.fixture
def requests() -> list[httpx.Request]:
    return []


@pytest.fixture
def client(requests: list[httpx.Request]) -> Iterator[AdminClient]:
    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        path, after = request.url.path, request.url.params.get("after")
        if path == "/v1/organization/spend_limit":
            return httpx.Response(200, json=LIMIT)
        if path == "/v1/organization/projects/proj_none/spend_limit":
            return httpx.Response(404, json={"error": {"message": "No spend limit is set"}})
        if path.endswith("/spend_alerts") and after is None:
            data = [alert("alert_a", 500), alert("alert_b", None)]
            return httpx.Response(200, json={"data": data, "has_more": True, "last_id": "alert_b"})
        if path.endswith("/spend_alerts"):
            page = {"data": [alert("alert_c", 900)], "has_more": False, "last_id": "alert_c"}
            return httpx.Response(200, json=page)
        return httpx.Response(400, json={"error": {"message": "bad project id"}})

    with AdminClient(
        admin_key="sk-admin-test",
        base_url="https://api.test/v1",
        transport=httpx.MockTransport(answer),
    ) as admin:
        yield admin


def test_the_organizations_limit(client: AdminClient) -> None:
    limit = spend_limit(client)
    assert limit is not None
    assert (limit.threshold_amount, limit.enforcement and limit.enforcement.status) == (
        71000,
        "enforcing",
    )
    assert limit.api_dict() == LIMIT


def test_a_project_without_a_limit_has_none_and_other_refusals_raise(
    client: AdminClient, requests: list[httpx.Request]
) -> None:
    assert spend_limit(client, "proj_none") is None
    with pytest.raises(RequestRejectedError) as refused:
        spend_limit(client, "proj_bad")
    assert refused.value.status == 400
    assert [r.url.path for r in requests] == [
        "/v1/organization/projects/proj_none/spend_limit",
        "/v1/organization/projects/proj_bad/spend_limit",
    ]


def test_alert_pages_follow_the_cursor_and_keep_invalid_alerts_apart(
    client: AdminClient, requests: list[httpx.Request]
) -> None:
    pages = list(spend_alert_pages(client, "proj_x"))
    assert [[a.id for a in page.data] for page in pages] == [["alert_a"], ["alert_c"]]
    assert [i.raw for i in pages[0].invalid] == [alert("alert_b", None)]
    assert [(r.url.path, r.url.params.get("after")) for r in requests] == [
        ("/v1/organization/projects/proj_x/spend_alerts", None),
        ("/v1/organization/projects/proj_x/spend_alerts", "alert_b"),
    ]
    assert {r.url.params["limit"] for r in requests} == {"100"}
    organization = list(spend_alert_pages(client))
    assert requests[-1].url.path == "/v1/organization/spend_alerts"
    assert [a.threshold_amount for page in organization for a in page.data] == [500, 900]
