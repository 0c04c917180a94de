"""The access endpoints: roles, groups with their users and roles, a user's role assignments,
a project's groups, and invites.

Groups, roles and assignments page by a `next` cursor (`_next_lists`), each with the spec's own
`limit` range and default order; a project's groups are keyed by `group_id`, as they carry no
`id`. Where the spec gives no default (role assignments) the simulator takes the roles list's:
1000 items, ascending. A project group asked for with another `group_type` than its own is a
404. Invites page like the directory lists (`after`, `limit` 1..100), oldest first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from poller.simulator._cursor_lists import find, paginate
from poller.simulator._next_lists import next_page, parse_next
from poller.simulator._routing import Call
from poller.simulator.model import JSON, AccessControls, Directory
from poller.simulator.params import ApiError, parse_list

__all__ = ["AccessEndpoints"]

_GROUP_USER_FIELDS: Final = ("id", "name", "email")  # a list's GroupUser; lookups say more
_GROUP_TYPES: Final = ("group", "tenant_group")


class AccessEndpoints:
    """One method per operation of the spec: validated query in, JSON body out."""

    def __init__(self, directory: Directory, access: AccessControls) -> None:
        self._dir = directory
        self._access = access

    def roles(self, call: Call) -> JSON:
        query = parse_next(call.query, default_limit=1000, max_limit=1000)
        return next_page(self._access.roles, query)

    def role(self, call: Call) -> JSON:
        return find(self._access.roles, call.path["role_id"], "role")

    def groups(self, call: Call) -> JSON:
        query = parse_next(call.query, default_limit=100, max_limit=1000)
        return next_page(self._access.groups, query)

    def group(self, call: Call) -> JSON:
        return find(self._access.groups, call.path["group_id"], "group")

    def group_users(self, call: Call) -> JSON:
        users = self._of_group(call, self._access.group_users)
        query = parse_next(call.query, default_limit=100, max_limit=1000, default_order="desc")
        page = next_page(users, query)
        page["data"] = [{name: user[name] for name in _GROUP_USER_FIELDS} for user in page["data"]]
        return page

    def group_user(self, call: Call) -> JSON:
        users = self._of_group(call, self._access.group_users)
        return find(users, call.path["user_id"], "user in this group")

    def group_roles(self, call: Call) -> JSON:
        roles = self._of_group(call, self._access.group_roles)
        return next_page(roles, parse_next(call.query, default_limit=1000, max_limit=1000))

    def group_role(self, call: Call) -> JSON:
        roles = self._of_group(call, self._access.group_roles)
        return find(roles, call.path["role_id"], "role assigned to this group")

    def user_roles(self, call: Call) -> JSON:
        roles = self._of_user(call)
        return next_page(roles, parse_next(call.query, default_limit=1000, max_limit=1000))

    def user_role(self, call: Call) -> JSON:
        return find(self._of_user(call), call.path["role_id"], "role assigned to this user")

    def project_groups(self, call: Call) -> JSON:
        groups = self._of_project(call)
        query = parse_next(call.query, default_limit=20, max_limit=100)
        return next_page(groups, query, key=lambda group: str(group["group_id"]))

    def project_group(self, call: Call) -> JSON:
        group_id = call.path["group_id"]
        group_type = call.query.choice("group_type", _GROUP_TYPES, "group")
        for group in self._of_project(call):
            if group["group_id"] == group_id and group["group_type"] == group_type:
                return group
        raise ApiError(404, f"No group found with id '{group_id}' in this project.")

    def invites(self, call: Call) -> JSON:
        return paginate(self._access.invites, parse_list(call.query))

    def invite(self, call: Call) -> JSON:
        return find(self._access.invites, call.path["invite_id"], "invite")

    def _of_group(self, call: Call, items: Mapping[str, Sequence[JSON]]) -> Sequence[JSON]:
        return items.get(self.group(call)["id"], ())

    def _of_user(self, call: Call) -> Sequence[JSON]:
        user = find(self._dir.users, call.path["user_id"], "user")
        return self._access.user_roles.get(user["id"], ())

    def _of_project(self, call: Call) -> Sequence[JSON]:
        project = find(self._dir.projects, call.path["project_id"], "project")
        return self._access.project_groups.get(project["id"], ())
