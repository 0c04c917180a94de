"""Lists paged by a `next` cursor: groups, their users and roles, roles, role assignments and
project groups answer `{object, data, has_more, next}`, with no `first_id`/`last_id`.

`next` is the key of the page's last item while more remain and null at the end; the client
sends it back as `after`. An `after` naming no item answers 400, as on the other lists. These
lists take `limit=0`: the page is empty, `has_more` says whether anything remains, and `next`
is the `after` that was sent (null from the start), so following it reads from the same place.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from poller.simulator.model import JSON
from poller.simulator.params import Query, invalid_value

__all__ = ["NextQuery", "next_page", "parse_next"]


@dataclass(frozen=True)
class NextQuery:
    limit: int
    after: str | None
    descending: bool


def parse_next(
    query: Query, *, default_limit: int, max_limit: int, default_order: str = "asc"
) -> NextQuery:
    return NextQuery(
        limit=query.integer("limit", default=default_limit, minimum=0, maximum=max_limit),
        after=query.scalar("after"),
        descending=query.choice("order", ("asc", "desc"), default_order) == "desc",
    )


def next_page(
    items: Sequence[JSON],
    query: NextQuery,
    key: Callable[[JSON], str] = lambda item: str(item["id"]),
) -> JSON:
    """The page of `items` (kept in ascending order) after `query.after`, in `query`'s order."""
    ordered = items[::-1] if query.descending else items
    start = 0
    if query.after is not None:
        keys = [key(item) for item in ordered]
        if query.after not in keys:
            raise invalid_value(
                "after", f"Invalid 'after': no object with id '{query.after}' in this list."
            )
        start = keys.index(query.after) + 1
    rest = ordered[start:]
    page = list(rest[: query.limit])
    has_more = len(rest) > query.limit
    cursor = key(page[-1]) if page else query.after
    return {
        "object": "list",
        "data": page,
        "has_more": has_more,
        "next": cursor if has_more else None,
    }
