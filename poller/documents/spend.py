"""Spend-control documents: one per hard spend limit and one per spend alert, of the
organization and of each project, per collection slot (a time series of what owners set).

Like rate limits, a document is stamped with its slot start, not the wall clock, so collecting
twice in one slot gives the same documents under the same ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from poller.client.directory import Project
from poller.client.spend import SpendAlert, SpendAlertPage, SpendLimit
from poller.documents.common import MappingContext, iso_time, make_document, put, skeleton
from poller.documents.fields import UNMAPPED
from poller.documents.fitting import fit
from poller.documents.ids import _digest
from poller.documents.model import Document
from poller.documents.pages import Mapped, _itself, _map
from poller.documents.spend_fields import SPEND_API_FIELDS
from poller.errors import MappingError
from poller.streams import StreamName

__all__ = [
    "SpendOwner",
    "map_spend_alert",
    "map_spend_alert_page",
    "map_spend_limit",
    "spend_doc_id",
]

ORGANIZATION: Final = "organization"
PROJECT: Final = "project"
_CENTS_PER_USD: Final = Decimal(100)


@dataclass(frozen=True)
class SpendOwner:
    """Whose limit or alert it is: the organization (no project) or one project."""

    project: Project | None = None

    @property
    def scope(self) -> str:
        return ORGANIZATION if self.project is None else PROJECT

    @property
    def project_id(self) -> str | None:
        return None if self.project is None else self.project.id


def spend_doc_id(
    organization_id: str, stream: str, project_id: str | None, alert_id: str | None, slot: int
) -> str:
    """The id of one limit (`alert_id` None) or alert of the organization (`project_id` None)
    or of a project, collected in the slot starting at `slot`."""
    return _digest(organization_id, stream, project_id, alert_id, slot)


def _source(
    stream: StreamName, ctx: MappingContext, raw: dict[str, Any], owner: SpendOwner, slot: int
) -> dict[str, Any]:
    cents = raw.pop("threshold_amount")
    mapped, unmapped = fit(raw, SPEND_API_FIELDS[stream])
    mapped["threshold"] = {"cents": cents, "usd": float(Decimal(cents) / _CENTS_PER_USD)}
    mapped["scope"] = owner.scope
    if owner.project is not None:
        if not owner.project.id:
            raise MappingError(f"a {stream} item comes with a project without id")
        mapped["project_id"] = owner.project.id
        for name in ("name", "status"):
            if value := getattr(owner.project, name):
                mapped[f"project_{name}"] = value
    mapped["collected_at"] = iso_time(slot)
    source = skeleton(stream, ctx, slot, "metric")
    source["event"]["created"] = iso_time(slot)
    source["openai"] = {stream.value: mapped}
    if unmapped:
        put(source, UNMAPPED, unmapped)
    return source


def map_spend_limit(
    ctx: MappingContext, limit: SpendLimit, owner: SpendOwner, slot_start: int
) -> Document:
    """The document of one hard spend limit collected in the slot starting at `slot_start`."""
    stream = StreamName.SPEND_LIMITS
    source = _source(stream, ctx, limit.api_dict(), owner, slot_start)
    doc_id = spend_doc_id(ctx.organization_id, stream, owner.project_id, None, slot_start)
    return make_document(stream, ctx, doc_id, source)


def map_spend_alert(
    ctx: MappingContext, alert: SpendAlert, owner: SpendOwner, slot_start: int
) -> Document:
    """The document of one spend alert collected in the slot starting at `slot_start`."""
    stream = StreamName.SPEND_ALERTS
    source = _source(stream, ctx, alert.api_dict(), owner, slot_start)
    doc_id = spend_doc_id(ctx.organization_id, stream, owner.project_id, alert.id, slot_start)
    return make_document(stream, ctx, doc_id, source)


def map_spend_alert_page(
    ctx: MappingContext, page: SpendAlertPage, owner: SpendOwner, slot_start: int
) -> Mapped:
    """The documents of one page of `owner`'s alerts, and the alerts no document can be built
    from."""
    return _map(
        StreamName.SPEND_ALERTS,
        ctx,
        page,
        page.data,
        one=lambda alert: map_spend_alert(ctx, alert, owner, slot_start),
        model=_itself,
    )
