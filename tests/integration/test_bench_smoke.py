"""The benchmark harness at smoke size: it runs, and its JSON is complete and well-formed.

Runs `python -m bench --size smoke` (its own noida-db and simulator processes) into a temporary
directory. Checks every section is there without error, every number is finite, the figures
that must be positive are, every target was evaluated, and the API-call counts equal the
theoretical minimum (exactly computable for the smoke window: whole days, no faults). Timings
are never asserted: they belong to the machine, not to the code.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from poller.streams import STREAM_NAMES

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = ("api_calls", "throughput", "cpu", "memory", "freshness", "store", "client_memory",
            "process_memory")
TARGETS = ("api_calls", "throughput", "memory", "freshness", "store", "client_memory",
           "process_memory")


def _numbers(value: Any, path: str = "") -> list[tuple[str, float]]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float):
        return [(path, value)]
    if isinstance(value, dict):
        return [n for k, v in value.items() for n in _numbers(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [n for i, v in enumerate(value) for n in _numbers(v, f"{path}[{i}]")]
    return []


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("bench")
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--size", "smoke", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "latest.md").read_text().startswith("# Benchmarks (smoke)")
    loaded: dict[str, Any] = json.loads((out / "latest.json").read_text())
    return loaded


def test_every_section_is_present_without_error(result: dict[str, Any]) -> None:
    for name in SECTIONS:
        assert name in result["sections"], name
        assert "error" not in result["sections"][name], result["sections"][name].get("error")
    machine = result["machine"]
    for key in ("cpu_model", "cores", "ram_bytes", "python", "os"):
        assert machine[key], key


def test_every_number_is_finite(result: dict[str, Any]) -> None:
    for path, number in _numbers(result):
        assert math.isfinite(number), path


def test_every_target_is_evaluated(result: dict[str, Any]) -> None:
    for name in TARGETS:
        target = result["targets"][name]
        assert isinstance(target["target"], str) and target["target"], name
        assert isinstance(target["met"], bool), name


def test_key_figures_are_positive(result: dict[str, Any]) -> None:
    s = result["sections"]
    through = s["throughput"]
    figures = [
        through["simulator_raw"]["docs_per_s"],
        through["poller_no_sink"]["docs_per_s"],
        through["sqlite_raw"]["docs_per_s"],
        through["elasticsearch_raw"]["docs_per_s"],
        through["sqlite_e2e"]["docs_per_s"],
        through["elasticsearch_e2e"]["docs_per_s"],
        through["sqlite_e2e"]["documents"],
        through["elasticsearch_e2e"]["documents"],
        *s["cpu"]["cpu_seconds_per_100k_docs"].values(),
        s["memory"]["small"]["peak_rss_bytes"],
        s["memory"]["large"]["peak_rss_bytes"],
        s["memory"]["small"]["documents"],
        s["memory"]["ratio"],
        s["freshness"]["max_seconds"],
        s["freshness"]["median_seconds"],
    ]
    assert all(f > 0 for f in figures), figures
    assert len(s["cpu"]["profile"]["top_tottime"]) == 10
    assert s["memory"]["large"]["documents"] > s["memory"]["small"]["documents"]
    # The same documents go through every run of the throughput section.
    assert through["sqlite_e2e"]["documents"] == through["simulator_raw"]["documents"]
    assert through["elasticsearch_e2e"]["documents"] == through["simulator_raw"]["documents"]
    assert s["freshness"]["samples"] and not s["freshness"]["missing"]


def test_api_calls_equal_the_minimum(result: dict[str, Any]) -> None:
    calls = result["sections"]["api_calls"]
    assert set(calls["modes"]) == {"1d", "1h", "auto"}
    for mode, section in calls["modes"].items():
        assert len(section["streams"]) == len(STREAM_NAMES), mode
        for stream, row in section["streams"].items():
            # Ungrouped (as here), a bucket holds one result at most: no page is spent on
            # learning the page size, so the calls are the minimum.
            assert row["calls"] == row["minimum"], (mode, stream, row)
            assert row["calls"] >= 1
        assert section["total_calls"] == section["total_minimum"]
        assert section["met"] is True
        # Elastic's default limits never take fewer pages than the maximum limits.
        assert section["elastic_calls"] >= section["calls_on_streams_elastic_collects"]
    assert result["targets"]["api_calls"]["met"] is True
