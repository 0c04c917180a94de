"""Query strings exactly as the official SDK puts them on the wire, and early argument checks."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import pytest
from client_fakes import ADMIN_KEY, MakeClient, Script, fixture, list_page, ok, usage_page

from poller import __version__
from poller.client import ResponseLimits
from poller.client.query import encode_query


def test_encode_query_uses_the_sdk_bracket_format() -> None:
    assert encode_query(
        {
            "group_by": ["project_id", "model"],
            "effective_at": {"gte": 1720000000, "lt": 1720086400},
            "batch": False,
            "tenant_only": True,
            "limit": 7,
            "page": None,
            "after": "",
            "project_ids": [],
        }
    ) == (
        ("group_by[]", "project_id"),
        ("group_by[]", "model"),
        ("effective_at[gte]", "1720000000"),
        ("effective_at[lt]", "1720086400"),
        ("batch", "false"),
        ("tenant_only", "true"),
        ("limit", "7"),
    )


def test_usage_query_on_the_wire(make_client: MakeClient) -> None:
    script = Script([ok(usage_page("page_2")), ok(usage_page(None))])
    client = make_client(script)
    pages = client.usage_pages(
        "completions",
        start_time=1730419200,
        end_time=1730505600,
        bucket_width="1h",
        group_by=("project_id", "model"),
        limit=24,
        filters={"project_ids": ["proj_1"], "models": ["gpt-4o"], "batch": False},
    )
    assert len(list(pages)) == 2
    first = (
        "start_time=1730419200&end_time=1730505600&bucket_width=1h"
        "&group_by%5B%5D=project_id&group_by%5B%5D=model"
        "&project_ids%5B%5D=proj_1&models%5B%5D=gpt-4o&batch=false&limit=24"
    )
    assert script.queries == [first, f"{first}&page=page_2"]
    assert unquote(script.queries[0]) == (
        "start_time=1730419200&end_time=1730505600&bucket_width=1h"
        "&group_by[]=project_id&group_by[]=model"
        "&project_ids[]=proj_1&models[]=gpt-4o&batch=false&limit=24"
    )
    assert script.paths == ["/v1/organization/usage/completions"] * 2


def test_costs_query_on_the_wire(make_client: MakeClient) -> None:
    script = Script([ok(fixture("costs"))])
    # Room for 180 buckets at the first page's guess of 500 results each.
    client = make_client(script, limits=ResponseLimits(max_results_per_page=90_000))
    list(
        client.usage_pages(
            "costs",
            start_time=1730419200,
            group_by=["line_item", "project_id"],
            limit=180,
            filters={"project_ids": ["proj_a", "proj_b"]},
        )
    )
    assert script.paths == ["/v1/organization/costs"]
    assert unquote(script.queries[0]) == (
        "start_time=1730419200&bucket_width=1d&group_by[]=line_item&group_by[]=project_id"
        "&project_ids[]=proj_a&project_ids[]=proj_b&limit=180"
    )


def test_audit_query_on_the_wire(make_client: MakeClient) -> None:
    script = Script(
        [ok(fixture("audit_logs")), ok({"object": "list", "data": [], "has_more": False})]
    )
    client = make_client(script)
    list(
        client.audit_log_pages(
            effective_at={"gte": 1720000000, "lt": 1720086400},
            event_types=["project.created", "api_key.created"],
            project_ids=["proj_1"],
            actor_emails=["a@example.com"],
            tenant_only=True,
        )
    )
    first = (
        "effective_at%5Bgte%5D=1720000000&effective_at%5Blt%5D=1720086400"
        "&project_ids%5B%5D=proj_1"
        "&event_types%5B%5D=project.created&event_types%5B%5D=api_key.created"
        "&actor_emails%5B%5D=a%40example.com&tenant_only=true&limit=100"
    )
    assert script.queries == [first, f"{first}&after=audit_log_yyy__20240101"]


@pytest.mark.parametrize(
    ("call", "path", "query"),
    [
        (
            lambda c: c.list_projects(),
            "/v1/organization/projects",
            "include_archived=true&limit=100",
        ),
        (
            lambda c: c.list_projects(include_archived=False),
            "/v1/organization/projects",
            "include_archived=false&limit=100",
        ),
        (
            lambda c: c.list_users(emails=["a@x.io"]),
            "/v1/organization/users",
            "emails%5B%5D=a%40x.io&limit=100",
        ),
        (
            lambda c: c.list_project_users("proj_1"),
            "/v1/organization/projects/proj_1/users",
            "limit=100",
        ),
        (
            lambda c: c.list_project_api_keys("proj_1"),
            "/v1/organization/projects/proj_1/api_keys",
            "owner_project_access=any&limit=100",
        ),
        (
            lambda c: c.list_project_api_keys("proj_1", owner_project_access=None),
            "/v1/organization/projects/proj_1/api_keys",
            "limit=100",
        ),
        (
            lambda c: c.list_project_service_accounts("proj_1"),
            "/v1/organization/projects/proj_1/service_accounts",
            "limit=100",
        ),
        (
            lambda c: c.list_project_rate_limits("proj_1"),
            "/v1/organization/projects/proj_1/rate_limits",
            "limit=100",
        ),
        (
            lambda c: c.list_admin_api_keys(order="desc"),
            "/v1/organization/admin_api_keys",
            "order=desc",
        ),
    ],
)
def test_list_queries_on_the_wire(
    make_client: MakeClient, call: Any, path: str, query: str
) -> None:
    script = Script([ok(list_page([], has_more=False))])
    assert list(call(make_client(script))) == []
    assert (script.paths, script.queries) == ([path], [query])


def test_ids_in_paths_are_escaped(make_client: MakeClient) -> None:
    script = Script([ok(fixture("project"))])
    make_client(script).get_project("proj/../x?y")
    assert script.requests[0].url.raw_path == b"/v1/organization/projects/proj%2F..%2Fx%3Fy"


def test_headers_carry_the_admin_key_and_our_user_agent(make_client: MakeClient) -> None:
    script = Script([ok(fixture("project"))])
    make_client(script).get_project("proj_abc")
    headers = script.requests[0].headers
    assert headers["authorization"] == f"Bearer {ADMIN_KEY}"
    assert headers["user-agent"] == f"openai-poller/{__version__}"
    assert headers["accept"] == "application/json"


@pytest.mark.parametrize(
    ("kwargs", "complaint"),
    [
        ({"stream": "audit"}, "unknown usage stream"),
        ({"stream": "completions", "bucket_width": "2h"}, "bucket_width must be"),
        ({"stream": "costs", "bucket_width": "1h"}, "does not support bucket_width=1h"),
        ({"stream": "vector_stores", "group_by": ["model"]}, "cannot group_by='model'"),
        ({"stream": "completions", "group_by": "model"}, "group_by takes a list"),
        ({"stream": "embeddings", "filters": {"batch": True}}, "has no filter 'batch'"),
        ({"stream": "completions", "filters": {"batch": "true"}}, "takes true or false"),
        ({"stream": "completions", "filters": {"models": "gpt-4o"}}, "models takes a list"),
        ({"stream": "completions", "filters": {"models": True}}, "takes a list of strings"),
        ({"stream": "completions", "limit": 32}, "must be 1..31"),
        ({"stream": "completions", "bucket_width": "1m", "limit": 1441}, "must be 1..1440"),
        ({"stream": "costs", "limit": 181}, "must be 1..180"),
        ({"stream": "costs", "limit": 0}, "must be 1..180"),
        ({"stream": "completions", "end_time": 1730419200}, "start_time < end_time"),
    ],
)
def test_usage_arguments_are_checked_before_any_request(
    make_client: MakeClient, kwargs: dict[str, Any], complaint: str
) -> None:
    script = Script([ok(usage_page(None))])
    client = make_client(script)
    stream = kwargs.pop("stream")
    with pytest.raises(ValueError, match=complaint):
        client.usage_pages(stream, start_time=1730419200, **kwargs)
    assert script.requests == []


@pytest.mark.parametrize(
    ("call", "complaint"),
    [
        (lambda c: c.audit_log_pages(limit=101), "limit must be 1..100"),
        (lambda c: c.audit_log_pages(effective_at={"since": 1}), "effective_at takes"),
        (lambda c: c.audit_log_pages(event_types="project.created"), "event_types takes"),
        (lambda c: c.list_project_api_keys("p", owner_project_access="all"), "active"),
        (lambda c: c.list_admin_api_keys(order="newest"), "asc or desc"),
        (lambda c: c.list_users(emails="a@x.io"), "list of strings"),
        (lambda c: c.list_project_users(""), "project_id must be a non-empty string"),
        (lambda c: c.get_user(""), "user_id must be a non-empty string"),
    ],
)
def test_other_arguments_are_checked_before_any_request(
    make_client: MakeClient, call: Any, complaint: str
) -> None:
    script = Script([ok(list_page([], has_more=False))])
    with pytest.raises(ValueError, match=complaint):
        call(make_client(script))
    assert script.requests == []
