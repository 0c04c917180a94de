"""Roles, groups and who holds which role, as the spec's objects.

The custom roles and the first groups are the ones the audit log already names (its
`Fixtures`), with the same ids, so `role.updated` and `group.updated` events point at objects
these endpoints list. Every user holds the predefined role of its organization role (`owner` or
`reader`) directly; custom roles reach users through their groups, and the assignment then names
those groups in `assignment_sources`, or now and then directly (`assignment_sources` null).
Groups beyond the audit log's are synced from the identity provider (`is_scim_managed`).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from poller.simulator._org_invites import build_invites
from poller.simulator.model import JSON, AccessControls
from poller.simulator.org_audit_payloads import Fixtures
from poller.simulator.org_names import PROJECT_AREAS
from poller.simulator.org_rng import random_token
from poller.simulator.org_roster import HORIZON_DAY, ORG_CREATED_DAY, Project, Roster, User
from poller.simulator.org_sizes import SizeProfile
from poller.simulator.org_time import DAY, HOUR, day_start

__all__ = ["build_access_controls"]

_RESOURCE_TYPE: Final = "api.organization"
_OWNER_PERMISSIONS: Final = (
    "api.organization.read", "api.organization.write", "api.organization.members.read",
    "api.organization.members.write", "api.organization.projects.read",
    "api.organization.projects.write", "api.groups.read", "api.groups.write", "api.roles.read",
    "api.roles.write", "api.usage.read", "api.audit_logs.read", "api.model.request",
)  # fmt: skip
# name -> (description, permissions), predefined ones first.
_PREDEFINED: Final = {
    "owner": ("Full control of the organization, its members, projects and billing.",
              _OWNER_PERMISSIONS),
    "reader": ("Can use the API and view the organization's projects.",
               ("api.organization.read", "api.organization.projects.read", "api.model.request")),
}  # fmt: skip
_CUSTOM: Final = {
    "Usage Viewer": ("Reads usage and costs for chargeback.", ("api.usage.read",)),
    "Key Manager": ("Creates and revokes project API keys.",
                    ("api.organization.projects.read", "api.organization.projects.write")),
    "Project Auditor": ("Reads projects, members and the audit log.",
                        ("api.audit_logs.read", "api.organization.members.read",
                         "api.organization.projects.read")),
}  # fmt: skip
_SCIM_TEAMS: Final = tuple(
    team for team in PROJECT_AREAS[0] if team not in ("Support", "Finance", "Data")
)


@dataclass(frozen=True)
class _Role:
    id: str
    name: str
    predefined: bool
    created_at: int | None
    updated_at: int | None
    creator: User | None

    @property
    def description(self) -> str:
        return (_PREDEFINED if self.predefined else _CUSTOM)[self.name][0]

    @property
    def permissions(self) -> list[str]:
        return list((_PREDEFINED if self.predefined else _CUSTOM)[self.name][1])


@dataclass(frozen=True)
class _Group:
    id: str
    name: str
    created_at: int
    scim: bool
    members: tuple[User, ...]  # in the roster's order
    roles: tuple[_Role, ...]  # in the roles' order


def build_access_controls(
    rng: random.Random, roster: Roster, fixtures: Fixtures, profile: SizeProfile
) -> AccessControls:
    owners = [user for user in roster.users if user.role == "owner"]
    roles = _roles(rng, fixtures, owners)
    custom = [role for role in roles if not role.predefined]
    made = _groups(rng, roster.users, fixtures, profile.groups, custom)
    members = {g.id: frozenset(user.id for user in g.members) for g in made}
    return AccessControls(
        roles=[_role(role) for role in roles],
        groups=[_group(group) for group in made],
        group_users={g.id: [_member(user) for user in g.members] for g in made},
        group_roles={g.id: [_assigned(role, None) for role in g.roles] for g in made},
        user_roles={u.id: _user_roles(rng, u, roles, made, members) for u in roster.users},
        project_groups={p.id: _project_groups(rng, p, made) for p in roster.projects},
        invites=build_invites(rng, roster, profile.invites),
    )


def _moment(rng: random.Random, first_day: int, last_day: int) -> int:
    return day_start(rng.randint(first_day, last_day)) + rng.randrange(8 * HOUR, 18 * HOUR)


def _roles(rng: random.Random, fixtures: Fixtures, owners: Sequence[User]) -> list[_Role]:
    predefined = [
        _Role("role_" + random_token(rng, 20), name, True, None, None, None) for name in _PREDEFINED
    ]
    custom = []
    for named in fixtures.roles:
        created = _moment(rng, ORG_CREATED_DAY + 60, HORIZON_DAY - 120)
        updated = created + rng.randrange(0, 90 * DAY)
        custom.append(_Role(named.id, named.name, False, created, updated, rng.choice(owners)))
    return predefined + sorted(custom, key=lambda role: role.created_at or 0)


def _groups(
    rng: random.Random,
    users: Sequence[User],
    fixtures: Fixtures,
    count: int,
    custom: Sequence[_Role],
) -> list[_Group]:
    names = [(g.id, g.name, False) for g in fixtures.groups]
    for n in range(max(0, count - len(names))):
        team = _SCIM_TEAMS[n % len(_SCIM_TEAMS)]
        name = team if n < len(_SCIM_TEAMS) else f"{team} {n // len(_SCIM_TEAMS) + 1}"
        names.append(("group_" + random_token(rng, 20), name, True))
    groups = []
    for index, (group_id, name, scim) in enumerate(names):
        size = min(len(users), max(2, round(len(users) * rng.uniform(0.1, 0.35))))
        chosen = set(rng.sample(range(len(users)), size))
        extra = [rng.choice(custom)] if rng.random() < 0.3 else []
        held = {custom[index % len(custom)].id, *(role.id for role in extra)}
        groups.append(
            _Group(
                id=group_id,
                name=name,
                created_at=_moment(rng, ORG_CREATED_DAY + 30, HORIZON_DAY - 60),
                scim=scim,
                members=tuple(user for i, user in enumerate(users) if i in chosen),
                roles=tuple(role for role in custom if role.id in held),
            )
        )
    return sorted(groups, key=lambda group: group.created_at)


def _user_roles(
    rng: random.Random,
    user: User,
    roles: Sequence[_Role],
    groups: Sequence[_Group],
    members: Mapping[str, frozenset[str]],
) -> list[JSON]:
    """The user's own predefined role, custom roles through groups, and maybe one of its own."""
    sources: dict[str, list[JSON]] = {}
    for group in groups:
        if user.id in members[group.id]:
            for role in group.roles:
                principal = {"principal_id": group.id, "principal_type": "group"}
                sources.setdefault(role.id, []).append(principal)
    custom = [role for role in roles if not role.predefined and role.id not in sources]
    direct = {role.id for role in roles if role.predefined and role.name == user.role}
    if custom and user.role != "owner" and rng.random() < 0.15:
        direct.add(rng.choice(custom).id)
    return [
        _assigned(role, None if role.id in direct else sources[role.id])
        for role in roles
        if role.id in direct or role.id in sources
    ]


def _project_groups(rng: random.Random, project: Project, groups: Sequence[_Group]) -> list[JSON]:
    """Up to three groups with access, granted after both existed and before any archiving."""
    archived = project.archived_at
    candidates = [g for g in groups if archived is None or g.created_at < archived]
    chosen = rng.sample(candidates, rng.randint(0, min(3, len(candidates))))
    grants = []
    for group in chosen:
        since = max(project.created_at, group.created_at)
        until = min(since + 30 * DAY, archived or day_start(HORIZON_DAY))
        granted = since + rng.randrange(max(1, until - since))
        grants.append((granted, group))
    return [
        {
            "object": "project.group",
            "project_id": project.id,
            "group_id": group.id,
            "group_name": group.name,
            "group_type": "group",
            "created_at": granted,
        }
        for granted, group in sorted(grants, key=lambda grant: grant[0])
    ]


def _role(role: _Role) -> JSON:
    return {
        "object": "role",
        "id": role.id,
        "name": role.name,
        "description": role.description,
        "permissions": role.permissions,
        "resource_type": _RESOURCE_TYPE,
        "predefined_role": role.predefined,
    }


def _assigned(role: _Role, sources: list[JSON] | None) -> JSON:
    creator = role.creator
    return {
        "id": role.id,
        "name": role.name,
        "permissions": role.permissions,
        "resource_type": _RESOURCE_TYPE,
        "predefined_role": role.predefined,
        "description": role.description,
        "created_at": role.created_at,
        "updated_at": role.updated_at,
        "created_by": creator.id if creator else None,
        "created_by_user_obj": (
            {"id": creator.id, "name": creator.name, "email": creator.email} if creator else None
        ),
        "metadata": None if role.predefined else {},
        "assignment_sources": sources,
    }


def _group(group: _Group) -> JSON:
    return {
        "id": group.id,
        "name": group.name,
        "created_at": group.created_at,
        "is_scim_managed": group.scim,
        "group_type": "group",
    }


def _member(user: User) -> JSON:
    return {
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "picture": None,
        "is_service_account": False,
        "user_type": "user",
    }
