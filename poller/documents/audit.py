"""Audit documents: one per audit log object, a superset of Elastic's audit pipeline.

The full log goes under `openai.audit.*` (numbers and dates typed, payload nested under its
event type; the dotted type stays in `openai.audit.type`) and is copied to ECS (`event.*`,
`user.*`, `source.*`, `related.*`) as Elastic does, plus what Elastic leaves out: per-family
`event.category`/`event.type` beside Elastic's own values, `event.outcome`, and `user.*`
for API-key actors (docs/elastic-parity.md lists every difference). Payload content the spec
does not declare goes to the flattened `openai.audit.payload_unmapped`, so no event can grow
the mapping.

`user_agent` is kept as `user_agent.original` only: a faithful parse needs the uap-core
regexes (Elasticsearch's `user_agent` processor has them); a home-made heuristic would file
wrong browser names under ECS fields.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from poller.client.audit import AuditLog
from poller.documents.common import (
    MappingContext,
    make_document,
    merge,
    put,
    skeleton,
)
from poller.documents.fields import AUDIT_LOG_FIELDS
from poller.documents.fitting import fit
from poller.documents.model import Document
from poller.errors import MappingError
from poller.streams import StreamName

__all__ = ["categorize", "event_action", "map_audit_log"]

_AUTHENTICATION: Final = {"login": "start", "logout": "end"}
# IAM families, with the ECS event.type they add to the verb's.
_IAM: Final[dict[str, tuple[str, ...]]] = {
    "user": ("user",),
    "invite": ("user",),
    "group": ("group",),
    "role": (),
    "service_account": (),
    "api_key": (),
    "scim": (),
}
# The last part of an event type, read as what happened to the resource.
_VERBS: Final = {
    **dict.fromkeys(
        ("created", "added", "sent", "registered", "issued", "provisioned", "invited"),
        "creation",
    ),
    **dict.fromkeys(("deleted", "removed", "revoked"), "deletion"),
    **dict.fromkeys(
        (
            "updated",
            "upserted",
            "activated",
            "deactivated",
            "enabled",
            "disabled",
            "accepted",
            "declined",
            "attached",
            "detached",
            "archived",
            "migrated",
            "completed",
            "bound_to_resource",
            "unbound_from_resource",
        ),
        "change",
    ),
}


# What Elastic's audit pipeline appends to every event, whatever its type.
_ELASTIC_CATEGORY: Final = "iam"
_ELASTIC_TYPE: Final = "change"


def event_action(event_type: str) -> str | None:
    """`event.action` as Elastic's audit pipeline writes it: the type lowercased, split on `.`
    and joined with `-` (`login.succeeded` → `login-succeeded`, `api_key.created` →
    `api_key-created`), so Elastic's saved searches and detection rules match.

    Its `split` is Java's `String.split("[.]")`, which drops trailing empty parts; a type that
    leaves nothing (`"..."`) gets no action, as the pipeline's null-removal would leave none.
    """
    parts = event_type.lower().split(".")
    while parts and not parts[-1]:
        parts.pop()
    return "-".join(parts) or None


def categorize(event_type: str) -> tuple[list[str], list[str]]:
    """ECS (event.category, event.type) of an audit event type: the poller's own reading of the
    type first, then what Elastic's pipeline appends to every event (`iam`, `change`), so that
    a query written for either finds the event.

    login/logout are authentication; user, invite, group, role, service_account, api_key and
    scim are IAM; everything else (project, organization, rate_limit, ip_allowlist,
    certificates, checkpoint, external_key, tunnel, workload identity, resource, tenant, and
    types not known yet) is configuration.
    """
    family = event_type.partition(".")[0]
    if family in _AUTHENTICATION:
        category, types = ["authentication"], [_AUTHENTICATION[family]]
    else:
        verb = _VERBS.get(event_type.rpartition(".")[2])
        if family in _IAM:
            category, types = ["iam"], [verb or "change", *_IAM[family]]
        else:
            category, types = ["configuration"], [verb or "info"]
    return _with(category, _ELASTIC_CATEGORY), _with(types, _ELASTIC_TYPE)


def _with(values: list[str], value: str) -> list[str]:
    return values if value in values else [*values, value]


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """The log's dotted top-level keys ("api_key.created") as nested objects."""
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        branch: dict[str, Any] = {}
        put(branch, key, value)
        merge(nested, branch)
    return nested


def _ecs(audit: Mapping[str, Any]) -> dict[str, Any]:
    """ECS fields copied from the typed `openai.audit` object."""
    actor = audit.get("actor", {})
    session = actor.get("session", {})
    api_key = actor.get("api_key", {})
    session_user = session.get("user", {})
    key_user = api_key.get("user", {})
    service_account = api_key.get("service_account", {}).get("id")
    details = session.get("ip_address_details", {})
    ip = session.get("ip_address")

    ecs: dict[str, Any] = {}
    user = session_user or key_user
    for name in ("id", "email"):
        if name in user:
            put(ecs, f"user.{name}", user[name])
    if "@" in user.get("email", ""):
        put(ecs, "user.domain", user["email"].rpartition("@")[2])
    if service_account:
        put(ecs, "service.id", service_account)
    if ip:
        put(ecs, "source.ip", ip)
        put(ecs, "related.ip", [ip])
    for ours, theirs in (
        ("city_name", "city"),
        ("country_iso_code", "country"),
        ("region_name", "region"),
        ("region_iso_code", "region_code"),
    ):
        if theirs in details:
            put(ecs, f"source.geo.{ours}", details[theirs])
    if "latitude" in details and "longitude" in details:
        put(ecs, "source.geo.location", {"lat": details["latitude"], "lon": details["longitude"]})
    if "asn" in details:
        put(ecs, "source.as.number", details["asn"])
    if "user_agent" in session:
        put(ecs, "user_agent.original", session["user_agent"])
    if "ja3" in session:
        put(ecs, "tls.client.ja3", session["ja3"])
    related = [
        value
        for value in (
            session_user.get("id"),
            session_user.get("email"),
            key_user.get("id"),
            key_user.get("email"),
            service_account,
        )
        if value
    ]
    if related:
        put(ecs, "related.user", list(dict.fromkeys(related)))
    return ecs


def map_audit_log(ctx: MappingContext, log: AuditLog) -> Document:
    """The document of one audit log, with the log's id as `_id`.

    Raises `MappingError` for a log the schema accepts but no document can be built from: an
    empty id or type, or an `effective_at` beyond the dates a document can hold.
    """
    audit_id, event_type = log.id, log.type
    if not (audit_id and event_type):
        raise MappingError(f"audit log {audit_id!r} has no id or no type")
    data = log.api_dict()
    mapped, unmapped = fit(data, AUDIT_LOG_FIELDS)
    if "effective_at" not in mapped:
        raise MappingError(f"audit log {audit_id!r} has an effective_at out of range")
    audit = _nest(mapped)
    if unmapped:
        audit["payload_unmapped"] = _nest(unmapped)
    category, types = categorize(event_type)

    source = skeleton(StreamName.AUDIT, ctx, log.effective_at, "event")
    merge(source, _ecs(audit))
    action = event_action(event_type)
    if action:
        source["event"]["action"] = action
    source["event"].update(
        id=audit_id,
        category=category,
        type=types,
        outcome="failure" if event_type.endswith(".failed") else "success",
        # Sorted keys: the API may reorder keys between reads of the same event.
        original=json.dumps(data, separators=(",", ":"), sort_keys=True, ensure_ascii=False),
    )
    source["observer"] = {"vendor": "OpenAI", "product": "OpenAI"}
    source["openai"] = {"audit": audit}
    return make_document(StreamName.AUDIT, ctx, audit_id, source)
