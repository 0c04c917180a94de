"""Usage and costs endpoints: parameter rules, buckets, paging, `group_by`, filters, encodings."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from itertools import combinations
from typing import Any

import httpx
import pytest
from fake_org import COST_ROWS, DAY, HOUR, MINUTE, NOW, T0, VALUES, FakeClock, error_of

from poller.streams import USAGE_ENDPOINTS, BucketWidth

USAGE_STREAMS = [name for name in USAGE_ENDPOINTS if name != "costs"]
LONG_AGO = T0 - 40 * DAY


def page(sim_client: httpx.Client, stream: str, params: Any) -> dict[str, Any]:
    response = sim_client.get(USAGE_ENDPOINTS[stream].path, params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def rejected(sim_client: httpx.Client, stream: str, params: Any) -> dict[str, Any]:
    response = sim_client.get(USAGE_ENDPOINTS[stream].path, params=params)
    assert response.status_code == 400, response.text
    return error_of(response)


def per_minute(stream: str, metric: str, rows: Iterable[int] = range(3)) -> int:
    j = USAGE_ENDPOINTS[stream].metrics.index(metric)
    return sum((r + 1) * (j + 1) for r in rows)


# --- parameter rules --------------------------------------------------------------------------


@pytest.mark.parametrize("stream", list(USAGE_ENDPOINTS))
def test_start_time_is_required(sim_client: httpx.Client, stream: str) -> None:
    error = rejected(sim_client, stream, {})
    assert error["param"] == "start_time"
    assert error["code"] == "missing_required_parameter"
    assert error["type"] == "invalid_request_error"


@pytest.mark.parametrize("value", ["abc", "1.5", "1e9", "-5"])
def test_start_time_must_be_a_non_negative_integer(sim_client: httpx.Client, value: str) -> None:
    assert rejected(sim_client, "completions", {"start_time": value})["param"] == "start_time"


@pytest.mark.parametrize("end", [T0, T0 - 1, "soon"])
def test_end_time_must_be_an_integer_after_start_time(sim_client: httpx.Client, end: Any) -> None:
    assert (
        rejected(sim_client, "embeddings", {"start_time": T0, "end_time": end})["param"]
        == "end_time"
    )


def test_bucket_width_is_checked_and_costs_takes_only_1d(sim_client: httpx.Client) -> None:
    assert rejected(sim_client, "completions", {"start_time": T0, "bucket_width": "5m"})[
        "param"
    ] == ("bucket_width")
    error = rejected(sim_client, "costs", {"start_time": T0, "bucket_width": "1h"})
    assert error["param"] == "bucket_width"
    assert "'1d'" in error["message"]


@pytest.mark.parametrize(
    ("stream", "width", "default", "maximum"),
    [
        ("completions", "1d", 7, 31),
        ("completions", "1h", 24, 168),
        ("moderations", "1m", 60, 1440),
        ("costs", "1d", 7, 180),
    ],
)
def test_limit_default_and_bounds_per_width(
    sim_client: httpx.Client, stream: str, width: str, default: int, maximum: int
) -> None:
    seconds = BucketWidth(width).seconds
    start = T0 - (maximum + 5) * seconds
    base = {"start_time": start, "bucket_width": width}
    assert len(page(sim_client, stream, base)["data"]) == default
    assert len(page(sim_client, stream, {**base, "limit": maximum})["data"]) == maximum
    above = rejected(sim_client, stream, {**base, "limit": maximum + 1})
    assert (above["param"], above["code"]) == ("limit", "integer_above_max_value")
    below = rejected(sim_client, stream, {**base, "limit": 0})
    assert (below["param"], below["code"]) == ("limit", "integer_below_min_value")


# --- buckets --------------------------------------------------------------------------------------


def test_buckets_align_to_utc_and_the_first_is_clipped_at_start_time(
    sim_client: httpx.Client,
) -> None:
    start = T0 + 5 * HOUR + 7
    body = page(sim_client, "completions", {"start_time": start, "limit": 3})
    spans = [(b["start_time"], b["end_time"]) for b in body["data"]]
    assert spans == [(start, T0 + DAY), (T0 + DAY, T0 + 2 * DAY), (T0 + 2 * DAY, T0 + 3 * DAY)]
    first = body["data"][0]["results"][0]
    assert first["input_tokens"] == per_minute("completions", "input_tokens") * (19 * 60 - 1)


def test_end_time_is_exclusive_and_clips_the_last_bucket(sim_client: httpx.Client) -> None:
    body = page(
        sim_client,
        "embeddings",
        {"start_time": T0, "end_time": T0 + DAY + HOUR, "bucket_width": "1d"},
    )
    spans = [(b["start_time"], b["end_time"]) for b in body["data"]]
    assert spans == [(T0, T0 + DAY), (T0 + DAY, T0 + DAY + HOUR)]
    assert (
        body["data"][1]["results"][0]["input_tokens"]
        == per_minute("embeddings", "input_tokens") * 60
    )
    assert (body["has_more"], body["next_page"]) == (False, None)


def test_no_bucket_starts_after_now_and_the_current_one_is_partial(
    sim_client: httpx.Client, sim_clock: FakeClock
) -> None:
    body = page(sim_client, "completions", {"start_time": NOW - 2 * HOUR, "bucket_width": "1h"})
    starts = [b["start_time"] for b in body["data"]]
    assert starts == [NOW - 2 * HOUR, T0 + 10 * DAY + 11 * HOUR, T0 + 10 * DAY + 12 * HOUR]
    current = body["data"][-1]
    assert current["end_time"] == T0 + 10 * DAY + 13 * HOUR
    assert (
        current["results"][0]["num_model_requests"]
        == per_minute("completions", "num_model_requests") * 31
    )  # minutes 12:00 .. 12:30 have started
    assert (body["has_more"], body["next_page"]) == (False, None)
    sim_clock.now = NOW + HOUR
    assert (
        len(
            page(sim_client, "completions", {"start_time": NOW - 2 * HOUR, "bucket_width": "1h"})[
                "data"
            ]
        )
        == 4
    )


def test_a_window_entirely_in_the_future_is_empty(sim_client: httpx.Client) -> None:
    body = page(sim_client, "completions", {"start_time": NOW + 1, "end_time": NOW + DAY})
    assert body == {"object": "page", "data": [], "has_more": False, "next_page": None}


def test_empty_buckets_are_returned_with_empty_results(sim_client: httpx.Client) -> None:
    body = page(
        sim_client, "images", {"start_time": T0 - 3 * HOUR, "bucket_width": "1h", "limit": 4}
    )
    assert [b["results"] for b in body["data"][:3]] == [[], [], []]
    assert body["data"][3]["results"] != []
    assert all(b["object"] == "bucket" for b in body["data"])


# --- paging ---------------------------------------------------------------------------------------


def all_buckets(
    sim_client: httpx.Client, stream: str, params: dict[str, Any]
) -> list[dict[str, Any]]:
    buckets: list[dict[str, Any]] = []
    body = page(sim_client, stream, params)
    while True:
        buckets.extend(body["data"])
        assert len(body["data"]) <= params.get("limit", 7)
        if not body["has_more"]:
            assert body["next_page"] is None
            return buckets
        assert isinstance(body["next_page"], str)
        body = page(sim_client, stream, {**params, "page": body["next_page"]})


@pytest.mark.parametrize("limit", [1, 3, 5, 13])
def test_paging_neither_loses_nor_repeats_buckets(sim_client: httpx.Client, limit: int) -> None:
    params = {"start_time": T0 - 3 * DAY + 11, "end_time": T0 + 10 * DAY, "group_by": "model"}
    whole = page(sim_client, "completions", {**params, "limit": 31})
    assert not whole["has_more"]
    assert all_buckets(sim_client, "completions", {**params, "limit": limit}) == whole["data"]


def test_paging_runs_up_to_now_without_end_time(sim_client: httpx.Client) -> None:
    buckets = all_buckets(sim_client, "costs", {"start_time": T0 - DAY, "limit": 4})
    assert [b["start_time"] for b in buckets] == [T0 - DAY + d * DAY for d in range(12)]


def test_a_page_token_may_change_the_limit_but_not_the_query(sim_client: httpx.Client) -> None:
    params = {"start_time": T0, "bucket_width": "1h", "group_by[]": "model"}
    token = page(sim_client, "completions", params)["next_page"]
    assert (
        page(sim_client, "completions", {**params, "page": token, "limit": 2})["data"][0][
            "start_time"
        ]
        == T0 + 24 * HOUR
    )
    for other in (
        {**params, "group_by[]": "project_id"},
        {**params, "start_time": T0 + 1},
        {**params, "models": "gpt-4o"},
        {**params, "bucket_width": "1m"},
    ):
        error = rejected(sim_client, "completions", {**other, "page": token})
        assert (error["param"], error["code"]) == ("page", "invalid_value")
    assert rejected(sim_client, "embeddings", {**params, "page": token})["param"] == "page"


@pytest.mark.parametrize("token", ["garbage", "page_", "page_!!!", "page_MTIzOmFiYw"])
def test_garbled_page_tokens_are_rejected(sim_client: httpx.Client, token: str) -> None:
    assert rejected(sim_client, "completions", {"start_time": T0, "page": token})["param"] == "page"


# --- group_by and projection ---------------------------------------------------------------------


@pytest.mark.parametrize("stream", list(USAGE_ENDPOINTS))
def test_group_by_accepts_only_the_endpoints_dimensions(
    sim_client: httpx.Client, stream: str
) -> None:
    other = {"line_item", "service_tier", "vector_store_id"} - set(
        USAGE_ENDPOINTS[stream].dimensions
    )
    error = rejected(sim_client, stream, {"start_time": T0, "group_by": sorted(other)[0]})
    assert (error["param"], error["code"]) == ("group_by", "invalid_value")


@pytest.mark.parametrize("stream", USAGE_STREAMS)
def test_every_subset_of_group_by_projects_and_sums_the_finest_rows(
    sim_client: httpx.Client, stream: str
) -> None:
    endpoint = USAGE_ENDPOINTS[stream]
    metric = endpoint.required_metrics[0]
    for size in range(len(endpoint.dimensions) + 1):
        for grouped in combinations(endpoint.dimensions, size):
            params = {"start_time": T0, "end_time": T0 + DAY, "group_by[]": list(grouped)}
            results = page(sim_client, stream, params)["data"][0]["results"]
            expected: dict[tuple[Any, ...], int] = {}
            for r in range(3):
                key = tuple(VALUES[d][r] if d in grouped else None for d in endpoint.dimensions)
                expected[key] = (
                    expected.get(key, 0) + per_minute(stream, metric, range(r, r + 1)) * 1440
                )
            got = {tuple(res[d] for d in endpoint.dimensions): res[metric] for res in results}
            assert got == expected, grouped
            for result in results:
                assert result["object"] == endpoint.result_object
                assert set(endpoint.dimensions) | set(endpoint.metrics) | {"object"} == set(result)


@pytest.mark.parametrize(
    "params",
    [
        {"group_by[]": ["project_id", "model"]},
        {"group_by": ["project_id", "model"]},
        {"group_by": "project_id,model"},
        {"group_by": "project_id, model"},
        {"group_by[0]": "project_id", "group_by[1]": "model"},
    ],
)
def test_every_array_encoding_means_the_same(
    sim_client: httpx.Client, params: dict[str, Any]
) -> None:
    reference = page(
        sim_client, "completions", {"start_time": T0, "group_by[]": ["model", "project_id"]}
    )
    assert page(sim_client, "completions", {"start_time": T0, **params}) == reference


# --- filters --------------------------------------------------------------------------------------


FILTERS = [
    (stream, param, dimension)
    for stream, endpoint in USAGE_ENDPOINTS.items()
    for param, dimension in endpoint.filters
    if stream != "costs"
]


@pytest.mark.parametrize(("stream", "param", "dimension"), FILTERS)
def test_every_filter_keeps_only_matching_rows(
    sim_client: httpx.Client, stream: str, param: str, dimension: str
) -> None:
    endpoint = USAGE_ENDPOINTS[stream]
    wanted = VALUES[dimension][0]
    value = str(wanted).lower() if isinstance(wanted, bool) else wanted
    params = {"start_time": T0, "end_time": T0 + DAY, "group_by": ",".join(endpoint.dimensions)}
    results = page(sim_client, stream, {**params, f"{param}[]": value})["data"][0]["results"]
    matching = [r for r in range(3) if VALUES[dimension][r] == wanted]
    assert len(results) == len({tuple(VALUES[d][r] for d in endpoint.dimensions) for r in matching})
    assert {res[dimension] for res in results} == {wanted}
    metric = endpoint.required_metrics[0]
    ungrouped = page(sim_client, stream, {"start_time": T0, "end_time": T0 + DAY, param: value})
    assert ungrouped["data"][0]["results"][0][metric] == per_minute(stream, metric, matching) * 1440


def test_filters_take_several_values_in_any_encoding(sim_client: httpx.Client) -> None:
    params = {"start_time": T0, "group_by": "api_key_id"}
    for encoding in ({"api_key_ids[]": ["key_a", "key_c"]}, {"api_key_ids": "key_a,key_c"}):
        results = page(sim_client, "completions", {**params, **encoding})["data"][0]["results"]
        assert [r["api_key_id"] for r in results] == ["key_a", "key_c"]


def test_a_user_filter_drops_rows_without_a_user(sim_client: httpx.Client) -> None:
    results = page(
        sim_client,
        "embeddings",
        {"start_time": T0, "user_ids": "user_a,user_b", "group_by": "user_id"},
    )
    assert [r["user_id"] for r in results["data"][0]["results"]] == ["user_a", "user_b"]


@pytest.mark.parametrize(
    ("stream", "param", "value"),
    [
        ("images", "sizes", "1x1"),
        ("images", "sources", "image.paint"),
        ("web_search_calls", "context_levels", "max"),
    ],
)
def test_enum_filters_reject_unknown_values(
    sim_client: httpx.Client, stream: str, param: str, value: str
) -> None:
    error = rejected(sim_client, stream, {"start_time": T0, f"{param}[]": value})
    assert (error["param"], error["code"]) == (param, "invalid_value")


@pytest.mark.parametrize("value", ["yes", "1"])
def test_batch_must_be_true_or_false(sim_client: httpx.Client, value: str) -> None:
    assert (
        rejected(sim_client, "completions", {"start_time": T0, "batch": value})["param"] == "batch"
    )


def test_unknown_parameters_and_filters_of_other_endpoints_are_ignored(
    sim_client: httpx.Client,
) -> None:
    base = {"start_time": T0, "group_by": "project_id"}
    reference = page(sim_client, "vector_stores", base)
    assert (
        page(sim_client, "vector_stores", {**base, "models": "nope", "colour": "blue"}) == reference
    )


# --- costs ----------------------------------------------------------------------------------------


def cost_results(sim_client: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    body = page(sim_client, "costs", {"start_time": T0 + DAY, "end_time": T0 + 2 * DAY, **params})
    return list(body["data"][0]["results"])


def test_ungrouped_costs_are_one_total_with_null_dimensions(sim_client: httpx.Client) -> None:
    (result,) = cost_results(sim_client)
    total = sum(usd for usd, _, _ in COST_ROWS.values()) * 1440
    assert result == {
        "object": "organization.costs.result",
        "amount": {"value": float(total), "currency": "usd"},
        "line_item": None,
        "project_id": None,
        "api_key_id": None,
        "quantity": None,
        "quantity_unit": None,
    }
    assert isinstance(result["amount"]["value"], float)


def test_costs_carry_quantity_only_when_grouped_by_line_item(sim_client: httpx.Client) -> None:
    by_project = cost_results(sim_client, group_by="project_id")
    assert [(r["project_id"], r["quantity"], r["quantity_unit"]) for r in by_project] == [
        ("proj_a", None, None),
        ("proj_b", None, None),
    ]
    by_item = cost_results(sim_client, **{"group_by[]": ["line_item", "api_key_id"]})
    assert [
        (r["line_item"], r["api_key_id"], r["project_id"], r["quantity"], r["quantity_unit"])
        for r in by_item
    ] == [
        ("gpt-4o, input", "key_a", None, 144000, "tokens"),
        ("gpt-4o, output", "key_b", None, 72000, "tokens"),
        ("web search tool calls", "key_c", None, 1440, None),
    ]
    assert [Decimal(str(r["amount"]["value"])) for r in by_item] == [
        usd * 1440 for usd, _, _ in COST_ROWS.values()
    ]


def test_costs_filters(sim_client: httpx.Client) -> None:
    only_b = cost_results(sim_client, project_ids="proj_b", group_by="line_item")
    assert [r["line_item"] for r in only_b] == ["web search tool calls"]
    keys = cost_results(
        sim_client, **{"api_key_ids[]": ["key_a", "key_b"], "group_by": "api_key_id"}
    )
    assert [r["api_key_id"] for r in keys] == ["key_a", "key_b"]


def test_one_minute_buckets(sim_client: httpx.Client) -> None:
    body = page(
        sim_client, "audio_speeches", {"start_time": T0 - 30, "bucket_width": "1m", "limit": 3}
    )
    spans = [(b["start_time"], b["end_time"]) for b in body["data"]]
    assert spans == [(T0 - 30, T0), (T0, T0 + MINUTE), (T0 + MINUTE, T0 + 2 * MINUTE)]
    assert body["data"][1]["results"][0]["characters"] == per_minute("audio_speeches", "characters")
