"""The audit logs endpoint: newest first, filtered, paged by event id.

Tenant-scoped events are a separate listing: only `tenant_only=true` shows them, and then only
them, so the two listings never overlap.
"""

from __future__ import annotations

import math
from typing import Final

from poller.simulator._cursor_lists import list_body
from poller.simulator._routing import Call
from poller.simulator.model import JSON, SimOrganization
from poller.simulator.params import AuditQuery, invalid_value, parse_audit

__all__ = ["TENANT_SCOPED_ROLE_EVENTS", "AuditEndpoint", "is_tenant_scoped"]

TENANT_SCOPED_ROLE_EVENTS: Final = frozenset(
    {"role.bound_to_resource", "role.unbound_from_resource"}
)


def is_tenant_scoped(event_type: str) -> bool:
    """Events `tenant_only=true` lists, and only it: `tenant.*` and role bindings (spec text)."""
    return event_type.startswith("tenant.") or event_type in TENANT_SCOPED_ROLE_EVENTS


class AuditEndpoint:
    def __init__(self, org: SimOrganization) -> None:
        self._org = org

    def audit_logs(self, call: Call) -> JSON:
        """Newest first; `after` pages to older events, `before` to newer ones."""
        query = parse_audit(call.query)
        if query.tenant_only:
            others = sorted(t for t in query.event_types if not is_tenant_scoped(t))
            if others:
                raise invalid_value(
                    "event_types[]",
                    f"Invalid 'event_types[]': with tenant_only=true every event type must be "
                    f"tenant-scoped; {', '.join(others)} is not.",
                )
        lower = query.lower
        upper = math.floor(call.now) + 1 if query.upper is None else query.upper
        cursor: tuple[int, str] | None = None
        cursor_id = query.after or query.before
        if cursor_id is not None:
            event = self._org.find_audit_event(cursor_id)
            if event is None:
                param = "after" if query.after else "before"
                raise invalid_value(
                    param, f"Invalid '{param}': no audit log with id '{cursor_id}'."
                )
            cursor = (event["effective_at"], event["id"])
            if query.after:
                upper = min(upper, cursor[0] + 1)
            else:
                lower = max(lower, cursor[0])
        events = self._org.audit_events(lower, upper, call.now) if lower < upper else ()
        matching = [e for e in events if _audit_matches(e, query)]
        if cursor is not None and query.after:
            matching = [e for e in matching if (e["effective_at"], e["id"]) < cursor]
        elif cursor is not None:
            matching = [e for e in matching if (e["effective_at"], e["id"]) > cursor]
        page = matching[-query.limit :] if query.before else matching[: query.limit]
        return list_body(page, has_more=len(matching) > query.limit)


def _actor_ids_and_emails(event: JSON) -> tuple[set[str], set[str]]:
    actor = event.get("actor") or {}
    session = actor.get("session") or {}
    api_key = actor.get("api_key") or {}
    people = [session.get("user") or {}, api_key.get("user") or {}]
    ids = {api_key.get("id"), (api_key.get("service_account") or {}).get("id")}
    ids.update(person.get("id") for person in people)
    emails = {str(person["email"]).lower() for person in people if person.get("email")}
    return {i for i in ids if i}, emails


def _audit_matches(event: JSON, query: AuditQuery) -> bool:
    if is_tenant_scoped(event["type"]) != query.tenant_only:
        return False
    if query.event_types and event["type"] not in query.event_types:
        return False
    if query.project_ids and (event.get("project") or {}).get("id") not in query.project_ids:
        return False
    if query.resource_ids:
        payload = event.get(event["type"])
        if not isinstance(payload, dict) or payload.get("id") not in query.resource_ids:
            return False
    if query.actor_ids or query.actor_emails:
        ids, emails = _actor_ids_and_emails(event)
        if query.actor_ids and not ids & query.actor_ids:
            return False
        if query.actor_emails and not emails & query.actor_emails:
            return False
    return True
