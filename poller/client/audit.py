"""Audit log models (`GET /organization/audit_logs`).

`type` is a plain string, not the spec's enum: the enum grew from 24 to 145 values in a year and
keeps growing (REFERENCE.md §9), and an event we cannot name is still an event to keep. The
payload sits under a key equal to the type (`"api_key.created": {...}`); `AuditLog.payload()`
reads it. Session fields the schema omits but the API sends (`user_agent`, `ja3`, `ja4`,
`ip_address_details`) are declared, since the examples show them.
"""

from __future__ import annotations

from typing import Any

from pydantic import model_validator

from poller.client.models import APIModel, ItemListPage

__all__ = [
    "AuditLog",
    "AuditLogActor",
    "AuditLogActorApiKey",
    "AuditLogActorServiceAccount",
    "AuditLogActorSession",
    "AuditLogActorUser",
    "AuditLogPage",
    "AuditLogProject",
    "IpAddressDetails",
]


class AuditLogActorUser(APIModel):
    id: str | None = None
    email: str | None = None


class AuditLogActorServiceAccount(APIModel):
    id: str | None = None


class IpAddressDetails(APIModel):
    """Geo data of the session's IP. Every value is a string in practice (`"asn": "1234"`,
    `"latitude": "37.77490"`); numbers are turned into strings so consumers see one type."""

    country: str | None = None
    city: str | None = None
    region: str | None = None
    region_code: str | None = None
    asn: str | None = None
    latitude: str | None = None
    longitude: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _numbers_as_strings(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {
            key: str(item) if isinstance(item, int | float) and not isinstance(item, bool) else item
            for key, item in value.items()
        }


class AuditLogActorSession(APIModel):
    user: AuditLogActorUser | None = None
    ip_address: str | None = None
    user_agent: str | None = None
    ja3: str | None = None
    ja4: str | None = None
    ip_address_details: IpAddressDetails | None = None


class AuditLogActorApiKey(APIModel):
    id: str | None = None  # the key's tracking id, as in usage `api_key_id`
    type: str | None = None  # "user" | "service_account"
    user: AuditLogActorUser | None = None
    service_account: AuditLogActorServiceAccount | None = None


class AuditLogActor(APIModel):
    type: str | None = None  # "session" | "api_key"
    session: AuditLogActorSession | None = None
    api_key: AuditLogActorApiKey | None = None


class AuditLogProject(APIModel):
    id: str | None = None
    name: str | None = None


class AuditLog(APIModel):
    id: str
    type: str
    effective_at: int
    project: AuditLogProject | None = None
    actor: AuditLogActor | None = None

    def payload(self) -> dict[str, Any] | None:
        """The event's details, stored under the key equal to `type`; None when absent."""
        value = (self.model_extra or {}).get(self.type)
        return value if isinstance(value, dict) else None


class AuditLogPage(ItemListPage[AuditLog]):
    """One page of audit logs; the next is the same query with `after=last_id`. A log that
    fails its schema goes to `invalid`."""
