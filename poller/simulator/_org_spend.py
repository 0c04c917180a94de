"""Hard spend limits and spend alerts, set the way an organization's owners would set them.

Amounts are whole USD cents per calendar month, rounded to two significant figures of dollars.
Owners set a limit above what they spend: the organization's at 1.5 to 2.5 times its monthly
spend, a project's at 1.3 to 3 times its own (never above the organization's). Built with
`enforcing=True`, the organization has set its limit at 80% of its monthly spend instead, so
OpenAI refuses its requests: `enforcement.status` is `enforcing`. Independently of that, where
at least three projects have a limit, one of them is kept on a short leash and is enforcing.
Alerts warn at fractions of the limit they watch (a project without a limit at 1.5 times its
spend) and mail the owners.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from decimal import Decimal
from typing import Final

from poller.simulator.model import JSON, SpendControls
from poller.simulator.org_names import EMAIL_DOMAIN
from poller.simulator.org_rng import random_token
from poller.simulator.org_roster import Project, Roster

__all__ = ["build_spend_controls"]

_CURRENCY: Final = "USD"
_INTERVAL: Final = "month"
_SHORT_LEASH: Final = Decimal("0.8")  # an enforcing limit, as a share of the monthly spend
_ORG_ALERT_SHARES: Final = (0.9, 0.5, 0.75, 1.0)  # the first n, in ascending order
_PROJECT_ALERT_SHARE: Final = 0.8
_SUBJECT_PREFIX: Final = "OpenAI spend alert"
_FLOOR_USD: Final = Decimal(100)  # the smallest limit anyone bothers to set
_BILLING: Final = f"billing@{EMAIL_DOMAIN}"


def build_spend_controls(
    rng: random.Random,
    roster: Roster,
    monthly_spend: Mapping[str, Decimal],
    alerts: int,
    *,
    enforcing: bool,
) -> SpendControls:
    """`monthly_spend` is each project's spend in USD over a typical month (absent: none)."""
    total = max(sum(monthly_spend.values(), Decimal(0)), _FLOOR_USD)
    share = _SHORT_LEASH if enforcing else Decimal(str(rng.uniform(1.5, 2.5)))
    org_limit = _cents(total * share, up=not enforcing)
    live = [p for p in roster.projects if p.archived_at is None and monthly_spend.get(p.id)]
    limited = [p for p in live if rng.random() < 0.5] or live[-1:]
    leashed = rng.choice(limited).id if len(limited) >= 3 else None
    project_limits = {
        p.id: _project_limit(rng, monthly_spend[p.id], org_limit, leashed=p.id == leashed)
        for p in limited
    }
    owners = [user.email for user in roster.users if user.role == "owner"]
    shares = sorted(_ORG_ALERT_SHARES[:alerts])
    return SpendControls(
        limit=_limit("organization.spend_limit", org_limit, enforcing=enforcing),
        project_limits=project_limits,
        alerts=[
            _alert(rng, "organization.spend_alert", org_limit * s, [*owners, _BILLING], True)
            for s in shares
        ],
        project_alerts={
            p.id: _project_alerts(rng, p, project_limits.get(p.id), monthly_spend.get(p.id))
            for p in roster.projects
        },
    )


def _project_limit(rng: random.Random, spend: Decimal, org_limit: int, *, leashed: bool) -> JSON:
    if leashed:
        return _limit("project.spend_limit", _cents(spend * _SHORT_LEASH, up=False), enforcing=True)
    wanted = _cents(spend * Decimal(str(rng.uniform(1.3, 3.0))), up=True)
    return _limit("project.spend_limit", min(wanted, org_limit), enforcing=False)


def _project_alerts(
    rng: random.Random, project: Project, limit: JSON | None, spend: Decimal | None
) -> list[JSON]:
    """One alert under a project's limit; now and then one on a project without a limit."""
    if limit is not None:
        threshold = limit["threshold_amount"] * _PROJECT_ALERT_SHARE
    elif spend and project.archived_at is None and rng.random() < 0.3:
        threshold = _cents(spend * Decimal("1.5"), up=True)
    else:
        return []
    owners = [m.user.email for m in project.members if m.role == "owner"]
    return [_alert(rng, "project.spend_alert", threshold, owners, rng.random() < 0.5)]


def _limit(kind: str, cents: int, *, enforcing: bool) -> JSON:
    return {
        "object": kind,
        "threshold_amount": cents,
        "currency": _CURRENCY,
        "interval": _INTERVAL,
        "enforcement": {"status": "enforcing" if enforcing else "inactive"},
    }


def _alert(
    rng: random.Random, kind: str, cents: float, recipients: list[str], prefixed: bool
) -> JSON:
    return {
        "id": "alert_" + random_token(rng, 24),
        "object": kind,
        "threshold_amount": _cents(Decimal(str(cents)) / 100, up=False),
        "currency": _CURRENCY,
        "interval": _INTERVAL,
        "notification_channel": {
            "type": "email",
            "recipients": recipients,
            "subject_prefix": _SUBJECT_PREFIX if prefixed else None,
        },
    }


def _cents(usd: Decimal, *, up: bool) -> int:
    """`usd` to two significant figures of whole dollars, in cents: amounts people type."""
    usd = max(usd, Decimal(1))
    step = int(10 ** max(0, math.floor(math.log10(usd)) - 1))
    steps = math.ceil(usd / step) if up else math.floor(usd / step)
    return max(1, steps) * step * 100
