"""Costs-dashboard panels of chargeback: the billed cost split by team and user
(`allocated_costs`, poller.sources.allocation).

Each allocated document is one (user, key, model, team) row of a project's billed day with its
whole cents, and has exactly one team or none, so a sum by `user.group.name` adds up to the
bill: no team is counted twice, and "(missing value)" is usage of no team (users in no group,
project-level storage and sessions, usage without a user).
"""

from __future__ import annotations

from typing import Final

from tools.assets.kibana._columns import USD, Date, Terms, total
from tools.assets.kibana._common import kql_dataset
from tools.assets.kibana._lens import Lens
from tools.assets.kibana._panels import Panel

__all__ = ["chargeback_panels"]

_ALLOCATED: Final = "openai.allocated_costs.amount_usd"


def chargeback_panels() -> list[Panel]:
    allocated = kql_dataset("allocated_costs")
    return [
        Lens(
            "Billed cost by team (allocated)",
            "bar_stacked",
            {
                "time": Date("1d"),
                "team": Terms("user.group.name", "Team", size=10, order_by="cost",
                              missing=True),
                "cost": total(_ALLOCATED, "Allocated billed cost", USD),
            },
            kql=allocated,
            description=(
                "Each project's billed day split over its users, keys and models in proportion "
                "to their list-price estimate; a user in several teams is shared between them."
            ),
        ),
        Lens(
            "Billed cost by team and user (allocated)",
            "table",
            {
                "team": Terms("user.group.name", "Team", size=20, order_by="cost", missing=True),
                "user": Terms("openai.base.user_label", "User", size=20, order_by="cost",
                              missing=True),
                "cost": total(_ALLOCATED, "Allocated billed cost", USD),
            },
            kql=allocated,
        ),
    ]
