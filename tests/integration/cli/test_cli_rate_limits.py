"""`report`'s rate-limit section as a real process: each project's limits per model are the
simulator's, and the busiest minute of each (project, model) is the simulator's settled usage
of that minute, summed over the completions it served."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cli_run import WIDTH, poller, widest

from poller.report_limits import limited_model
from poller.simulator.app import SimulatorApp
from poller.simulator.organization import Organization, build_organization
from poller.streams import get_stream

pytestmark = pytest.mark.integration

KEY = "sk-admin-limits-test"
MINUTE = 60
UNTIL = (int(datetime.now(UTC).timestamp()) - 600) // MINUTE * MINUTE  # settled minutes only
SINCE = UNTIL - 90 * MINUTE


@pytest.fixture(scope="module")
def backfilled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Organization, Path]]:
    from poller.simulator.server import SimulatorServer

    cwd = tmp_path_factory.mktemp("limits")
    org = build_organization(seed=3, size="small", settle_seconds=60)
    with SimulatorServer(SimulatorApp(org, admin_key=KEY)) as server:
        env = {"OPENAI_ADMIN_KEY": KEY, "OPENAI_BASE_URL": server.base_url,
               "POLLER_STORE_PATH": str(cwd / "s.sqlite3")}
        window = ("--since", datetime.fromtimestamp(SINCE, UTC).isoformat(),
                  "--until", datetime.fromtimestamp(UNTIL, UTC).isoformat())
        for streams in ("completions", "rate_limits"):
            result = poller("backfill", *window, "--streams", streams, "--bucket-width", "1m",
                            cwd=cwd, env=env, timeout=120)
            if streams == "rate_limits":  # a snapshot of now: no window
                result = poller("backfill", "--since", "1h", "--streams", streams, cwd=cwd,
                                env=env, timeout=120)
            assert result.returncode == 0, result.stderr
        yield org, cwd


def _peaks(org: Organization, limited: set[str]) -> dict[tuple[str, str], tuple[int, int]]:
    """The simulator's busiest minute per (project, limited model): requests, tokens (in +
    out), a dated snapshot counting against its model's limit."""
    dimensions = get_stream("completions").usage.dimensions  # type: ignore[union-attr]
    project, model = dimensions.index("project_id"), dimensions.index("model")
    peaks: dict[tuple[str, str], tuple[int, int]] = {}
    for start in range(SINCE, UNTIL, MINUTE):
        minute: dict[tuple[str, str], list[int]] = {}
        for dims, metrics in org.usage("completions", start, start + MINUTE, math.inf).items():
            limit = limited_model(str(dims[model]), limited)
            assert limit is not None, dims[model]
            total = minute.setdefault((str(dims[project]), limit), [0, 0])
            total[0] += metrics.get("num_model_requests", 0)
            total[1] += metrics.get("input_tokens", 0) + metrics.get("output_tokens", 0)
        for pair, (requests, tokens) in minute.items():
            old = peaks.get(pair, (0, 0))
            peaks[pair] = (max(old[0], requests), max(old[1], tokens))
    return peaks


def _report(cwd: Path, *argv: str) -> Any:
    result = poller("report", *argv, cwd=cwd, env={"POLLER_STORE_PATH": str(cwd / "s.sqlite3")})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if argv else result.stdout


def test_limits_and_peaks_are_the_simulators(backfilled: tuple[Organization, Path]) -> None:
    org, cwd = backfilled
    [space] = _report(cwd, "--format", "json")["namespaces"]
    rows = {(r["project_id"], r["model"]): r for r in space["rate_limits"]["limits"]}
    active = {p["id"] for p in org.directory.projects if p.get("status") != "archived"}
    want = {(pid, limit["model"]): limit
            for pid, limits in org.directory.project_rate_limits.items() if pid in active
            for limit in limits}
    assert set(rows) == set(want)
    for pair, limit in want.items():
        assert (rows[pair]["rpm_limit"], rows[pair]["tpm_limit"]) == (
            limit["max_requests_per_1_minute"], limit["max_tokens_per_1_minute"])
    peaks = _peaks(org, {model for _, model in want})
    assert peaks
    for pair, (requests, tokens) in peaks.items():
        row = rows[pair]
        assert (row["peak_rpm"], row["peak_tpm"]) == (requests, tokens), pair
        free = min(1 - requests / row["rpm_limit"], 1 - tokens / row["tpm_limit"])
        assert row["headroom_pct"] == round(100 * free, 1)
    assert all(rows[p]["peak_rpm"] is None for p in set(rows) - set(peaks))
    known = [r["headroom_pct"] for r in space["rate_limits"]["limits"]
             if r["headroom_pct"] is not None]
    assert known == sorted(known)  # the least headroom first


def test_the_rate_limit_table_fits_80_columns(backfilled: tuple[Organization, Path]) -> None:
    _, cwd = backfilled
    text = _report(cwd)
    assert widest(text) <= WIDTH
    [head] = [line for line in text.splitlines() if line.startswith("rate limits · snapshot ")]
    assert " · peak minutes since " in head  # on one line
    assert " with per-minute usage, " in text
