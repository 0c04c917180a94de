"""`--rate-limit`: the token bucket, Retry-After arithmetic, and `/_sim/stats` bookkeeping."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fake_org import NOW, FakeClock, MakeClient

from poller.simulator.ratelimit import TokenBuckets

PROJECTS = "/organization/projects"


def stats(sim_client: httpx.Client) -> dict[str, Any]:
    response = sim_client.get("http://sim/_sim/stats")
    assert response.status_code == 200
    return dict(response.json())


def test_a_bucket_starts_full_and_refills_at_rpm_per_minute() -> None:
    buckets = TokenBuckets(rpm=3)
    assert [buckets.take("a", 100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a", 100.0) == pytest.approx(20.0)
    assert buckets.take("a", 110.0) == pytest.approx(10.0)
    assert buckets.take("a", 120.0) == 0.0
    assert buckets.take("b", 120.0) == 0.0  # another sim_client has its own bucket
    assert [buckets.take("a", 180.0) for _ in range(3)] == [0.0, 0.0, 0.0]  # a minute: 3 tokens
    assert buckets.take("a", 180.0) == pytest.approx(20.0)


def test_a_bucket_never_holds_more_than_its_capacity() -> None:
    buckets = TokenBuckets(rpm=2)
    buckets.take("a", 0.0)
    assert [buckets.take("a", 10_000.0) for _ in range(3)][-1] == pytest.approx(30.0)


def test_a_rate_below_one_per_minute_still_serves_one_request() -> None:
    buckets = TokenBuckets(rpm=0.5)
    assert buckets.take("a", 0.0) == 0.0
    assert buckets.take("a", 0.0) == pytest.approx(120.0)


def test_rate_limit_answers_429_with_exact_retry_after(
    make_sim_client: MakeClient, sim_clock: FakeClock
) -> None:
    sim_client = make_sim_client(rate_limit_rpm=4)
    assert [sim_client.get(PROJECTS).status_code for _ in range(4)] == [200] * 4
    sim_clock.now = NOW + 0.4
    response = sim_client.get(PROJECTS)
    assert response.status_code == 429
    assert response.headers["retry-after-ms"] == "14600"
    assert response.headers["retry-after"] == "15"
    body = response.json()["error"]
    assert (body["type"], body["code"]) == ("requests", "rate_limit_exceeded")
    sim_clock.now = NOW + 15.0
    assert sim_client.get(PROJECTS).status_code == 200
    counters = stats(sim_client)
    assert counters["rate_limited"] == 1
    assert counters["early_retries"] == 0
    assert counters["requests"] == {"/v1/organization/projects": {"200": 5, "429": 1}}


def test_early_retries_count_requests_before_the_given_instant(
    make_sim_client: MakeClient, sim_clock: FakeClock
) -> None:
    sim_client = make_sim_client(faults="429=1", fault_retry_after_ms=1500)
    assert sim_client.get(PROJECTS).status_code == 429
    sim_clock.now = NOW + 1.499
    sim_client.get(PROJECTS)  # early: counted, and told to wait again until NOW + 2.999
    sim_clock.now = NOW + 2.0
    sim_client.get(PROJECTS)  # early for the second Retry-After
    sim_clock.now = NOW + 10
    sim_client.get(PROJECTS)  # on time
    assert stats(sim_client)["early_retries"] == 2


def test_early_retries_are_per_client(make_sim_client: MakeClient, sim_clock: FakeClock) -> None:
    sim_client = make_sim_client(rate_limit_rpm=1)
    sim_client.get(PROJECTS)
    assert sim_client.get(PROJECTS).status_code == 429
    other = make_sim_client(key="sk-admin-someone-else-entirely")
    other.get(PROJECTS)
    assert stats(sim_client)["early_retries"] == 0  # another app; and in this one:
    sim_client.get(PROJECTS, headers={"Authorization": "Bearer sk-admin-someone-else-entirely"})
    assert stats(sim_client)["early_retries"] == 0
    sim_client.get(PROJECTS)
    assert stats(sim_client)["early_retries"] == 1


def test_stats_use_path_templates_and_reset_zeroes_them(
    make_sim_client: MakeClient, sim_clock: FakeClock
) -> None:
    sim_client = make_sim_client(rate_limit_rpm=1)
    sim_client.get("/organization/projects/proj_a/rate_limits")
    sim_client.get("/organization/projects/proj_b/rate_limits")
    sim_client.get("/organization/nowhere")
    counters = stats(sim_client)
    assert counters["requests"] == {
        "/v1/organization/projects/{project_id}/rate_limits": {"200": 1, "429": 1},
        "<unmatched>": {"404": 1},
    }
    assert counters["faults"] == {
        k: 0 for k in ("429", "500", "502", "503", "timeout", "malformed", "drift")
    }
    reset = sim_client.post("http://sim/_sim/reset")
    assert reset.status_code == 200
    assert reset.json() == {
        "requests": {},
        "early_retries": 0,
        "faults": counters["faults"],
        "rate_limited": 0,
    }
    sim_client.get(PROJECTS)  # early, but the reset forgot the deadline
    assert stats(sim_client)["early_retries"] == 0


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/_sim/stats", 405),
        ("GET", "/_sim/reset", 405),
        ("GET", "/_sim/nope", 404),
        ("GET", "/_sim", 404),
    ],
)
def test_sim_paths_are_strict_and_need_no_key(
    make_sim_client: MakeClient, method: str, path: str, status: int
) -> None:
    response = make_sim_client(key=None).request(method, f"http://sim{path}")
    assert response.status_code == status
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}
