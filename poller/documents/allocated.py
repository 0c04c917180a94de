"""Allocated-cost documents: one per row of a project's split bill of one UTC day.

A row is (user, API key, model, team) as `poller.documents.allocation` splits the bill; its
document carries the whole cents it was given (`amount_cents`, exact; `amount_usd` the same in
dollars) and the estimate it weighed with. Ids key on org, project, day and the row, never on
amounts, so a revised bill rewrites the same documents in place.

A row that an earlier split had and a revised split lacks is written again as `superseded`,
with 0 cents, under its old id: per-row documents then always sum to the current bill, and a
team chart keeps its buckets instead of showing a stale figure (`poller.sources.allocation`
remembers which rows a day was ever split into).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from poller.documents.allocation import Share, ShareKey
from poller.documents.common import MappingContext, iso_time, make_document, skeleton
from poller.documents.fitting import BOOLEAN, DATE, DOUBLE, KEYWORD, LONG
from poller.documents.groups import USER_GROUP_FIELDS
from poller.documents.ids import allocation_doc_id
from poller.documents.model import Document, Names
from poller.streams import StreamName

__all__ = ["ALLOCATED_FIELDS", "AMOUNT_CENTS", "DayOfProject", "map_share", "map_superseded"]

DAY: Final = 86400
AMOUNT_CENTS: Final = "openai.allocated_costs.amount_cents"
# Path → type of every field `map_share` writes beyond the common ones.
ALLOCATED_FIELDS: Final = {
    "event.created": DATE,
    "openai.base.start_time": DATE,
    "openai.base.end_time": DATE,
    "openai.base.bucket_width": KEYWORD,
    "openai.base.project_id": KEYWORD,
    "openai.base.project_name": KEYWORD,
    "openai.base.user_id": KEYWORD,
    "openai.base.user_email": KEYWORD,
    "openai.base.api_key_id": KEYWORD,
    "openai.base.api_key_name": KEYWORD,
    "openai.base.model": KEYWORD,
    AMOUNT_CENTS: LONG,
    "openai.allocated_costs.amount_usd": DOUBLE,
    "openai.allocated_costs.weight_usd": DOUBLE,
    "openai.allocated_costs.unattributed": BOOLEAN,
    "openai.allocated_costs.superseded": BOOLEAN,
    **USER_GROUP_FIELDS,
}


@dataclass(frozen=True)
class DayOfProject:
    """Whose bill, of which day (its UTC midnight); "" is usage and cost of no project."""

    project_id: str
    day: int


def map_share(ctx: MappingContext, of: DayOfProject, share: Share) -> Document:
    """The document of one row of the split; names and the team's name from `ctx.names`."""
    return _document(ctx, of, share, superseded=False)


def map_superseded(ctx: MappingContext, of: DayOfProject, key: ShareKey) -> Document:
    """A row an earlier split of the day had and the current one lacks: 0 cents, same id."""
    return _document(ctx, of, Share(key, Decimal(0), 0), superseded=True)


def _document(ctx: MappingContext, of: DayOfProject, share: Share, *, superseded: bool
              ) -> Document:
    key = share.key
    stream = StreamName.ALLOCATED_COSTS
    source = skeleton(stream, ctx, of.day, "metric")
    source["event"]["created"] = iso_time(of.day + DAY)  # when the day's fact was complete
    base: dict[str, Any] = {
        "start_time": iso_time(of.day),
        "end_time": iso_time(of.day + DAY),
        "bucket_width": "1d",
        **dict(_named(ctx.names, of.project_id, key)),
    }
    allocated: dict[str, Any] = {
        "amount_cents": share.cents,
        "amount_usd": share.cents / 100,
        "weight_usd": float(share.weight_usd),
    }
    if key == ShareKey() and not share.weight_usd and share.cents:
        # Nothing of the day was priced: the whole bill, on no one (`split_day`). The same key
        # with a weight is usage of the project itself (vector storage, code sessions).
        allocated["unattributed"] = True
    if superseded:
        allocated["superseded"] = True
    source["openai"] = {"base": base, "allocated_costs": allocated}
    if key.group_id:
        group = {"id": key.group_id}
        name = _group_name(ctx.names, key)
        if name:
            group["name"] = name
        source["user"] = {"group": group}
    doc_id = allocation_doc_id(
        ctx.organization_id, of.project_id, of.day,
        (key.user_id, key.api_key_id, key.model, key.group_id),
    )
    return make_document(stream, ctx, doc_id, source)


def _named(names: Names | None, project_id: str, key: ShareKey) -> Iterator[tuple[str, str]]:
    """The row's ids with the names the directory knows; an id the usage lacked is left out."""
    for field, ident, lookup in (
        ("project", project_id, names.project_name if names else None),
        ("user", key.user_id, names.user_email if names else None),
        ("api_key", key.api_key_id, names.api_key_name if names else None),
    ):
        if not ident:
            continue
        yield f"{field}_id", ident
        display = lookup(ident) if lookup is not None else None
        if display:
            yield (f"{field}_email" if field == "user" else f"{field}_name"), display
    if key.model:
        yield "model", key.model


def _group_name(names: Names | None, key: ShareKey) -> str | None:
    if names is None:
        return None
    return next((g.name for g in names.user_groups(key.user_id) if g.id == key.group_id), None)
