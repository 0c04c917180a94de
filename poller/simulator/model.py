"""The contract between the simulator's synthetic organization and its HTTP layer.

`organization.py` builds a `SimOrganization` deterministically from a seed and a size; `app.py`
serves it under the official paths. The HTTP layer owns every request-shaped concern (auth,
parameters, bucketing and clipping, `group_by` projection, filters, paging, faults); the
organization owns the numbers. Keeping them apart is what lets the invariant tests compare
HTTP answers with the organization's own truth.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

__all__ = [
    "JSON",
    "AccessControls",
    "CostRecord",
    "Dims",
    "Directory",
    "Governance",
    "GovernanceChange",
    "SimOrganization",
    "Size",
    "SpendControls",
]

JSON = dict[str, Any]

# One value per entry of `UsageEndpoint.dimensions`, in that order (see poller.streams).
Dims = tuple[str | bool | None, ...]

Size = str  # "small" | "medium" | "large"


@dataclass(frozen=True)
class CostRecord:
    """One cost row at the finest grain: (project_id, line_item, api_key_id)."""

    amount: Decimal  # in `currency`, already rounded to the precision the API serves
    currency: str
    quantity: Decimal | None
    quantity_unit: str | None


@dataclass(frozen=True)
class Directory:
    """Every directory object, as JSON-ready dicts that validate against the spec's schemas."""

    projects: Sequence[JSON]  # Project, oldest first; some archived
    users: Sequence[JSON]  # User
    project_users: Mapping[str, Sequence[JSON]]  # project id -> ProjectUser
    project_api_keys: Mapping[str, Sequence[JSON]]  # project id -> ProjectApiKey
    project_service_accounts: Mapping[str, Sequence[JSON]]  # project id -> ProjectServiceAccount
    project_rate_limits: Mapping[str, Sequence[JSON]]  # project id -> ProjectRateLimit
    admin_api_keys: Sequence[JSON]  # AdminApiKey, oldest first


@dataclass(frozen=True)
class SpendControls:
    """Hard spend limits and spend alerts: monthly, in USD cents, as the spec's objects.

    A project without a hard limit of its own has no entry in `project_limits`.
    """

    limit: JSON  # OrganizationSpendLimitResource
    project_limits: Mapping[str, JSON]  # project id -> ProjectSpendLimitResource
    alerts: Sequence[JSON]  # OrganizationSpendAlert, oldest first
    project_alerts: Mapping[str, Sequence[JSON]]  # project id -> ProjectSpendAlert, oldest first


@dataclass(frozen=True)
class AccessControls:
    """Who may do what: roles, groups and their members, role assignments, invites."""

    roles: Sequence[JSON]  # Role: the predefined ones, then custom ones oldest first
    groups: Sequence[JSON]  # GroupResponse, oldest first
    group_users: Mapping[str, Sequence[JSON]]  # group id -> GroupMemberUser, in users' order
    group_roles: Mapping[str, Sequence[JSON]]  # group id -> AssignedRoleDetails, in roles' order
    user_roles: Mapping[str, Sequence[JSON]]  # user id -> AssignedRoleDetails, in roles' order
    project_groups: Mapping[str, Sequence[JSON]]  # project id -> ProjectGroup, oldest first
    invites: Sequence[JSON]  # Invite, oldest first


@dataclass(frozen=True)
class GovernanceChange:
    """A setting that changes at `at` (Unix seconds): `setting` names a `Governance` field
    (`data_retention`, `project_data_retention`, `model_permissions` or
    `hosted_tool_permissions`), `project_id` the project (None for the organization), `value`
    the object served from then on."""

    at: int
    setting: str
    project_id: str | None
    value: JSON


@dataclass(frozen=True)
class Governance:
    """Organization and project settings: mTLS certificates, data retention, permissions,
    as they stand before the first of `changes` (oldest first)."""

    certificates: Sequence[JSON]  # OrganizationCertificate, oldest first
    certificate_pems: Mapping[str, str]  # certificate id -> its PEM content
    # project id -> OrganizationProjectCertificate, one per organization certificate
    project_certificates: Mapping[str, Sequence[JSON]]
    data_retention: JSON  # OrganizationDataRetention
    project_data_retention: Mapping[str, JSON]  # project id -> ProjectDataRetention
    model_permissions: Mapping[str, JSON]  # project id -> ProjectModelPermissions
    hosted_tool_permissions: Mapping[str, JSON]  # project id -> ProjectHostedToolPermissions
    changes: Sequence[GovernanceChange] = ()


class SimOrganization(Protocol):
    """A synthetic organization. Every method is a pure function of the seed, size and `now`.

    Time arguments are Unix seconds. A usage minute belongs to a window when the minute's start
    lies in `[start, end)`. Values for minutes that ended less than `settle_seconds` before `now`
    are partial and grow monotonically to the settled ones; minutes after `now` have no data.
    With `now = math.inf` every method returns the settled truth.
    """

    seed: int
    size: Size
    settle_seconds: float
    organization_id: str
    directory: Directory
    spend: SpendControls
    access: AccessControls
    governance: Governance

    def usage(
        self, stream: str, start: int, end: int, now: float
    ) -> Mapping[Dims, Mapping[str, int]]:
        """Usage of a usage stream over `[start, end)` at the finest grain.

        Keys are full dimension tuples (every dimension the endpoint can group by); values hold
        every metric of `UsageEndpoint.metrics` as an int. Rows whose metrics are all zero are
        absent.
        """
        ...

    def costs(self, start: int, end: int, now: float) -> Mapping[Dims, CostRecord]:
        """Costs over `[start, end)` keyed by (project_id, line_item, api_key_id)."""
        ...

    def audit_events(self, start: int, end: int, now: float) -> Sequence[JSON]:
        """AuditLog objects with `start <= effective_at < end` and `effective_at <= now`.

        Newest first; ties broken by id, descending. Ids are unique and stable.
        """
        ...

    def find_audit_event(self, event_id: str) -> JSON | None:
        """The audit event with this id (for `after`/`before` paging), or None."""
        ...
