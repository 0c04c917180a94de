"""The synthetic organization the simulator serves: `build_organization(seed, size)`.

Everything is a pure function of the seed, the size and (for late data) `now`: the roster and
directory, the usage of every stream at every minute since 2024-01-01, the costs billed for it
with the poller's own price table, the audit log, and its controls: spend limits and alerts,
roles, groups and invites, certificates, data retention and permissions. Nothing reads the clock
or Python's salted `hash()`, so any process at any time serves the same organization.

The organization's hard spend limit is `enforcing` (its requests refused) when built with
`enforcing=True`; left unsaid, when its seed ends in 9 (9, 19, 29, ...), so that
`openai-poller simulate --seed 9` serves one too. Otherwise it is `inactive`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Final

from poller.pricing import PriceTable, load_price_table
from poller.simulator._org_access import build_access_controls
from poller.simulator._org_governance import build_governance
from poller.simulator._org_spend import build_spend_controls
from poller.simulator.model import (
    JSON,
    AccessControls,
    CostRecord,
    Dims,
    Directory,
    Governance,
    SpendControls,
)
from poller.simulator.org_activity import Activity
from poller.simulator.org_audit import AuditLog
from poller.simulator.org_audit_payloads import Fixtures
from poller.simulator.org_combos import plan_traffic
from poller.simulator.org_costs import CostLedger
from poller.simulator.org_directory import build_directory
from poller.simulator.org_models import FINE_TUNED_MODEL, FINE_TUNED_RATES
from poller.simulator.org_rng import make_rng, stable_int
from poller.simulator.org_roster import HORIZON_DAY, build_roster
from poller.simulator.org_sizes import size_profile
from poller.simulator.org_time import DAY, day_start
from poller.simulator.org_traffic import StreamTraffic
from poller.simulator.org_usage import UsageLedger

__all__ = ["Organization", "build_organization", "enforces_by_default"]

_SPEND_SAMPLE_DAY: Final = HORIZON_DAY - 7  # a recent day, whose spend times 30 is "a month"


class Organization:
    """A `SimOrganization`. Returned mappings and events are shared and must not be mutated."""

    def __init__(
        self, seed: int, size: str, settle_seconds: float, *, enforcing: bool | None = None
    ) -> None:
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
        fixtures = Fixtures.build(stream_seed)  # what the audit log names, so ids agree
        self.spend: SpendControls = build_spend_controls(
            make_rng(seed, size, "spend"),
            roster,
            self._monthly_spend(),
            profile.spend_alerts,
            enforcing=enforces_by_default(seed) if enforcing is None else enforcing,
        )
        self.access: AccessControls = build_access_controls(
            make_rng(seed, size, "access"), roster, fixtures, profile
        )
        self.governance: Governance = build_governance(
            make_rng(seed, size, "governance"), roster, plan, fixtures, profile.certificates
        )

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

    def _monthly_spend(self) -> dict[str, Decimal]:
        """Each project's spend over a typical recent month, in USD, from its billed costs."""
        start = day_start(_SPEND_SAMPLE_DAY)
        spend: defaultdict[str, Decimal] = defaultdict(Decimal)
        for (project_id, *_), record in self._costs.costs(start, start + DAY, math.inf).items():
            spend[str(project_id)] += record.amount * 30
        return dict(spend)


def enforces_by_default(seed: int) -> bool:
    """Whether an organization built without `enforcing` has hit its hard spend limit."""
    return seed % 10 == 9


def build_organization(
    seed: int, size: str = "medium", settle_seconds: float = 600.0, *, enforcing: bool | None = None
) -> Organization:
    """The organization for `seed` and `size` ("small", "medium" or "large").

    `enforcing` decides whether its hard spend limit is reached; None leaves it to the seed
    (`enforces_by_default`).
    """
    return Organization(seed, size, settle_seconds, enforcing=enforcing)
