"""One item that fails its schema leaves the rest of its page usable: it is kept in
`page.invalid`, as sent, with the reason; only a broken envelope still fails the page."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from client_fakes import ADMIN_KEY, FakeTime, MakeClient, Script, ok
from pydantic import ValidationError

from poller.client import (
    AuditLogPage,
    EmbeddingsResult,
    InvalidItem,
    ProjectRateLimitPage,
    RawUsagePage,
    UsagePage,
)
from poller.client.models import describe_errors
from poller.errors import MalformedResponseError

EMBEDDINGS = "organization.usage.embeddings.result"
GOOD = {"object": EMBEDDINGS, "input_tokens": 3, "num_model_requests": 1, "model": "m"}
# A required counter missing, and the key where a secret might sit: the reason must not quote it.
POISON = {"object": EMBEDDINGS, "input_tokens": 4, "model": ADMIN_KEY}
POISON_REASON = f"1 schema error(s), first at {EMBEDDINGS}.num_model_requests: Field required"


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
    assert page.invalid == (InvalidItem(raw=POISON, reason=POISON_REASON),)
    assert ADMIN_KEY not in POISON_REASON


def test_a_valid_page_has_no_invalid_items() -> None:
    page = UsagePage.parse_json(json.dumps(usage_body(GOOD)))
    assert page.invalid == ()
    assert "invalid" not in page.api_dict()


BROKEN_ENVELOPES = pytest.mark.parametrize(
    ("body", "location"),
    [
        ({"object": "page", "data": [{"start_time": 0, "results": [POISON]}],
          "has_more": False}, "data.0.end_time"),
        ({"object": "page", "data": [{"start_time": 0, "end_time": 60, "results": [POISON, 7]}],
          "has_more": False}, "data.0.results"),
        ({"object": "page", "has_more": False}, "data"),
        ({"object": "page", "data": {"start_time": 0}, "has_more": False}, "data"),
        ({"object": "page", "data": []}, "has_more"),
        ({"object": "page", "data": [], "has_more": True, "next_page": 7}, "next_page"),
        ({**usage_body(GOOD), "data": [*usage_body(GOOD)["data"], {"end_time": 60}]},
         "data.1.start_time"),
    ],
    ids=["bucket without end", "a result that is not an object", "no data", "data not a list",
         "no has_more", "next_page not a string", "the last bucket without start"],
)
PARSERS = pytest.mark.parametrize("parse", [UsagePage.parse_json, RawUsagePage.parse_json],
                                  ids=["whole", "raw"])


@BROKEN_ENVELOPES
@PARSERS
def test_a_broken_envelope_still_fails_the_page(
    parse: Callable[[str], object], body: dict[str, Any], location: str
) -> None:
    """A raw page checks every bucket's envelope when it is parsed, not when it is taken: its
    first batch is never written when a later bucket is broken."""
    with pytest.raises(ValidationError) as raised:
        parse(json.dumps(body))
    assert ".".join(str(part) for part in raised.value.errors()[0]["loc"]).startswith(location)


@PARSERS
def test_a_body_that_is_not_json_fails_the_page(parse: Callable[[bytes], object]) -> None:
    with pytest.raises(ValidationError, match="json_invalid") as raised:
        parse(b'{"data": [')
    assert describe_errors(raised.value) == (
        "the body is not JSON (Invalid JSON: EOF while parsing a list at line 1 column 10)"
    )


def test_a_raw_page_taken_whole_is_the_page_parsed_whole() -> None:
    body = {**usage_body(GOOD, POISON, start=60), "has_more": True, "next_page": "p2"}
    body["data"].insert(0, usage_body({**GOOD, "model": "n"})["data"][0])
    content = json.dumps(body)
    raw = RawUsagePage.parse_json(content)
    assert (raw.counts, raw.end_time, raw.has_more, raw.next_page, len(raw)) == (
        (1, 2), 120, True, "p2", 2
    )
    whole, taken = UsagePage.parse_json(content), raw.take()
    assert taken.api_dict() == whole.api_dict()
    assert taken.invalid == whole.invalid == (InvalidItem(raw=POISON, reason=POISON_REASON),)
    assert (len(raw), raw.take().data) == (0, [])


def test_a_raw_page_is_taken_in_whole_buckets_each_with_its_own_invalid_items() -> None:
    """Buckets of 3, 2, 4 and 6 results, at most 5 at a time: [3+2], [4], [6] (a bucket bigger
    than that is taken alone); the poison result is in the part of its bucket, not the first."""
    sizes = [3, 2, 4, 6]
    buckets = [usage_body(*[GOOD] * size, start=60 * i)["data"][0]
               for i, size in enumerate(sizes)]
    buckets[2]["results"][1] = POISON
    body = {"object": "page", "has_more": False, "data": buckets}
    page = RawUsagePage.from_data(body)
    assert page.counts == (3, 2, 4, 6)
    parts = []
    while page:
        parts.append(page.take(5))
    assert [[len(b.results) for b in part.data] for part in parts] == [[3, 2], [3], [6]]
    assert [[b.start_time for b in part.data] for part in parts] == [[0, 60], [120], [180]]
    assert [[i.raw for i in part.invalid] for part in parts] == [[], [POISON], []]


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


def test_a_broken_envelope_fails_the_page_in_the_client_before_it_is_yielded(
    make_client: MakeClient,
) -> None:
    body = usage_body(GOOD, GOOD)
    body["data"].append({"object": "bucket", "start_time": 60, "results": [GOOD]})
    pages = make_client(Script([ok(body)]), max_attempts=1).usage_pages("embeddings", start_time=0)
    with pytest.raises(MalformedResponseError, match=r"first at data\.1\.end_time: Field required"):
        next(pages)
