"""Drill: the `large` organization under the shipped memory limit, for several daemon cycles.

`python -m poller run` as a real process, every stream, the default settings except what makes
the drill end in time: `initial_interval` 4h instead of a day (costs: 2 days, so it holds whole
days), `interval` 10 s so the next cycles follow at once. Four hours of a large org still fill
whole pages (`max_results_per_page`) on the busy usage streams, and the daemon's jobs run side
by side as they do by default, so what sets the peak, pages held at once, is what it is in a
first cycle over a day (`bench/process_memory.py` measures that one: docs/capacity.md).

The process's peak RSS is the kernel's high-water mark of it (`VmHWM` in /proc, which only
grows), read while it runs and once more after its second cycle, and checked against the memory
limit of deploy/kubernetes/deployment.yaml. (`ru_maxrss` from `wait4` would count this test
process's own memory at the fork, the simulator of a large org included.) It is a measured
peak. It is also the enforced cap where the test may make a memory cgroup (`memory_cap`; root on
cgroup v1 or v2, as on the project's CI): the daemon runs inside one limited to the manifest's
limit, so going over it gets the process OOM-killed as a container would be, and the drill fails
on the kill. (An address-space limit, `RLIMIT_AS`, would not do: it counts reserved, not
resident, memory, thread stacks and allocator arenas, and fails a process far below the limit.)
The store must then equal the simulator's truth for what the state says was collected: every
usage and costs stream, and audit.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from drill_support import (
    RUN_CMD,
    bucket_window,
    compare,
    compare_audit,
    daemon_env,
    merge_checks,
    read_states,
    record,
    simulator_with,
    start,
    wait_until,
)
from memory_cap import memory_cap

from poller.streams import ALL_STREAMS, STREAM_NAMES, StreamKind

pytestmark = pytest.mark.drill

ROOT = Path(__file__).resolve().parents[2]
INITIAL = 4 * 3600
CHECKED = [s for s, spec in ALL_STREAMS.items()
           if spec.kind in (StreamKind.USAGE, StreamKind.COSTS, StreamKind.AUDIT)]
_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "K": 10**3, "M": 10**6, "G": 10**9}


def shipped_limit() -> int:
    """The container's memory limit in the shipped Kubernetes manifest, in bytes."""
    text = (ROOT / "deploy" / "kubernetes" / "deployment.yaml").read_text()
    found = re.search(r"limits:\s*\n(?:\s+\w+: \S+\n)*?\s+memory: (\d+)(Ki|Mi|Gi|K|M|G)?\n", text)
    assert found, "no memory limit in deploy/kubernetes/deployment.yaml"
    return int(found.group(1)) * _UNITS.get(found.group(2) or "", 1)


def vm_hwm(pid: int) -> int:
    """The process's peak resident memory so far (`VmHWM`), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for process {pid}")


def _cycled(store: Path, after: float) -> bool:
    states = read_states(store, list(STREAM_NAMES))
    return states is not None and all((s.last_success or 0) > after for s in states.values())


def test_the_large_org_runs_several_cycles_within_the_shipped_memory_limit(
    tmp_path: Path,
) -> None:
    limit = shipped_limit()
    store, log = tmp_path / "store.sqlite3", tmp_path / "daemon.log"
    with simulator_with(seed=41, size="large") as sim, memory_cap(limit) as cap:
        env = daemon_env(sim.base_url, store, list(STREAM_NAMES), 0,
                         ORG_DEFAULTS__DEFAULTS__INITIAL_INTERVAL=f"{INITIAL}s",
                         ORG_DEFAULTS__OVERRIDES__COSTS__INITIAL_INTERVAL="2d",
                         ORG_DEFAULTS__DEFAULTS__INTERVAL="10s")
        first = time.time()
        proc = start(cap.command(RUN_CMD), env, log)
        try:
            peaks = [0]

            def alive_and(after: float) -> bool:
                assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
                peaks.append(vm_hwm(proc.pid))
                return _cycled(store, after)

            wait_until("the first cycle of every stream", lambda: alive_and(first), 150, 0.5)
            audit_seen = time.time()
            wait_until("a second cycle of every stream", lambda: alive_and(audit_seen), 60, 0.5)
            peaks.append(vm_hwm(proc.pid))
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=40)
            stopped = time.time()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
            oom_kills, cgroup_peak = cap.oom_kills(), cap.peak()
        peak = max(peaks)
        buckets = [s for s in CHECKED if s != "audit"]
        since, until = bucket_window(store, buckets)
        states = read_states(store, ["audit"])
        assert states is not None and states["audit"].high_water is not None
        check = merge_checks(
            compare(store, sim.org, buckets, since, until),
            compare_audit(store, sim.org,
                          since=(int(first) - INITIAL - 1, int(audit_seen) - INITIAL + 1),
                          until=(states["audit"].high_water + 1, int(stopped) + 1)),
        )
    capped = (f"capped by a cgroup v{cap.version} memory limit (peak charge "
              f"{(cgroup_peak or 0) / 2**20:.0f} MiB, page cache included)"
              if cap.path is not None else f"not capped ({cap.reason}): measured only")
    record("run: large org under the memory limit", 0, check,
           f"peak RSS {peak / 2**20:.0f} MiB of the {limit / 2**20:.0f} MiB limit", capped,
           f"{stopped - first:.0f} s for two cycles of {len(STREAM_NAMES)} streams")
    assert oom_kills == 0, f"the kernel killed the daemon for going over {limit / 2**20:.0f} MiB"
    assert proc.returncode == 0, log.read_text(errors="replace")[-3000:]
    assert peak <= limit, f"peak RSS {peak / 2**20:.0f} MiB over the {limit / 2**20:.0f} MiB limit"
    assert check.mismatches == []
    assert check.duplicates == 0 and check.lost == 0
    assert check.found == check.expected > 10_000


def test_the_limit_is_read_from_the_manifest() -> None:
    assert shipped_limit() == 512 * 2**20


def test_the_cap_kills_a_process_that_goes_over_it() -> None:
    """The cgroup the drill runs the daemon in does cap it: a process that touches 256 MiB in a
    cgroup of 64 MiB is OOM-killed, and the kill is counted."""
    script = "x = bytearray(256 * 2**20)\nx[::4096] = b'a' * len(x[::4096])\nprint('survived')"
    with memory_cap(64 * 2**20) as cap:
        if cap.path is None:
            pytest.skip(f"no memory cgroup can be made here ({cap.reason}); the drill above "
                        "then checks the peak it measures")
        proc = subprocess.run(cap.command([sys.executable, "-c", script]), capture_output=True,
                              timeout=60, check=False)
        kills = cap.oom_kills()
    assert proc.returncode == -signal.SIGKILL, proc.stdout
    assert b"survived" not in proc.stdout
    assert kills >= 1
