"""Groups and their members: which team a user belongs to, for chargeback.

These lists page differently from the directory's: `{object, data, has_more, next}`, where
`next` is the cursor to send back as `after` (there is no `last_id`). Functions taking the
client, as `spend` does, so groups need no change to `AdminClient`; they go through its one
retrying request path. Both lists are read at the largest page the spec allows (1000), so a
directory refresh of an org with G groups costs 1 + G calls, not one per usage page.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from poller.client.api import AdminClient
from poller.client.models import APIModel, ListPage
from poller.client.query import QueryValue

__all__ = ["Group", "GroupPage", "GroupUser", "GroupUserPage", "list_group_users", "list_groups"]

_GROUPS: Final = "/organization/groups"
_GROUP_USERS: Final = "/organization/groups/{group_id}/users"
GROUP_LIST_LIMIT: Final = 1000  # the spec's maximum for both lists
_PARAMS: Final[dict[str, QueryValue]] = {"limit": GROUP_LIST_LIMIT, "order": "asc"}


class Group(APIModel):
    """Only `id` is required: a drifted field the poller does not use must not stop enrichment."""

    id: str
    name: str | None = None
    created_at: int | None = None
    is_scim_managed: bool | None = None
    group_type: str | None = None  # "group" | "tenant_group"


class GroupUser(APIModel):
    id: str
    name: str | None = None
    email: str | None = None


class GroupPage(ListPage[Group]):
    next: str | None = None


class GroupUserPage(ListPage[GroupUser]):
    next: str | None = None


def _next(page: GroupPage | GroupUserPage) -> str | None:
    return page.next


def list_groups(client: AdminClient) -> Iterator[Group]:
    """Every group of the organization, oldest first."""
    pages = client._list_pages(_GROUPS, GroupPage, params=_PARAMS, cursor=_next)
    return (group for page in pages for group in page.data)


def list_group_users(client: AdminClient, group_id: str) -> Iterator[GroupUser]:
    """The members of one group (the list's own default order is newest first; asked asc)."""
    path = {"group_id": group_id}
    pages = client._list_pages(_GROUP_USERS, GroupUserPage, path=path, params=_PARAMS, cursor=_next)
    return (user for page in pages for user in page.data)
