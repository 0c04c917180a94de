"""Payloads of the audit event types, shaped like the `AuditLog` schema's per-type objects.

Each builder looks at the `Scene` (what exists on the event's day) so ids point at real
directory objects where that makes sense: updates name live keys, projects, members and rate
limits. Objects created and deleted in passing (temporary keys, invites) get fresh ids, and
organization-level objects outside the directory (groups, certificates, IP allowlists, roles,
workload identity providers) come from a small stable set.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from poller.simulator.model import JSON
from poller.simulator.org_models import FINE_TUNED_MODEL
from poller.simulator.org_names import EMAIL_DOMAIN, FIRST_NAMES, LAST_NAMES
from poller.simulator.org_rng import make_rng, random_token
from poller.simulator.org_roster import ApiKey, Member, Project, ServiceAccount, User

__all__ = ["PAYLOADS", "Fixtures", "Payload", "Scene"]

_SCOPES: Final = ("api.model.request", "api.model.read", "api.files.write", "api.assistants.write")
_PERMISSIONS: Final = (
    "api.organization.projects.read", "api.organization.projects.write", "api.usage.read",
    "api.model.request", "api.files.read", "api.organization.members.read",
)  # fmt: skip
_RATE_LIMITED_MODELS: Final = ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-5", "o3", "gpt-image-1")


@dataclass(frozen=True)
class Named:
    id: str
    name: str


@dataclass(frozen=True)
class Fixtures:
    """Long-lived organization objects that only the audit log knows about."""

    groups: tuple[Named, ...]
    certificates: tuple[Named, ...]
    allowlists: tuple[Named, ...]
    roles: tuple[Named, ...]
    providers: tuple[Named, ...]

    @staticmethod
    def build(seed: int) -> Fixtures:
        rng = make_rng(seed, "audit-fixtures")

        def named(prefix: str, names: tuple[str, ...]) -> tuple[Named, ...]:
            return tuple(Named(prefix + random_token(rng, 20), name) for name in names)

        return Fixtures(
            groups=named("group_", ("Engineering", "Data Science", "Support", "Finance")),
            certificates=named("cert_", ("mtls-prod-2026", "mtls-staging")),
            allowlists=named("ipal_", ("Office VPN", "CI runners")),
            roles=named("role_", ("Usage Viewer", "Key Manager", "Project Auditor")),
            providers=named("wip_", ("GitHub Actions", "GCP Workload Identity")),
        )


@dataclass(frozen=True)
class Scene:
    """What exists on the event's day, and the day's generator."""

    rng: random.Random
    organization_id: str
    projects: tuple[Project, ...]  # live, never empty
    keys: tuple[ApiKey, ...]  # live
    users: tuple[User, ...]
    fixtures: Fixtures


@dataclass(frozen=True)
class Payload:
    body: JSON
    project: Project | None = None  # set on project-scoped events


def _token(scene: Scene, prefix: str, length: int = 24) -> str:
    return prefix + random_token(scene.rng, length)


def _project_of(scene: Scene, key: ApiKey) -> Project:
    return next(project for project in scene.projects if project.id == key.project_id)


def _member(scene: Scene) -> tuple[Project, Member]:
    project = scene.rng.choice(scene.projects)
    return project, scene.rng.choice(project.members)


def _account(scene: Scene) -> tuple[Project, ServiceAccount] | None:
    candidates = [p for p in scene.projects if p.service_accounts]
    if not candidates:
        return None
    project = scene.rng.choice(candidates)
    return project, scene.rng.choice(project.service_accounts)


def _pick(scene: Scene, items: tuple[Named, ...]) -> Named:
    return scene.rng.choice(items)


def _ips(scene: Scene) -> list[str]:
    return [
        f"198.51.100.{scene.rng.randrange(0, 256, 16)}/28" for _ in range(scene.rng.randint(1, 3))
    ]


def _scopes(scene: Scene) -> list[str]:
    return sorted(scene.rng.sample(_SCOPES, scene.rng.randint(1, 3)))


def _api_key_created(scene: Scene) -> Payload:
    project = scene.rng.choice(scene.projects)
    return Payload({"id": _token(scene, "key_", 16), "data": {"scopes": _scopes(scene)}}, project)


def _api_key_updated(scene: Scene) -> Payload:
    if not scene.keys:
        return _api_key_created(scene)
    key = scene.rng.choice(scene.keys)
    body = {"id": key.id, "changes_requested": {"scopes": _scopes(scene)}}
    return Payload(body, _project_of(scene, key))


def _api_key_deleted(scene: Scene) -> Payload:
    return Payload({"id": _token(scene, "key_", 16)}, scene.rng.choice(scene.projects))


def _project_updated(scene: Scene) -> Payload:
    project = scene.rng.choice(scene.projects)
    return Payload({"id": project.id, "changes_requested": {"title": project.name}}, project)


def _project_deleted(scene: Scene) -> Payload:
    return Payload({"id": _token(scene, "proj_")})


def _rate_limit_updated(scene: Scene) -> Payload:
    project = scene.rng.choice(scene.projects)
    model = scene.rng.choice(_RATE_LIMITED_MODELS)
    changes = {
        "max_requests_per_1_minute": scene.rng.choice((500, 1000, 5000, 10_000)),
        "max_tokens_per_1_minute": scene.rng.choice((200_000, 1_000_000, 10_000_000)),
    }
    return Payload({"id": f"rl-{model}", "changes_requested": changes}, project)


def _rate_limit_deleted(scene: Scene) -> Payload:
    project = scene.rng.choice(scene.projects)
    return Payload({"id": f"rl-{scene.rng.choice(_RATE_LIMITED_MODELS)}"}, project)


def _service_account_created(scene: Scene) -> Payload:
    project = scene.rng.choice(scene.projects)
    body = {
        "id": _token(scene, "svc_acct_"),
        "data": {"role": scene.rng.choice(("owner", "member"))},
    }
    return Payload(body, project)


def _service_account_updated(scene: Scene) -> Payload:
    found = _account(scene)
    if found is None:
        return _service_account_created(scene)
    project, account = found
    role = "member" if account.role == "owner" else "owner"
    return Payload({"id": account.id, "changes_requested": {"role": role}}, project)


def _service_account_deleted(scene: Scene) -> Payload:
    return Payload({"id": _token(scene, "svc_acct_")}, scene.rng.choice(scene.projects))


def _user_added(scene: Scene) -> Payload:
    project, member = _member(scene)
    return Payload({"id": member.user.id, "data": {"role": member.role}}, project)


def _user_updated(scene: Scene) -> Payload:
    project, member = _member(scene)
    role = "member" if member.role == "owner" else "owner"
    return Payload({"id": member.user.id, "changes_requested": {"role": role}}, project)


def _user_deleted(scene: Scene) -> Payload:
    return Payload({"id": _token(scene, "user-")}, scene.rng.choice(scene.projects))


def _invite_sent(scene: Scene) -> Payload:
    first, last = scene.rng.choice(FIRST_NAMES), scene.rng.choice(LAST_NAMES)
    email = f"{first.lower()}.{last.lower()}@{EMAIL_DOMAIN}"
    role = "owner" if scene.rng.random() < 0.1 else "member"
    return Payload({"id": _token(scene, "invite-"), "data": {"email": email, "role": role}})


def _certificate_deleted(scene: Scene) -> Payload:
    body = "MIIB" + random_token(scene.rng, 60)
    pem = f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----"
    return Payload({"id": _token(scene, "cert_", 20), "name": "mtls-retired", "certificate": pem})


def _checkpoint_created(scene: Scene) -> Payload:
    project = scene.rng.choice(scene.projects)
    checkpoint = f"{FINE_TUNED_MODEL}:ckpt-step-{scene.rng.randrange(100, 2000, 100)}"
    data = {"project_id": project.id, "fine_tuned_model_checkpoint": checkpoint}
    return Payload({"id": _token(scene, "cp_"), "data": data}, project)


def _organization_updated(scene: Scene) -> Payload:
    change = scene.rng.choice(
        (
            {"title": "Acme Corp"},
            {"usage_dashboard_visibility": "OWNERS"},
            {"threads_ui_visibility": "NONE"},
            {"api_call_logging": "enabled_per_call"},
            {"description": "Acme's production and research workloads"},
        )
    )
    return Payload({"id": scene.organization_id, "changes_requested": change})


def _role_created(scene: Scene) -> Payload:
    permissions = sorted(scene.rng.sample(_PERMISSIONS, 3))
    return Payload(
        {
            "id": _token(scene, "role_", 20),
            "role_name": scene.rng.choice(("Billing Reader", "Eval Runner", "Contractor")),
            "permissions": permissions,
            "resource_type": "api.organization",
            "resource_id": scene.organization_id,
        }
    )


def _role_updated(scene: Scene) -> Payload:
    role = _pick(scene, scene.fixtures.roles)
    changes = {
        "role_name": role.name,
        "permissions_added": [scene.rng.choice(_PERMISSIONS)],
        "permissions_removed": [],
        "description": f"{role.name} (reviewed)",
    }
    return Payload({"id": role.id, "changes_requested": changes})


def _role_assignment(scene: Scene) -> Payload:
    project, member = _member(scene)
    return Payload(
        {
            "id": _token(scene, "ra_", 20),
            "principal_id": member.user.id,
            "principal_type": "user",
            "resource_id": project.id,
            "resource_type": "api.project",
        },
        project,
    )


def _mapping_deleted(scene: Scene) -> Payload:
    provider = _pick(scene, scene.fixtures.providers)
    found = _account(scene)
    project_id, account_id = (found[0].id, found[1].id) if found else ("", "")
    body = {
        "id": _token(scene, "wipm_", 20),
        "identity_provider_id": provider.id,
        "project_id": project_id,
        "service_account_id": account_id,
    }
    return Payload(body)


def _certificate(scene: Scene) -> Payload:
    certificate = _pick(scene, scene.fixtures.certificates)
    return Payload({"id": certificate.id, "name": certificate.name})


def _certificates(scene: Scene) -> Payload:
    certificate = _pick(scene, scene.fixtures.certificates)
    return Payload({"certificates": [{"id": certificate.id, "name": certificate.name}]})


def _group_created(scene: Scene) -> Payload:
    return Payload({"id": _token(scene, "group_", 20), "data": {"group_name": "Contractors"}})


def _group_updated(scene: Scene) -> Payload:
    group = _pick(scene, scene.fixtures.groups)
    return Payload({"id": group.id, "changes_requested": {"group_name": group.name}})


def _allowlist(scene: Scene) -> Payload:
    allowlist = _pick(scene, scene.fixtures.allowlists)
    return Payload({"id": allowlist.id, "name": allowlist.name, "allowed_ips": _ips(scene)})


def _allowlist_updated(scene: Scene) -> Payload:
    allowlist = _pick(scene, scene.fixtures.allowlists)
    return Payload({"id": allowlist.id, "allowed_ips": _ips(scene)})


def _allowlist_configs(scene: Scene) -> Payload:
    allowlist = _pick(scene, scene.fixtures.allowlists)
    return Payload({"configs": [{"id": allowlist.id, "name": allowlist.name}]})


def _provider_created(scene: Scene) -> Payload:
    provider = _pick(scene, scene.fixtures.providers)
    data = {"name": provider.name, "issuer": "https://token.actions.githubusercontent.com"}
    return Payload({"id": provider.id, "data": data})


def _provider_updated(scene: Scene) -> Payload:
    provider = _pick(scene, scene.fixtures.providers)
    return Payload({"id": provider.id, "changes_requested": {"name": provider.name}})


def _provider_deleted(scene: Scene) -> Payload:
    provider = _pick(scene, scene.fixtures.providers)
    return Payload({"id": provider.id, "name": provider.name})


def _mapping_created(scene: Scene) -> Payload:
    provider = _pick(scene, scene.fixtures.providers)
    body = {"id": _token(scene, "wipm_", 20), "identity_provider_id": provider.id}
    return Payload(body | {"data": {"subject": "repo:acme/app:ref:refs/heads/main"}})


def _mapping_updated(scene: Scene) -> Payload:
    provider = _pick(scene, scene.fixtures.providers)
    body = {"id": _token(scene, "wipm_", 20), "identity_provider_id": provider.id}
    return Payload(body | {"changes_requested": {"subject": "repo:acme/app:environment:prod"}})


def _external_key(scene: Scene) -> Payload:
    data = {"provider": "aws_kms", "region": "us-east-1"}
    return Payload({"id": _token(scene, "ek_", 20), "data": data})


def _failure(code: str, message: str) -> Callable[[Scene], Payload]:
    return lambda scene: Payload({"error_code": code, "error_message": message})


def _plain(prefix: str, length: int = 24) -> Callable[[Scene], Payload]:
    return lambda scene: Payload({"id": _token(scene, prefix, length)})


def _organization_id(scene: Scene) -> Payload:
    return Payload({"id": scene.organization_id})


def _empty(scene: Scene) -> Payload:
    return Payload({})


PAYLOADS: Final[dict[str, Callable[[Scene], Payload]]] = {
    "api_key.created": _api_key_created,
    "api_key.updated": _api_key_updated,
    "api_key.deleted": _api_key_deleted,
    "certificate.created": _certificate,
    "certificate.updated": _certificate,
    "certificate.deleted": _certificate_deleted,
    "certificates.activated": _certificates,
    "certificates.deactivated": _certificates,
    "checkpoint.permission.created": _checkpoint_created,
    "checkpoint.permission.deleted": _plain("cp_"),
    "external_key.registered": _external_key,
    "external_key.removed": _plain("ek_", 20),
    "group.created": _group_created,
    "group.updated": _group_updated,
    "group.deleted": _plain("group_", 20),
    "invite.sent": _invite_sent,
    "invite.accepted": _plain("invite-"),
    "invite.deleted": _plain("invite-"),
    "ip_allowlist.created": _allowlist,
    "ip_allowlist.updated": _allowlist_updated,
    "ip_allowlist.deleted": _allowlist,
    "ip_allowlist.config.activated": _allowlist_configs,
    "ip_allowlist.config.deactivated": _allowlist_configs,
    "login.succeeded": _empty,
    "login.failed": _failure("invalid_credentials", "Invalid email or password."),
    "logout.succeeded": _empty,
    "logout.failed": _failure("session_not_found", "The session has already ended."),
    "organization.updated": _organization_updated,
    "project.updated": _project_updated,
    "project.deleted": _project_deleted,
    "rate_limit.updated": _rate_limit_updated,
    "rate_limit.deleted": _rate_limit_deleted,
    "role.created": _role_created,
    "role.updated": _role_updated,
    "role.deleted": _plain("role_", 20),
    "role.assignment.created": _role_assignment,
    "role.assignment.deleted": _role_assignment,
    "scim.enabled": _organization_id,
    "scim.disabled": _organization_id,
    "service_account.created": _service_account_created,
    "service_account.updated": _service_account_updated,
    "service_account.deleted": _service_account_deleted,
    "user.added": _user_added,
    "user.updated": _user_updated,
    "user.deleted": _user_deleted,
    "workload_identity_provider.created": _provider_created,
    "workload_identity_provider.updated": _provider_updated,
    "workload_identity_provider.deleted": _provider_deleted,
    "workload_identity_provider_mapping.created": _mapping_created,
    "workload_identity_provider_mapping.updated": _mapping_updated,
    "workload_identity_provider_mapping.deleted": _mapping_deleted,
}
