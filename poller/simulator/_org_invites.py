"""Invites to the organization: accepted ones behind the latest users, expired and pending ones.

About half the invites were accepted: they went to the latest users of the roster, were sent
hours to days before the user was added and were accepted the moment the user was, and the
project they granted is the user's first membership. The others went to people who never
joined, alternately still pending (sent in the week before the roster's horizon) and expired.
Invites expire a week after they are sent. Founding owners were never invited.
"""

from __future__ import annotations

import random
from typing import Final

from poller.simulator.model import JSON
from poller.simulator.org_names import EMAIL_DOMAIN, FIRST_NAMES, LAST_NAMES
from poller.simulator.org_rng import random_token
from poller.simulator.org_roster import HORIZON_DAY, ORG_CREATED_DAY, Roster, User
from poller.simulator.org_time import DAY, HOUR, day_start

__all__ = ["build_invites"]

_LIFETIME: Final = 7 * DAY


def build_invites(rng: random.Random, roster: Roster, count: int) -> list[JSON]:
    readers = [user for user in roster.users if user.role != "owner"]
    accepted = readers[len(readers) - min(len(readers), count - count // 2) :]
    invites = [_accepted(rng, roster, user) for user in accepted]
    taken = {user.email for user in roster.users}
    for n in range(count - len(accepted)):
        pending = n % 2 == 0
        first_day = HORIZON_DAY - 6 if pending else ORG_CREATED_DAY + 30
        last_day = HORIZON_DAY - 1 if pending else HORIZON_DAY - 30
        sent = day_start(rng.randint(first_day, last_day)) + rng.randrange(8 * HOUR, 18 * HOUR)
        live = [p for p in roster.projects if p.created_at < sent and p.archived_at is None]
        projects = rng.sample(live, rng.randint(0, min(2, len(live))))
        invites.append(
            _invite(
                rng,
                email=_new_email(rng, taken),
                role="owner" if rng.random() < 0.1 else "reader",
                sent=sent,
                status="pending" if pending else "expired",
                accepted_at=None,
                projects=[{"id": project.id, "role": "member"} for project in projects],
            )
        )
    return sorted(invites, key=lambda invite: (invite["created_at"], invite["id"]))


def _accepted(rng: random.Random, roster: Roster, user: User) -> JSON:
    memberships = sorted(
        (member.added_at, project.id, member.role)
        for project in roster.projects
        for member in project.members
        if member.user.id == user.id
    )
    return _invite(
        rng,
        email=user.email,
        role=user.role,
        sent=user.added_at - rng.randrange(HOUR, 5 * DAY),
        status="accepted",
        accepted_at=user.added_at,
        projects=[{"id": project, "role": role} for _, project, role in memberships[:1]],
    )


def _new_email(rng: random.Random, taken: set[str]) -> str:
    """A fictional address nobody in the organization has yet."""
    while True:
        local = f"{rng.choice(FIRST_NAMES)}.{rng.choice(LAST_NAMES)}".lower()
        email = f"{local}@{EMAIL_DOMAIN}"
        if email not in taken:
            taken.add(email)
            return email


def _invite(
    rng: random.Random,
    *,
    email: str,
    role: str,
    sent: int,
    status: str,
    accepted_at: int | None,
    projects: list[JSON],
) -> JSON:
    return {
        "object": "organization.invite",
        "id": "invite-" + random_token(rng, 24),
        "email": email,
        "role": role,
        "status": status,
        "created_at": sent,
        "expires_at": sent + _LIFETIME,
        "accepted_at": accepted_at,
        "projects": projects,
    }
