"""Failed requests become `poller.errors`, quote OpenAI, and never reveal the admin key."""

from __future__ import annotations

import logging

import httpx
import pytest
from client_fakes import ADMIN_KEY, BASE, MakeClient, Reply, Script, fail, fixture, ok
from pydantic import SecretStr

from poller.client import AdminClient
from poller.errors import (
    AuthenticationError,
    MalformedResponseError,
    PollerError,
    RateLimitedError,
    RequestRejectedError,
    ServerError,
    TransportError,
)

PROJECT_KEY_REFUSED = (
    "You have insufficient permissions for this operation. Missing scopes: api.usage.read."
)


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_key_quotes_openai_and_hints_at_an_admin_key(
    make_client: MakeClient, status: int
) -> None:
    script = Script([fail(status, PROJECT_KEY_REFUSED)])
    with pytest.raises(AuthenticationError) as raised:
        list(make_client(script).usage_pages("costs", start_time=1730419200))
    message = str(raised.value)
    assert f'"{PROJECT_KEY_REFUSED}"' in message
    assert "organization admin key (sk-admin-...)" in message
    assert f"HTTP {status}" in message
    assert message.startswith(
        "GET https://api.test/v1/organization/costs?start_time=1730419200&bucket_width=1d:"
    )
    error = raised.value
    assert (error.method, error.status) == ("GET", status)
    assert (
        error.url == "https://api.test/v1/organization/costs?start_time=1730419200&bucket_width=1d"
    )


def test_a_rejected_request_quotes_the_message_and_the_param(make_client: MakeClient) -> None:
    script = Script(
        [fail(400, "Invalid value: 'sizes'. Supported values are: ...", param="group_by")]
    )
    with pytest.raises(RequestRejectedError) as raised:
        list(make_client(script).usage_pages("images", start_time=0, group_by=["size"]))
    assert str(raised.value).endswith(
        """request rejected (HTTP 400): "Invalid value: 'sizes'. Supported values are: ..." """
        """(param: group_by)"""
    )
    assert raised.value.status == 400


def test_archived_project_lists_are_rejected(make_client: MakeClient) -> None:
    script = Script([fail(400, "Project proj_old is archived")])
    with pytest.raises(RequestRejectedError, match="Project proj_old is archived"):
        list(make_client(script).list_project_service_accounts("proj_old"))


def test_unknown_id_is_rejected(make_client: MakeClient) -> None:
    with pytest.raises(RequestRejectedError, match=r"HTTP 404\): \"No such user\""):
        make_client(Script([fail(404, "No such user")])).get_user("user_gone")


def test_a_body_that_is_not_an_error_response_is_excerpted(make_client: MakeClient) -> None:
    html = httpx.Response(502, text="<html><h1>502 Bad Gateway</h1></html>")
    with pytest.raises(ServerError, match=r'HTTP 502\): "<html><h1>502 Bad Gateway'):
        make_client(Script([html]), max_attempts=1).get_project("p")
    with pytest.raises(ServerError, match=r"HTTP 500\): \(empty body\)"):
        make_client(Script([httpx.Response(500)]), max_attempts=1).get_project("p")


def test_a_rate_limit_error_carries_the_servers_delay(make_client: MakeClient) -> None:
    script = Script([fail(429, "Rate limit reached", headers={"retry-after": "7"})])
    with pytest.raises(RateLimitedError) as raised:
        make_client(script, max_attempts=1).get_project("p")
    assert raised.value.retry_after == 7.0
    assert raised.value.retryable
    assert str(raised.value).endswith(
        'rate limited (HTTP 429): "Rate limit reached"; retry after 7 s'
    )


def test_a_redirect_is_reported_not_followed(make_client: MakeClient) -> None:
    moved = httpx.Response(301, headers={"location": "https://api.test/v2/organization/users"})
    script = Script([moved])
    with pytest.raises(RequestRejectedError, match=r"unexpected HTTP 301 to .*check the base URL"):
        list(make_client(script).list_users())
    assert len(script.requests) == 1


def test_an_echoed_key_is_redacted_from_messages(make_client: MakeClient) -> None:
    echo = (
        f"Incorrect API key provided: {ADMIN_KEY}. Also sk-proj-{'x' * 40} leaked; "
        "masked sk-abc...def is fine"
    )
    with pytest.raises(AuthenticationError) as raised:
        make_client(Script([fail(401, echo)])).get_project("p")
    message = str(raised.value)
    assert ADMIN_KEY not in message
    assert "x" * 40 not in message
    assert "Incorrect API key provided: [REDACTED]." in message
    assert "Also [REDACTED] leaked" in message
    assert "masked sk-abc...def is fine" in message


def test_the_key_never_reaches_exceptions_or_logs(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, httpx's included
    script = Script(
        [
            fail(429, f"key {ADMIN_KEY} is rate limited", headers={"retry-after": "1"}),
            fail(500, f"trace: Authorization: Bearer {ADMIN_KEY}"),
            httpx.ConnectError(f"proxy said: Bearer {ADMIN_KEY}"),
            ok(fixture("project")),
        ]
    )
    make_client(script).get_project("proj_abc")
    errors: list[BaseException] = []
    replies: tuple[list[Reply], ...] = (
        [fail(503, ADMIN_KEY)],
        [httpx.ReadTimeout(ADMIN_KEY)],
        [httpx.Response(200, text=ADMIN_KEY)],
        [fail(401, ADMIN_KEY)],
    )
    for reply in replies:
        with pytest.raises(PollerError) as raised:
            make_client(Script(reply), max_attempts=2).get_project("p")
        errors.append(raised.value)
    assert [type(e) for e in errors] == [
        ServerError,
        TransportError,
        MalformedResponseError,
        AuthenticationError,
    ]
    for error in errors:
        assert ADMIN_KEY not in str(error) and ADMIN_KEY not in repr(error)
    logged = "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records)
    assert len(caplog.records) >= 3
    assert ADMIN_KEY not in logged
    assert "Bearer sk-" not in logged


def test_the_client_repr_and_http_headers_hide_the_key() -> None:
    with AdminClient(admin_key=SecretStr(ADMIN_KEY), base_url=BASE) as client:
        assert ADMIN_KEY not in repr(client)
        assert repr(client) == "AdminClient(base_url='https://api.test/v1/')"


def test_an_empty_key_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="admin key is empty"):
        AdminClient(admin_key=SecretStr("  "))
