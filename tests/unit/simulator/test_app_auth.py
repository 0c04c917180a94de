"""Authentication, routing, the envelope and headers every response carries."""

from __future__ import annotations

import httpx
import pytest
from fake_org import ADMIN_KEY, T0, MakeClient, error_of

from poller.simulator.app import redact

SCOPED_PATHS = [
    ("/organization/usage/completions?start_time=0", "api.usage.read"),
    ("/organization/costs?start_time=0", "api.usage.read"),
    ("/organization/audit_logs", "api.audit_logs.read"),
    ("/organization/projects", "api.management.read"),
    ("/organization/projects/proj_a/rate_limits", "api.management.read"),
    ("/organization/admin_api_keys/key_admin0", "api.management.read"),
]


def test_a_request_without_a_key_is_a_401(make_sim_client: MakeClient) -> None:
    response = make_sim_client(key=None).get("/organization/projects")
    assert response.status_code == 401
    error = error_of(response)
    assert (error["type"], error["code"], error["param"]) == (
        "invalid_request_error",
        "invalid_api_key",
        None,
    )
    assert error["message"].startswith("You didn't provide an API key.")


@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "Bearer   ", ADMIN_KEY])
def test_a_malformed_authorization_header_counts_as_no_key(
    make_sim_client: MakeClient, header: str
) -> None:
    response = make_sim_client(key=None).get(
        "/organization/projects", headers={"Authorization": header}
    )
    assert response.status_code == 401
    assert error_of(response)["message"].startswith("You didn't provide an API key.")


def test_the_bearer_scheme_is_case_insensitive(make_sim_client: MakeClient) -> None:
    sim_client = make_sim_client(key=None)
    response = sim_client.get(
        "/organization/projects", headers={"Authorization": f"bearer {ADMIN_KEY}"}
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    "key",
    [
        "sk-admin-WRONGwrongWRONGwrong-wxyz",
        "sk-admin-demo",
        "short",
        "sk-svcacct-0123456789abcdefghij",
    ],
)
def test_a_wrong_key_is_a_401_that_never_echoes_the_key(
    make_sim_client: MakeClient, key: str
) -> None:
    response = make_sim_client(key=key).get("/organization/users")
    assert response.status_code == 401
    error = error_of(response)
    assert (error["type"], error["code"]) == ("invalid_request_error", "invalid_api_key")
    assert error["message"] == (
        f"Incorrect API key provided: {redact(key)}. "
        "You can find your API key at https://platform.openai.com/account/api-keys."
    )
    assert key not in response.text


def test_redaction_shows_a_short_head_and_tail_at_most() -> None:
    assert redact("sk-admin-ABCDEFGHIJKLMNOP-wxyz") == "sk-adm" + "*" * 20 + "wxyz"
    assert redact("sk-admin-demo") == "sk-" + "*" * 10
    assert redact("abc") == "***"


@pytest.mark.parametrize(("path", "scope"), SCOPED_PATHS)
def test_a_project_key_lacks_the_endpoints_scope(
    make_sim_client: MakeClient, path: str, scope: str
) -> None:
    key = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789"
    response = make_sim_client(key=key).get(path)
    assert response.status_code == 401
    error = error_of(response)
    assert error["message"] == (
        f"You have insufficient permissions for this operation. Missing scopes: {scope}. Check "
        "that you have the correct role in your organization (Reader, Writer, Owner) and project "
        "(Member, Owner), and if you're using a restricted API key, that it has the necessary "
        "scopes."
    )
    assert (error["type"], error["code"]) == ("invalid_request_error", None)
    assert key not in response.text


@pytest.mark.parametrize("path", ["/organization/nope", "/organization/projects/", "/models"])
def test_an_unknown_path_is_a_404_in_the_envelope(make_sim_client: MakeClient, path: str) -> None:
    for sim_client in (make_sim_client(), make_sim_client(key=None)):
        response = sim_client.get(path)
        assert response.status_code == 404
        assert error_of(response)["message"] == f"Invalid URL (GET /v1{path})"


def test_outside_v1_is_a_404_too(sim_client: httpx.Client) -> None:
    response = sim_client.get("http://sim/organization/projects")
    assert response.status_code == 404
    error_of(response)


@pytest.mark.parametrize("method", ["POST", "DELETE", "PUT", "PATCH", "HEAD"])
def test_only_get_is_allowed(sim_client: httpx.Client, method: str) -> None:
    response = sim_client.request(method, "/organization/projects")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"
    if method != "HEAD":
        assert error_of(response)["type"] == "invalid_request_error"


def test_every_response_is_json_with_a_fresh_request_id(make_sim_client: MakeClient) -> None:
    sim_client = make_sim_client()
    responses = [
        sim_client.get("/organization/usage/embeddings", params={"start_time": T0}),
        sim_client.get("/organization/usage/embeddings"),
        sim_client.get("/organization/nope"),
        make_sim_client(key="sk-admin-wrong").get("/organization/projects"),
        sim_client.post("/organization/projects"),
        sim_client.get("http://sim/_sim/stats"),
    ]
    request_ids = set()
    for response in responses:
        assert response.headers["content-type"] == "application/json"
        assert response.headers["x-request-id"].startswith("req_")
        request_ids.add(response.headers["x-request-id"])
        response.json()
    assert len(request_ids) == len(responses)
