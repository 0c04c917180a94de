"""`demo`: the bundled simulator, a 7-day backfill into the embedded store, then a report.

Needs no key and no network: the simulator listens on 127.0.0.1 with a demo key.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

from poller.collect import BackfillRequest
from poller.reporting import Scope, Window
from poller.settings import load_settings
from poller.simulator.app import SimulatorApp
from poller.simulator.organization import build_organization
from poller.simulator.server import SimulatorServer
from poller.sinks.sqlite import SqliteSink
from poller.sources import BackfillWindow

from .backfill import run_backfill
from .report import ReportRequest, billed_through, report

__all__ = ["demo"]

DEMO_KEY = "sk-admin-demo"
DEMO_STORE = Path("openai-poller-demo.sqlite3")
DEMO_DAYS = 7


def demo(*, now: int) -> int:
    org = build_organization(seed=1, size="small")
    app = SimulatorApp(org, admin_key=DEMO_KEY)
    store = DEMO_STORE.absolute()
    with SimulatorServer(app) as server:
        print(f"demo: simulator at {server.base_url}; storing into {store}", file=sys.stderr)
        settings = load_settings(
            orgs=[{"name": "demo", "admin_key": DEMO_KEY, "base_url": server.base_url}],
            store_path=store,
        )
        since = now - DEMO_DAYS * 86400
        window = BackfillWindow(since, now, now)
        jobs = tuple((o, o.streams) for o in settings.orgs)
        with SqliteSink(str(store)) as sink:
            code = run_backfill(BackfillRequest(window, jobs), sink)
            if code:
                return code
            start = datetime.fromtimestamp(since, tz=UTC)
            request = ReportRequest((Scope("default", ("demo",)),), window=Window(start))
            code = report(sink.reader(), request, billed_through(sink, request))
    print(next_steps(store))
    return code


def next_steps(store: Path) -> str:
    """What to try next, pointed at the demo's store (the simulator is gone: reads only)."""
    env = f"POLLER_STORE_PATH={store}"
    return (
        f"\nThe demo's data is in {store}. Next, try:\n"
        f"  {env} openai-poller status\n"
        f"  {env} openai-poller report --by project --top 5\n"
        f"  {env} openai-poller report --format csv > usage.csv\n"
    )
