"""The synthetic organization the simulator serves: `build_organization(seed, size)`.

Everything is a pure function of the seed, the size and (for late data) `now`: the roster and
directory, the usage of every stream at every minute since 2024-01-01, the costs billed for it
with the poller's own price table, and the audit log. Nothing reads the clock or Python's
salted `hash()`, so any process at any time serves the same organization.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from poller.pricing import PriceTable, load_price_table
from poller.simulator.model import JSON, CostRecord, Dims, Directory
from poller.simulator.org_activity import Activity
from poller.simulator.org_audit import AuditLog
from poller.simulator.org_combos import plan_traffic
from poller.simulator.org_costs import CostLedger
from poller.simulator.org_directory import build_directory
from poller.simulator.org_models import FINE_TUNED_MODEL, FINE_TUNED_RATES
from poller.simulator.org_rng import stable_int
from poller.simulator.org_roster import build_roster
from poller.simulator.org_sizes import size_profile
from poller.simulator.org_traffic import StreamTraffic
from poller.simulator.org_usage import UsageLedger

__all__ = ["Organization", "build_organization"]


class Organization:
    """A `SimOrganization`. Returned mappings and events are shared and must not be mutated."""

    def __init__(self, seed: int, size: str, settle_seconds: float) -> None:
        if settle_seconds < 0:
            raise ValueError("settle_seconds must not be negative")
        profile = size_profile(size)
        self.seed = seed
        self.size = size
        self.settle_seconds = settle_seconds
        roster = build_roster(seed, profile)
        plan = plan_traffic(seed, profile, roster)
        self.organization_id = roster.organization_id
        self.directory: Directory = build_directory(roster)
        # The published table plus the fine-tuned model it leaves out on purpose.
        self.prices: PriceTable = load_price_table().with_models(
            {FINE_TUNED_MODEL: FINE_TUNED_RATES}
        )
        stream_seed = stable_int(seed, size)
        activity = Activity(stream_seed, plan.sources)
        traffic = {
            stream: StreamTraffic(stream_seed, stream, combos, activity)
            for stream, combos in plan.combos.items()
        }
        self._usage = UsageLedger(traffic, plan.combos, settle_seconds)
        self._costs = CostLedger(self._usage, self.prices, settle_seconds)
        self._audit = AuditLog(stream_seed, roster, profile.audit_events_per_day)

    def usage(
        self, stream: str, start: int, end: int, now: float
    ) -> Mapping[Dims, Mapping[str, int]]:
        return self._usage.usage(stream, start, end, now)

    def costs(self, start: int, end: int, now: float) -> Mapping[Dims, CostRecord]:
        return self._costs.costs(start, end, now)

    def audit_events(self, start: int, end: int, now: float) -> Sequence[JSON]:
        return self._audit.events(start, end, now)

    def find_audit_event(self, event_id: str) -> JSON | None:
        return self._audit.find(event_id)


def build_organization(
    seed: int, size: str = "medium", settle_seconds: float = 600.0
) -> Organization:
    """The organization for `seed` and `size` ("small", "medium" or "large")."""
    return Organization(seed, size, settle_seconds)
