"""`demo`: the bundled simulator, a 7-day backfill into the embedded store, then a report.

Needs no key and no network: the simulator listens on 127.0.0.1 with a demo key.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from poller.settings import load_settings
from poller.simulator.app import SimulatorApp
from poller.simulator.organization import build_organization
from poller.simulator.server import SimulatorServer
from poller.sinks.sqlite import SqliteSink

from .backfill import backfill, backfill_request
from .report import report

__all__ = ["demo"]

DEMO_KEY = "sk-admin-demo"
DEMO_STORE = Path("openai-poller-demo.sqlite3")


def demo(*, now: int) -> int:
    org = build_organization(seed=1, size="small")
    app = SimulatorApp(org, admin_key=DEMO_KEY)
    with SimulatorServer(app) as server:
        print(f"demo: simulator at {server.base_url}; storing into {DEMO_STORE}", file=sys.stderr)
        settings = load_settings(
            orgs=[{"name": "demo", "admin_key": DEMO_KEY, "base_url": server.base_url}],
            store_path=DEMO_STORE,
        )
        with SqliteSink(str(DEMO_STORE)) as sink:
            args = argparse.Namespace(
                since="7d", until=None, streams=None, bucket_width="auto", org=None
            )
            code = backfill(backfill_request(settings, args, now=now), sink)
            if code:
                return code
            report_args = argparse.Namespace(since="7d", until=None, by=None, json=False)
            return report(sink.reader(), report_args, namespace="default", now=now)
