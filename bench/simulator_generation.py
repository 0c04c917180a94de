"""How fast the synthetic organization produces its numbers, without any HTTP in the way.

    .venv/bin/python bench/simulator_generation.py [--size large] [--repeat 3] [--seed 1]

Times, on a freshly built organization each time (cold caches; best of `--repeat`): the pages a
poller asks for most (31 `1d` buckets, 168 `1h` buckets, 1440 `1m` buckets of completions, one
organization call per bucket as the HTTP layer makes them, the 1d page also rendered to JSON),
a page with late data, 31 days of costs and 30 days of audit log; then counts the non-empty
finest rows of all ten usage streams at 1h grain over 30 days, the figure the `large` size is
tuned by (about a million, 33k a day). Figures only, never an assertion.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable

from poller.simulator.organization import Organization, build_organization
from poller.streams import USAGE_ENDPOINTS

MINUTE, HOUR, DAY = 60, 3600, 86_400
END = 1_795_305_600  # 2026-11-22T00:00:00Z: every page below ends here
STREAMS = [name for name in USAGE_ENDPOINTS if name != "costs"]
INF = math.inf


def page(org: Organization, stream: str, width: int, buckets: int, now: float = INF) -> int:
    """The `buckets` last buckets before END, one organization call per bucket as the HTTP
    layer makes them; returns the number of rows."""
    start = END - width * buckets
    return sum(
        len(org.usage(stream, start + n * width, start + (n + 1) * width, now))
        for n in range(buckets)
    )


def json_page(org: Organization) -> int:
    """The 31-bucket 1d completions page grouped by every dimension, rendered as JSON."""
    endpoint = USAGE_ENDPOINTS["completions"]
    start = END - 31 * DAY
    buckets = []
    for n in range(31):
        rows = org.usage("completions", start + n * DAY, start + (n + 1) * DAY, INF)
        results = [
            {
                "object": endpoint.result_object,
                **metrics,
                **dict(zip(endpoint.dimensions, dims, strict=True)),
            }
            for dims, metrics in rows.items()
        ]
        buckets.append({"object": "bucket", "start_time": start + n * DAY, "results": results})
    return len(json.dumps({"object": "page", "data": buckets}))


def all_streams_a_day(org: Organization) -> int:
    return sum(page(org, stream, HOUR, 24) for stream in STREAMS)


def month_of_costs(org: Organization) -> int:
    return sum(len(org.costs(END - n * DAY, END - (n - 1) * DAY, INF)) for n in range(31, 0, -1))


def month_of_audit(org: Organization) -> int:
    return len(org.audit_events(END - 30 * DAY, END, INF))


CASES: list[tuple[str, Callable[[Organization], int], str]] = [
    ("completions 1d x 31", lambda org: page(org, "completions", DAY, 31), "rows"),
    ("  the same page rendered to JSON", json_page, "bytes"),
    ("completions 1h x 168", lambda org: page(org, "completions", HOUR, 168), "rows"),
    ("completions 1m x 1440", lambda org: page(org, "completions", MINUTE, 1440), "rows"),
    (
        "completions 1m x 60, late data",
        lambda org: page(org, "completions", MINUTE, 60, END - 120),
        "rows",
    ),
    ("all 10 streams 1h x 24", all_streams_a_day, "rows"),
    ("costs 1d x 31", month_of_costs, "rows"),
    ("audit log, 30 days", month_of_audit, "events"),
]


def measure(
    size: str, seed: int, repeat: int, work: Callable[[Organization], int]
) -> tuple[float, int]:
    best, result = math.inf, 0
    for _ in range(repeat):
        org = build_organization(seed, size)
        started = time.perf_counter()
        result = work(org)
        best = min(best, time.perf_counter() - started)
    return best, result


def month_at_hour_grain(org: Organization) -> int:
    """Non-empty finest rows of all usage streams in the 30 days before END at 1h grain."""
    hours = range(END - 30 * DAY, END, HOUR)
    return sum(len(org.usage(stream, h, h + HOUR, INF)) for stream in STREAMS for h in hours)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="large", choices=("small", "medium", "large"))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    started = time.perf_counter()
    build_organization(args.seed, args.size)
    built = time.perf_counter() - started
    print(f"size={args.size} seed={args.seed}: build_organization {built:.3f} s")

    print(f"\n{'cold, best of ' + str(args.repeat):<44} {'seconds':>8} {'count':>12}")
    for label, work, unit in CASES:
        seconds, count = measure(args.size, args.seed, args.repeat, work)
        print(f"{label:<44} {seconds:>8.3f} {count:>9} {unit}")

    rows = month_at_hour_grain(build_organization(args.seed, args.size))
    print(f"\nnon-empty finest rows at 1h, all usage streams, 30 days: {rows:,}")


if __name__ == "__main__":
    main()
