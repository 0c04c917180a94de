"""The management endpoints: projects, users, project members, keys, service accounts and rate
limits, each a cursor-paged list and a lookup by id.

A project's sub-lists answer 404 when the project does not exist; its users and service
accounts answer 400 when it is archived, as the spec says.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from poller.simulator._cursor_lists import find, paginate
from poller.simulator._routing import Call
from poller.simulator.model import JSON, Directory
from poller.simulator.params import ApiError, parse_list

__all__ = ["DirectoryEndpoints"]


class DirectoryEndpoints:
    """One method per operation of the spec: validated query in, JSON body out."""

    def __init__(self, directory: Directory) -> None:
        self._dir = directory

    def projects(self, call: Call) -> JSON:
        include_archived = bool(call.query.boolean("include_archived"))
        return paginate(
            self._dir.projects,
            parse_list(call.query),
            keep=lambda project: include_archived or not _archived(project),
        )

    def project(self, call: Call) -> JSON:
        return find(self._dir.projects, call.path["project_id"], "project")

    def users(self, call: Call) -> JSON:
        emails = {email.lower() for email in call.query.values("emails")}
        return paginate(
            self._dir.users,
            parse_list(call.query),
            keep=lambda user: not emails or str(user.get("email") or "").lower() in emails,
        )

    def user(self, call: Call) -> JSON:
        return find(self._dir.users, call.path["user_id"], "user")

    def project_users(self, call: Call) -> JSON:
        members = self._of_project(call, self._dir.project_users, live=True)
        return paginate(members, parse_list(call.query))

    def project_user(self, call: Call) -> JSON:
        members = self._of_project(call, self._dir.project_users)
        return find(members, call.path["user_id"], "user in this project")

    def project_api_keys(self, call: Call) -> JSON:
        keys = self._of_project(call, self._dir.project_api_keys)
        access = call.query.choice("owner_project_access", ("active", "inactive", "any"), "active")
        return paginate(
            keys,
            parse_list(call.query),
            keep=lambda key: access == "any" or key.get("owner_project_access") == access,
        )

    def project_api_key(self, call: Call) -> JSON:
        keys = self._of_project(call, self._dir.project_api_keys)
        return find(keys, call.path["api_key_id"], "API key in this project")

    def service_accounts(self, call: Call) -> JSON:
        accounts = self._of_project(call, self._dir.project_service_accounts, live=True)
        return paginate(accounts, parse_list(call.query))

    def service_account(self, call: Call) -> JSON:
        accounts = self._of_project(call, self._dir.project_service_accounts)
        return find(accounts, call.path["service_account_id"], "service account in this project")

    def rate_limits(self, call: Call) -> JSON:
        limits = self._of_project(call, self._dir.project_rate_limits)
        return paginate(limits, parse_list(call.query, default_limit=100))

    def admin_api_keys(self, call: Call) -> JSON:
        order = call.query.choice("order", ("asc", "desc"), "asc")
        keys = self._dir.admin_api_keys  # oldest first
        return paginate(keys if order == "asc" else keys[::-1], parse_list(call.query))

    def admin_api_key(self, call: Call) -> JSON:
        return find(self._dir.admin_api_keys, call.path["key_id"], "admin API key")

    def _of_project(
        self, call: Call, items: Mapping[str, Sequence[JSON]], *, live: bool = False
    ) -> Sequence[JSON]:
        """What `items` holds for the path's project: 404 when there is no such project, and
        400 when `live` and it is archived (the spec's answer for its users and accounts)."""
        project = self.project(call)
        if live and _archived(project):
            raise ApiError(400, f"Project {project['id']} is archived.", param="project_id")
        return items.get(project["id"], ())


def _archived(project: JSON) -> bool:
    return project.get("status") == "archived" or project.get("archived_at") is not None
