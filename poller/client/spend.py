"""Spend controls: the hard spend limits and spend alerts of the organization and its projects.

Amounts are whole cents per `interval` (only `month` exists). Functions taking the client rather
than client methods, so the spend streams need no change to `AdminClient` itself; they go
through its one retrying request path. A project without a hard limit of its own answers 404 on
its `spend_limit`: that is "no limit" (None), not a failure.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from poller.client.api import AdminClient
from poller.client.models import APIModel, ItemListPage
from poller.client.params import LIST_LIMIT
from poller.errors import RequestRejectedError

__all__ = [
    "SpendAlert",
    "SpendAlertChannel",
    "SpendAlertPage",
    "SpendEnforcement",
    "SpendLimit",
    "spend_alert_pages",
    "spend_limit",
]

_ORG_LIMIT: Final = "/organization/spend_limit"
_PROJECT_LIMIT: Final = "/organization/projects/{project_id}/spend_limit"
_ORG_ALERTS: Final = "/organization/spend_alerts"
_PROJECT_ALERTS: Final = "/organization/projects/{project_id}/spend_alerts"
_NOT_FOUND: Final = 404


class SpendEnforcement(APIModel):
    status: str | None = None  # "inactive" | "enforcing"


class SpendLimit(APIModel):
    """`threshold_amount` is required: a limit without an amount says nothing."""

    threshold_amount: int
    object: str | None = None  # "organization.spend_limit" | "project.spend_limit"
    currency: str | None = None
    interval: str | None = None
    enforcement: SpendEnforcement | None = None


class SpendAlertChannel(APIModel):
    type: str | None = None  # "email"
    recipients: list[str] | None = None
    subject_prefix: str | None = None


class SpendAlert(APIModel):
    id: str
    threshold_amount: int
    object: str | None = None  # "organization.spend_alert" | "project.spend_alert"
    currency: str | None = None
    interval: str | None = None
    notification_channel: SpendAlertChannel | None = None


class SpendAlertPage(ItemListPage[SpendAlert]):
    """One page of spend alerts, collected as a stream: an alert that fails its schema goes to
    `invalid` instead of failing the page."""


def spend_limit(client: AdminClient, project_id: str | None = None) -> SpendLimit | None:
    """The organization's hard limit, or `project_id`'s; None when the project has none."""
    if project_id is None:
        return client._get(_ORG_LIMIT, SpendLimit)
    try:
        return client._get(_PROJECT_LIMIT, SpendLimit, path={"project_id": project_id})
    except RequestRejectedError as exc:
        if exc.status == _NOT_FOUND:
            return None
        raise


def spend_alert_pages(
    client: AdminClient, project_id: str | None = None
) -> Iterator[SpendAlertPage]:
    """The organization's spend alerts page by page, or `project_id`'s."""
    params = {"limit": LIST_LIMIT}
    if project_id is None:
        return client._list_pages(_ORG_ALERTS, SpendAlertPage, params=params)
    path = {"project_id": project_id}
    return client._list_pages(_PROJECT_ALERTS, SpendAlertPage, path=path, params=params)
