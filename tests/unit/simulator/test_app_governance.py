"""Certificates, data retention, model and hosted-tool permissions: exact objects, paging, 404s."""

from __future__ import annotations

import httpx
import pytest
from fake_controls import T0, TOOLS
from fake_org import DAY, error_of


def certificate_ids(sim_client: httpx.Client, path: str, **params: str | int) -> list[str]:
    body = sim_client.get(path, params=params).json()
    return [cert["id"] for cert in body["data"]]


def test_certificates_list_newest_first_unless_asked(sim_client: httpx.Client) -> None:
    path = "/organization/certificates"
    assert certificate_ids(sim_client, path) == ["cert_3", "cert_2", "cert_1"]
    assert certificate_ids(sim_client, path, order="asc") == ["cert_1", "cert_2", "cert_3"]
    assert certificate_ids(sim_client, path, limit=1, after="cert_3") == ["cert_2"]
    listed = sim_client.get(path, params={"limit": 1}).json()
    assert (listed["has_more"], listed["first_id"], listed["last_id"]) == (True, "cert_3", "cert_3")
    assert listed["data"][0]["active"] is False
    response = sim_client.get(path, params={"limit": 0})
    assert (response.status_code, error_of(response)["param"]) == (400, "limit")


def test_a_project_lists_every_certificate_with_its_own_activation(
    sim_client: httpx.Client,
) -> None:
    body = sim_client.get("/organization/projects/proj_a/certificates").json()
    assert [(c["id"], c["active"]) for c in body["data"]] == [
        ("cert_3", False),
        ("cert_2", True),
        ("cert_1", False),
    ]
    assert {c["object"] for c in body["data"]} == {"organization.project.certificate"}


def test_a_certificate_lookup_has_content_only_when_asked(sim_client: httpx.Client) -> None:
    path = "/organization/certificates/cert_1"
    details = {"valid_at": T0 + DAY, "expires_at": T0 + 366 * DAY}
    expected = {
        "object": "certificate",
        "id": "cert_1",
        "name": "mtls-1",
        "created_at": T0 + DAY,
        "certificate_details": details,
    }
    assert sim_client.get(path).json() == expected
    for params in ({"include[]": "content"}, {"include": "content"}):
        with_content = sim_client.get(path, params=params).json()
        assert with_content["certificate_details"] == {**details, "content": "PEM 1"}
    wrong = sim_client.get(path, params={"include[]": "key"})
    assert (wrong.status_code, error_of(wrong)["param"]) == (400, "include")
    unknown = sim_client.get("/organization/certificates/cert_9")
    assert error_of(unknown)["message"] == "No certificate found with id 'cert_9'."


def test_data_retention(sim_client: httpx.Client) -> None:
    assert sim_client.get("/organization/data_retention").json() == {
        "object": "organization.data_retention",
        "type": "zero_data_retention",
    }
    assert sim_client.get("/organization/projects/proj_b/data_retention").json() == {
        "object": "project.data_retention",
        "type": "organization_default",
    }


def test_permissions(sim_client: httpx.Client) -> None:
    assert sim_client.get("/organization/projects/proj_a/model_permissions").json() == {
        "object": "project.model_permissions",
        "mode": "deny_list",
        "model_ids": [],
    }
    tools = sim_client.get("/organization/projects/proj_c/hosted_tool_permissions").json()
    assert tools == {tool: {"enabled": False} for tool in TOOLS}


@pytest.mark.parametrize(
    "kind", ["certificates", "data_retention", "model_permissions", "hosted_tool_permissions"]
)
def test_an_unknown_project_is_a_404(sim_client: httpx.Client, kind: str) -> None:
    response = sim_client.get(f"/organization/projects/proj_x/{kind}")
    assert (response.status_code, error_of(response)["message"]) == (
        404,
        "No project found with id 'proj_x'.",
    )
