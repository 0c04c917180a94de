"""The spend, access and governance paths answer like every other: admin key only, GET only."""

from __future__ import annotations

import httpx
import pytest
from fake_controls import CONTROL_URLS
from fake_org import MakeClient, error_of

PROJECT_KEY = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789"


@pytest.mark.parametrize("url", CONTROL_URLS)
def test_the_admin_key_reads_it(sim_client: httpx.Client, url: str) -> None:
    assert sim_client.get(url).status_code == 200


@pytest.mark.parametrize("url", CONTROL_URLS)
def test_a_project_key_lacks_the_management_scope(make_sim_client: MakeClient, url: str) -> None:
    response = make_sim_client(key=PROJECT_KEY).get(url)
    assert response.status_code == 401
    error = error_of(response)
    assert error["message"].startswith(
        "You have insufficient permissions for this operation. Missing scopes: "
        "api.management.read. "
    )
    assert (error["type"], error["code"]) == ("invalid_request_error", None)


@pytest.mark.parametrize("url", CONTROL_URLS)
def test_no_key_and_other_methods_are_refused(make_sim_client: MakeClient, url: str) -> None:
    assert error_of(make_sim_client(key=None).get(url))["code"] == "invalid_api_key"
    response = make_sim_client().delete(url)
    assert (response.status_code, response.headers["allow"]) == (405, "GET")
