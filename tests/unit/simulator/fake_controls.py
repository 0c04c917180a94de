"""The fake organization's controls: few enough objects to check every answer by hand.

Five groups (group_1..group_5, oldest first) so `next` paging has pages to walk; group_1 holds
users a, b and c and the custom role role_c1, which user_b inherits through it. Three
organization spend alerts, two on proj_a; proj_a alone has a hard limit, and it is enforcing.
Three certificates, cert_1 the oldest; proj_a has cert_2 active.
"""

from __future__ import annotations

from typing import Any

from poller.simulator.model import JSON, AccessControls, Governance, SpendControls

T0 = 1_704_067_200  # 2024-01-01T00:00:00Z
DAY = 86_400
GROUP_IDS = [f"group_{n}" for n in range(1, 6)]
PROJECT_IDS = ("proj_a", "proj_b", "proj_c")
TOOLS = ("file_search", "web_search", "image_generation", "mcp", "code_interpreter")


def _limit(kind: str, cents: int, status: str) -> JSON:
    return {
        "object": kind,
        "threshold_amount": cents,
        "currency": "USD",
        "interval": "month",
        "enforcement": {"status": status},
    }


def _alert(kind: str, alert_id: str, cents: int) -> JSON:
    return {
        "id": alert_id,
        "object": kind,
        "threshold_amount": cents,
        "currency": "USD",
        "interval": "month",
        "notification_channel": {
            "type": "email",
            "recipients": ["a@example.com"],
            "subject_prefix": None,
        },
    }


def spend_controls() -> SpendControls:
    return SpendControls(
        limit=_limit("organization.spend_limit", 100_000, "inactive"),
        project_limits={"proj_a": _limit("project.spend_limit", 20_000, "enforcing")},
        alerts=[
            _alert("organization.spend_alert", f"alert_o{n}", cents)
            for n, cents in enumerate((50_000, 75_000, 90_000), start=1)
        ],
        project_alerts={
            "proj_a": [
                _alert("project.spend_alert", "alert_a1", 10_000),
                _alert("project.spend_alert", "alert_a2", 16_000),
            ]
        },
    )


def _role(role_id: str, name: str, predefined: bool) -> JSON:
    return {
        "object": "role",
        "id": role_id,
        "name": name,
        "description": f"{name} role",
        "permissions": ["api.usage.read"],
        "resource_type": "api.organization",
        "predefined_role": predefined,
    }


def _assigned(role: JSON, sources: list[JSON] | None) -> JSON:
    details: dict[str, Any] = {key: value for key, value in role.items() if key != "object"}
    return {
        **details,
        "created_at": None,
        "updated_at": None,
        "created_by": None,
        "created_by_user_obj": None,
        "metadata": None,
        "assignment_sources": sources,
    }


def _member(name: str) -> JSON:
    return {
        "id": f"user_{name}",
        "name": f"User {name.upper()}",
        "email": f"{name}@example.com",
        "picture": None,
        "is_service_account": False,
        "user_type": "user",
    }


def _project_group(project_id: str, n: int) -> JSON:
    return {
        "object": "project.group",
        "project_id": project_id,
        "group_id": f"group_{n}",
        "group_name": f"Group {n}",
        "group_type": "group",
        "created_at": T0 + n * DAY,
    }


def _invite(n: int, status: str) -> JSON:
    return {
        "object": "organization.invite",
        "id": f"invite-{n}",
        "email": f"invitee{n}@example.com",
        "role": "reader",
        "status": status,
        "created_at": T0 + n * DAY,
        "expires_at": T0 + (n + 7) * DAY,
        "accepted_at": T0 + (n + 1) * DAY if status == "accepted" else None,
        "projects": [],
    }


def access_controls() -> AccessControls:
    owner, reader = _role("role_owner", "owner", True), _role("role_reader", "reader", True)
    custom = [_role(f"role_c{n}", f"Custom {n}", False) for n in range(1, 4)]
    via_group = [{"principal_id": "group_1", "principal_type": "group"}]
    return AccessControls(
        roles=[owner, reader, *custom],
        groups=[
            {
                "id": group_id,
                "name": f"Group {n}",
                "created_at": T0 + n * DAY,
                "is_scim_managed": n > 3,
                "group_type": "group",
            }
            for n, group_id in enumerate(GROUP_IDS, start=1)
        ],
        group_users={"group_1": [_member(name) for name in "abc"], "group_2": []},
        group_roles={"group_1": [_assigned(custom[0], None)]},
        user_roles={
            "user_a": [_assigned(owner, None)],
            "user_b": [_assigned(reader, None), _assigned(custom[0], via_group)],
        },
        project_groups={"proj_a": [_project_group("proj_a", 1), _project_group("proj_a", 2)]},
        invites=[_invite(1, "accepted"), _invite(2, "expired"), _invite(3, "pending")],
    )


def _certificate(kind: str, n: int, active: bool) -> JSON:
    return {
        "object": kind,
        "id": f"cert_{n}",
        "name": f"mtls-{n}",
        "created_at": T0 + n * DAY,
        "certificate_details": {"valid_at": T0 + n * DAY, "expires_at": T0 + (n + 365) * DAY},
        "active": active,
    }


def _project_certificates(project_id: str) -> list[JSON]:
    return [
        _certificate("organization.project.certificate", n, project_id == "proj_a" and n == 2)
        for n in (1, 2, 3)
    ]


def governance() -> Governance:
    return Governance(
        certificates=[_certificate("organization.certificate", n, n != 3) for n in (1, 2, 3)],
        certificate_pems={f"cert_{n}": f"PEM {n}" for n in (1, 2, 3)},
        project_certificates={p: _project_certificates(p) for p in PROJECT_IDS},
        data_retention={"object": "organization.data_retention", "type": "zero_data_retention"},
        project_data_retention={
            p: {"object": "project.data_retention", "type": "organization_default"}
            for p in PROJECT_IDS
        },
        model_permissions={
            p: {"object": "project.model_permissions", "mode": "deny_list", "model_ids": []}
            for p in PROJECT_IDS
        },
        hosted_tool_permissions={
            p: {tool: {"enabled": p != "proj_c"} for tool in TOOLS} for p in PROJECT_IDS
        },
    )


# One URL of the fake organization per spend, access and governance path: each answers 200.
CONTROL_URLS = (
    "/organization/spend_limit",
    "/organization/projects/proj_a/spend_limit",
    "/organization/spend_alerts",
    "/organization/spend_alerts/alert_o1",
    "/organization/projects/proj_a/spend_alerts",
    "/organization/projects/proj_a/spend_alerts/alert_a1",
    "/organization/roles",
    "/organization/roles/role_c1",
    "/organization/groups",
    "/organization/groups/group_1",
    "/organization/groups/group_1/users",
    "/organization/groups/group_1/users/user_a",
    "/organization/groups/group_1/roles",
    "/organization/groups/group_1/roles/role_c1",
    "/organization/users/user_b/roles",
    "/organization/users/user_b/roles/role_c1",
    "/organization/projects/proj_a/groups",
    "/organization/projects/proj_a/groups/group_1",
    "/organization/invites",
    "/organization/invites/invite-1",
    "/organization/certificates",
    "/organization/certificates/cert_1",
    "/organization/projects/proj_a/certificates",
    "/organization/data_retention",
    "/organization/projects/proj_a/data_retention",
    "/organization/projects/proj_a/model_permissions",
    "/organization/projects/proj_a/hosted_tool_permissions",
)
