"""How big each simulated organization is: the only knobs that differ between sizes.

`small` is the demo (a 7-day backfill stays in the low thousands of documents), `medium` the
default, `large` a load test: about 33k non-empty finest rows per day at 1h grain summed over
the ten usage endpoints, so 30 days of 1h buckets hold about a million rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["APP_KINDS", "SIZES", "SizeProfile", "size_profile"]

# What an API key is used for; org_combos.py turns each into lines of traffic.
APP_KINDS: Final = ("chat", "rag", "agent", "voice", "creative", "batch", "dev")


@dataclass(frozen=True)
class SizeProfile:
    name: str
    projects: int
    archived_projects: int
    users: int
    owners: int
    keys: int
    service_accounts_per_project: int
    user_key_share: float  # keys owned by users; the rest by service accounts
    intensity: float  # scales every request rate
    lines_per_key: float  # scales how many model lines each key uses
    audit_events_per_day: float
    admin_keys: int
    groups: int  # at least the four the audit log names
    certificates: int  # at least the two the audit log names
    spend_alerts: int  # organization-level ones
    invites: int


SIZES: Final = {
    "small": SizeProfile(
        name="small",
        projects=3,
        archived_projects=1,
        users=6,
        owners=2,
        keys=8,
        service_accounts_per_project=1,
        user_key_share=0.6,
        intensity=0.25,
        lines_per_key=0.8,
        audit_events_per_day=8,
        admin_keys=1,
        groups=4,
        certificates=2,
        spend_alerts=1,
        invites=4,
    ),
    "medium": SizeProfile(
        name="medium",
        projects=8,
        archived_projects=2,
        users=30,
        owners=3,
        keys=40,
        service_accounts_per_project=2,
        user_key_share=0.65,
        intensity=1.0,
        lines_per_key=0.8,
        audit_events_per_day=30,
        admin_keys=2,
        groups=6,
        certificates=3,
        spend_alerts=2,
        invites=10,
    ),
    "large": SizeProfile(
        name="large",
        projects=75,
        archived_projects=10,
        users=500,
        owners=6,
        keys=600,
        service_accounts_per_project=3,
        user_key_share=0.6,
        intensity=1.0,
        lines_per_key=1.0,
        audit_events_per_day=120,
        admin_keys=4,
        groups=16,
        certificates=5,
        spend_alerts=3,
        invites=40,
    ),
}


def size_profile(size: str) -> SizeProfile:
    try:
        return SIZES[size]
    except KeyError:
        raise ValueError(f"unknown size {size!r}; choose from: {', '.join(SIZES)}") from None
