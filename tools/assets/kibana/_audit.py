"""The audit log: a saved Discover search and the audit and security dashboard."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from tools.assets.kibana._columns import Metric, Terms, count
from tools.assets.kibana._common import AUDIT_DASHBOARD_ID, AUDIT_SEARCH_ID, NAV, kql_dataset
from tools.assets.kibana._governance import governance_panels
from tools.assets.kibana._lens import Lens, by_time
from tools.assets.kibana._panels import (
    GeoHeatmap,
    Markdown,
    Panel,
    SearchPanel,
    dashboard,
    saved_search,
)


def audit_search() -> dict[str, Any]:
    return saved_search(
        AUDIT_SEARCH_ID,
        "[OpenAI poller] Audit log",
        "Every OpenAI audit log event, newest first.",
        kql_dataset("audit"),
        [
            "openai.audit.type",
            "event.outcome",
            "user.email",
            "source.ip",
            "source.geo.country_iso_code",
            "openai.audit.project.name",
            "openai.audit.actor.type",
        ],
    )


_KEY_ACTIONS: Final = (
    "api_key.created",
    "api_key.updated",
    "api_key.deleted",
    "tenant.admin_api_key.created",
    "tenant.admin_api_key.updated",
    "tenant.admin_api_key.deleted",
    "tenant.project_api_key.created",
    "service_account.created",
    "service_account.updated",
    "service_account.deleted",
)
ROLE_ACTIONS: Final = (
    "role.created",
    "role.updated",
    "role.deleted",
    "role.assignment.created",
    "role.assignment.deleted",
    "user.added",
    "user.updated",
    "user.deleted",
    "invite.sent",
    "invite.accepted",
    "invite.deleted",
    "group.created",
    "group.updated",
    "group.deleted",
)


def _kql_actions(actions: Sequence[str]) -> str:
    return "openai.audit.type : (" + " or ".join(f'"{a}"' for a in actions) + ")"


def _event_table(title: str, actions: Sequence[str]) -> Lens:
    return Lens(
        title,
        "table",
        {
            "action": Terms("openai.audit.type", "Action", size=20, order_by="events"),
            "actor": Terms("user.email", "Actor", size=10, order_by="events", missing=True),
            "events": count("Events"),
            "last": Metric("max", "@timestamp", "Last seen"),
        },
        kql=f"{kql_dataset('audit')} and {_kql_actions(actions)}",
    )


def audit_dashboard() -> dict[str, Any]:
    audit = kql_dataset("audit")
    failed = f'{audit} and (openai.audit.type : "login.failed" or event.outcome : "failure")'
    panels: list[Panel] = [
        Markdown(
            "### OpenAI audit log\n"
            "Audit Logs API events (`@timestamp` = `effective_at`). Failed logins are "
            "`openai.audit.type: login.failed` (`event.outcome: failure`); source locations come "
            f"from OpenAI's own IP details.\n\n{NAV}",
            h=5,
        ),
        Lens("Events", "metric", {"v": count("Events")}, kql=audit, w=12, h=6),
        Lens("Failed logins", "metric", {"v": count("Failed logins")}, kql=failed, w=12, h=6),
        Lens(
            "Actors",
            "metric",
            {"v": Metric("unique_count", "user.email", "Actors")},
            kql=audit,
            w=12,
            h=6,
        ),
        Lens(
            "Source IPs",
            "metric",
            {"v": Metric("unique_count", "source.ip", "Source IPs")},
            kql=audit,
            w=12,
            h=6,
        ),
        by_time(
            "Events over time by type", count("Events"), "openai.audit.type", kql=audit, w=24, h=12
        ),
        Lens(
            "Events by type",
            "bar_horizontal",
            {
                "action": Terms("openai.audit.type", "Action", size=20, order_by="events"),
                "events": count("Events"),
            },
            kql=audit,
        ),
        GeoHeatmap("Source IP locations", "source.geo.location", audit),
        Lens(
            "Actors",
            "table",
            {
                "email": Terms("user.email", "Actor", size=20, order_by="events"),
                "events": count("Events"),
                "ips": Metric("unique_count", "source.ip", "Source IPs"),
                "failed": Metric("count", None, "Failed", kql='event.outcome : "failure"'),
            },
            kql=audit,
            h=15,
        ),
        by_time(
            "Failed logins by actor", count("Failed logins"), "user.email", kql=failed, w=24, h=12
        ),
        Lens(
            "Top source IPs",
            "table",
            {
                "ip": Terms("source.ip", "Source IP", size=20, order_by="events"),
                "country": Terms(
                    "source.geo.country_iso_code",
                    "Country",
                    size=1,
                    order_by="events",
                    missing=True,
                    other=False,
                ),
                "events": count("Events"),
                "failed": Metric("count", None, "Failed", kql='event.outcome : "failure"'),
            },
            kql=audit,
        ),
        _event_table("API key, admin key and service account lifecycle", _KEY_ACTIONS),
        _event_table("Role and membership changes", ROLE_ACTIONS),
        SearchPanel("Audit log", AUDIT_SEARCH_ID),
        *governance_panels(),
    ]
    return dashboard(
        AUDIT_DASHBOARD_ID,
        "[OpenAI poller] Audit and security",
        "Audit events over time and by type, actors, source IPs on a map, failed logins, key "
        "lifecycle and role changes, governance changes.",
        panels,
        "now-7d",
    )
