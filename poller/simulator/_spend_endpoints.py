"""The spend-control endpoints: hard spend limits and spend alerts, organization and project.

A project with no hard limit of its own answers 404 on its `spend_limit`, like an unknown
project. Alert lists page by `after`/`before` alert id, ascending by default; `limit` is 0..100.
"""

from __future__ import annotations

from collections.abc import Sequence

from poller.simulator._cursor_lists import find, paginate
from poller.simulator._routing import Call
from poller.simulator.model import JSON, Directory, SpendControls
from poller.simulator.params import ApiError, parse_list

__all__ = ["SpendEndpoints"]


class SpendEndpoints:
    """One method per operation of the spec: validated query in, JSON body out."""

    def __init__(self, directory: Directory, spend: SpendControls) -> None:
        self._projects = directory.projects
        self._spend = spend

    def spend_limit(self, call: Call) -> JSON:
        return self._spend.limit

    def project_spend_limit(self, call: Call) -> JSON:
        project_id = self._project_id(call)
        limit = self._spend.project_limits.get(project_id)
        if limit is None:
            raise ApiError(404, f"No spend limit is set for project '{project_id}'.")
        return limit

    def spend_alerts(self, call: Call) -> JSON:
        return _alert_page(self._spend.alerts, call)

    def spend_alert(self, call: Call) -> JSON:
        return find(self._spend.alerts, call.path["alert_id"], "spend alert")

    def project_spend_alerts(self, call: Call) -> JSON:
        return _alert_page(self._spend.project_alerts.get(self._project_id(call), ()), call)

    def project_spend_alert(self, call: Call) -> JSON:
        alerts = self._spend.project_alerts.get(self._project_id(call), ())
        return find(alerts, call.path["alert_id"], "spend alert in this project")

    def _project_id(self, call: Call) -> str:
        return str(find(self._projects, call.path["project_id"], "project")["id"])


def _alert_page(alerts: Sequence[JSON], call: Call) -> JSON:
    order = call.query.choice("order", ("asc", "desc"), "asc")
    return paginate(alerts if order == "asc" else alerts[::-1], parse_list(call.query, minimum=0))
