"""Peak RSS of the real command, per organization size: a backfill and the daemon's first cycle.

    .venv/bin/python -m bench.process_memory [--sizes small,medium,large]

For each size, a simulator on the wall clock (its own process, settle time 0) and, against it,
`python -m poller` as an operator runs it, at the default settings, into a fresh SQLite store:

- `backfill`: one day of `completions` at `1m`, every `group_by` dimension (the issue's
  measurement: a `large` org's day is ~430k documents);
- `run`: the daemon until its first cycle has ended on every stream (every stream collects
  `initial_interval`, a day by default, back from its start), then SIGTERM.

Peak RSS is the child's `VmHWM` (the kernel's high-water mark of its resident memory), read from
/proc every `SAMPLE` seconds while it runs and once more before the SIGTERM: a high-water mark
only grows, so a reading misses at most what the last `SAMPLE` seconds before exit added.
(`ru_maxrss` from `wait4` would be simpler, but Linux counts in it the parent's resident memory
at the fork, ~300 MiB of this harness, so it hides any child smaller than that.) CPU is the
child's user + system time from `wait4`. Documents and bytes are read from the store after the
process ended; API calls from the simulator's counters. The `run` figures are also the capacity
figures of a day: documents and store bytes per day of each size.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from bench.common import DAY, HOUR, PYTHON, ROOT, Simulator, simulator
from bench.memory import peak_rss_bytes
from bench.simserver import KEY
from bench.store import store_bytes
from poller.streams import STREAM_NAMES
from tests.own_env import foreign_environ

TARGET_MIB = 256
CYCLE_TIMEOUT = 1800.0  # a first cycle of the large org takes minutes on 2 busy cores
SAMPLE = 0.2


def _env(sim: Simulator, store: Path) -> dict[str, str]:
    return foreign_environ(OPENAI_ADMIN_KEY=KEY, OPENAI_BASE_URL=sim.base_url,
                           POLLER_STORE_PATH=str(store), POLLER_METRICS__PORT="0",
                           POLLER_LOG_FORMAT="json")


@dataclass
class Child:
    """A `python -m poller` process, and what the kernel says of it once it ended."""

    proc: subprocess.Popen[bytes]
    started: float
    peak: int = 0
    usage: Any = None  # resource.struct_rusage, once reaped
    code: int | None = None

    def ended(self) -> bool:
        """Reaps the process if it ended (so its rusage is kept, not lost to `poll()`)."""
        if self.code is None:
            pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
            if pid:
                self.code, self.usage = os.waitstatus_to_exitcode(status), usage
        return self.code is not None

    def watch(self, until: Callable[[], bool], what: str) -> None:
        """Reads `VmHWM` every `SAMPLE` s until `until()` or the process's exit."""
        while True:
            self.peak = max(self.peak, peak_rss_bytes(self.proc.pid))
            if until() or self.ended():
                return
            if time.perf_counter() - self.started > CYCLE_TIMEOUT:
                raise RuntimeError(f"{what} took over {CYCLE_TIMEOUT:.0f} s")
            time.sleep(SAMPLE)

    def figures(self) -> dict[str, Any]:
        """Waits for the end; peak RSS (the highest `VmHWM` read), CPU and wall seconds."""
        if self.code is None:
            _, status, self.usage = os.wait4(self.proc.pid, 0)
            self.code = os.waitstatus_to_exitcode(status)
        self.proc.returncode = self.code
        return {"exit_code": self.code, "seconds": round(time.perf_counter() - self.started, 1),
                "cpu_seconds": round(self.usage.ru_utime + self.usage.ru_stime, 1),
                "peak_rss_mib": round(self.peak / 2**20, 1)}


def _store_figures(store: Path) -> dict[str, Any]:
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        documents = int(db.execute("SELECT count(*) FROM documents").fetchone()[0])
    finally:
        db.close()
    size = store_bytes(store)
    return {"documents": documents, "store_bytes": size,
            "bytes_per_document": round(size / max(1, documents), 1)}


def _calls(sim: Simulator) -> int:
    return sum(sum(counts.values()) for path, counts in sim.stats().items()
               if not path.startswith("/_sim"))


def _cycle_done(store: Path) -> bool:
    """Whether every stream has a state with a success in it (its first cycle ended)."""
    if not store.exists():
        return False
    try:
        db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
        try:
            rows = db.execute("SELECT state FROM state").fetchall()
        finally:
            db.close()
    except sqlite3.Error:
        return False
    done = sum(1 for (text,) in rows if json.loads(text).get("last_success") is not None)
    return done >= len(STREAM_NAMES)


def backfill(sim: Simulator, workdir: Path, size: str) -> dict[str, Any]:
    store = workdir / f"backfill-{size}.sqlite3"
    until = int(time.time()) - HOUR
    until -= until % 60
    since = until - DAY
    iso = "%Y-%m-%dT%H:%M:%S"
    cmd = [PYTHON, "-m", "poller", "backfill", "--since", time.strftime(iso, time.gmtime(since)),
           "--until", time.strftime(iso, time.gmtime(until)), "--streams", "completions",
           "--bucket-width", "1m"]
    sim.reset()
    child = Child(subprocess.Popen(cmd, cwd=ROOT.parent, env=_env(sim, store),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
                  time.perf_counter())
    child.watch(lambda: False, f"the backfill of the {size} org")
    figures = child.figures()
    if figures["exit_code"] != 0:
        raise RuntimeError(f"backfill of the {size} org exited {figures['exit_code']}")
    return {**figures, **_store_figures(store), "api_calls": _calls(sim),
            "workload": "1 day of completions at 1m, every dimension"}


def first_cycle(sim: Simulator, workdir: Path, size: str) -> dict[str, Any]:
    store = workdir / f"run-{size}.sqlite3"
    sim.reset()
    child = Child(subprocess.Popen([PYTHON, "-m", "poller", "run"], cwd=ROOT.parent,
                                   env=_env(sim, store), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL),
                  time.perf_counter())
    try:
        child.watch(lambda: _cycle_done(store), f"the first cycle of the {size} org")
        if child.ended():
            raise RuntimeError(f"run on the {size} org exited {child.code} early")
        cycle_seconds = round(time.perf_counter() - child.started, 1)
        calls = _calls(sim)
    finally:
        if child.code is None:
            child.proc.send_signal(signal.SIGTERM)
    figures = child.figures()
    return {**figures, "cycle_seconds": cycle_seconds, **_store_figures(store),
            "api_calls": calls,
            "workload": "python -m poller run, every stream, default settings (initial_interval "
                        "1d, 1m buckets, every dimension), until the first cycle ended"}


def run(sizes: list[str], *, seed: int = 1) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    with TemporaryDirectory(prefix="openai-poller-bench-process-") as tmp:
        workdir = Path(tmp)
        for size in sizes:
            with simulator(size, seed, now=None, settle=0.0) as sim:
                figures[size] = {"backfill": backfill(sim, workdir, size),
                                 "run": first_cycle(sim, workdir, size)}
    peaks = {size: max(row["backfill"]["peak_rss_mib"], row["run"]["peak_rss_mib"])
             for size, row in figures.items()}
    ratio = (peaks["large"] / peaks["small"]) if {"small", "large"} <= peaks.keys() else None
    return {
        "sizes": figures,
        "peak_rss_mib": peaks,
        "large_to_small": round(ratio, 2) if ratio is not None else None,
        "target": f"peak RSS <= {TARGET_MIB} MiB for every size, large / small <= 1.5",
        "met": all(p <= TARGET_MIB for p in peaks.values()) and (ratio is None or ratio <= 1.5),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="small,medium,large")
    args = parser.parse_args()
    sys.stdout.write(json.dumps(run(args.sizes.split(",")), indent=2) + "\n")


if __name__ == "__main__":
    main()
