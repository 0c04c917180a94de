"""The governance endpoints: certificates, data retention, model and hosted-tool permissions.

Certificate lists page by `after` (`limit` 1..100), newest first unless `order=asc`, as the
spec says. Retention and permissions are served as they stand at the request's time
(`governance_at`). A certificate looked up by id is the spec's `certificate` object: no `active` (it
depends on the scope), and its PEM `content` only with `include[]=content`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final, TypeVar

from poller.simulator._cursor_lists import find, paginate
from poller.simulator._org_governance import governance_at
from poller.simulator._routing import Call
from poller.simulator.model import JSON, Directory, Governance
from poller.simulator.params import parse_list

__all__ = ["GovernanceEndpoints"]

_INCLUDES: Final = ("content",)
_T = TypeVar("_T")


class GovernanceEndpoints:
    """One method per operation of the spec: validated query in, JSON body out."""

    def __init__(self, directory: Directory, governance: Governance) -> None:
        self._projects = directory.projects
        self._gov = governance

    def certificates(self, call: Call) -> JSON:
        return _certificate_page(self._gov.certificates, call)

    def certificate(self, call: Call) -> JSON:
        listed = find(self._gov.certificates, call.path["certificate_id"], "certificate")
        details = dict(listed["certificate_details"])
        if "content" in call.query.choices("include", _INCLUDES):
            details["content"] = self._gov.certificate_pems[listed["id"]]
        return {
            "object": "certificate",
            "id": listed["id"],
            "name": listed["name"],
            "created_at": listed["created_at"],
            "certificate_details": details,
        }

    def project_certificates(self, call: Call) -> JSON:
        return _certificate_page(self._of_project(call, self._gov.project_certificates), call)

    def data_retention(self, call: Call) -> JSON:
        return governance_at(self._gov, call.now).data_retention

    def project_data_retention(self, call: Call) -> JSON:
        return self._of_project(call, governance_at(self._gov, call.now).project_data_retention)

    def model_permissions(self, call: Call) -> JSON:
        return self._of_project(call, governance_at(self._gov, call.now).model_permissions)

    def hosted_tool_permissions(self, call: Call) -> JSON:
        settings = governance_at(self._gov, call.now).hosted_tool_permissions
        return self._of_project(call, settings)

    def _of_project(self, call: Call, items: Mapping[str, _T]) -> _T:
        """The path's project's entry of `items`: every project has one; 404 for no project."""
        return items[find(self._projects, call.path["project_id"], "project")["id"]]


def _certificate_page(certificates: Sequence[JSON], call: Call) -> JSON:
    order = call.query.choice("order", ("asc", "desc"), "desc")
    ordered = certificates if order == "asc" else certificates[::-1]
    return paginate(ordered, parse_list(call.query))
