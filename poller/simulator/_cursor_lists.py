"""Cursor-paged lists (`after`/`before` by object id), as every list endpoint answers them."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from poller.simulator.model import JSON
from poller.simulator.params import ApiError, ListQuery, invalid_value

__all__ = ["find", "list_body", "paginate"]


def find(items: Sequence[JSON], object_id: str, noun: str) -> JSON:
    """The item with this id; a 404 naming `noun` when there is none."""
    for item in items:
        if item["id"] == object_id:
            return item
    raise ApiError(404, f"No {noun} found with id '{object_id}'.")


def list_body(page: Sequence[JSON], *, has_more: bool) -> JSON:
    return {
        "object": "list",
        "data": list(page),
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
        "has_more": has_more,
    }


def paginate(
    items: Sequence[JSON], query: ListQuery, keep: Callable[[JSON], bool] | None = None
) -> JSON:
    """A cursor page of `items`: the cursor is found among all items, then `keep` filters."""
    candidates = items
    if query.after is not None:
        candidates = items[_position(items, query.after, "after") + 1 :]
    elif query.before is not None:
        candidates = items[: _position(items, query.before, "before")]
    selected = [item for item in candidates if keep is None or keep(item)]
    if query.before is not None:
        page = selected[max(0, len(selected) - query.limit) :]  # the `limit` just before it
    else:
        page = selected[: query.limit]
    return list_body(page, has_more=len(selected) > query.limit)


def _position(items: Sequence[JSON], object_id: str, param: str) -> int:
    for i, item in enumerate(items):
        if item["id"] == object_id:
            return i
    raise invalid_value(param, f"Invalid '{param}': no object with id '{object_id}' in this list.")
