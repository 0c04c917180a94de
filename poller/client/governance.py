"""Governance settings: data retention, model and hosted-tool permissions, mTLS certificates.

Functions taking the client, as the spend controls do (`poller.client.spend`), so the
governance stream needs no change to `AdminClient`; they go through its one retrying request
path. Models require only what a snapshot cannot do without (a retention `type`, a permission
`mode`, a certificate `id`); whatever else OpenAI adds is kept and read back by `api_dict`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from poller.client.api import AdminClient
from poller.client.models import APIModel, ItemListPage
from poller.client.params import LIST_LIMIT
from poller.client.query import QueryValue

__all__ = [
    "CertificateDetails",
    "CertificatePage",
    "DataRetention",
    "GovernanceCertificate",
    "HostedToolPermissions",
    "ModelPermissions",
    "certificate_pages",
    "data_retention",
    "hosted_tool_permissions",
    "model_permissions",
]

_ORG_RETENTION: Final = "/organization/data_retention"
_PROJECT_RETENTION: Final = "/organization/projects/{project_id}/data_retention"
_MODEL_PERMISSIONS: Final = "/organization/projects/{project_id}/model_permissions"
_TOOL_PERMISSIONS: Final = "/organization/projects/{project_id}/hosted_tool_permissions"
_ORG_CERTIFICATES: Final = "/organization/certificates"
_PROJECT_CERTIFICATES: Final = "/organization/projects/{project_id}/certificates"


class DataRetention(APIModel):
    type: str
    object: str | None = None  # "organization.data_retention" | "project.data_retention"


class ModelPermissions(APIModel):
    mode: str  # "allow_list" | "deny_list"
    model_ids: list[str] | None = None
    object: str | None = None


class HostedToolPermissions(APIModel):
    """One `{"enabled": bool}` per hosted tool; the spec names five, new ones are kept."""


class CertificateDetails(APIModel):
    valid_at: int | None = None
    expires_at: int | None = None


class GovernanceCertificate(APIModel):
    """A certificate as listed for the organization or a project: `active` in that scope."""

    id: str
    object: str | None = None
    name: str | None = None
    created_at: int | None = None
    certificate_details: CertificateDetails | None = None
    active: bool | None = None


class CertificatePage(ItemListPage[GovernanceCertificate]):
    """One page of certificates: a certificate that fails its schema goes to `invalid`."""


def data_retention(client: AdminClient, project_id: str | None = None) -> DataRetention:
    """The organization's data retention setting, or `project_id`'s."""
    if project_id is None:
        return client._get(_ORG_RETENTION, DataRetention)
    return client._get(_PROJECT_RETENTION, DataRetention, path={"project_id": project_id})


def model_permissions(client: AdminClient, project_id: str) -> ModelPermissions:
    return client._get(_MODEL_PERMISSIONS, ModelPermissions, path={"project_id": project_id})


def hosted_tool_permissions(client: AdminClient, project_id: str) -> HostedToolPermissions:
    path = {"project_id": project_id}
    return client._get(_TOOL_PERMISSIONS, HostedToolPermissions, path=path)


def certificate_pages(
    client: AdminClient, project_id: str | None = None
) -> Iterator[CertificatePage]:
    """The organization's certificates page by page, oldest first, or `project_id`'s."""
    params: dict[str, QueryValue] = {"limit": LIST_LIMIT, "order": "asc"}
    if project_id is None:
        return client._list_pages(_ORG_CERTIFICATES, CertificatePage, params=params)
    path = {"project_id": project_id}
    return client._list_pages(_PROJECT_CERTIFICATES, CertificatePage, path=path, params=params)
