"""Section 4: peak RSS of a backfill of ~100k and of ~1M documents, each in a fresh process.

The child (`python -m bench.memory --child ...`) backfills one usage stream at one width into a
fresh SQLite store from the fixed-clock simulator (which runs in its own process) and reports
its own peak RSS (`VmHWM` of /proc/self/status, `ru_maxrss` where there is no /proc). Both runs
use the same stream and width, so their pages are alike and only their number differs: flat
memory means the peak does not grow with the number of pages.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.common import (
    DAY,
    END,
    PYTHON,
    ROOT,
    MemorySink,
    Simulator,
    backfill,
    org_settings,
    runtime,
)
from poller.sinks.sqlite import SqliteSink
from poller.streams import BucketWidth

TARGET = 1.2


def peak_rss_bytes(pid: int | None = None) -> int:
    """The peak resident memory of this process (or of `pid`, 0 once it is gone), in bytes."""
    try:
        status = Path(f"/proc/{pid or 'self'}/status").read_text()
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0 if pid else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child(base_url: str, stream: str, width: str, days: int, store: str) -> dict[str, Any]:
    settings = org_settings(base_url, [stream])
    sink: Any = SqliteSink(store) if store != "none" else MemorySink()
    before = peak_rss_bytes()
    try:
        with runtime(settings) as rt:
            result = backfill(rt, sink, [stream], since=END - days * DAY, until=END,
                              width=BucketWidth(width))
    finally:
        sink.close()
    return {"documents": result.documents, "seconds": result.seconds,
            "cpu_seconds": result.cpu_seconds, "peak_rss_bytes": peak_rss_bytes(),
            "rss_before_backfill_bytes": before}


def measure(
    sim: Simulator, workdir: Path, *, stream: str, width: BucketWidth, days: int, tag: str
) -> dict[str, Any]:
    store = workdir / f"memory-{tag}.sqlite3"
    proc = subprocess.run(
        [PYTHON, "-m", "bench.memory", "--child", "--base-url", sim.base_url, "--stream", stream,
         "--width", str(width), "--days", str(days), "--store", str(store)],
        cwd=ROOT.parent, capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"memory child failed ({proc.returncode}): {proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["days"] = days
    result["peak_rss_mib"] = result["peak_rss_bytes"] / 2**20
    store.unlink(missing_ok=True)
    return result


def run(
    sim: Simulator, workdir: Path, *, stream: str, width: BucketWidth, small_days: int,
    large_days: int,
) -> dict[str, Any]:
    small = measure(sim, workdir, stream=stream, width=width, days=small_days, tag="small")
    large = measure(sim, workdir, stream=stream, width=width, days=large_days, tag="large")
    ratio = large["peak_rss_bytes"] / small["peak_rss_bytes"]
    return {
        "workload": {"stream": stream, "bucket_width": str(width), "sink": "sqlite",
                     "group_by": "all dimensions (the default)"},
        "small": small,
        "large": large,
        "ratio": ratio,
        "documents_ratio": large["documents"] / max(1, small["documents"]),
        "target": f"peak RSS(large) / peak RSS(small) <= {TARGET}",
        "met": ratio <= TARGET,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", action="store_true", required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--stream", required=True)
    parser.add_argument("--width", required=True)
    parser.add_argument("--days", type=int, required=True)
    parser.add_argument("--store", required=True)
    args = parser.parse_args()
    result = child(args.base_url, args.stream, args.width, args.days, args.store)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
