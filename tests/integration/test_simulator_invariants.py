"""What must hold between the simulator's answers, for any window hypothesis picks.

Finer buckets sum to coarser ones, groups sum to the ungrouped total, paging with any limit
neither loses nor repeats a bucket, an audit event or an item of a `next`-paged list, costs are
the organization's usage priced by poller.pricing, and the traffic keeps to its project's model
and hosted-tool permissions. Data is settled: the clock stands a year past every window.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from itertools import pairwise
from typing import Any

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from poller.simulator.app import SimulatorApp, is_tenant_scoped
from poller.simulator.organization import build_organization
from poller.streams import USAGE_ENDPOINTS, BucketWidth

KEY = "sk-admin-invariants"
MINUTE, HOUR, DAY = 60, 3600, 86_400
EPOCH = 1_704_067_200  # 2024-01-01, where the organization's history starts
FIRST_DAY, LAST_DAY = 30, 640  # windows come from 2024-01-31 .. 2025-10-02
NOW = EPOCH + (LAST_DAY + 365) * DAY  # every window long settled
USAGE_STREAMS = [name for name in USAGE_ENDPOINTS if name != "costs"]
ORG = build_organization(seed=11, size="medium", settle_seconds=600)
CLIENT = httpx.Client(
    transport=httpx.WSGITransport(app=SimulatorApp(ORG, admin_key=KEY, clock=lambda: NOW)),
    base_url="http://sim/v1",
    headers={"Authorization": f"Bearer {KEY}"},
)
SETTINGS = settings(deadline=None, max_examples=30, derandomize=True)

Totals = dict[tuple[Any, ...], Counter[str]]

streams = st.sampled_from(USAGE_STREAMS)
days = st.integers(FIRST_DAY, LAST_DAY).map(lambda day: EPOCH + day * DAY)


@st.composite
def stream_and_grouping(draw: st.DrawFn) -> tuple[str, list[str]]:
    stream = draw(streams)
    dimensions = USAGE_ENDPOINTS[stream].dimensions
    return stream, draw(st.lists(st.sampled_from(dimensions), unique=True))


def get_page(stream: str, params: Mapping[str, Any]) -> dict[str, Any]:
    response = CLIENT.get(USAGE_ENDPOINTS[stream].path, params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def totals(stream: str, buckets: Sequence[Mapping[str, Any]]) -> Totals:
    """Metrics summed over `buckets`, per grouped-dimension tuple."""
    endpoint = USAGE_ENDPOINTS[stream]
    sums: Totals = {}
    for result in (r for bucket in buckets for r in bucket["results"]):
        key = tuple(result[d] for d in endpoint.dimensions)
        sums.setdefault(key, Counter()).update({m: result[m] for m in endpoint.metrics})
    return sums


def window(
    stream: str, start: int, end: int, width: str, group_by: list[str]
) -> list[dict[str, Any]]:
    limit = (end - start) // BucketWidth(width).seconds
    body = get_page(
        stream,
        {
            "start_time": start,
            "end_time": end,
            "bucket_width": width,
            "limit": limit,
            "group_by[]": group_by,
        },
    )
    assert not body["has_more"]
    assert len(body["data"]) == limit
    return list(body["data"])


@SETTINGS
@given(stream_and_grouping(), days, st.integers(0, 23))
def test_minutes_sum_to_their_hour(case: tuple[str, list[str]], day: int, hour: int) -> None:
    stream, group_by = case
    start = day + hour * HOUR
    minutes = window(stream, start, start + HOUR, "1m", group_by)
    (whole,) = window(stream, start, start + HOUR, "1h", group_by)
    assert totals(stream, minutes) == totals(stream, [whole])


@SETTINGS
@given(stream_and_grouping(), days)
def test_hours_sum_to_their_day(case: tuple[str, list[str]], day: int) -> None:
    stream, group_by = case
    hours = window(stream, day, day + DAY, "1h", group_by)
    (whole,) = window(stream, day, day + DAY, "1d", group_by)
    assert totals(stream, hours) == totals(stream, [whole])


@SETTINGS
@given(stream_and_grouping(), days, st.sampled_from(["1h", "1d"]))
def test_groups_sum_to_the_ungrouped_total(
    case: tuple[str, list[str]], day: int, width: str
) -> None:
    stream, group_by = case
    grouped = window(stream, day, day + DAY, width, group_by)
    plain = window(stream, day, day + DAY, width, [])
    for grouped_bucket, plain_bucket in zip(grouped, plain, strict=True):
        summed = sum(totals(stream, [grouped_bucket]).values(), Counter())
        assert summed == sum(totals(stream, [plain_bucket]).values(), Counter())
        assert len(plain_bucket["results"]) <= 1


@SETTINGS
@given(streams, days, st.sampled_from(["1m", "1h", "1d"]), st.data())
def test_paging_neither_loses_nor_repeats_buckets(
    stream: str, day: int, width: str, data: st.DataObject
) -> None:
    seconds = BucketWidth(width).seconds
    start = day + data.draw(st.integers(0, seconds - 1))  # mostly off a boundary: clipped
    end = day + data.draw(st.integers(1, 40)) * seconds + data.draw(st.integers(0, seconds - 1))
    limit = data.draw(st.integers(1, 31))
    params: dict[str, Any] = {
        "start_time": start,
        "end_time": end,
        "bucket_width": width,
        "limit": limit,
    }
    buckets: list[dict[str, Any]] = []
    body = get_page(stream, params)
    while True:
        assert len(body["data"]) <= limit
        buckets.extend(body["data"])
        if not body["has_more"]:
            assert body["next_page"] is None
            break
        body = get_page(stream, {**params, "page": body["next_page"]})
    spans = [(b["start_time"], b["end_time"]) for b in buckets]
    assert spans[0][0] == start
    assert spans[-1][1] == end
    assert all(a[1] == b[0] for a, b in pairwise(spans))
    assert all(s % seconds == 0 for s, _ in spans[1:])
    one_page = get_page(stream, {**params, "limit": len(spans)}) if len(spans) <= 31 else None
    if one_page is not None:
        assert one_page["data"] == buckets


@SETTINGS
@given(days, st.integers(1, 6), st.integers(1, 100), st.booleans())
def test_audit_paging_neither_loses_nor_repeats_events(
    day: int, span_days: int, limit: int, tenant_only: bool
) -> None:
    bounds: dict[str, Any] = {"effective_at[gte]": day, "effective_at[lt]": day + span_days * DAY}
    tenant = {"tenant_only": "true"} if tenant_only else {}
    params: dict[str, Any] = {**bounds, **tenant, "limit": limit}
    pages = [CLIENT.get("/organization/audit_logs", params=params).json()]
    while pages[-1]["has_more"]:
        after = pages[-1]["last_id"]
        pages.append(
            CLIENT.get("/organization/audit_logs", params={**params, "after": after}).json()
        )
    events = [e for page in pages for e in page["data"]]
    truth = [
        e
        for e in ORG.audit_events(day, day + span_days * DAY, NOW)
        if is_tenant_scoped(e["type"]) == tenant_only
    ]
    assert [e["id"] for e in events] == [e["id"] for e in truth]
    backwards: list[str] = []
    cursor = {"before": events[-1]["id"]} if events else None
    while cursor is not None:
        page = CLIENT.get(
            "/organization/audit_logs", params={**bounds, **tenant, "limit": limit, **cursor}
        ).json()
        backwards = [e["id"] for e in page["data"]] + backwards
        cursor = {"before": page["first_id"]} if page["has_more"] else None
    assert backwards == [e["id"] for e in events[:-1]]


MICRO = Decimal("0.000001")


@settings(deadline=None, max_examples=10, derandomize=True)
@given(days)
def test_costs_are_usage_times_prices(day: int) -> None:
    """A settled day's costs, per (project, line item, key): the day's usage at the finest
    grain as served, priced by poller.pricing (the organization's table: the published one
    plus its fine-tuned model) at the day's start, rounded to 6 places."""
    expected: dict[tuple[Any, ...], list[Decimal]] = {}
    for stream in USAGE_STREAMS:
        endpoint = USAGE_ENDPOINTS[stream]
        (bucket,) = window(stream, day, day + DAY, "1d", list(endpoint.dimensions))
        for result in bucket["results"]:
            items = ORG.prices.line_items(stream, result, day)
            assert items is not None, result
            for item in items:
                key = (result["project_id"], item.name, result.get("api_key_id"))
                sums = expected.setdefault(key, [Decimal(0), Decimal(0)])
                sums[0] += item.amount_usd
                sums[1] += item.quantity
    (costs,) = window("costs", day, day + DAY, "1d", ["project_id", "line_item", "api_key_id"])
    served = {
        (r["project_id"], r["line_item"], r["api_key_id"]): (r["amount"]["value"], r["quantity"])
        for r in costs["results"]
    }
    assert set(served) == set(expected)
    for key, (amount, quantity) in expected.items():
        assert served[key][0] == float(amount.quantize(MICRO, ROUND_HALF_UP)), key
        assert Decimal(str(served[key][1])) == quantity.quantize(MICRO), key


# --- controls ---------------------------------------------------------------------------------

ACCESS = ORG.access
BUSIEST_GROUP = max(ACCESS.group_users, key=lambda group: len(ACCESS.group_users[group]))
BUSIEST_USER = max(ACCESS.user_roles, key=lambda user: len(ACCESS.user_roles[user]))
BUSIEST_PROJECT = max(ACCESS.project_groups, key=lambda p: len(ACCESS.project_groups[p]))
NEXT_LISTS = {
    "/organization/groups": ("id", [g["id"] for g in ACCESS.groups]),
    "/organization/roles": ("id", [r["id"] for r in ACCESS.roles]),
    f"/organization/groups/{BUSIEST_GROUP}/users": (
        "id",
        [u["id"] for u in ACCESS.group_users[BUSIEST_GROUP]][::-1],  # newest first by default
    ),
    f"/organization/users/{BUSIEST_USER}/roles": (
        "id",
        [r["id"] for r in ACCESS.user_roles[BUSIEST_USER]],
    ),
    f"/organization/projects/{BUSIEST_PROJECT}/groups": (
        "group_id",
        [g["group_id"] for g in ACCESS.project_groups[BUSIEST_PROJECT]],
    ),
}


@SETTINGS
@given(st.sampled_from(sorted(NEXT_LISTS)), st.integers(1, 12))
def test_next_paging_neither_loses_nor_repeats_items(path: str, limit: int) -> None:
    key, truth = NEXT_LISTS[path]
    assert len(truth) > 1
    seen: list[str] = []
    params: dict[str, Any] = {"limit": limit}
    while True:
        body = CLIENT.get(path, params=params).json()
        assert len(body["data"]) == min(limit, len(truth) - len(seen))
        seen += [item[key] for item in body["data"]]
        if body["next"] is None:
            assert not body["has_more"]
            break
        assert body["has_more"] and body["next"] == seen[-1]
        params = {"limit": limit, "after": body["next"]}
    assert seen == truth


def test_traffic_keeps_to_model_and_hosted_tool_permissions() -> None:
    """The last settled day's usage per project (only current traffic runs after the roster's
    horizon) uses allowed models only, and hosted tools its project enables."""
    day = NOW - 2 * DAY
    used: dict[str, set[str]] = {}
    for stream in USAGE_STREAMS:
        if "model" not in USAGE_ENDPOINTS[stream].dimensions:
            continue
        (bucket,) = window(stream, day, day + DAY, "1d", ["project_id", "model"])
        for result in bucket["results"]:
            used.setdefault(result["project_id"], set()).add(result["model"])
    assert used
    for project_id, models in used.items():
        permissions = CLIENT.get(f"/organization/projects/{project_id}/model_permissions").json()
        listed = set(permissions["model_ids"])
        assert models <= listed if permissions["mode"] == "allow_list" else not models & listed
    tools = {
        "file_search_calls": "file_search",
        "web_search_calls": "web_search",
        "code_interpreter_sessions": "code_interpreter",
        "images": "image_generation",
    }
    for stream, tool in tools.items():
        (bucket,) = window(stream, day, day + DAY, "1d", ["project_id"])
        for result in bucket["results"]:
            path = f"/organization/projects/{result['project_id']}/hosted_tool_permissions"
            assert CLIENT.get(path).json()[tool] == {"enabled": True}, (stream, result)
