"""Leases: several replicas of `run` on one sink share the orgs, each org collected by one.

A replica collects an org only while it holds the org's lease (`LeaseKeeper.held`), a record in
the sink's own state store with a holder, an expiry and a fencing token that only grows
(`Lease`, `LeaseStore`; `CellLeases` over any compare-and-set `Cells`, `LockedLeases` adding the
embedded store's file locks). Cursor writes go through `FencedSink`, which refuses them once a
newer token is on the cursor, so a holder paused past its lease cannot commit. `open_ha` builds
all of it from the settings for the daemon; `read_leases` reads the records for `status`.
How it fails, and why: docs/architecture.md.
"""

from poller.leases._fencing import FENCE_FIELD, FencedSink, highest_fence
from poller.leases._keeper import KeeperOptions, LeaseKeeper
from poller.leases._model import Cells, Lease, LeaseLostError, LeaseStore, Versioned
from poller.leases._open import HaParts, default_holder, open_ha
from poller.leases._reading import LeaseRecord, LeaseState, read_leases
from poller.leases._store import ROSTER_KEY, CellLeases, LockedLeases, OrgLocking, lease_key

__all__ = [
    "FENCE_FIELD",
    "ROSTER_KEY",
    "CellLeases",
    "Cells",
    "FencedSink",
    "HaParts",
    "KeeperOptions",
    "Lease",
    "LeaseKeeper",
    "LeaseLostError",
    "LeaseRecord",
    "LeaseState",
    "LeaseStore",
    "LockedLeases",
    "OrgLocking",
    "Versioned",
    "default_holder",
    "highest_fence",
    "lease_key",
    "open_ha",
    "read_leases",
]
