"""Who is in the synthetic organization: users, projects, service accounts and keys.

These typed records are the single source the traffic, the audit log and the spec-shaped
directory are all derived from, so an `api_key_id` in usage always belongs to one project and
its `user_id` is always the key owner's.

Everything exists before `HORIZON_DAY`; creation times are spread over the years before it,
projects are created before their keys, keys before their first use, and archived projects are
archived before that horizon.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Final

from poller.simulator.org_names import (
    ADMIN_KEY_NAMES,
    CITIES,
    EMAIL_DOMAIN,
    FIRST_NAMES,
    KEY_NAME_PARTS,
    LAST_NAMES,
    PROJECT_AREAS,
    PROJECT_NAMES,
    SERVICE_ACCOUNT_NAMES,
)
from poller.simulator.org_rng import make_rng, random_token
from poller.simulator.org_sizes import APP_KINDS, SizeProfile
from poller.simulator.org_time import DAY, day_index, day_of, day_start

__all__ = [
    "HORIZON_DAY",
    "ORG_CREATED_DAY",
    "AdminKey",
    "ApiKey",
    "Member",
    "Project",
    "Roster",
    "ServiceAccount",
    "User",
    "build_roster",
]

ORG_CREATED_DAY: Final = day_index("2023-06-01")
HORIZON_DAY: Final = day_index("2026-09-30")
_LAST_PROJECT_DAY: Final = day_index("2026-06-30")


@dataclass(frozen=True)
class User:
    id: str
    name: str
    email: str
    role: str  # "owner" | "reader"
    added_at: int
    home: int  # index into CITIES
    ip_address: str


@dataclass(frozen=True)
class Member:
    user: User
    role: str  # "owner" | "member"
    added_at: int


@dataclass(frozen=True)
class ServiceAccount:
    id: str
    name: str
    role: str  # "owner" | "member"
    created_at: int


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    project_id: str
    created_at: int
    redacted_value: str
    owner: Member | ServiceAccount
    app: str  # one of APP_KINDS
    intensity: float  # relative traffic volume

    @property
    def user_id(self) -> str | None:
        """The usage `user_id`: the owner's for user keys, None for service-account keys."""
        return self.owner.user.id if isinstance(self.owner, Member) else None


@dataclass(frozen=True)
class Project:
    id: str
    name: str
    created_at: int
    archived_at: int | None
    residency: str
    members: tuple[Member, ...]
    service_accounts: tuple[ServiceAccount, ...]
    keys: tuple[ApiKey, ...]
    vector_store_ids: tuple[str, ...]

    @property
    def end_day(self) -> int | None:
        """First day without usage: the day it was archived (usage stops before archiving)."""
        return None if self.archived_at is None else day_of(self.archived_at)


@dataclass(frozen=True)
class AdminKey:
    id: str
    name: str
    created_at: int
    redacted_value: str
    owner: User


@dataclass(frozen=True)
class Roster:
    organization_id: str
    users: tuple[User, ...]  # oldest first
    projects: tuple[Project, ...]  # oldest first
    admin_keys: tuple[AdminKey, ...]

    @property
    def keys(self) -> tuple[ApiKey, ...]:
        return tuple(key for project in self.projects for key in project.keys)


def build_roster(seed: int, profile: SizeProfile) -> Roster:
    rng = make_rng(seed, profile.name, "roster")
    users = _users(rng, profile)
    projects = [_project(rng, profile, users, index) for index in range(profile.projects)]
    projects = _archive(rng, profile, projects)
    projects = _with_keys(rng, profile, projects)
    return Roster(
        organization_id="org-" + random_token(rng, 24),
        users=users,
        projects=tuple(sorted(projects, key=lambda project: project.created_at)),
        admin_keys=_admin_keys(rng, profile, users),
    )


def _moment(rng: random.Random, day: int) -> int:
    """A time on `day` during working hours (UTC), to the second."""
    return day_start(day) + rng.randrange(7 * 3600, 19 * 3600)


def _spread_day(rng: random.Random, first: int, last: int, skew: float = 1.6) -> int:
    """A day in [first, last], more often early: organizations grow fastest when young."""
    return first + int((last - first) * rng.random() ** skew)


def _users(rng: random.Random, profile: SizeProfile) -> tuple[User, ...]:
    names = [f"{first} {last}" for first in FIRST_NAMES for last in LAST_NAMES]
    rng.shuffle(names)
    users = []
    for index, name in enumerate(names[: profile.users]):
        owner = index < profile.owners
        day = (
            ORG_CREATED_DAY + index
            if owner
            else _spread_day(rng, ORG_CREATED_DAY + 10, HORIZON_DAY - 30)
        )
        local = name.lower().replace(" ", ".")
        users.append(
            User(
                id="user-" + random_token(rng, 24),
                name=name,
                email=f"{local}@{EMAIL_DOMAIN}",
                role="owner" if owner else "reader",
                added_at=_moment(rng, day),
                home=rng.randrange(len(CITIES)),
                ip_address=f"198.51.100.{rng.randrange(1, 255)}",
            )
        )
    return tuple(sorted(users, key=lambda user: user.added_at))


def _project_name(profile: SizeProfile, index: int) -> str:
    if index == 0:
        return "Default project"
    if profile.projects <= len(PROJECT_NAMES) + 1:
        return PROJECT_NAMES[index - 1]
    teams, areas = PROJECT_AREAS
    return f"{teams[index % len(teams)]} {areas[(index // len(teams) + index) % len(areas)]}"


def _project(
    rng: random.Random, profile: SizeProfile, users: tuple[User, ...], index: int
) -> Project:
    day = (
        ORG_CREATED_DAY
        if index == 0
        else _spread_day(rng, ORG_CREATED_DAY + 20, _LAST_PROJECT_DAY, 1.3)
    )
    created_at = _moment(rng, day)
    known = [user for user in users if user.added_at < created_at + 200 * DAY]
    team_size = max(2, min(len(known), round(len(users) / max(profile.projects, 1) * 2.5)))
    team = rng.sample(known or list(users), min(team_size, len(known or users)))
    members = tuple(
        sorted(
            (
                Member(
                    user,
                    "owner" if position == 0 or user.role == "owner" else "member",
                    max(created_at, user.added_at) + rng.randrange(60, 30 * DAY),
                )
                for position, user in enumerate(team)
            ),
            key=lambda member: member.added_at,
        )
    )
    accounts = tuple(
        ServiceAccount(
            id="svc_acct_" + random_token(rng, 24),
            name=f"{rng.choice(SERVICE_ACCOUNT_NAMES)}-{n + 1}",
            role="member" if n else "owner",
            created_at=created_at + rng.randrange(DAY, 20 * DAY),
        )
        for n in range(0 if index == 0 else profile.service_accounts_per_project)
    )
    return Project(
        id="proj_" + random_token(rng, 24),
        name=_project_name(profile, index),
        created_at=created_at,
        archived_at=None,
        residency="EU_STORAGE_PROCESSING" if rng.random() < 0.1 else "GLOBAL",
        members=members,
        service_accounts=accounts,
        keys=(),
        vector_store_ids=tuple("vs_" + random_token(rng, 24) for _ in range(rng.randint(1, 3))),
    )


def _archive(rng: random.Random, profile: SizeProfile, projects: list[Project]) -> list[Project]:
    """Archives some projects, never the default one, once their team is complete."""
    candidates = [p for p in projects[1:] if _settled_in(p) < HORIZON_DAY - 240]
    chosen = {p.id for p in rng.sample(candidates, min(profile.archived_projects, len(candidates)))}
    return [
        replace(p, archived_at=_moment(rng, _archive_day(rng, p))) if p.id in chosen else p
        for p in projects
    ]


def _archive_day(rng: random.Random, project: Project) -> int:
    """At least three months after the project settled in, and inside the simulated history."""
    return _spread_day(rng, max(_settled_in(project) + 90, 60), HORIZON_DAY - 1, 1.0)


def _settled_in(project: Project) -> int:
    """The day its last member or service account arrived; keys come after that."""
    arrivals = [m.added_at for m in project.members] + [
        a.created_at for a in project.service_accounts
    ]
    return day_of(max(arrivals, default=project.created_at))


_APP_WEIGHTS: Final = {
    "chat": 3.0, "rag": 2.0, "agent": 2.0, "voice": 1.0, "creative": 1.0, "batch": 1.5, "dev": 2.0,
}  # fmt: skip
_APP_INTENSITY: Final = {
    "chat": 1.0, "rag": 1.0, "agent": 0.7, "voice": 0.5, "creative": 0.5, "batch": 2.5, "dev": 0.15,
}  # fmt: skip


def _with_keys(rng: random.Random, profile: SizeProfile, projects: list[Project]) -> list[Project]:
    """Hands out the keys: one to every project first, then one per kind of app to live
    projects (so every stream has current traffic), then at random."""
    weights = [0.3] + [rng.lognormvariate(0, 0.7) for _ in projects[1:]]
    live = [project for project in projects if project.archived_at is None]
    kinds, kind_weights = list(_APP_WEIGHTS), list(_APP_WEIGHTS.values())
    coverage = iter(APP_KINDS)
    keys: dict[str, list[ApiKey]] = {project.id: [] for project in projects}
    for n in range(profile.keys):
        if n < len(projects):
            project = projects[n]
        elif n < len(projects) + len(APP_KINDS):
            project = live[n % len(live)]
        else:
            project = rng.choices(projects, weights)[0]
        app = next(coverage, None) if project.archived_at is None else None
        app = app or rng.choices(kinds, kind_weights)[0]
        keys[project.id].append(_key(rng, profile, project, app))
    return [
        replace(project, keys=tuple(sorted(keys[project.id], key=lambda key: key.created_at)))
        for project in projects
    ]


def _key(rng: random.Random, profile: SizeProfile, project: Project, app: str) -> ApiKey:
    by_user = (
        app == "dev"
        or not project.service_accounts
        or (app != "batch" and rng.random() < profile.user_key_share)
    )
    owner: Member | ServiceAccount
    if by_user:
        owner = rng.choice(project.members)
        since, name = owner.added_at, "-".join(rng.choice(part) for part in KEY_NAME_PARTS)
        prefix = "sk-proj-"
        app = "chat" if app == "batch" else app  # batch pipelines run under service accounts
    else:
        owner = rng.choice(project.service_accounts)
        since, name, prefix = owner.created_at, f"{owner.name}-key", "sk-svcacct-"
    first_day = day_of(max(since, project.created_at)) + 1
    last_day = (project.end_day or HORIZON_DAY) - 14
    created_day = _spread_day(rng, first_day, max(first_day, last_day), 2.0)
    return ApiKey(
        id="key_" + random_token(rng, 16),
        name=name,
        project_id=project.id,
        created_at=max(_moment(rng, created_day), since + 60),
        redacted_value=f"{prefix}{random_token(rng, 3)}...{random_token(rng, 4)}",
        owner=owner,
        app=app,
        intensity=_APP_INTENSITY[app] * rng.lognormvariate(0, 0.8),
    )


def _admin_keys(
    rng: random.Random, profile: SizeProfile, users: tuple[User, ...]
) -> tuple[AdminKey, ...]:
    owners = [user for user in users if user.role == "owner"]
    keys = []
    for n in range(profile.admin_keys):
        owner = owners[n % len(owners)]
        created_day = _spread_day(rng, day_of(owner.added_at) + 30, HORIZON_DAY - 60)
        keys.append(
            AdminKey(
                id="key_" + random_token(rng, 16),
                name=ADMIN_KEY_NAMES[n % len(ADMIN_KEY_NAMES)],
                created_at=_moment(rng, created_day),
                redacted_value=f"sk-admin...{random_token(rng, 3)}",
                owner=owner,
            )
        )
    return tuple(sorted(keys, key=lambda key: key.created_at))
