"""Fault injection: the `--faults` grammar, each kind at probability 1, reproducibility."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fake_org import T0, FakeClock, MakeClient, error_of

from poller.simulator.faults import DRIFT_FIELD, DRIFT_FIELDS, FaultInjector, FaultPlan

USAGE = "/organization/usage/completions"
COSTS = "/organization/costs"


def stats(sim_client: httpx.Client) -> dict[str, Any]:
    return dict(sim_client.get("http://sim/_sim/stats").json())


def test_plan_grammar() -> None:
    assert FaultPlan.parse("") == FaultPlan()
    assert FaultPlan.parse(" 429=0.1 , timeout=0.25,drift=0") == FaultPlan(
        (("429", 0.1), ("timeout", 0.25), ("drift", 0.0))
    )
    assert FaultPlan.parse("500=0.5,502=0.5").probabilities[-1] == ("502", 0.5)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("404=0.1", "unknown fault kind '404'; choose from: 429, 500, 502, 503, timeout"),
        ("429", "invalid item '429': expected kind=probability"),
        ("=0.5", "invalid item '=0.5'"),
        ("429=0.1,", "invalid item ''"),
        ("429=lots", "probability of '429' is not a number: 'lots'"),
        ("429=1.5", "probability of '429' must be between 0 and 1, got 1.5"),
        ("429=-0.1", "must be between 0 and 1"),
        ("429=nan", "must be between 0 and 1"),
        ("429=0.1,429=0.2", "fault kind '429' is given twice"),
        ("429=0.6,500=0.6", "probabilities add up to 1.2"),
    ],
)
def test_invalid_plans_say_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        FaultPlan.parse(spec)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_429_fault_carries_retry_after_in_seconds_and_milliseconds(
    make_sim_client: MakeClient,
) -> None:
    sim_client = make_sim_client(faults="429=1", fault_retry_after_ms=2500)
    response = sim_client.get(USAGE, params={"start_time": T0})
    assert response.status_code == 429
    assert (response.headers["retry-after"], response.headers["retry-after-ms"]) == ("3", "2500")
    error = error_of(response)
    assert (error["type"], error["code"]) == ("requests", "rate_limit_exceeded")
    assert stats(sim_client)["faults"]["429"] == 1


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_error_faults_use_the_envelope(make_sim_client: MakeClient, status: int) -> None:
    sim_client = make_sim_client(faults=f"{status}=1.0")
    response = sim_client.get("/organization/projects")
    assert response.status_code == status
    error = error_of(response)
    assert (error["type"], error["param"], error["code"]) == ("server_error", None, None)
    assert stats(sim_client)["faults"][str(status)] == 1


def test_timeout_fault_stalls_with_the_injected_sleep_then_answers(
    make_sim_client: MakeClient, sim_clock: FakeClock
) -> None:
    sim_client = make_sim_client(faults="timeout=1")
    assert sim_client.get("/organization/users").status_code == 200
    assert sim_clock.slept == [30.0]
    sim_client = make_sim_client(faults="timeout=1", stall_seconds=90)
    sim_client.get("/organization/users")
    assert sim_clock.slept == [30.0, 90.0]
    assert stats(sim_client)["faults"]["timeout"] == 1


@pytest.mark.parametrize(
    "path", [USAGE + f"?start_time={T0}", "/organization/projects", "/organization/audit_logs"]
)
def test_malformed_fault_is_a_200_whose_body_is_not_json(
    make_sim_client: MakeClient, path: str
) -> None:
    sim_client = make_sim_client(faults="malformed=1")
    response = sim_client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)
    assert stats(sim_client)["faults"]["malformed"] == 1


def test_drift_adds_unknown_fields_and_keeps_the_facts(make_sim_client: MakeClient) -> None:
    plain, drifted = make_sim_client(), make_sim_client(faults="drift=1.0")
    params: dict[str, Any] = {"start_time": T0, "group_by": "model", "limit": 2}
    before, after = plain.get(USAGE, params=params).json(), drifted.get(USAGE, params=params).json()
    assert DRIFT_FIELD in after
    assert all(DRIFT_FIELD in bucket for bucket in after["data"])
    results = [r for bucket in after["data"] for r in bucket["results"]]
    assert results
    assert all(DRIFT_FIELD in r for r in results)
    assert strip(after) == before


def test_drift_sends_costs_amounts_as_decimal_strings(make_sim_client: MakeClient) -> None:
    plain, drifted = make_sim_client(), make_sim_client(faults="drift=1")
    params: dict[str, Any] = {"start_time": T0, "end_time": T0 + 86400, "group_by": "line_item"}
    numbers = [
        r["amount"]["value"] for r in plain.get(COSTS, params=params).json()["data"][0]["results"]
    ]
    strings = [
        r["amount"]["value"] for r in drifted.get(COSTS, params=params).json()["data"][0]["results"]
    ]
    assert numbers == [14.4, 43.2, 36.0]
    assert strings == ["14.40", "43.20", "36.00"]


def test_drift_on_lists_marks_every_item(make_sim_client: MakeClient) -> None:
    body = make_sim_client(faults="drift=1").get("/organization/projects").json()
    assert DRIFT_FIELD in body
    assert all(DRIFT_FIELD in project for project in body["data"])


def test_faults_never_touch_sim_paths_or_unauthenticated_requests(
    make_sim_client: MakeClient,
) -> None:
    sim_client = make_sim_client(faults="500=1")
    assert sim_client.get("http://sim/_sim/stats").status_code == 200
    assert sim_client.post("http://sim/_sim/reset").status_code == 200
    assert (
        make_sim_client(key="sk-admin-nope", faults="500=1")
        .get("/organization/projects")
        .status_code
        == 401
    )
    assert sim_client.get("/organization/nope").status_code == 404


def test_a_fault_decided_is_counted_even_when_the_query_is_invalid(
    make_sim_client: MakeClient,
) -> None:
    sim_client = make_sim_client(faults="drift=1")
    assert sim_client.get(USAGE).status_code == 400  # the error is not drifted
    assert DRIFT_FIELD not in sim_client.get(USAGE).text


def test_the_same_seed_replays_the_same_faults(make_sim_client: MakeClient) -> None:
    def statuses(seed: int) -> list[int]:
        sim_client = make_sim_client(faults="429=0.3,500=0.2", seed=seed)
        return [sim_client.get("/organization/projects").status_code for _ in range(60)]

    first = statuses(7)
    assert first == statuses(7)
    assert first != statuses(8)
    assert {200, 429, 500} == set(first)


def test_each_kind_happens_with_its_probability() -> None:
    injector = FaultInjector(FaultPlan.parse("429=0.2,drift=0.3"), seed=1)
    draws = [injector.draw() for _ in range(20000)]
    assert abs(draws.count("429") / 20000 - 0.2) < 0.015
    assert abs(draws.count("drift") / 20000 - 0.3) < 0.015
    assert abs(draws.count(None) / 20000 - 0.5) < 0.015


def strip(body: Any) -> Any:
    """`body` without the drift fault's extra fields, anywhere."""
    if isinstance(body, dict):
        return {k: strip(v) for k, v in body.items() if k not in DRIFT_FIELDS}
    if isinstance(body, list):
        return [strip(item) for item in body]
    return body
