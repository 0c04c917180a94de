"""Test support for the simulator's app: a tiny SimOrganization, a fake clock, envelope checks.

The organization's numbers are simple enough to check by hand.
Three finest rows per usage stream; every metric of row r grows by `(r + 1) * (j + 1)` per
minute (j = the metric's position), from T0 on, for minutes that started at or before `now`.
Costs follow the same per-minute rule. Thirty audit events, ten minutes apart from T0, two per
timestamp so ties are exercised. The controls (spend, access, governance) are in fake_controls.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
from fake_controls import access_controls, governance, spend_controls

from poller.simulator.model import JSON, CostRecord, Dims, Directory
from poller.streams import USAGE_ENDPOINTS

T0 = 1_704_067_200  # 2024-01-01T00:00:00Z
MINUTE, HOUR, DAY = 60, 3600, 86400
NOW = T0 + 10 * DAY + 12 * HOUR + 30 * MINUTE + 15  # 2024-01-11T12:30:15Z
ADMIN_KEY = "sk-admin-unit-test-0123456789abcd"
MakeClient = Callable[..., httpx.Client]  # the `make_client` fixture: key=..., faults=..., **app

# Value of each dimension in finest rows 0, 1 and 2.
VALUES: dict[str, tuple[Any, Any, Any]] = {
    "project_id": ("proj_a", "proj_a", "proj_b"),
    "user_id": ("user_a", "user_b", None),
    "api_key_id": ("key_a", "key_b", "key_c"),
    "model": ("gpt-4o", "gpt-4o-mini", "gpt-4o"),
    "batch": (False, True, False),
    "service_tier": ("default", "default", "flex"),
    "size": ("1024x1024", "512x512", "1024x1024"),
    "source": ("image.generation", "image.edit", "image.generation"),
    "vector_store_id": ("vs_a", "vs_b", "vs_a"),
    "context_level": ("low", "high", "medium"),
}
COST_ROWS: dict[Dims, tuple[Decimal, Decimal, str | None]] = {
    # (project_id, line_item, api_key_id): (usd per minute, quantity per minute, unit)
    ("proj_a", "gpt-4o, input", "key_a"): (Decimal("0.01"), Decimal(100), "tokens"),
    ("proj_a", "gpt-4o, output", "key_b"): (Decimal("0.03"), Decimal(50), "tokens"),
    ("proj_b", "web search tool calls", "key_c"): (Decimal("0.025"), Decimal(1), None),
}
EVENT_TYPES = ("project.created", "api_key.created", "user.added", "tenant.user.added")


def minutes_between(start: int, end: int, now: float) -> int:
    """Minutes that start in [max(start, T0), end) and at or before `now`."""
    lower, upper = max(start, T0), min(end, math.floor(now) + 1)
    return max(0, -(-upper // MINUTE) - -(-lower // MINUTE))


def _project(i: int, name: str, archived: bool = False) -> JSON:
    return {
        "id": f"proj_{name}",
        "object": "organization.project",
        "name": f"Project {name.upper()}",
        "created_at": T0 - (10 - i) * DAY,
        "archived_at": T0 if archived else None,
        "status": "archived" if archived else "active",
    }


def _user(name: str, i: int) -> JSON:
    return {
        "object": "organization.user",
        "id": f"user_{name}",
        "name": f"User {name.upper()}",
        "email": f"{name}@example.com",
        "role": "owner" if i == 0 else "reader",
        "added_at": T0 - (10 - i) * DAY,
    }


def _project_user(name: str) -> JSON:
    return {
        "object": "organization.project.user",
        "id": f"user_{name}",
        "name": f"User {name.upper()}",
        "email": f"{name}@example.com",
        "role": "owner",
        "added_at": T0 - DAY,
    }


def _api_key(name: str, access: str) -> JSON:
    return {
        "object": "organization.project.api_key",
        "redacted_value": "sk-abc...def",
        "name": f"Key {name}",
        "created_at": T0 - DAY,
        "last_used_at": T0,
        "id": f"key_{name}",
        "owner_project_access": access,
        "owner": {
            "type": "user",
            "user": {
                "id": "user_a",
                "email": "a@example.com",
                "name": "User A",
                "created_at": T0 - 10 * DAY,
                "role": "owner",
            },
        },
    }


def _rate_limit(model: str) -> JSON:
    return {
        "object": "project.rate_limit",
        "id": f"rl-{model}",
        "model": model,
        "max_requests_per_1_minute": 500,
        "max_tokens_per_1_minute": 30000,
    }


def _admin_key(i: int) -> JSON:
    return {
        "object": "organization.admin_api_key",
        "id": f"key_admin{i}",
        "name": f"Admin key {i}",
        "redacted_value": "sk-admin...def",
        "created_at": T0 - (5 - i) * DAY,
        "expires_at": None,
        "last_used_at": None,
        "owner": {"type": "user", "object": "organization.user", "id": "user_a", "name": "A"},
    }


def _event(i: int) -> JSON:
    kind = EVENT_TYPES[i % len(EVENT_TYPES)]
    project = ("proj_a", "proj_b")[i % 2]
    if i % 3 == 0:
        actor = {
            "type": "api_key",
            "api_key": {
                "id": "key_a",
                "type": "service_account",
                "service_account": {"id": "svc_a"},
            },
        }
    else:
        user = ("user_a", "user_b")[i % 2]
        actor = {
            "type": "session",
            "session": {"user": {"id": user, "email": f"{user[-1]}@EXAMPLE.com"}},
        }
    return {
        "id": f"audit_log-{i:04d}",
        "type": kind,
        "effective_at": T0 + (i // 2) * 600,
        "project": {"id": project, "name": f"Project {project[-1].upper()}"},
        "actor": actor,
        kind: {"id": f"res_{i % 5}"},
    }


class FakeOrganization:
    """Implements poller.simulator.model.SimOrganization."""

    seed = 0
    size = "small"
    settle_seconds = 0.0
    organization_id = "org-fake"

    def __init__(self) -> None:
        self.directory = Directory(
            projects=[_project(0, "a"), _project(1, "b"), _project(2, "c", archived=True)],
            users=[_user("a", 0), _user("b", 1), _user("c", 2)],
            project_users={
                "proj_a": [_project_user("a"), _project_user("b")],
                "proj_b": [_project_user("a")],
                "proj_c": [_project_user("c")],
            },
            project_api_keys={
                "proj_a": [_api_key("a", "active"), _api_key("b", "inactive")],
                "proj_b": [_api_key("c", "active")],
            },
            project_service_accounts={
                "proj_a": [
                    {
                        "object": "organization.project.service_account",
                        "id": "svc_a",
                        "name": "Service A",
                        "role": "member",
                        "created_at": T0 - DAY,
                    }
                ],
            },
            project_rate_limits={"proj_a": [_rate_limit(m) for m in ("gpt-4o", "gpt-4o-mini")]},
            admin_api_keys=[_admin_key(i) for i in range(3)],
        )
        self.spend = spend_controls()
        self.access = access_controls()
        self.governance = governance()
        events = [_event(i) for i in range(30)]
        self.events = sorted(events, key=lambda e: (e["effective_at"], e["id"]), reverse=True)

    def usage(self, stream: str, start: int, end: int, now: float) -> dict[Dims, dict[str, int]]:
        endpoint = USAGE_ENDPOINTS[stream]
        minutes = minutes_between(start, end, now)
        rows: dict[Dims, dict[str, int]] = {}
        if minutes == 0:
            return rows
        for r in range(3):
            dims = tuple(VALUES[d][r] for d in endpoint.dimensions)
            metrics = rows.setdefault(dims, dict.fromkeys(endpoint.metrics, 0))
            for j, metric in enumerate(endpoint.metrics):
                metrics[metric] += minutes * (r + 1) * (j + 1)
        return rows

    def costs(self, start: int, end: int, now: float) -> dict[Dims, CostRecord]:
        minutes = minutes_between(start, end, now)
        if minutes == 0:
            return {}
        return {
            dims: CostRecord(usd * minutes, "usd", quantity * minutes, unit)
            for dims, (usd, quantity, unit) in COST_ROWS.items()
        }

    def audit_events(self, start: int, end: int, now: float) -> list[JSON]:
        return [
            e for e in self.events if start <= e["effective_at"] < end and e["effective_at"] <= now
        ]

    def find_audit_event(self, event_id: str) -> JSON | None:
        return next((e for e in self.events if e["id"] == event_id), None)


class FakeClock:
    """The app's clock and sleep: time moves only when a test sets `now`; sleeps are recorded."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The error object of an OpenAI envelope, after checking the envelope's exact shape."""
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return dict(body["error"])
