"""Governance documents: a snapshot of every setting per collection slot, and a document per
change, with the value before and after, so an access review sees what changed and when.

A setting is one value of one owner: the organization's or a project's data retention, a
project's model or hosted-tool permissions, a certificate as listed for the organization or a
project (`active` differs by scope). Values hold only the fields the poller knows, in a
canonical form (model ids and tools sorted): a field OpenAI adds later goes to the snapshot's
`openai.unmapped` and never reads as a change, nor does a reordered list.

Change documents compare the snapshot with the previous one, kept in the stream's state
(`GovernanceSnapshot`). Their id is the setting and the time of the previous snapshot, so a
re-run, even after a crash between write and commit, rewrites the same change instead of adding
one. The first snapshot has nothing to compare with: each setting gets a `baseline` document.
Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from poller.client.governance import (
    DataRetention,
    GovernanceCertificate,
    HostedToolPermissions,
    ModelPermissions,
)
from poller.documents.common import MappingContext, iso_time, make_document, put, skeleton
from poller.documents.fields import UNMAPPED
from poller.documents.ids import _digest
from poller.documents.model import Document
from poller.documents.spend import SpendOwner
from poller.streams import StreamName

__all__ = [
    "Change",
    "GovernanceItem",
    "GovernanceSnapshot",
    "Setting",
    "certificate_item",
    "change_doc_id",
    "changes",
    "data_retention_item",
    "hosted_tools_item",
    "map_snapshot",
    "model_permissions_item",
    "setting_key",
    "snapshot_doc_id",
]

_STREAM: Final = StreamName.GOVERNANCE


class Setting(StrEnum):
    DATA_RETENTION = "data_retention"
    MODEL_PERMISSIONS = "model_permissions"
    HOSTED_TOOL_PERMISSIONS = "hosted_tool_permissions"
    CERTIFICATE = "certificate"


class Change(StrEnum):
    BASELINE = "baseline"  # the first snapshot: nothing to compare with
    ADDED = "added"  # a new project's setting, a new certificate
    CHANGED = "changed"
    REMOVED = "removed"  # a certificate deleted, a project archived


# ECS event.type per change: the first snapshot is information, not a change.
_EVENT_TYPE: Final = {
    Change.BASELINE: "info",
    Change.ADDED: "creation",
    Change.CHANGED: "change",
    Change.REMOVED: "deletion",
}


def setting_key(setting: str, project_id: str | None, certificate_id: str | None) -> str:
    """Which setting of which owner: what a snapshot's and a change's id are made of."""
    return "|".join((setting, project_id or "", certificate_id or ""))


def snapshot_doc_id(organization_id: str, key: str, slot_start: int) -> str:
    """The id of the snapshot of the setting `key` in the slot starting at `slot_start`."""
    return _digest(organization_id, _STREAM.value, "snapshot", key, slot_start)


def change_doc_id(organization_id: str, key: str, previous_collected_at: int | None) -> str:
    """The id of the change of the setting `key` since the snapshot collected at
    `previous_collected_at` (None: the baseline)."""
    return _digest(organization_id, _STREAM.value, "change", key, previous_collected_at)


@dataclass(frozen=True)
class GovernanceItem:
    """One setting of one owner as collected now: `value` is what is compared, `unknown`
    what OpenAI sent beside it (kept in the snapshot, never compared)."""

    setting: Setting
    owner: SpendOwner
    value: Mapping[str, Any]
    certificate_id: str | None = None
    unknown: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return setting_key(self.setting, self.owner.project_id, self.certificate_id)

    def record(self) -> dict[str, Any]:
        """What the state keeps of it for the next comparison."""
        return {
            "setting": self.setting.value,
            "project_id": self.owner.project_id,
            "certificate_id": self.certificate_id,
            "value": dict(self.value),
        }


@dataclass(frozen=True)
class GovernanceSnapshot:
    """The previous snapshot, as the stream's state keeps it: when it was collected, and the
    `record()` of every setting by `key`."""

    collected_at: int
    records: Mapping[str, Mapping[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {"collected_at": self.collected_at, "records": dict(self.records)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GovernanceSnapshot:
        """ValueError or TypeError when `data` is not a snapshot this poller saved."""
        collected_at, records = data["collected_at"], data["records"]
        if isinstance(collected_at, bool) or not isinstance(collected_at, int):
            raise TypeError(f"collected_at must be int, not {collected_at!r:.40}")
        if not isinstance(records, Mapping) or not all(
            isinstance(r, Mapping)
            and isinstance(r.get("value"), Mapping)
            and isinstance(r.get("setting"), str)
            for r in records.values()
        ):
            raise TypeError("records must map keys to setting records")
        return cls(collected_at, records)

    @classmethod
    def of(cls, items: Iterable[GovernanceItem], collected_at: int) -> GovernanceSnapshot:
        return cls(collected_at, {item.key: item.record() for item in items})


# ---- API objects to items ----------------------------------------------------------------------


def _unknown(raw: Mapping[str, Any], known: Iterable[str]) -> dict[str, Any]:
    return {k: v for k, v in raw.items() if k not in {*known, "object"}}


def data_retention_item(owner: SpendOwner, retention: DataRetention) -> GovernanceItem:
    raw = retention.api_dict()
    return GovernanceItem(
        Setting.DATA_RETENTION, owner, {"type": retention.type}, unknown=_unknown(raw, ["type"])
    )


def model_permissions_item(owner: SpendOwner, permissions: ModelPermissions) -> GovernanceItem:
    value = {"mode": permissions.mode, "model_ids": sorted(permissions.model_ids or ())}
    raw = permissions.api_dict()
    return GovernanceItem(
        Setting.MODEL_PERMISSIONS, owner, value, unknown=_unknown(raw, ["mode", "model_ids"])
    )


def hosted_tools_item(owner: SpendOwner, permissions: HostedToolPermissions) -> GovernanceItem:
    """Tools as two sorted lists: a tool OpenAI adds is compared too, as soon as it is sent
    in the `{"enabled": bool}` form of the others."""
    enabled: list[str] = []
    disabled: list[str] = []
    unknown: dict[str, Any] = {}
    for tool, setting in sorted(permissions.api_dict().items()):
        flag = setting.get("enabled") if isinstance(setting, Mapping) else None
        if isinstance(flag, bool):
            (enabled if flag else disabled).append(tool)
        elif tool != "object":
            unknown[tool] = setting
    value = {"enabled_tools": enabled, "disabled_tools": disabled}
    return GovernanceItem(Setting.HOSTED_TOOL_PERMISSIONS, owner, value, unknown=unknown)


def certificate_item(owner: SpendOwner, certificate: GovernanceCertificate) -> GovernanceItem:
    """A certificate as the owner lists it; its PEM content is never requested."""
    value: dict[str, Any] = {}
    if certificate.name is not None:
        value["name"] = certificate.name
    if certificate.active is not None:
        value["active"] = certificate.active
    details = certificate.certificate_details
    stamps = {
        "created_at": certificate.created_at,
        "valid_at": details.valid_at if details else None,
        "expires_at": details.expires_at if details else None,
    }
    value.update({name: iso_time(stamp) for name, stamp in stamps.items() if stamp is not None})
    raw = certificate.api_dict()
    known = ["id", "name", "active", "created_at", "certificate_details"]
    unknown = _unknown(raw, known)
    if details is not None and (extra := _unknown(details.api_dict(), ["valid_at", "expires_at"])):
        unknown["certificate_details"] = extra
    return GovernanceItem(Setting.CERTIFICATE, owner, value, certificate.id, unknown)


# ---- documents ---------------------------------------------------------------------------------


def _owner_fields(
    setting: str, owner: SpendOwner | None, record: Mapping[str, Any]
) -> dict[str, Any]:
    """Whose setting: from the record, with the project's name and status when the project
    was listed (a removed setting's project may be gone)."""
    fields: dict[str, Any] = {"setting": setting}
    project_id = record.get("project_id")
    fields["scope"] = "project" if project_id else "organization"
    if project_id:
        fields["project_id"] = project_id
    if owner is not None and owner.project is not None:
        for name in ("name", "status"):
            if value := getattr(owner.project, name):
                fields[f"project_{name}"] = value
    if record.get("certificate_id"):
        fields["certificate_id"] = record["certificate_id"]
    return fields


def _base(stamp: int, ctx: MappingContext, kind: str, event_type: str) -> dict[str, Any]:
    source = skeleton(_STREAM, ctx, stamp, kind)
    source["event"].update(
        {"created": iso_time(stamp), "category": ["configuration"], "type": [event_type]}
    )
    return source


def map_snapshot(ctx: MappingContext, item: GovernanceItem, slot_start: int) -> Document:
    """The snapshot document of one setting collected in the slot starting at `slot_start`;
    collecting twice in one slot gives the same id."""
    source = _base(slot_start, ctx, "state", "info")
    source["event"]["action"] = f"{item.setting}-snapshot"
    fields = _owner_fields(item.setting, item.owner, item.record())
    fields["value"] = dict(item.value)
    fields["collected_at"] = iso_time(slot_start)
    source["openai"] = {_STREAM.value: fields}
    if item.unknown:
        put(source, UNMAPPED, dict(item.unknown))
    doc_id = snapshot_doc_id(ctx.organization_id, item.key, slot_start)
    return make_document(_STREAM, ctx, doc_id, source)


@dataclass(frozen=True)
class _Diff:
    key: str
    change: Change
    before: Mapping[str, Any] | None  # the previous record
    after: GovernanceItem | None


def _diffs(
    previous: GovernanceSnapshot | None, items: Iterable[GovernanceItem], unread: frozenset[str]
) -> Iterator[_Diff]:
    current = {item.key: item for item in items}
    if previous is None:
        for key, item in current.items():
            yield _Diff(key, Change.BASELINE, None, item)
        return
    for key, item in current.items():
        before = previous.records.get(key)
        if before is None:
            yield _Diff(key, Change.ADDED, None, item)
        elif dict(before["value"]) != dict(item.value):
            yield _Diff(key, Change.CHANGED, before, item)
    for key, before in previous.records.items():
        if key not in current and key not in unread:
            yield _Diff(key, Change.REMOVED, before, None)


def _change_document(
    ctx: MappingContext, diff: _Diff, previous: GovernanceSnapshot | None, collected_at: int
) -> Document:
    record = diff.after.record() if diff.after is not None else dict(diff.before or {})
    owner = diff.after.owner if diff.after is not None else None
    source = _base(collected_at, ctx, "event", _EVENT_TYPE[diff.change])
    source["event"]["action"] = f"{record['setting']}-{diff.change}"
    fields = _owner_fields(record["setting"], owner, record)
    fields["change"] = diff.change.value
    before = dict(diff.before["value"]) if diff.before is not None else {}
    after = dict(diff.after.value) if diff.after is not None else {}
    if diff.before is not None:
        fields["before"] = before
    if diff.after is not None:
        fields["after"] = after
    fields["changed_fields"] = sorted(
        name for name in {*before, *after} if before.get(name) != after.get(name)
    )
    fields["collected_at"] = iso_time(collected_at)
    since = previous.collected_at if previous is not None else None
    if since is not None:
        fields["previous_collected_at"] = iso_time(since)
    source["openai"] = {_STREAM.value: fields}
    doc_id = change_doc_id(ctx.organization_id, diff.key, since)
    return make_document(_STREAM, ctx, doc_id, source)


def changes(
    ctx: MappingContext,
    previous: GovernanceSnapshot | None,
    items: Iterable[GovernanceItem],
    collected_at: int,
    unread: frozenset[str] = frozenset(),
) -> list[Document]:
    """A document per setting that differs from `previous` (every one when there is none).
    `unread` are keys of `previous` that could not be read this time (an item the schema
    rejected): missing, they are not taken for removed."""
    diffs = _diffs(previous, items, unread)
    return [_change_document(ctx, diff, previous, collected_at) for diff in diffs]
