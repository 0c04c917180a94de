"""The organization's controls: deterministic, sized, enforcing on demand, and consistent with
its directory, its traffic and its audit log."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from poller.simulator.organization import Organization, build_organization, enforces_by_default

DAY = 86_400
SAMPLE_DAY = 1_704_067_200 + 996 * DAY  # 2026-09-23, the day whose spend sets the limits
INF = math.inf


@pytest.fixture(scope="module", params=["small", "medium", "large"])
def org(request: pytest.FixtureRequest) -> Organization:
    return build_organization(5, request.param)


def controls(org: Organization) -> tuple[Any, ...]:
    return (org.spend, org.access, org.governance)


def flat(mapping: Mapping[str, Sequence[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [obj for objects in mapping.values() for obj in objects]


def monthly_spend_cents(org: Organization) -> int:
    day = sum(record.amount for record in org.costs(SAMPLE_DAY, SAMPLE_DAY + DAY, INF).values())
    return int(day * 30 * 100)


# --- determinism and size ---------------------------------------------------------------------


def test_the_same_seed_gives_the_same_controls(org: Organization) -> None:
    assert controls(build_organization(5, org.size)) == controls(org)


def test_another_seed_gives_other_controls() -> None:
    one, other = build_organization(5, "small"), build_organization(6, "small")
    for mine, theirs in zip(controls(one), controls(other), strict=True):
        assert mine != theirs


def test_sizes_scale_the_controls() -> None:
    def counts(size: str) -> tuple[int, ...]:
        org = build_organization(5, size)
        return (
            len(org.access.groups),
            len(org.governance.certificates),
            len(org.spend.alerts),
            len(org.access.invites),
            len(org.access.roles),
        )

    assert counts("small") == (4, 2, 1, 4, 5)
    assert counts("medium") == (6, 3, 2, 10, 5)
    assert counts("large") == (16, 5, 3, 40, 5)


# --- spend ------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", ["small", "medium", "large"])
def test_an_organization_built_enforcing_has_spent_past_its_limit(size: str) -> None:
    org = build_organization(5, size, enforcing=True)
    limit = org.spend.limit
    assert limit["enforcement"] == {"status": "enforcing"}
    assert 0 < limit["threshold_amount"] < monthly_spend_cents(org)
    assert limit["threshold_amount"] % 100 == 0
    inactive = build_organization(5, size)
    assert inactive.spend.limit["enforcement"] == {"status": "inactive"}
    assert inactive.spend.limit["threshold_amount"] > monthly_spend_cents(inactive)


def test_seeds_ending_in_nine_enforce_unless_told_otherwise() -> None:
    assert [seed for seed in range(30) if enforces_by_default(seed)] == [9, 19, 29]
    assert build_organization(9, "small").spend.limit["enforcement"]["status"] == "enforcing"
    told = build_organization(9, "small", enforcing=False)
    assert told.spend.limit["enforcement"]["status"] == "inactive"
    assert build_organization(5, "small").spend.limit["enforcement"]["status"] == "inactive"


def test_limits_and_alerts_nest(org: Organization) -> None:
    spend = org.spend
    ceiling = spend.limit["threshold_amount"]
    live = {p["id"] for p in org.directory.projects if p["status"] == "active"}
    assert spend.project_limits
    assert set(spend.project_limits) <= live
    for project_id, limit in spend.project_limits.items():
        assert limit["threshold_amount"] <= ceiling
        for alert in spend.project_alerts[project_id]:
            assert alert["threshold_amount"] < limit["threshold_amount"]
    assert [a["threshold_amount"] for a in spend.alerts] == sorted(
        a["threshold_amount"] for a in spend.alerts
    )
    assert all(a["threshold_amount"] < ceiling for a in spend.alerts)
    owners = {u["email"] for u in org.directory.users if u["role"] == "owner"}
    for alert in spend.alerts:
        assert owners < set(alert["notification_channel"]["recipients"])


def test_one_of_many_limited_projects_is_on_a_short_leash(org: Organization) -> None:
    statuses = [limit["enforcement"]["status"] for limit in org.spend.project_limits.values()]
    expected = 1 if len(statuses) >= 3 else 0
    assert statuses.count("enforcing") == expected


# --- access -----------------------------------------------------------------------------------


def test_groups_hold_users_and_users_hold_their_roles(org: Organization) -> None:
    access = org.access
    users = {u["id"]: u for u in org.directory.users}
    members = {g: {u["id"] for u in access.group_users[g]} for g in access.group_users}
    group_roles = {g: {r["id"] for r in access.group_roles[g]} for g in access.group_roles}
    predefined = {r["name"]: r["id"] for r in access.roles if r["predefined_role"]}
    assert set(predefined) == {"owner", "reader"}
    assert set(access.user_roles) == set(users)
    for user_id, assigned in access.user_roles.items():
        direct = [r["id"] for r in assigned if r["predefined_role"]]
        assert direct == [predefined[users[user_id]["role"]]]
        for role in assigned:
            for source in role["assignment_sources"] or ():
                assert source["principal_type"] == "group"
                assert user_id in members[source["principal_id"]]
                assert role["id"] in group_roles[source["principal_id"]]
    for group_id, held in members.items():
        assert held and held <= set(users)
        for user_id in held:
            assert group_roles[group_id] <= {r["id"] for r in access.user_roles[user_id]}


def test_project_groups_name_groups_that_existed(org: Organization) -> None:
    groups = {g["id"]: g for g in org.access.groups}
    projects = {p["id"]: p for p in org.directory.projects}
    granted = flat(org.access.project_groups)
    assert granted
    for grant in granted:
        group, project = groups[grant["group_id"]], projects[grant["project_id"]]
        assert grant["group_name"] == group["name"]
        assert grant["created_at"] >= max(group["created_at"], project["created_at"])
        assert project["archived_at"] is None or grant["created_at"] <= project["archived_at"]


def test_invites_went_to_users_or_to_people_who_never_joined(org: Organization) -> None:
    users = {u["email"]: u for u in org.directory.users}
    statuses = {invite["status"] for invite in org.access.invites}
    assert statuses == {"accepted", "expired", "pending"}
    for invite in org.access.invites:
        assert invite["expires_at"] == invite["created_at"] + 7 * DAY
        if invite["status"] == "accepted":
            user = users[invite["email"]]
            assert invite["accepted_at"] == user["added_at"] > invite["created_at"]
            assert user["role"] == invite["role"] == "reader"
        else:
            assert invite["email"] not in users
            assert invite["accepted_at"] is None


def test_the_audit_log_names_these_groups_roles_and_certificates(org: Organization) -> None:
    named = {
        "group.updated": {g["id"] for g in org.access.groups},
        "role.updated": {r["id"] for r in org.access.roles},
        "certificate.updated": {c["id"] for c in org.governance.certificates},
    }
    start = SAMPLE_DAY - 120 * DAY
    seen = 0
    for event in org.audit_events(start, SAMPLE_DAY, INF):
        if event["type"] in named:
            assert event[event["type"]]["id"] in named[event["type"]]
            seen += 1
    assert seen


# --- governance -------------------------------------------------------------------------------


def test_certificates_are_valid_for_a_year_or_two(org: Organization) -> None:
    for cert in org.governance.certificates:
        details = cert["certificate_details"]
        assert details["valid_at"] <= cert["created_at"] < details["expires_at"]
        assert details["expires_at"] - details["valid_at"] in (365 * DAY, 398 * DAY, 730 * DAY)
        pem = org.governance.certificate_pems[cert["id"]]
        assert pem.startswith("-----BEGIN CERTIFICATE-----\nMII")
        assert pem.endswith("\n-----END CERTIFICATE-----\n")
    for listed in org.governance.project_certificates.values():
        assert [c["id"] for c in listed] == [c["id"] for c in org.governance.certificates]


def test_the_default_project_is_unrestricted(org: Organization) -> None:
    default = org.directory.projects[0]
    assert default["name"] == "Default project"
    assert org.governance.model_permissions[default["id"]] == {
        "object": "project.model_permissions",
        "mode": "deny_list",
        "model_ids": [],
    }
