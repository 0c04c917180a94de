"""The governance source: one batch per snapshot with a document per setting and one per
change against the snapshot the state keeps; change ids that a re-run rewrites, never adds."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from poller.client import AdminClient
from poller.client.retry import RetryPolicy
from poller.directory import DirectorySnapshot
from poller.documents import Document, MappingContext
from poller.errors import ServerError, StateError
from poller.pipeline import Batch
from poller.sources import GovernanceSource, OrgAccess
from poller.state import StreamState

SLOT = 1_767_247_200  # 2026-01-01 06:00, a 6-hour slot
HOUR = 3600
CERT = {
    "object": "organization.certificate",
    "id": "cert_1",
    "name": "gateway",
    "created_at": 1_760_000_000,
    "certificate_details": {"valid_at": 1_759_900_000, "expires_at": 1_791_436_000},
    "active": True,
}


def settings() -> dict[str, Any]:
    """What the fake API serves, by path under /v1/organization; tests edit it."""
    tools = {t: {"enabled": True} for t in ("file_search", "web_search", "mcp")}
    return {
        "/projects": [
            {"id": "proj_a", "name": "Alpha", "status": "active"},
            {"id": "proj_b", "name": "Beta", "status": "active"},
        ],
        "/data_retention": {"object": "organization.data_retention", "type": "zero_data_retention"},
        "/certificates": [CERT],
        **{
            f"/projects/{p}/{name}": value
            for p in ("proj_a", "proj_b")
            for name, value in (
                ("data_retention", {"type": "organization_default"}),
                ("model_permissions", {"mode": "deny_list", "model_ids": ["o3-pro", "o1-pro"]}),
                ("hosted_tool_permissions", tools),
                ("certificates", [{**CERT, "active": p == "proj_a"}]),
            )
        },
    }


class NoNames:
    def snapshot(self) -> DirectorySnapshot:
        raise AssertionError("governance documents carry no directory names")


@pytest.fixture
def served() -> dict[str, Any]:
    return settings()


@pytest.fixture
def access(served: dict[str, Any]) -> Iterator[OrgAccess]:
    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/v1/organization")
        if path not in served:
            return httpx.Response(404, json={"error": {"message": "unknown"}})
        body = served[path]
        if body == "down":
            return httpx.Response(503, json={"error": {"message": "down"}})
        if isinstance(body, list):
            return httpx.Response(200, json={"object": "list", "data": body, "has_more": False})
        return httpx.Response(200, json=body)

    transport = httpx.MockTransport(answer)
    once = RetryPolicy(max_attempts=1)
    with AdminClient(admin_key="sk-admin-t", retry=once, transport=transport) as client:
        yield OrgAccess("acme", client, MappingContext("org-1"), NoNames())


def run(access: OrgAccess, state: StreamState, at: int) -> tuple[Batch, StreamState]:
    (batch,) = GovernanceSource(access, at - at % (6 * HOUR), at).batches(state)
    return batch, batch.advance(state)


def split(batch: Batch) -> tuple[list[Document], list[Document]]:
    kinds = [doc.source["event"]["kind"] for doc in batch.documents]
    assert set(kinds) <= {"state", "event"}
    snapshots = [d for d in batch.documents if d.source["event"]["kind"] == "state"]
    return snapshots, [d for d in batch.documents if d.source["event"]["kind"] == "event"]


def fields(doc: Document) -> dict[str, Any]:
    result: dict[str, Any] = doc.source["openai"]["governance"]
    return result


def test_the_first_snapshot_is_a_baseline_of_every_setting(access: OrgAccess) -> None:
    batch, state = run(access, StreamState(), SLOT + 60)
    snapshots, changes = split(batch)
    keys = [
        (f["setting"], f.get("project_id"), f.get("certificate_id"))
        for f in map(fields, snapshots)
    ]
    assert keys == [
        ("data_retention", None, None),
        ("certificate", None, "cert_1"),
        *[
            (setting, project, cert)
            for project in ("proj_a", "proj_b")
            for setting, cert in (
                ("data_retention", None),
                ("model_permissions", None),
                ("hosted_tool_permissions", None),
                ("certificate", "cert_1"),
            )
        ],
    ]
    assert [fields(d)["change"] for d in changes] == ["baseline"] * 10
    assert [fields(d)["after"] for d in changes] == [fields(d)["value"] for d in snapshots]
    assert all("before" not in fields(d) for d in changes)
    denied = {"mode": "deny_list", "model_ids": ["o1-pro", "o3-pro"]}
    assert fields(snapshots[3])["value"] == denied
    certificates = [fields(d) for d in snapshots if fields(d)["setting"] == "certificate"]
    assert [f["value"]["active"] for f in certificates] == [True, True, False]
    assert state.last_slot == SLOT and state.snapshot is not None
    assert state.snapshot["collected_at"] == SLOT + 60
    assert batch.rejected == []


def test_nothing_changed_no_change_document_and_a_reordered_list_is_no_change(
    access: OrgAccess, served: dict[str, Any]
) -> None:
    _, state = run(access, StreamState(), SLOT + 60)
    reordered = {"mode": "deny_list", "model_ids": ["o1-pro", "o3-pro"]}
    served["/projects/proj_a/model_permissions"] = reordered
    batch, _ = run(access, state, SLOT + 6 * HOUR + 60)
    snapshots, changes = split(batch)
    assert (len(snapshots), changes) == (10, [])


def test_a_change_is_one_document_with_before_and_after(
    access: OrgAccess, served: dict[str, Any]
) -> None:
    _, first = run(access, StreamState(), SLOT + 60)
    served["/projects/proj_b/model_permissions"] = {"mode": "allow_list", "model_ids": ["gpt-4o"]}
    batch, second = run(access, first, SLOT + 6 * HOUR + 120)
    (change,) = split(batch)[1]
    assert fields(change) == {
        "setting": "model_permissions",
        "scope": "project",
        "project_id": "proj_b",
        "project_name": "Beta",
        "project_status": "active",
        "change": "changed",
        "before": {"mode": "deny_list", "model_ids": ["o1-pro", "o3-pro"]},
        "after": {"mode": "allow_list", "model_ids": ["gpt-4o"]},
        "changed_fields": ["mode", "model_ids"],
        "collected_at": "2026-01-01T12:02:00.000Z",
        "previous_collected_at": "2026-01-01T06:01:00.000Z",
    }
    assert change.source["@timestamp"] == "2026-01-01T12:02:00.000Z"
    assert (change.source["event"]["action"], change.source["event"]["type"]) == (
        "model_permissions-changed",
        ["change"],
    )
    # Written but not committed (a crash): the next attempt, slots later, rewrites that very
    # change; once committed, the same settings give no change at all.
    again, _ = run(access, first, SLOT + 18 * HOUR)
    assert [d.doc_id for d in split(again)[1]] == [change.doc_id]
    assert split(run(access, second, SLOT + 18 * HOUR)[0])[1] == []


def test_a_change_back_is_a_second_change_with_its_own_id(
    access: OrgAccess, served: dict[str, Any]
) -> None:
    _, state = run(access, StreamState(), SLOT)
    served["/data_retention"] = {"type": "modified_abuse_monitoring"}
    first, state = run(access, state, SLOT + 6 * HOUR)
    served["/data_retention"] = {"type": "zero_data_retention"}
    second, _ = run(access, state, SLOT + 12 * HOUR)
    (there,), (back,) = split(first)[1], split(second)[1]
    assert (fields(there)["before"], fields(there)["after"]) == (
        {"type": "zero_data_retention"},
        {"type": "modified_abuse_monitoring"},
    )
    assert (fields(back)["before"], fields(back)["after"]) == (
        fields(there)["after"],
        fields(there)["before"],
    )
    assert there.doc_id != back.doc_id


def test_an_archived_project_and_a_deleted_certificate_are_removed(
    access: OrgAccess, served: dict[str, Any]
) -> None:
    _, state = run(access, StreamState(), SLOT)
    served["/projects"] = served["/projects"][:1]
    served["/certificates"] = []
    batch, _ = run(access, state, SLOT + 6 * HOUR)
    removed = [fields(d) for d in split(batch)[1]]
    assert [(f["change"], f["setting"], f.get("project_id")) for f in removed] == [
        ("removed", "certificate", None),
        ("removed", "data_retention", "proj_b"),
        ("removed", "model_permissions", "proj_b"),
        ("removed", "hosted_tool_permissions", "proj_b"),
        ("removed", "certificate", "proj_b"),
    ]
    assert removed[1]["before"] == {"type": "organization_default"}
    assert all("after" not in f for f in removed)


def test_a_certificate_the_schema_rejects_is_dead_lettered_not_taken_for_deleted(
    access: OrgAccess, served: dict[str, Any]
) -> None:
    _, state = run(access, StreamState(), SLOT)
    served["/projects/proj_a/certificates"] = [{"object": "organization.project.certificate"}]
    batch, after = run(access, state, SLOT + 6 * HOUR)
    assert split(batch)[1] == []
    assert [r.reason[:40] for r in batch.rejected] == ["1 schema error(s), first at id: Field re"]
    assert after.snapshot is not None and state.snapshot is not None
    assert after.snapshot["records"] == state.snapshot["records"]


def test_a_failure_part_way_writes_nothing(access: OrgAccess, served: dict[str, Any]) -> None:
    served["/projects/proj_b/hosted_tool_permissions"] = "down"
    batches = GovernanceSource(access, SLOT, SLOT).batches(StreamState())
    with pytest.raises(ServerError):
        next(batches)


def test_an_unreadable_saved_snapshot_names_the_fix(access: OrgAccess) -> None:
    _, state = run(access, StreamState(), SLOT)
    assert state.snapshot is not None
    broken = copy.deepcopy(dict(state.snapshot))
    broken["collected_at"] = "yesterday"
    damaged = StreamState(last_slot=SLOT, snapshot=broken)
    with pytest.raises(StateError, match="state rebuild --org acme --streams governance"):
        next(GovernanceSource(access, SLOT, SLOT).batches(damaged))


def test_the_saved_snapshot_survives_the_state_round_trip(access: OrgAccess) -> None:
    _, state = run(access, StreamState(), SLOT)
    assert StreamState.from_json(state.to_json()) == state
    assert "snapshot" not in StreamState(last_slot=SLOT).to_json()


def test_fields_openai_adds_are_kept_unmapped_and_never_read_as_a_change(
    access: OrgAccess, served: dict[str, Any]
) -> None:
    _, state = run(access, StreamState(), SLOT)
    permissions = served["/projects/proj_a/model_permissions"]
    served["/projects/proj_a/model_permissions"] = {**permissions, "updated_at": 1_767_000_000}
    served["/data_retention"] = {**served["/data_retention"], "region": "eu"}
    batch, _ = run(access, state, SLOT + 6 * HOUR)
    snapshots, changes = split(batch)
    assert changes == []
    unmapped = [d.source["openai"].get("unmapped") for d in snapshots]
    assert unmapped[0] == {"region": "eu"}
    assert unmapped[3] == {"updated_at": 1_767_000_000}


@pytest.mark.parametrize(
    "damage",
    [
        lambda s: s.pop("records"),
        lambda s: s.update(records=[]),
        lambda s: next(iter(s["records"].values())).pop("setting"),
        lambda s: next(iter(s["records"].values())).update(value="zero"),
    ],
)
def test_every_damaged_snapshot_is_a_state_error(access: OrgAccess, damage: Any) -> None:
    _, state = run(access, StreamState(), SLOT)
    broken = copy.deepcopy(dict(state.snapshot or {}))
    damage(broken)
    with pytest.raises(StateError, match="governance snapshot is unreadable"):
        next(GovernanceSource(access, SLOT, SLOT).batches(StreamState(snapshot=broken)))
