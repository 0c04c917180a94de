"""How fast the simulator serves: the heaviest usage page, and small pages per second.

    .venv/bin/python bench/simulator_serving.py [--size large] [--seconds 3] [--threads 4]

Prints the organization's build time; the time of one 31-bucket `1d` completions page grouped
by every dimension (the biggest page a poller asks for; target under 1 s), cold (the
organization computes those days for the first time) and warm, in process and over loopback;
and requests per second over loopback for small pages: a directory list, a settled usage page,
a recent one (whose unsettled minutes the organization computes minute by minute), and a mix
from several clients. Figures only: no assertion, so a slow machine never fails a test run.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from poller.simulator.app import SimulatorApp
from poller.simulator.organization import build_organization
from poller.simulator.server import SimulatorServer
from poller.streams import USAGE_ENDPOINTS

KEY = "sk-admin-bench"
AUTH = {"Authorization": f"Bearer {KEY}"}
DAY = 86_400


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def heavy_page(client: httpx.Client, now: float) -> httpx.Response:
    completions = USAGE_ENDPOINTS["completions"]
    end = int(now) // DAY * DAY
    params: dict[str, Any] = {
        "start_time": end - 31 * DAY,
        "end_time": end,
        "bucket_width": "1d",
        "limit": 31,
        "group_by[]": list(completions.dimensions),
    }
    response = client.get(completions.path, params=params)
    response.raise_for_status()
    return response


def rate(base_url: str, urls: Sequence[str], seconds: float, threads: int) -> float:
    """Requests per second from `threads` clients cycling through `urls`."""
    counts = [0] * threads
    deadline = time.perf_counter() + seconds

    def worker(slot: int) -> None:
        with httpx.Client(base_url=base_url, headers=AUTH) as client:
            while time.perf_counter() < deadline:
                client.get(urls[(counts[slot] + slot) % len(urls)]).raise_for_status()
                counts[slot] += 1

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return sum(counts) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="large", choices=["small", "medium", "large"])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    started = time.perf_counter()
    org = build_organization(args.seed, args.size)
    built = time.perf_counter() - started
    print(f"build_organization(seed={args.seed}, size={args.size}): {built:.3f} s")
    app = SimulatorApp(org, admin_key=KEY)
    now = time.time()

    transport = httpx.WSGITransport(app=app)
    with httpx.Client(transport=transport, base_url="http://sim/v1", headers=AUTH) as local:
        cold = timed(lambda: heavy_page(local, now))
        warm = [timed(lambda: heavy_page(local, now)) for _ in range(args.repeat)]
        body = heavy_page(local, now)
    results = sum(len(bucket["results"]) for bucket in body.json()["data"])
    print(
        f"31 x 1d completions by all 6 dimensions: {results} results, {len(body.content) >> 10} KiB"
    )
    print(f"  in process:    cold {cold:.3f} s, warm median {statistics.median(warm):.3f} s")

    day_ago = int(now) // DAY * DAY - 3 * DAY
    small_pages = {
        "projects list": "/organization/projects?limit=5",
        "settled 1h usage page": (
            f"/organization/usage/embeddings?start_time={day_ago}&bucket_width=1h&limit=24"
        ),
        "recent 1h usage page": (
            f"/organization/usage/embeddings?start_time={int(now) - 3 * 3600}&bucket_width=1h"
        ),
    }
    with SimulatorServer(app) as server:
        with httpx.Client(base_url=server.base_url, headers=AUTH) as remote:
            loopback = [timed(lambda: heavy_page(remote, now)) for _ in range(args.repeat)]
        print(f"  over loopback: warm median {statistics.median(loopback):.3f} s")
        print("small pages over loopback (requests per second):")
        for name, url in small_pages.items():
            print(f"  {name}: {rate(server.base_url, [url], args.seconds, 1):.0f} (1 client)")
        mixed = rate(server.base_url, list(small_pages.values()), args.seconds, args.threads)
        print(f"  the three mixed: {mixed:.0f} ({args.threads} clients)")


if __name__ == "__main__":
    main()
