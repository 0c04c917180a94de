"""The client alone: API calls and peak RSS of fetching and parsing usage at 1m, every dimension.

    .venv/bin/python -m bench.client_memory [--sizes small,medium,large] [--days 1] [--call-days 21]

For each organization size, a fresh child process (`--child`) fetches `completions` at `1m`
grouped by every dimension through `AdminClient.usage_pages` with the stream's maximum `limit`
(as the sources ask), parses every page's results into models batch by batch (as the sources
take them) and keeps nothing, and reports its peak RSS (`VmHWM`).
The simulator runs in its own process on a fixed clock and counts the calls (`/_sim/stats`).

Two workloads per size: `--days` (a day: the memory figure) and `--call-days` (a backfill long
enough that the one page the client spends learning a stream's results per bucket weighs what it
does in real use: the calls figure). The minimum is the calls at the maximum `limit`, ignoring
memory: ceil(buckets / 1440). Target: calls <= 1.05 x minimum for small and medium.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from typing import Any

from bench.common import DAY, END, MINUTE, PYTHON, ROOT, simulator
from bench.memory import peak_rss_bytes
from bench.simserver import KEY
from poller.client import AdminClient
from poller.sources.buckets import CHUNK_RESULTS
from poller.streams import USAGE_ENDPOINTS, BucketWidth

STREAM = "completions"
WIDTH = BucketWidth.MINUTE
TARGET = 1.05
PATH = "/v1" + USAGE_ENDPOINTS[STREAM].path  # as the simulator counts it


def child(base_url: str, days: int) -> dict[str, Any]:
    """Fetch and parse `days` days; the figures of this process only."""
    endpoint = USAGE_ENDPOINTS[STREAM]
    before = peak_rss_bytes()
    pages = results = biggest = 0
    with AdminClient(admin_key=KEY, base_url=base_url) as client:
        for page in client.usage_pages(
            STREAM, start_time=END - days * DAY, end_time=END, bucket_width=WIDTH,
            group_by=endpoint.dimensions, limit=endpoint.max_limits[WIDTH],
        ):
            held = sum(page.counts)
            pages, results, biggest = pages + 1, results + held, max(biggest, held)
            while page:  # parsed into models one batch at a time, as the sources do
                page.take(CHUNK_RESULTS)
    return {"pages": pages, "results": results, "largest_page_results": biggest,
            "peak_rss_bytes": peak_rss_bytes(), "rss_before_bytes": before}


def measure(base_url: str, days: int) -> dict[str, Any]:
    proc = subprocess.run(
        [PYTHON, "-m", "bench.client_memory", "--child", "--base-url", base_url,
         "--days", str(days)],
        cwd=ROOT.parent, capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"client_memory child failed ({proc.returncode}): {proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["peak_rss_mib"] = round(result["peak_rss_bytes"] / 2**20, 1)
    return result


def run(sizes: list[str], *, days: int, call_days: int, seed: int = 1) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for size in sizes:
        with simulator(size, seed) as sim:
            row: dict[str, Any] = {}
            for label, span in (("memory", days), ("calls", call_days)):
                if label == "calls" and (size == "large" or span == days):
                    continue  # large: a day is the workload; the same span: already measured
                sim.reset()
                fetched = measure(sim.base_url, span)
                calls = sum(sim.stats().get(PATH, {}).values())
                most = USAGE_ENDPOINTS[STREAM].max_limits[WIDTH]
                minimum = math.ceil(span * DAY // MINUTE / most)
                row[label] = {**fetched, "days": span, "calls": calls, "minimum_calls": minimum,
                              "calls_ratio": round(calls / minimum, 3)}
            figures[size] = row
    checked = [row.get("calls", row["memory"]) for size, row in figures.items()
               if size in ("small", "medium")]
    return {
        "workload": {"stream": STREAM, "bucket_width": str(WIDTH), "group_by": "every dimension",
                     "limit": "the maximum (1440)"},
        "sizes": figures,
        "target": f"calls <= {TARGET} x minimum for small and medium",
        "met": all(row["calls_ratio"] <= TARGET for row in checked),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--base-url")
    parser.add_argument("--sizes", default="small,medium,large")
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument("--call-days", type=int, default=21)
    args = parser.parse_args()
    if args.child:
        result = child(args.base_url, args.days)
    else:
        result = run(args.sizes.split(","), days=args.days, call_days=args.call_days)
    sys.stdout.write(json.dumps(result, indent=None if args.child else 2) + "\n")


if __name__ == "__main__":
    main()
