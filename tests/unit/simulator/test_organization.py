"""The synthetic organization's usage: determinism, exact additivity, late data, consistency."""

from __future__ import annotations

import hashlib
import math
import os
import random
import subprocess
import sys
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from poller.simulator.model import Dims, SimOrganization
from poller.simulator.organization import Organization, build_organization
from poller.streams import USAGE_ENDPOINTS

MINUTE, HOUR, DAY = 60, 3600, 86_400
EPOCH = 1_704_067_200  # 2024-01-01T00:00:00Z
D = EPOCH + 623 * DAY  # 2025-09-15, a Monday, long settled
RECENT = EPOCH + 1015 * DAY  # 2026-10-12, a Monday: every object of the directory exists
STREAMS = [name for name in USAGE_ENDPOINTS if name != "costs"]
INF = math.inf
Usage = Mapping[Dims, Mapping[str, int]]


@pytest.fixture(scope="module")
def small() -> Organization:
    return build_organization(3, "small")


@pytest.fixture(scope="module")
def medium() -> Organization:
    return build_organization(11, "medium")


def added(*parts: Usage) -> dict[Dims, Counter[str]]:
    total: dict[Dims, Counter[str]] = {}
    for part in parts:
        for dims, metrics in part.items():
            total.setdefault(dims, Counter()).update(metrics)
    return {dims: +counter for dims, counter in total.items() if +counter}


def as_counters(usage: Usage) -> dict[Dims, Counter[str]]:
    return added(usage)


def digest(org: SimOrganization) -> str:
    """A fingerprint of the numbers: a day of every stream, its costs and its audit log."""
    parts: list[list[Any]] = [
        sorted(org.usage(s, D, D + DAY, INF).items(), key=repr) for s in STREAMS
    ]
    parts.append(sorted(org.costs(D, D + DAY, INF).items(), key=repr))
    parts.append([event["id"] for event in org.audit_events(D, D + DAY, INF)])
    return hashlib.sha256(repr(parts).encode()).hexdigest()


# --- determinism -----------------------------------------------------------------------------


def test_it_satisfies_the_contract(small: Organization) -> None:
    org: SimOrganization = small
    assert (org.seed, org.size, org.settle_seconds) == (3, "small", 600.0)
    assert org.organization_id.startswith("org-")


def test_the_same_seed_builds_the_same_organization(medium: Organization) -> None:
    again = build_organization(11, "medium")
    assert again.directory == medium.directory
    assert again.organization_id == medium.organization_id
    assert digest(again) == digest(medium)
    late = D + 5 * HOUR + 123
    for stream in STREAMS:
        assert again.usage(stream, D, D + DAY, late) == medium.usage(stream, D, D + DAY, late)


def test_other_seeds_and_sizes_differ(medium: Organization) -> None:
    assert digest(build_organization(12, "medium")) != digest(medium)
    assert build_organization(11, "small").directory != medium.directory


def test_numbers_do_not_depend_on_the_process(medium: Organization) -> None:
    """Another interpreter with another hash seed computes the very same numbers."""
    script = (
        "from tests.unit.simulator.test_organization import digest;"
        "from poller.simulator.organization import build_organization;"
        "print(digest(build_organization(11, 'medium')))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "4242"}
    root = Path(__file__).resolve().parents[3]
    output = subprocess.run(
        [sys.executable, "-c", script],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert output.stdout.strip() == digest(medium)


# --- additivity ------------------------------------------------------------------------------

SPLITS = [
    pytest.param(D, D + 7 * HOUR, D + DAY, id="hour-boundary"),
    pytest.param(D + 13 * MINUTE, D + 2 * HOUR + 7 * MINUTE, D + 3 * HOUR, id="minute-boundaries"),
    pytest.param(D - 5 * HOUR - 17 * MINUTE, D, D + 9 * HOUR + 31 * MINUTE, id="at-midnight"),
    pytest.param(D - 2 * DAY - 30 * MINUTE, D + 5 * HOUR, D + 3 * DAY, id="straddling-days"),
    pytest.param(D + 17, D + HOUR + 45, D + 2 * HOUR - 1, id="unaligned-seconds"),
]


@pytest.mark.parametrize(("a", "b", "c"), SPLITS)
@pytest.mark.parametrize("stream", STREAMS)
def test_usage_adds_up_across_any_split(
    medium: Organization, stream: str, a: int, b: int, c: int
) -> None:
    whole = medium.usage(stream, a, c, INF)
    assert added(medium.usage(stream, a, b, INF), medium.usage(stream, b, c, INF)) == as_counters(
        whole
    )


@pytest.mark.parametrize(("a", "b", "c"), SPLITS)
def test_late_usage_adds_up_too(medium: Organization, a: int, b: int, c: int) -> None:
    now = b + 7 * MINUTE + 13  # some of the window is settled, some late, some in the future
    for stream in ("completions", "vector_stores", "web_search_calls"):
        whole = medium.usage(stream, a, c, now)
        parts = added(medium.usage(stream, a, b, now), medium.usage(stream, b, c, now))
        assert parts == as_counters(whole)


def test_usage_adds_up_across_random_splits(medium: Organization) -> None:
    rng = random.Random(20261122)
    for _ in range(40):
        a, b, c = sorted(rng.sample(range(D - 2 * DAY, D + 3 * DAY), 3))
        now = rng.choice([INF, b + rng.randrange(-HOUR, HOUR)])
        stream = rng.choice(STREAMS)
        parts = added(medium.usage(stream, a, b, now), medium.usage(stream, b, c, now))
        assert parts == as_counters(medium.usage(stream, a, c, now)), (stream, a, b, c, now)


@pytest.mark.parametrize("stream", ["completions", "images", "vector_stores", "file_search_calls"])
def test_minutes_sum_to_hours_and_hours_to_days(medium: Organization, stream: str) -> None:
    hour = D + 14 * HOUR
    minutes = [
        medium.usage(stream, hour + m * MINUTE, hour + (m + 1) * MINUTE, INF) for m in range(60)
    ]
    assert added(*minutes) == as_counters(medium.usage(stream, hour, hour + HOUR, INF))
    hours = [medium.usage(stream, D + h * HOUR, D + (h + 1) * HOUR, INF) for h in range(24)]
    assert added(*hours) == as_counters(medium.usage(stream, D, D + DAY, INF))


def test_the_small_demo_has_every_stream_in_a_recent_week(small: Organization) -> None:
    for stream in STREAMS:
        assert small.usage(stream, RECENT, RECENT + 7 * DAY, INF), stream


# --- completions counters --------------------------------------------------------------------


def assert_consistent(metrics: Mapping[str, int]) -> None:
    m = metrics
    assert m["input_tokens"] == (
        m["input_uncached_tokens"] + m["input_cached_tokens"] + m["input_cache_write_tokens"]
    )
    assert m["input_uncached_tokens"] == (
        m["input_text_tokens"] + m["input_audio_tokens"] + m["input_image_tokens"]
    )
    assert m["input_cached_tokens"] == (
        m["input_cached_text_tokens"]
        + m["input_cached_audio_tokens"]
        + m["input_cached_image_tokens"]
    )
    assert m["output_tokens"] == (
        m["output_text_tokens"] + m["output_audio_tokens"] + m["output_image_tokens"]
    )


@pytest.mark.parametrize(
    ("start", "end", "now"),
    [
        (D, D + DAY, INF),
        (D + 9 * HOUR, D + 10 * HOUR, INF),
        (D + 9 * HOUR + 12 * MINUTE, D + 9 * HOUR + 13 * MINUTE, INF),
        (D + 9 * HOUR, D + 10 * HOUR, D + 9 * HOUR + 40 * MINUTE),  # partly late
    ],
)
def test_completions_counters_are_consistent(
    medium: Organization, start: int, end: int, now: float
) -> None:
    rows = medium.usage("completions", start, end, now)
    assert rows
    for metrics in rows.values():
        assert_consistent(metrics)


def test_every_row_carries_every_metric_as_an_int(medium: Organization) -> None:
    for stream in STREAMS:
        rows = medium.usage(stream, D, D + DAY, D + 12 * HOUR)
        assert rows, stream
        for dims, metrics in rows.items():
            assert len(dims) == len(USAGE_ENDPOINTS[stream].dimensions)
            assert set(metrics) == set(USAGE_ENDPOINTS[stream].metrics)
            assert all(type(value) is int and value >= 0 for value in metrics.values())
            assert any(metrics.values())


def test_modalities_and_caching_all_appear(medium: Organization) -> None:
    totals: Counter[str] = Counter()
    for metrics in medium.usage("completions", D, D + 7 * DAY, INF).values():
        totals.update(metrics)
    for name in ("input_cached_tokens", "input_cache_write_tokens", "input_audio_tokens",
                 "input_image_tokens", "output_audio_tokens", "output_image_tokens"):  # fmt: skip
        assert totals[name] > 0, name


# --- late data -------------------------------------------------------------------------------


def test_late_minutes_grow_to_their_settled_values(medium: Organization) -> None:
    minute = D + 14 * HOUR + 21 * MINUTE
    settled = medium.usage("completions", minute, minute + MINUTE, INF)
    assert settled
    previous: dict[Dims, Counter[str]] = {}
    for delay in (0, 1, 30, 59, 60, 61, 300, 600, 659, 660, 661, 5000):
        now = minute + delay
        current = as_counters(medium.usage("completions", minute, minute + MINUTE, now))
        for dims, metrics in previous.items():
            assert all(current[dims][name] >= value for name, value in metrics.items())
        if delay == 0:
            assert current == {}  # a minute starting at `now` has no data yet
        if 0 < delay < 660:
            assert current != as_counters(settled)
        if delay >= 660:  # 60 s of the minute plus 600 s to settle
            assert current == as_counters(settled)
        previous = current


def test_partial_values_are_floors_of_a_linear_ramp(medium: Organization) -> None:
    minute = D + 14 * HOUR + 21 * MINUTE
    settled = medium.usage("completions", minute, minute + MINUTE, INF)
    now = minute + 165  # 165 of 660 seconds: a quarter
    partial = medium.usage("completions", minute, minute + MINUTE, now)
    for dims, metrics in settled.items():
        leaf = metrics["input_text_tokens"]
        assert partial.get(dims, {}).get("input_text_tokens", 0) == leaf // 4
        assert_consistent(partial.get(dims, metrics))


def test_nothing_is_reported_from_now_on(medium: Organization) -> None:
    now = D + 10 * HOUR + 30 * MINUTE + 10
    future = medium.usage("completions", D + 10 * HOUR + 31 * MINUTE, D + 2 * DAY, now)
    assert future == {}
    through_now = medium.usage("completions", D + 10 * HOUR, D + 2 * DAY, now)
    upto_now = medium.usage("completions", D + 10 * HOUR, D + 10 * HOUR + 31 * MINUTE, now)
    assert through_now == upto_now


def test_zero_settle_seconds_settles_when_the_minute_ends() -> None:
    org = build_organization(11, "medium", settle_seconds=0)
    minute = D + 14 * HOUR + 21 * MINUTE
    settled = org.usage("completions", minute, minute + MINUTE, INF)
    assert org.usage("completions", minute, minute + MINUTE, minute + MINUTE) == settled
    half = org.usage("completions", minute, minute + MINUTE, minute + 30)
    assert as_counters(half) != as_counters(settled)


def test_windows_outside_history_are_empty(medium: Organization) -> None:
    assert medium.usage("completions", EPOCH - DAY, EPOCH, INF) == {}
    assert medium.usage("completions", D + HOUR, D + HOUR, INF) == {}
    assert medium.usage("completions", D + HOUR, D, INF) == {}
    assert medium.usage("completions", D, D + DAY, D - 1) == {}
    first_day = medium.usage("completions", EPOCH - DAY, EPOCH + DAY, INF)
    assert first_day == medium.usage("completions", EPOCH, EPOCH + DAY, INF)


def test_unknown_streams_sizes_and_settle_times_are_refused(medium: Organization) -> None:
    with pytest.raises(KeyError, match="unknown usage stream 'costs'"):
        medium.usage("costs", D, D + DAY, INF)
    with pytest.raises(ValueError, match="unknown size 'huge'"):
        build_organization(1, "huge")
    with pytest.raises(ValueError, match="settle_seconds"):
        build_organization(1, "small", settle_seconds=-1)


# --- consistency with the directory ----------------------------------------------------------


def test_dimensions_agree_with_the_directory(medium: Organization) -> None:
    directory = medium.directory
    key_project = {k["id"]: pid for pid, keys in directory.project_api_keys.items() for k in keys}
    key_user = {
        k["id"]: k["owner"]["user"]["id"] if k["owner"]["type"] == "user" else None
        for keys in directory.project_api_keys.values()
        for k in keys
    }
    projects = {p["id"] for p in directory.projects}
    allowed: dict[str, set[str | bool]] = {
        "batch": {True, False},
        "service_tier": {"default", "flex", "priority", "scale"},
        "size": {
            "256x256",
            "512x512",
            "1024x1024",
            "1024x1536",
            "1536x1024",
            "1792x1024",
            "1024x1792",
        },
        "source": {"image.generation", "image.edit", "image.variation"},
        "context_level": {"low", "medium", "high"},
    }
    for day in (D, D + 3 * DAY, EPOCH + 200 * DAY):
        for stream in STREAMS:
            names = USAGE_ENDPOINTS[stream].dimensions
            for dims in medium.usage(stream, day, day + DAY, INF):
                row = dict(zip(names, dims, strict=True))
                assert row["project_id"] in projects
                if "api_key_id" in row:
                    assert key_project[row["api_key_id"]] == row["project_id"]
                    assert key_user[row["api_key_id"]] == row["user_id"]
                for name, values in allowed.items():
                    if name in row:
                        assert row[name] in values, (name, row[name])
                if "vector_store_id" in row:
                    assert str(row["vector_store_id"]).startswith("vs_")
                if "model" in row:
                    assert isinstance(row["model"], str) and row["model"]


def test_archived_projects_have_no_usage_after_archiving(medium: Organization) -> None:
    archived = [p for p in medium.directory.projects if p["archived_at"] is not None]
    assert archived
    for project in archived:
        assert project["status"] == "archived"
        at = project["archived_at"]
        before = [medium.usage(s, at - 7 * DAY, at, INF) for s in STREAMS]
        after = [medium.usage(s, at, at + 14 * DAY, INF) for s in STREAMS]
        assert any(dims[0] == project["id"] for rows in before for dims in rows)
        assert not any(dims[0] == project["id"] for rows in after for dims in rows)


def test_projects_and_keys_exist_before_their_first_usage(medium: Organization) -> None:
    directory = medium.directory
    creations = [(p["id"], p["created_at"], 0) for p in directory.projects]
    creations += [
        (k["id"], k["created_at"], 2) for keys in directory.project_api_keys.values() for k in keys
    ]
    for object_id, created_at, position in creations:
        if created_at < EPOCH:
            continue
        through_creation_day = created_at - created_at % DAY + DAY
        for stream in STREAMS:
            if position >= len(USAGE_ENDPOINTS[stream].dimensions):
                continue
            rows = medium.usage(stream, created_at - 2 * DAY, through_creation_day, INF)
            assert not any(dims[position] == object_id for dims in rows)


def test_the_fine_tuned_model_is_in_use(medium: Organization) -> None:
    models = {dims[3] for dims in medium.usage("completions", D, D + DAY, INF)}
    assert "ft:gpt-4o-mini-2024-07-18:acme::AbC123" in models


# --- traffic shape ---------------------------------------------------------------------------


def requests(org: Organization, start: int, end: int) -> int:
    rows = org.usage("completions", start, end, INF)
    return sum(metrics["num_model_requests"] for metrics in rows.values())


def test_weekends_are_quieter_than_weekdays(medium: Organization) -> None:
    weekdays = sum(requests(medium, D + n * DAY, D + (n + 1) * DAY) for n in range(5))
    weekend = sum(requests(medium, D + n * DAY, D + (n + 1) * DAY) for n in range(5, 7))
    assert weekend / 2 < 0.8 * weekdays / 5


def test_utc_working_hours_are_busiest(medium: Organization) -> None:
    night = sum(requests(medium, D + h * HOUR, D + (h + 1) * HOUR) for h in range(5))
    afternoon = sum(requests(medium, D + h * HOUR, D + (h + 1) * HOUR) for h in range(12, 17))
    assert afternoon > 2 * night


def test_traffic_grows_over_the_years(medium: Organization) -> None:
    early = requests(medium, EPOCH + 14 * DAY, EPOCH + 28 * DAY)
    late = requests(medium, D + 364 * DAY, D + 378 * DAY)
    assert late > 2 * early


def test_some_keys_have_idle_days(medium: Organization) -> None:
    keys = {k["id"] for keys in medium.directory.project_api_keys.values() for k in keys}
    idle = 0
    for n in range(5):
        day = D + n * DAY
        active = {dims[2] for dims in medium.usage("completions", day, day + DAY, INF)}
        idle += len(keys - active)
    assert idle > 0


def test_the_small_demo_stays_small(small: Organization) -> None:
    """A 7-day backfill at 1h of every stream, plus costs and audit, is a few thousand documents."""
    start = RECENT
    documents = sum(
        len(small.usage(stream, start + h * HOUR, start + (h + 1) * HOUR, INF))
        for stream in STREAMS
        for h in range(7 * 24)
    )
    documents += sum(
        len(small.costs(start + n * DAY, start + (n + 1) * DAY, INF)) for n in range(7)
    )
    documents += len(small.audit_events(start, start + 7 * DAY, INF))
    assert 1000 < documents < 6000
    directory = small.directory
    assert (len(directory.projects), len(directory.users)) == (3, 6)
    assert sum(len(keys) for keys in directory.project_api_keys.values()) == 8


def test_late_rows_that_round_to_nothing_are_left_out(medium: Organization) -> None:
    minute = D + 14 * HOUR + 21 * MINUTE
    for delay in (1, 2, 5, 10):
        for stream in STREAMS:
            for metrics in medium.usage(stream, minute, minute + MINUTE, minute + delay).values():
                assert any(metrics.values())
