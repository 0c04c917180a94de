"""What bounds one response and one page: the adaptive page size, the byte cap, the deadline of
a whole request, a deeply nested error body, and failing fast on a wrong base URL."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from client_fakes import BASE, FakeTime, MakeClient, Script, fail, fixture, ok

from poller.client import PROCESS_BUDGET, ResponseLimits, Timeouts
from poller.errors import MalformedResponseError, RequestRejectedError, TransportError

PROJECT = fixture("project")
MINUTE = 60


def page(first: int, buckets: int, results: int, *, more: bool) -> dict[str, Any]:
    """`buckets` one-minute buckets from minute `first`, each with `results` results."""
    result = {"object": "organization.usage.embeddings.result", "input_tokens": 1,
              "num_model_requests": 1}
    data = [
        {"object": "bucket", "start_time": (first + i) * MINUTE,
         "end_time": (first + i + 1) * MINUTE, "results": [result] * results}
        for i in range(buckets)
    ]
    return {"object": "page", "data": data, "has_more": more,
            "next_page": f"p{first + buckets}" if more else None}


def limits_asked(script: Script) -> list[str | None]:
    return [request.url.params.get("limit") for request in script.requests]


def test_pages_ask_for_as_many_buckets_as_fit_the_results_cap(make_client: MakeClient) -> None:
    """First page: the guess of 500 results a bucket, so 2,000 / 500 = 4 buckets. It holds 40
    a bucket: the next asks for 2,000 / 40 = 50; that holds 4 a bucket: the next asks for 500;
    that one is empty, so the next may grow 8 times, capped by the caller's 1,440."""
    script = Script([
        ok(page(0, 4, 40, more=True)),
        ok(page(4, 50, 4, more=True)),
        ok(page(54, 500, 0, more=True)),
        ok(page(554, 10, 1, more=False)),
    ])
    client = make_client(script, limits=ResponseLimits(max_results_per_page=2_000))
    pages = list(client.usage_pages("embeddings", start_time=0, end_time=1440 * MINUTE,
                                    bucket_width="1m", limit=1440, group_by=["project_id"]))
    assert len(pages) == 4
    assert limits_asked(script) == ["4", "50", "500", "1440"]


def test_a_quiet_stream_grows_its_pages_eight_times_per_empty_page(
    make_client: MakeClient,
) -> None:
    script = Script([
        ok(page(0, 4, 0, more=True)),
        ok(page(4, 32, 0, more=True)),
        ok(page(36, 256, 0, more=True)),
        ok(page(292, 1148, 0, more=False)),
    ])
    client = make_client(script, limits=ResponseLimits(max_results_per_page=2_000))
    list(client.usage_pages("embeddings", start_time=0, end_time=1440 * MINUTE,
                            bucket_width="1m", limit=1440, group_by=["project_id"]))
    assert limits_asked(script) == ["4", "32", "256", "1440"]


def test_a_page_that_ends_busier_sizes_the_next_by_its_last_tenth(make_client: MakeClient) -> None:
    """90 buckets of 1 result, then 10 of 10: 1.9 a bucket over the page, 10 at its end, where
    the next page starts; so 2,000 / 10 = 200 buckets, not 2,000 / 1.9 = 1,052."""
    ramp = page(0, 100, 1, more=True)
    for bucket in ramp["data"][90:]:
        bucket["results"] = bucket["results"] * 10
    script = Script([ok(ramp), ok(page(100, 200, 10, more=False))])
    client = make_client(script, limits=ResponseLimits(max_results_per_page=2_000))
    list(client.usage_pages("embeddings", start_time=0, bucket_width="1m", limit=1440,
                            group_by=["project_id"]))
    assert limits_asked(script) == ["4", "200"]


def test_the_learned_size_carries_over_to_the_next_query_of_the_same_shape(
    make_client: MakeClient,
) -> None:
    script = Script([ok(page(0, 4, 1, more=False))])
    client = make_client(script, limits=ResponseLimits(max_results_per_page=2_000))
    for _ in range(2):
        list(client.usage_pages("embeddings", start_time=0, bucket_width="1m", limit=1440,
                            group_by=["project_id"]))
    list(client.usage_pages("embeddings", start_time=0, bucket_width="1m", limit=1440,
                            group_by=["model"]))  # another shape: the guess again
    assert limits_asked(script) == ["4", "1440", "4"]


def test_an_ungrouped_query_asks_for_the_whole_limit_at_once(make_client: MakeClient) -> None:
    """Without group_by a bucket holds at most one result: no guess is needed."""
    script = Script([ok(page(0, 1440, 1, more=False))])
    client = make_client(script, limits=ResponseLimits(max_results_per_page=2_000))
    list(client.usage_pages("embeddings", start_time=0, end_time=1440 * MINUTE,
                            bucket_width="1m", limit=1440))
    assert limits_asked(script) == ["1440"]


def test_without_a_limit_the_server_default_is_kept(make_client: MakeClient) -> None:
    script = Script([ok(page(0, 60, 400, more=False))])
    list(make_client(script).usage_pages("embeddings", start_time=0, bucket_width="1m"))
    assert limits_asked(script) == [None]


def test_a_body_over_the_byte_cap_fails_once_naming_the_stream_and_the_setting(
    make_client: MakeClient, fake_time: FakeTime
) -> None:
    body = page(0, 30, 10, more=False)
    script = Script([httpx.Response(200, content=json.dumps(body).encode())])
    client = make_client(script, limits=ResponseLimits(max_response_bytes=4_096))
    with pytest.raises(MalformedResponseError) as caught:
        list(client.usage_pages("embeddings", start_time=0, bucket_width="1m", limit=30))
    assert str(caught.value) == (
        f"GET {script.requests[0].url}: the answer for embeddings is over max_response_bytes "
        "(4096 bytes); raise max_response_bytes, or narrow the query"
    )
    assert len(script.requests) == 1 and fake_time.sleeps == []


def test_a_compressed_body_counts_at_its_real_size(make_client: MakeClient) -> None:
    packed = gzip.compress(b" " * 10_000 + json.dumps(PROJECT).encode())
    script = Script([httpx.Response(200, content=packed, headers={"content-encoding": "gzip"})])
    over = r"for /organization/projects/\{project_id\} is over"
    with pytest.raises(MalformedResponseError, match=over):
        make_client(script, limits=ResponseLimits(max_response_bytes=5_000)).get_project("p")
    roomy = Script([httpx.Response(200, content=packed, headers={"content-encoding": "gzip"})])
    assert make_client(roomy).get_project("p").id == PROJECT["id"]


def test_an_answer_dripping_in_is_cut_at_the_whole_request_deadline(
    make_client: MakeClient, fake_time: FakeTime
) -> None:
    """Each chunk comes within the read timeout (2 s of 3), but the whole takes longer."""

    def drip() -> Iterator[bytes]:
        for byte in json.dumps(PROJECT).encode():
            fake_time.now += 2.0
            yield bytes([byte])

    script = Script([httpx.Response(200, content=drip())])
    client = make_client(script, max_attempts=1, timeouts=Timeouts(request=3))
    with pytest.raises(TransportError) as caught:
        client.get_project("p")
    assert str(caught.value) == (
        f"GET {BASE}/organization/projects/p: ReadTimeout: the answer took over 3 s in all"
    )
    assert fake_time.now == 1000.0 + 4.0  # cut at the second chunk, not after all of them


def test_the_deadline_can_be_set_apart_from_the_read_timeout() -> None:
    assert Timeouts(request=3).deadline == 3
    assert Timeouts(request=3, total=10).deadline == 10
    with pytest.raises(ValueError, match=r"Timeouts\.total must be a positive number"):
        Timeouts(total=0)


@pytest.mark.parametrize("value", [0, -1])
def test_limits_must_be_positive(value: int) -> None:
    with pytest.raises(ValueError, match="must be at least 1"):
        ResponseLimits(max_response_bytes=value)
    with pytest.raises(TypeError, match="takes an integer"):
        ResponseLimits(max_results_per_page=2.5)  # type: ignore[arg-type]


def test_a_deeply_nested_error_body_is_an_error_like_any_other(make_client: MakeClient) -> None:
    nested = b"[" * 200_000 + b"]" * 200_000
    script = Script([httpx.Response(400, content=nested)])
    with pytest.raises(RequestRejectedError, match=r"request rejected \(HTTP 400\): \"\[\[\["):
        make_client(script).get_project("p")


REFUSED = httpx.ConnectError("[Errno 111] Connection refused")


def test_fail_fast_ends_at_the_first_refused_connection(
    make_client: MakeClient, fake_time: FakeTime
) -> None:
    script = Script([REFUSED])
    client = make_client(script, fail_fast_first_connect=True)
    with pytest.raises(TransportError) as caught:
        client.get_project("p")
    assert str(caught.value) == (
        f"cannot reach OpenAI at {BASE}/ (ConnectError: [Errno 111] Connection refused); "
        "check OPENAI_BASE_URL"
    )
    assert len(script.requests) == 1 and fake_time.sleeps == []


def test_fail_fast_applies_only_until_the_server_first_answered(
    make_client: MakeClient, fake_time: FakeTime
) -> None:
    script = Script([ok(PROJECT), REFUSED, ok(PROJECT)])
    client = make_client(script, fail_fast_first_connect=True)
    client.get_project("p")
    assert client.get_project("p").id == PROJECT["id"]  # an outage now: retried
    assert fake_time.sleeps == [0.5]


def test_without_fail_fast_a_refused_connection_is_retried(
    make_client: MakeClient, fake_time: FakeTime
) -> None:
    script = Script([REFUSED, REFUSED, ok(PROJECT)])
    assert make_client(script).get_project("p").id == PROJECT["id"]
    assert fake_time.sleeps == [0.5, 1.0]


def test_a_server_error_is_not_a_wrong_base_url(make_client: MakeClient) -> None:
    script = Script([fail(503), ok(PROJECT)])
    client = make_client(script, fail_fast_first_connect=True)
    assert client.get_project("p").id == PROJECT["id"]


# --- the process's results budget -----------------------------------------------------------


def _budget_at_request(
    script: Script, base: int
) -> tuple[Callable[[httpx.Request], httpx.Response], list[int]]:
    """`script` as a transport that also records the results in flight (above `base`) as each
    request is sent: what that request reserved, with whatever else was still held."""
    at_request: list[int] = []

    def recording(request: httpx.Request) -> httpx.Response:
        at_request.append(PROCESS_BUDGET.in_flight - base)
        return script(request)

    return recording, at_request


def test_each_page_is_reserved_before_its_request_and_released_when_the_next_is_asked_for(
    make_client: MakeClient,
) -> None:
    """A request reserves its page's expected results (4 buckets x the guess of 500), the page
    counts what it held (4 x 40), and asking for the next page releases it first."""
    base = PROCESS_BUDGET.in_flight
    script = Script([ok(page(0, 4, 40, more=True)), ok(page(4, 50, 4, more=False))])
    recording, at_request = _budget_at_request(script, base)
    client = make_client(recording, limits=ResponseLimits(max_results_per_page=2_000))
    pages = client.usage_pages("embeddings", start_time=0, end_time=1440 * MINUTE,
                               bucket_width="1m", limit=1440, group_by=["project_id"])
    next(pages)
    assert PROCESS_BUDGET.in_flight - base == 160
    next(pages)
    assert PROCESS_BUDGET.in_flight - base == 200  # 50 buckets of 4
    assert at_request == [2_000, 2_000]  # 4 x 500, then 50 x 40
    assert next(pages, None) is None
    assert PROCESS_BUDGET.in_flight == base


def test_a_dropped_or_failed_page_releases_its_reservation(make_client: MakeClient) -> None:
    base = PROCESS_BUDGET.in_flight
    script = Script([ok(page(0, 4, 40, more=True))])
    client = make_client(script, limits=ResponseLimits(max_results_per_page=2_000))
    pages = client.usage_pages("embeddings", start_time=0, end_time=1440 * MINUTE,
                               bucket_width="1m", limit=1440, group_by=["project_id"])
    next(pages)
    pages.close()  # the caller stopped or failed while holding the page
    assert PROCESS_BUDGET.in_flight == base
    failing = make_client(Script([fail(400, "bad request")]))
    with pytest.raises(RequestRejectedError):
        list(failing.usage_pages("embeddings", start_time=0, bucket_width="1m", limit=1440,
                                 group_by=["project_id"]))
    assert (PROCESS_BUDGET.in_flight, PROCESS_BUDGET.waiting) == (base, 0)


def test_a_new_shape_reserves_what_the_org_has_shown_not_a_whole_page(
    make_client: MakeClient,
) -> None:
    """Once one shape showed 40 results a bucket, the first page of another (the `model`
    grouping) still asks for 4 buckets (the guess of 500 sizes it, so it cannot overflow), but
    reserves 4 x 40, not 4 x 500: a small org's first pages do not queue behind each other."""
    base = PROCESS_BUDGET.in_flight
    script = Script([ok(page(0, 4, 40, more=False)), ok(page(0, 4, 3, more=False))])
    recording, at_request = _budget_at_request(script, base)
    client = make_client(recording, limits=ResponseLimits(max_results_per_page=2_000))
    for group_by in (["project_id"], ["model"]):
        assert len(list(client.usage_pages(
            "embeddings", start_time=0, end_time=4 * MINUTE, bucket_width="1m", limit=1440,
            group_by=group_by))) == 1
    assert at_request == [2_000, 160]
    assert limits_asked(script) == ["4", "4"]
    assert PROCESS_BUDGET.in_flight == base
