"""The simulator in its own process, so the poller's CPU and memory are measured alone.

    .venv/bin/python -m bench.simserver --size large --seed 1 [--now EPOCH] [--settle S]

Prints `listening <base_url>` once serving and serves until SIGTERM. With `--now` the clock is
fixed (every run sees the same settled data, so call counts are exact); without it the clock is
the wall clock (the freshness benchmark).
"""

from __future__ import annotations

import argparse
import signal

from poller.simulator.app import SimulatorApp
from poller.simulator.organization import build_organization
from poller.simulator.server import SimulatorServer

KEY = "sk-admin-bench-0123456789"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="large", choices=("small", "medium", "large"))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--settle", type=float, default=600.0)
    parser.add_argument("--now", type=float, default=None)
    args = parser.parse_args()

    org = build_organization(args.seed, args.size, settle_seconds=args.settle)
    fixed = args.now
    app = (
        SimulatorApp(org, admin_key=KEY)
        if fixed is None
        else SimulatorApp(org, admin_key=KEY, clock=lambda: fixed)
    )
    stop = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop)
    with SimulatorServer(app) as server:
        print(f"listening {server.base_url}", flush=True)
        signal.sigwait(stop)


if __name__ == "__main__":
    main()
