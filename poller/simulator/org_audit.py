"""The audit log: events generated lazily per UTC day, newest first, with stable opaque ids.

A day's events are the lifecycle of the directory on that day (projects created and archived,
keys and service accounts created, members added, invites), a rotation of rarer event types
(any seven consecutive days show at least 35 types), a weekday-shaped volume of everyday events
(mostly logins), and now and then a burst of failed logins from one far-away address.

An id encodes its day and position through a keyed reversible scramble, so `find` can rebuild
just that day; the remaining characters are a digest, which keeps ids opaque.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate
from typing import Final

from poller.simulator.model import JSON
from poller.simulator.org_activity import trend
from poller.simulator.org_audit_actors import Actors
from poller.simulator.org_audit_payloads import PAYLOADS, Fixtures, Payload, Scene
from poller.simulator.org_rng import make_rng, random_token, stable_int
from poller.simulator.org_roster import Member, Project, Roster, User
from poller.simulator.org_time import DAY, EPOCH, HOUR, day_index, day_of, day_start

__all__ = ["AuditLog"]

_PREFIX: Final = "audit_log-"
_BITS: Final = 40
_SPACE: Final = 1 << _BITS
_MULTIPLIER: Final = 0x9E3779B97F  # odd, hence invertible modulo 2**40
_INVERSE: Final = pow(_MULTIPLIER, -1, _SPACE)
_INDEX_BITS: Final = 12  # up to 4096 events a day

_ROTATION: Final = tuple(PAYLOADS)
_ROTATION_PER_DAY: Final = 5
_COMMON: Final = {
    "login.succeeded": 30.0,
    "logout.succeeded": 9.0,
    "login.failed": 3.0,
    "api_key.created": 2.5,
    "api_key.deleted": 1.5,
    "api_key.updated": 1.2,
    "rate_limit.updated": 1.2,
    "invite.sent": 1.0,
    "project.updated": 0.8,
    "user.updated": 0.8,
    "invite.accepted": 0.7,
    "role.assignment.created": 0.6,
    "user.added": 0.6,
    "service_account.updated": 0.3,
    "organization.updated": 0.3,
}
_TYPES: Final = tuple(PAYLOADS)
_CUMULATIVE_WEIGHTS: Final = tuple(accumulate(_COMMON.get(kind, 0.1) for kind in _TYPES))
_SESSION_ONLY: Final = frozenset(
    {"login.succeeded", "login.failed", "logout.succeeded", "logout.failed"}
)
_WEEK: Final = (1.0, 1.05, 1.05, 1.0, 0.9, 0.3, 0.25)
_HOURS: Final = tuple(0.05 + math.exp(-(((h + 0.5 - 14.0) / 4.0) ** 2)) for h in range(24))
_CUMULATIVE_HOURS: Final = tuple(accumulate(_HOURS))
_BURST_CHANCE: Final = 0.12
_REFERENCE_DAY: Final = day_index("2026-11-01")  # volumes are per day around this date


@dataclass(frozen=True)
class _Draft:
    at: int
    type: str
    payload: Payload
    actor: JSON


@dataclass(frozen=True)
class _DayLog:
    events: tuple[JSON, ...]  # newest first, ties by id descending
    by_id: dict[str, JSON]


class AuditLog:
    def __init__(self, seed: int, roster: Roster, events_per_day: float) -> None:
        self._seed = seed
        self._roster = roster
        self._per_day = events_per_day
        self._mask = stable_int(seed, "audit-ids") % _SPACE
        self._actors = Actors(roster.users)
        self._fixtures = Fixtures.build(seed)
        self._owners = tuple(user for user in roster.users if user.role == "owner")
        self._anchors = self._lifecycle(make_rng(seed, "audit-lifecycle"))
        self._day = lru_cache(maxsize=1100)(self._generate)

    def events(self, start: int, end: int, now: float) -> list[JSON]:
        """Events with `start <= effective_at < end` and `effective_at <= now`, newest first."""
        low = max(start, EPOCH)
        high = min(end, math.floor(now) + 1) if now < math.inf else end
        found: list[JSON] = []
        for day in range(day_of(high - 1), day_of(low) - 1, -1):
            events = self._day(day).events
            if low <= day_start(day) and day_start(day) + DAY <= high:
                found.extend(events)
            else:
                found.extend(e for e in events if low <= e["effective_at"] < high)
        return found

    def find(self, event_id: str) -> JSON | None:
        if not event_id.startswith(_PREFIX) or len(event_id) != len(_PREFIX) + 24:
            return None
        try:
            scrambled = int(event_id[len(_PREFIX) : len(_PREFIX) + 10], 16)
        except ValueError:
            return None
        day = (((scrambled ^ self._mask) * _INVERSE) % _SPACE) >> _INDEX_BITS
        return self._day(day).by_id.get(event_id)

    def _event_id(self, day: int, index: int) -> str:
        scrambled = (((day << _INDEX_BITS) | index) * _MULTIPLIER % _SPACE) ^ self._mask
        digest = stable_int(self._seed, scrambled) >> 8
        return f"{_PREFIX}{scrambled:010x}{digest:014x}"

    # --- one day ---------------------------------------------------------------------------------

    def _generate(self, day: int) -> _DayLog:
        rng = make_rng(self._seed, "audit", day)
        first = day_start(day)
        scene = self._scene(rng, first)
        drafts = list(self._anchors.get(day, ()))
        rotation = [
            _ROTATION[(day * _ROTATION_PER_DAY + j) % len(_ROTATION)]
            for j in range(_ROTATION_PER_DAY)
        ]
        count = self._volume(rng, day)
        kinds = rotation + rng.choices(_TYPES, cum_weights=_CUMULATIVE_WEIGHTS, k=count)
        drafts.extend(self._draft(scene, kind, self._daytime(rng, first)) for kind in kinds)
        if rng.random() < _BURST_CHANCE:
            drafts.extend(self._login_burst(scene, first))
        drafts.sort(key=lambda draft: draft.at)
        events = [_event(self._event_id(day, index), draft) for index, draft in enumerate(drafts)]
        events.sort(key=lambda event: (event["effective_at"], event["id"]), reverse=True)
        return _DayLog(tuple(events), {event["id"]: event for event in events})

    def _volume(self, rng: random.Random, day: int) -> int:
        expected = self._per_day * _WEEK[day % 7] * trend(day) / trend(_REFERENCE_DAY)
        return int(expected * rng.uniform(0.7, 1.3) + rng.random())

    def _scene(self, rng: random.Random, at: int) -> Scene:
        """Everything live at `at`; the default project exists from the start."""
        projects = tuple(
            p
            for p in self._roster.projects
            if p.created_at <= at and (p.archived_at is None or p.archived_at > at)
        )
        keys = tuple(key for p in projects for key in p.keys if key.created_at <= at)
        users = tuple(user for user in self._roster.users if user.added_at <= at)
        return Scene(rng, self._roster.organization_id, projects, keys, users, self._fixtures)

    @staticmethod
    def _daytime(rng: random.Random, first: int) -> int:
        hour = rng.choices(range(24), cum_weights=_CUMULATIVE_HOURS)[0]
        return first + hour * HOUR + rng.randrange(HOUR)

    def _draft(self, scene: Scene, kind: str, at: int) -> _Draft:
        payload = PAYLOADS[kind](scene)
        rng = scene.rng
        if kind in _SESSION_ONLY:
            return _Draft(at, kind, payload, self._actors.session(rng, rng.choice(scene.users)))
        return _Draft(at, kind, payload, self._admin_actor(scene, payload.project, at))

    def _admin_actor(self, scene: Scene, project: Project | None, at: int) -> JSON:
        """Mostly an owner in the dashboard; otherwise an admin key or a project's automation."""
        rng = scene.rng
        draw = rng.random()
        admin_keys = [key for key in self._roster.admin_keys if key.created_at <= at]
        if draw < 0.22 and admin_keys:
            return self._actors.admin_key(rng.choice(admin_keys))
        automation = [
            (key, key.owner)
            for key in (project.keys if project else ())
            if not isinstance(key.owner, Member) and key.created_at <= at
        ]
        if draw > 0.95 and automation:
            key, account = rng.choice(automation)
            return self._actors.service_account_key(key, account)
        return self._actors.session(rng, self._owner(rng, project))

    def _owner(self, rng: random.Random, project: Project | None) -> User:
        owners = [m.user for m in project.members if m.role == "owner"] if project else []
        return rng.choice(owners or self._owners)

    def _login_burst(self, scene: Scene, first: int) -> list[_Draft]:
        """Credential stuffing: tens of failures in minutes, one address, known or made-up users."""
        rng = scene.rng
        size = rng.randint(5, 40)
        at = first + rng.randrange(DAY - size * 30)
        target = rng.choice(scene.users)
        victim = {"id": target.id, "email": target.email}
        if rng.random() < 0.3:
            victim = {"email": f"admin{rng.randrange(100)}@example.com"}
        actor = self._actors.attacker(rng, victim)
        drafts = []
        for attempt in range(size):
            code = "too_many_attempts" if attempt >= 10 else "invalid_credentials"
            message = "Too many failed attempts." if attempt >= 10 else "Invalid email or password."
            payload = Payload({"error_code": code, "error_message": message})
            drafts.append(_Draft(at, "login.failed", payload, actor))
            at += rng.randint(2, 25)
        return drafts

    # --- the directory's own history ----------------------------------------------------------

    def _lifecycle(self, rng: random.Random) -> dict[int, list[_Draft]]:
        """Events at the exact times the directory says things happened."""
        drafts: list[_Draft] = []

        def add(at: int, kind: str, body: JSON, project: Project | None, user: User) -> None:
            drafts.append(_Draft(at, kind, Payload(body, project), self._actors.session(rng, user)))

        for project in self._roster.projects:
            owner = self._owner(rng, None)
            data = {"name": project.name, "title": project.name}
            add(
                project.created_at,
                "project.created",
                {"id": project.id, "data": data},
                project,
                owner,
            )
            if project.archived_at is not None:
                add(project.archived_at, "project.archived", {"id": project.id}, project, owner)
            for member in project.members:
                body = {"id": member.user.id, "data": {"role": member.role}}
                add(member.added_at, "user.added", body, project, owner)
            for account in project.service_accounts:
                body = {"id": account.id, "data": {"role": account.role}}
                add(account.created_at, "service_account.created", body, project, owner)
            for key in project.keys:
                creator = key.owner.user if isinstance(key.owner, Member) else owner
                body = {"id": key.id, "data": {"scopes": ["api.all"]}}
                add(key.created_at, "api_key.created", body, project, creator)
        for user in self._roster.users:
            if user.role != "owner":
                invite = "invite-" + random_token(rng, 24)
                sent = user.added_at - rng.randrange(HOUR, 3 * DAY)
                body = {"id": invite, "data": {"email": user.email, "role": "member"}}
                add(sent, "invite.sent", body, None, self._owner(rng, None))
                add(user.added_at, "invite.accepted", {"id": invite}, None, user)
        by_day: dict[int, list[_Draft]] = {}
        for draft in drafts:
            if draft.at >= EPOCH:
                by_day.setdefault(day_of(draft.at), []).append(draft)
        return by_day


def _event(event_id: str, draft: _Draft) -> JSON:
    event: JSON = {
        "id": event_id,
        "type": draft.type,
        "effective_at": draft.at,
        "actor": draft.actor,
    }
    if draft.payload.project is not None:
        event["project"] = {"id": draft.payload.project.id, "name": draft.payload.project.name}
    event[draft.type] = draft.payload.body
    return event
