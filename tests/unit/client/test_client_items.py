"""One item that fails its schema leaves the rest of its page usable: it is kept in
`page.invalid`, as sent, with the reason; only a broken envelope still fails the page."""

from __future__ import annotations

import json
from typing import Any

import pytest
from client_fakes import ADMIN_KEY, FakeTime, MakeClient, Script, ok
from pydantic import ValidationError

from poller.client import (
    AuditLogPage,
    EmbeddingsResult,
    InvalidItem,
    ProjectRateLimitPage,
    UsagePage,
)
from poller.errors import MalformedResponseError

EMBEDDINGS = "organization.usage.embeddings.result"
GOOD = {"object": EMBEDDINGS, "input_tokens": 3, "num_model_requests": 1, "model": "m"}
# A required counter missing, and the key where a secret might sit: the reason must not quote it.
POISON = {"object": EMBEDDINGS, "input_tokens": 4, "model": ADMIN_KEY}


def usage_body(*results: dict[str, Any], start: int = 0) -> dict[str, Any]:
    bucket = {"object": "bucket", "start_time": start, "end_time": start + 60}
    return {"object": "page", "data": [{**bucket, "results": list(results)}], "has_more": False}


def test_a_poison_result_is_set_aside_and_the_others_parse() -> None:
    body = usage_body(GOOD, POISON, {**GOOD, "model": "n"})
    page = UsagePage.parse_json(json.dumps(body))
    assert [(type(r), r.api_dict()["model"]) for r in page.data[0].results] == [
        (EmbeddingsResult, "m"),
        (EmbeddingsResult, "n"),
    ]
    reason = (
        f"1 schema error(s), first at {EMBEDDINGS}.num_model_requests: Field required"
    )
    assert page.invalid == (InvalidItem(raw=POISON, reason=reason),)
    assert ADMIN_KEY not in reason


def test_a_valid_page_has_no_invalid_items() -> None:
    page = UsagePage.parse_json(json.dumps(usage_body(GOOD)))
    assert page.invalid == ()
    assert "invalid" not in page.api_dict()


@pytest.mark.parametrize(
    ("body", "location"),
    [
        ({"object": "page", "data": [{"start_time": 0, "results": [POISON]}],
          "has_more": False}, "data.0.end_time"),
        ({"object": "page", "data": [{"start_time": 0, "end_time": 60, "results": [POISON, 7]}],
          "has_more": False}, "data.0.results.0"),
        ({"object": "page", "has_more": False}, "data"),
    ],
    ids=["bucket without end", "a result that is not an object", "no data"],
)
def test_a_broken_envelope_still_fails_the_page(body: dict[str, Any], location: str) -> None:
    with pytest.raises(ValidationError) as raised:
        UsagePage.parse_json(json.dumps(body))
    assert ".".join(str(part) for part in raised.value.errors()[0]["loc"]).startswith(location)


def test_a_body_that_is_not_json_fails_the_page() -> None:
    with pytest.raises(ValidationError, match="json_invalid"):
        UsagePage.parse_json(b'{"data": [')


def test_a_poison_audit_log_is_set_aside() -> None:
    good = {"id": "audit_1", "type": "login.succeeded", "effective_at": 1}
    poison = {"id": "audit_2", "type": "login.succeeded", "effective_at": "yesterday"}
    body = {"object": "list", "data": [good, poison], "has_more": False, "last_id": "audit_2"}
    page = AuditLogPage.parse_json(json.dumps(body))
    assert [log.id for log in page.data] == ["audit_1"]
    assert page.last_id == "audit_2"  # paging goes on past the poison item
    reason = (
        "1 schema error(s), first at effective_at: "
        "Input should be a valid integer, unable to parse string as an integer"
    )
    assert page.invalid == (InvalidItem(raw=poison, reason=reason),)


def test_a_poison_rate_limit_is_set_aside() -> None:
    body = {"object": "list", "data": [{"id": "rl_1"}, {"id": "rl_2", "model": "gpt-4o"}],
            "has_more": False}
    page = ProjectRateLimitPage.parse_json(json.dumps(body))
    assert [limit.id for limit in page.data] == ["rl_2"]
    reason = "1 schema error(s), first at model: Field required"
    assert page.invalid == (InvalidItem(raw={"id": "rl_1"}, reason=reason),)


def test_the_client_keeps_a_page_with_a_poison_item_without_retrying(
    make_client: MakeClient, fake_time: FakeTime
) -> None:
    script = Script([ok(usage_body(GOOD, POISON))])
    (raw,) = make_client(script).usage_pages("embeddings", start_time=0)
    page = raw.take()
    assert len(script.requests) == 1
    assert fake_time.sleeps == []
    assert [result.api_dict()["model"] for result in page.data[0].results] == ["m"]
    assert [item.raw for item in page.invalid] == [POISON]


def test_rate_limit_pages_follow_the_cursor_and_keep_invalid_items(
    make_client: MakeClient,
) -> None:
    first = {"object": "list", "data": [{"id": "rl_1", "model": "a"}, {"id": "rl_2"}],
             "has_more": True, "last_id": "rl_2"}
    second = {"object": "list", "data": [{"id": "rl_3", "model": "c"}], "has_more": False,
              "last_id": "rl_3"}
    script = Script([ok(first), ok(second)])
    pages = list(make_client(script).project_rate_limit_pages("proj_1"))
    assert [[limit.id for limit in page.data] for page in pages] == [["rl_1"], ["rl_3"]]
    assert [[item.raw for item in page.invalid] for page in pages] == [[{"id": "rl_2"}], []]
    assert script.paths == ["/v1/organization/projects/proj_1/rate_limits"] * 2
    assert script.queries == ["limit=100", "limit=100&after=rl_2"]


def test_a_broken_envelope_is_still_a_malformed_response(make_client: MakeClient) -> None:
    script = Script([ok({"object": "list", "data": "nothing", "has_more": False})])
    expected = r"first at data: Input should be a valid list"
    with pytest.raises(MalformedResponseError, match=expected):
        list(make_client(script, max_attempts=1).audit_log_pages())
