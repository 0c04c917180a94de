"""Directory objects: projects, users, keys, service accounts and rate limits.

The poller reads them to put names next to ids and to snapshot rate limits, so only `id` (and a
rate limit's `model`) is required: a drifted field the poller does not use must not stop
enrichment. Everything else is optional and nullable, and unknown fields are kept.
"""

from __future__ import annotations

from poller.client.models import APIModel, ItemListPage

__all__ = [
    "AdminApiKey",
    "AdminApiKeyOwner",
    "Project",
    "ProjectApiKey",
    "ProjectApiKeyOwner",
    "ProjectApiKeyOwnerServiceAccount",
    "ProjectApiKeyOwnerUser",
    "ProjectRateLimit",
    "ProjectRateLimitPage",
    "ProjectServiceAccount",
    "ProjectUser",
    "User",
]


class Project(APIModel):
    id: str
    name: str | None = None
    created_at: int | None = None
    archived_at: int | None = None
    status: str | None = None  # "active" | "archived"
    external_key_id: str | None = None
    residency: str | None = None


class User(APIModel):
    """An organization user; the spec's many optional extras stay reachable as extra fields."""

    id: str
    name: str | None = None
    email: str | None = None
    role: str | None = None  # "owner" | "reader"
    added_at: int | None = None
    is_service_account: bool | None = None
    api_key_last_used_at: int | None = None


class ProjectUser(APIModel):
    id: str
    name: str | None = None
    email: str | None = None
    role: str | None = None  # "owner" | "member"
    added_at: int | None = None


class ProjectApiKeyOwnerUser(APIModel):
    id: str | None = None
    email: str | None = None
    name: str | None = None
    created_at: int | None = None
    role: str | None = None


class ProjectApiKeyOwnerServiceAccount(APIModel):
    id: str | None = None
    name: str | None = None
    created_at: int | None = None
    role: str | None = None


class ProjectApiKeyOwner(APIModel):
    type: str | None = None  # "user" | "service_account"
    user: ProjectApiKeyOwnerUser | None = None
    service_account: ProjectApiKeyOwnerServiceAccount | None = None


class ProjectApiKey(APIModel):
    id: str
    name: str | None = None
    redacted_value: str | None = None
    created_at: int | None = None
    last_used_at: int | None = None
    owner_project_access: str | None = None  # "active" | "inactive"
    owner: ProjectApiKeyOwner | None = None


class ProjectServiceAccount(APIModel):
    id: str
    name: str | None = None
    role: str | None = None  # "owner" | "member" | "none"
    created_at: int | None = None


class ProjectRateLimit(APIModel):
    id: str
    model: str
    max_requests_per_1_minute: int | None = None
    max_tokens_per_1_minute: int | None = None
    max_images_per_1_minute: int | None = None
    max_audio_megabytes_per_1_minute: int | None = None
    max_requests_per_1_day: int | None = None
    batch_1_day_max_input_tokens: int | None = None


class ProjectRateLimitPage(ItemListPage[ProjectRateLimit]):
    """One page of a project's rate limits, collected as a stream: a limit that fails its
    schema goes to `invalid` instead of failing the page."""


class AdminApiKeyOwner(APIModel):
    """The schema says `type` is "Always `user`"; its own example has a service account."""

    type: str | None = None
    object: str | None = None
    id: str | None = None
    name: str | None = None
    created_at: int | None = None
    role: str | None = None


class AdminApiKey(APIModel):
    """`expires_at` is required by the schema, yet the spec's retrieve example omits it."""

    id: str
    name: str | None = None
    redacted_value: str | None = None
    created_at: int | None = None
    expires_at: int | None = None
    last_used_at: int | None = None
    owner: AdminApiKeyOwner | None = None
