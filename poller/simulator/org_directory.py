"""The roster rendered as the spec's directory objects (Project, User, ProjectApiKey, …).

The organization is timeless, so fields that would depend on the current time
(`last_used_at`) are null rather than a guess.
"""

from __future__ import annotations

from typing import Final

from poller.simulator.model import JSON, Directory
from poller.simulator.org_roster import (
    AdminKey,
    ApiKey,
    Member,
    Project,
    Roster,
    ServiceAccount,
    User,
)

__all__ = ["build_directory"]

# model, requests/min, tokens/min, and the optional limits the spec lists for some models.
_RATE_LIMITS: Final[tuple[tuple[str, int, int, dict[str, int]], ...]] = (
    ("gpt-5", 15_000, 40_000_000, {"batch_1_day_max_input_tokens": 15_000_000_000}),
    ("gpt-5-mini", 30_000, 180_000_000, {"batch_1_day_max_input_tokens": 15_000_000_000}),
    ("gpt-4.1", 10_000, 30_000_000, {"batch_1_day_max_input_tokens": 15_000_000_000}),
    ("gpt-4.1-mini", 30_000, 150_000_000, {"batch_1_day_max_input_tokens": 15_000_000_000}),
    ("gpt-4o", 10_000, 30_000_000, {"batch_1_day_max_input_tokens": 5_000_000_000}),
    ("gpt-4o-mini", 30_000, 150_000_000, {"batch_1_day_max_input_tokens": 15_000_000_000}),
    ("o3", 10_000, 30_000_000, {"batch_1_day_max_input_tokens": 5_000_000_000}),
    ("o4-mini", 30_000, 150_000_000, {"batch_1_day_max_input_tokens": 15_000_000_000}),
    ("gpt-realtime", 20_000, 15_000_000, {}),
    ("text-embedding-3-small", 10_000, 10_000_000, {"batch_1_day_max_input_tokens": 4_000_000_000}),
    ("text-embedding-3-large", 10_000, 10_000_000, {"batch_1_day_max_input_tokens": 4_000_000_000}),
    ("omni-moderation-latest", 5_000, 1_000_000, {}),
    ("gpt-image-1", 250, 8_000_000, {"max_images_per_1_minute": 250}),
    ("dall-e-3", 500, 0, {"max_images_per_1_minute": 50}),
    ("dall-e-2", 500, 0, {"max_images_per_1_minute": 100}),
    ("tts-1", 500, 0, {}),
    ("gpt-4o-mini-tts", 10_000, 2_000_000, {}),
    ("whisper-1", 500, 0, {"max_audio_megabytes_per_1_minute": 100}),
    ("gpt-4o-transcribe", 10_000, 2_000_000, {"max_audio_megabytes_per_1_minute": 100}),
)  # fmt: skip


def build_directory(roster: Roster) -> Directory:
    projects = roster.projects
    return Directory(
        projects=[_project(project) for project in projects],
        users=[_user(user) for user in roster.users],
        project_users={p.id: [_project_user(member) for member in p.members] for p in projects},
        project_api_keys={p.id: [_api_key(key) for key in p.keys] for p in projects},
        project_service_accounts={
            p.id: [_service_account(account) for account in p.service_accounts] for p in projects
        },
        project_rate_limits={p.id: _rate_limits(index) for index, p in enumerate(projects)},
        admin_api_keys=[_admin_key(key) for key in roster.admin_keys],
    )


def _project(project: Project) -> JSON:
    return {
        "id": project.id,
        "object": "organization.project",
        "name": project.name,
        "created_at": project.created_at,
        "archived_at": project.archived_at,
        "status": "active" if project.archived_at is None else "archived",
        "external_key_id": None,
        "residency": project.residency,
    }


def _user(user: User) -> JSON:
    return {
        "object": "organization.user",
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "role": user.role,
        "added_at": user.added_at,
    }


def _project_user(member: Member) -> JSON:
    return {
        "object": "organization.project.user",
        "id": member.user.id,
        "name": member.user.name,
        "email": member.user.email,
        "role": member.role,
        "added_at": member.added_at,
    }


def _service_account(account: ServiceAccount) -> JSON:
    return {
        "object": "organization.project.service_account",
        "id": account.id,
        "name": account.name,
        "role": account.role,
        "created_at": account.created_at,
    }


def _api_key(key: ApiKey) -> JSON:
    owner: JSON
    if isinstance(key.owner, Member):
        member = key.owner
        owner = {
            "type": "user",
            "user": {
                "id": member.user.id,
                "email": member.user.email,
                "name": member.user.name,
                "created_at": member.user.added_at,
                "role": member.role,
            },
        }
    else:
        account = key.owner
        owner = {
            "type": "service_account",
            "service_account": {
                "id": account.id,
                "name": account.name,
                "created_at": account.created_at,
                "role": account.role,
            },
        }
    return {
        "object": "organization.project.api_key",
        "redacted_value": key.redacted_value,
        "name": key.name,
        "created_at": key.created_at,
        "last_used_at": None,
        "id": key.id,
        "owner_project_access": "active",
        "owner": owner,
    }


def _rate_limits(project_index: int) -> list[JSON]:
    """The same model list everywhere; every third project has been throttled to a quarter."""
    scale = 4 if project_index % 3 == 2 else 1
    return [
        {
            "object": "project.rate_limit",
            "id": f"rl-{model}",
            "model": model,
            "max_requests_per_1_minute": requests // scale,
            "max_tokens_per_1_minute": tokens // scale,
            **{name: value // scale for name, value in extra.items()},
        }
        for model, requests, tokens, extra in _RATE_LIMITS
    ]


def _admin_key(key: AdminKey) -> JSON:
    return {
        "object": "organization.admin_api_key",
        "id": key.id,
        "name": key.name,
        "redacted_value": key.redacted_value,
        "created_at": key.created_at,
        "expires_at": None,
        "last_used_at": None,
        "owner": {
            "type": "user",
            "object": "organization.user",
            "id": key.owner.id,
            "name": key.owner.name,
            "created_at": key.owner.added_at,
            "role": "owner",
        },
    }
