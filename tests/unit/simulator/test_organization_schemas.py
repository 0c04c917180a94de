"""The organization's directory, controls and audit log, checked against the spec's schemas."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from typing import Any

import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from openapi_spec import SPEC_PATH
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from poller.simulator.organization import Organization, build_organization

DAY = 86_400
EPOCH = 1_704_067_200
WEEK = EPOCH + 1015 * DAY  # 2026-10-12
INF = math.inf


@cache
def validator(schema: str) -> Draft202012Validator:
    """A validator for one of the spec's component schemas, `$ref`s resolved in the spec."""
    spec = json.loads(SPEC_PATH.read_text())
    registry = Registry().with_resource("urn:spec", DRAFT202012.create_resource(spec))
    return Draft202012Validator(
        {"$ref": f"urn:spec#/components/schemas/{schema}"}, registry=registry
    )


def assert_valid(schema: str, objects: Iterable[Any]) -> int:
    count = 0
    for obj in objects:
        errors = [error.message for error in validator(schema).iter_errors(obj)]
        assert not errors, (schema, obj, errors)
        count += 1
    return count


@pytest.fixture(scope="module", params=["small", "medium", "large"])
def org(request: pytest.FixtureRequest) -> Organization:
    return build_organization(5, request.param)


def test_the_validator_rejects_what_the_spec_forbids() -> None:
    assert list(validator("Project").iter_errors({"id": "proj_x", "object": "project"}))
    assert list(
        validator("AuditLog").iter_errors({"id": "a", "type": "no.such", "effective_at": 1})
    )


# --- directory -------------------------------------------------------------------------------


def test_the_directory_validates_against_the_spec(org: Organization) -> None:
    directory = org.directory
    assert assert_valid("Project", directory.projects)
    assert assert_valid("User", directory.users)
    assert assert_valid("AdminApiKey", directory.admin_api_keys)
    for listing, schema in (
        (directory.project_users, "ProjectUser"),
        (directory.project_api_keys, "ProjectApiKey"),
        (directory.project_service_accounts, "ProjectServiceAccount"),
        (directory.project_rate_limits, "ProjectRateLimit"),
    ):
        assert set(listing) == {project["id"] for project in directory.projects}
        assert assert_valid(schema, (obj for objects in listing.values() for obj in objects))


def test_directory_ids_names_and_order(org: Organization) -> None:
    directory = org.directory
    projects = directory.projects
    assert [p["created_at"] for p in projects] == sorted(p["created_at"] for p in projects)
    assert all(p["id"].startswith("proj_") and p["name"] for p in projects)
    assert any(p["status"] == "archived" for p in projects)
    assert all((p["status"] == "archived") == (p["archived_at"] is not None) for p in projects)
    assert all(
        u["id"].startswith("user-") and u["email"].endswith("@example.com") for u in directory.users
    )
    assert {u["role"] for u in directory.users} == {"owner", "reader"}
    assert len({u["email"] for u in directory.users}) == len(directory.users)
    keys = [k for keys in directory.project_api_keys.values() for k in keys]
    assert all(k["id"].startswith("key_") for k in keys)
    assert {k["owner"]["type"] for k in keys} == {"user", "service_account"}
    admin_keys = directory.admin_api_keys
    assert [k["created_at"] for k in admin_keys] == sorted(k["created_at"] for k in admin_keys)


def test_key_owners_belong_to_the_key_project(org: Organization) -> None:
    directory = org.directory
    for project in directory.projects:
        members = {u["id"]: u for u in directory.project_users[project["id"]]}
        accounts = {a["id"] for a in directory.project_service_accounts[project["id"]]}
        for key in directory.project_api_keys[project["id"]]:
            owner = key["owner"]
            if owner["type"] == "user":
                assert members[owner["user"]["id"]]["role"] == owner["user"]["role"]
            else:
                assert owner["service_account"]["id"] in accounts
            assert key["created_at"] > project["created_at"]
            assert project["archived_at"] is None or key["created_at"] < project["archived_at"]


def test_sizes_scale_the_directory() -> None:
    def counts(size: str) -> tuple[int, int, int]:
        directory = build_organization(5, size).directory
        keys = sum(len(keys) for keys in directory.project_api_keys.values())
        return len(directory.projects), len(directory.users), keys

    assert counts("small") == (3, 6, 8)
    assert counts("medium") == (8, 30, 40)
    assert counts("large") == (75, 500, 600)


# --- controls --------------------------------------------------------------------------------


def values(mapping: Mapping[str, Sequence[Any]]) -> list[Any]:
    """Every object of a project (or group, or user) id -> objects mapping."""
    return [obj for objects in mapping.values() for obj in objects]


def test_the_controls_validate_against_the_spec(org: Organization) -> None:
    spend, access, governance = org.spend, org.access, org.governance
    project_ids = {project["id"] for project in org.directory.projects}
    assert assert_valid("OrganizationSpendLimitResource", [spend.limit])
    assert assert_valid("ProjectSpendLimitResource", spend.project_limits.values())
    assert assert_valid("OrganizationSpendAlert", spend.alerts)
    assert assert_valid("ProjectSpendAlert", values(spend.project_alerts))
    assert assert_valid("Role", access.roles)
    assert assert_valid("GroupResponse", access.groups)
    assert assert_valid("GroupMemberUser", values(access.group_users))
    assert assert_valid("AssignedRoleDetails", values(access.group_roles))
    assert assert_valid("AssignedRoleDetails", values(access.user_roles))
    assert assert_valid("ProjectGroup", values(access.project_groups))
    assert assert_valid("Invite", access.invites)
    assert assert_valid("OrganizationCertificate", governance.certificates)
    assert assert_valid("OrganizationProjectCertificate", values(governance.project_certificates))
    assert assert_valid("OrganizationDataRetention", [governance.data_retention])
    for mapping, schema in (
        (governance.project_data_retention, "ProjectDataRetention"),
        (governance.model_permissions, "ProjectModelPermissions"),
        (governance.hosted_tool_permissions, "ProjectHostedToolPermissions"),
    ):
        assert set(mapping) == project_ids
        assert assert_valid(schema, mapping.values()) == len(project_ids)
    assert set(spend.project_alerts) == set(access.project_groups) == project_ids
    assert set(governance.project_certificates) == project_ids
    assert set(spend.project_limits) <= project_ids


def test_control_ids_look_like_the_api_s_and_are_unique(org: Organization) -> None:
    access, spend = org.access, org.spend
    for objects, prefix in (
        (access.roles, "role_"),
        (access.groups, "group_"),
        (access.invites, "invite-"),
        (org.governance.certificates, "cert_"),
        ([*spend.alerts, *values(spend.project_alerts)], "alert_"),
    ):
        ids = [obj["id"] for obj in objects]
        assert all(i.startswith(prefix) for i in ids)
        assert len(set(ids)) == len(ids)


# --- audit log -------------------------------------------------------------------------------


def test_audit_events_validate_against_the_spec(org: Organization) -> None:
    events = org.audit_events(WEEK, WEEK + 7 * DAY, INF)
    assert_valid("AuditLog", events)
    for event in events:
        assert set(event) <= {"id", "type", "effective_at", "actor", "project", event["type"]}
        assert isinstance(event[event["type"]], dict)


def test_a_week_shows_at_least_thirty_event_types(org: Organization) -> None:
    for start in (EPOCH + 30 * DAY, WEEK, WEEK + 3 * DAY):
        events = org.audit_events(start, start + 7 * DAY, INF)
        assert len({event["type"] for event in events}) >= 30


def test_volume_grows_with_size() -> None:
    def volume(size: str) -> int:
        return len(build_organization(5, size).audit_events(WEEK, WEEK + 7 * DAY, INF))

    assert volume("small") < volume("medium") < volume("large")


def test_events_are_newest_first_with_ties_by_id(org: Organization) -> None:
    events = org.audit_events(WEEK, WEEK + 7 * DAY, INF)
    keys = [(event["effective_at"], event["id"]) for event in events]
    assert keys == sorted(keys, reverse=True)
    assert len({event["id"] for event in events}) == len(events)
    assert all(WEEK <= event["effective_at"] < WEEK + 7 * DAY for event in events)


def test_windows_and_now_bound_the_events(org: Organization) -> None:
    week = org.audit_events(WEEK, WEEK + 7 * DAY, INF)
    middle = week[len(week) // 2]["effective_at"]
    assert org.audit_events(WEEK, middle, INF) == [e for e in week if e["effective_at"] < middle]
    until_now = org.audit_events(WEEK, WEEK + 7 * DAY, middle + 0.5)
    assert until_now == [e for e in week if e["effective_at"] <= middle]
    assert org.audit_events(EPOCH - DAY, EPOCH, INF) == []


def test_events_are_found_by_id(org: Organization) -> None:
    events = org.audit_events(WEEK, WEEK + 7 * DAY, INF)
    for event in events[:: max(1, len(events) // 25)]:
        assert org.find_audit_event(event["id"]) == event
        assert event["id"].startswith("audit_log-")
    for unknown in (
        "",
        "audit_log-",
        "req_123",
        "audit_log-zzzzzzzzzzzzzzzzzzzzzzzz",
        events[0]["id"][:-1] + "x",
    ):
        assert org.find_audit_event(unknown) is None


def test_audit_ids_are_stable_across_builds(org: Organization) -> None:
    again = build_organization(5, org.size)
    assert again.audit_events(WEEK, WEEK + DAY, INF) == org.audit_events(WEEK, WEEK + DAY, INF)


def test_actors_look_like_the_api_s(org: Organization) -> None:
    events = org.audit_events(WEEK, WEEK + 7 * DAY, INF)
    users = {u["id"]: u["email"] for u in org.directory.users}
    kinds: Counter[str] = Counter()
    for event in events:
        actor = event["actor"]
        kinds[actor["type"] if actor["type"] == "session" else actor["api_key"]["type"]] += 1
        if actor["type"] == "session":
            session = actor["session"]
            assert {"user", "ip_address", "user_agent", "ja3", "ja4", "ip_address_details"} <= set(
                session
            )
            details = session["ip_address_details"]
            assert set(details) == {
                "country",
                "city",
                "region",
                "region_code",
                "asn",
                "latitude",
                "longitude",
            }
            assert all(isinstance(value, str) for value in details.values())
            if "id" in session["user"]:
                assert users[session["user"]["id"]] == session["user"]["email"]
        else:
            key = actor["api_key"]
            assert key["id"].startswith("key_")
            assert ("user" in key) == (key["type"] == "user")
    assert kinds["session"] > kinds["user"] > 0


def test_project_scoped_events_name_real_projects(org: Organization) -> None:
    names = {p["id"]: p["name"] for p in org.directory.projects}
    scoped = [e for e in org.audit_events(WEEK, WEEK + 7 * DAY, INF) if "project" in e]
    assert scoped
    for event in scoped:
        assert names[event["project"]["id"]] == event["project"]["name"]


def test_the_directory_history_is_in_the_log(org: Organization) -> None:
    directory = org.directory
    for project in directory.projects[1:4]:
        at = project["created_at"]
        if at < EPOCH:
            continue
        created = [e for e in org.audit_events(at, at + 1, INF) if e["type"] == "project.created"]
        assert [e["project.created"]["id"] for e in created] == [project["id"]]
    for project in directory.projects:
        if project["archived_at"] is not None:
            at = project["archived_at"]
            archived = org.audit_events(at, at + 1, INF)
            assert any(e.get("project.archived") == {"id": project["id"]} for e in archived)


def test_failed_logins_come_in_bursts() -> None:
    org = build_organization(5, "medium")
    failures = [
        e for e in org.audit_events(WEEK, WEEK + 28 * DAY, INF) if e["type"] == "login.failed"
    ]
    by_address = Counter(e["actor"]["session"]["ip_address"] for e in failures)
    assert by_address.most_common(1)[0][1] >= 5
